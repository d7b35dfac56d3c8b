//! Runs Fluvio SmartModules (modules written with `fluvio-smartmodule`
//! 0.50) on wasmtime, with the containment a streaming runtime needs.
//!
//! Why not `fluvio-smartengine` 0.50.1: it keeps one store per chain for
//! ever, so the guest memory that every call allocates is never given back
//! (about 0.6 GB per million records); it gives modules unlimited fuel, so a
//! looping module never returns; and a module `Err` drops the rest of its
//! batch. This crate speaks the same ABI (`alloc`, `memory`, `init`,
//! `filter`/`map`/`filter_map`/`array_map`, the `copy_records` import, the
//! fluvio protocol encoding at version 22) but:
//!
//! - compiles each module once ([`Engine::load`]) and instantiates it afresh
//!   for every call from a pre-linked `InstancePre`, so guest memory is
//!   dropped after each batch and stays bounded on an endless stream;
//! - bounds each call in time (epoch interruption) and memory (store limits);
//! - isolates a record that makes a module trap, time out or return `Err`
//!   by splitting the batch, and reports it as a `transform_error` reject
//!   while the other records go on ([`Chain::run`]).

mod chain;
mod engine;
mod error;
mod module;
pub mod params;

pub use chain::{Chain, Outcome};
pub use engine::{Engine, EngineConfig};
pub use error::{CallError, LoadError};
pub use module::{Module, TransformKind};

#[cfg(test)]
mod wire_tests;
