//! The MongoDB sink: turns the cleaned product stream, the categories and
//! the dead letters into the collections analysts query (`products`,
//! `categories`, `category_stats`, `price_buckets`, `rejects`), exactly
//! once, without transactions (FerretDB has none).
//!
//! - [`product`] reads a cleaned record and checks MongoDB will store it;
//! - [`figures`] holds the aggregate arithmetic (exact integer sums,
//!   per-partition partials, the merged documents);
//! - [`plan`] decides a batch's writes and why replays are harmless;
//! - [`store`] talks to MongoDB in few round trips;
//! - [`run`] is the loop: consume, plan, write, commit, merge.

pub mod aggregates;
mod bson_bytes;
pub mod categories;
pub mod config;
pub mod daily;
pub mod figures;
pub mod history;
mod json_bson;
pub mod metrics;
pub mod partition_state;
pub mod plan;
mod price_changes;
pub mod product;
pub mod rebuild;
pub mod reject;
pub mod rename;
pub mod run;
pub mod store;
mod stored_document;

pub use config::SinkArgs;
pub use rebuild::{rebuild, RebuildArgs, Rebuilt};
pub use run::{run, run_until, SinkError};

/// A map keyed by asin: a batch's stored products and its products'
/// latest states. Hashed with foldhash (seeded per process): with SipHash,
/// hashing these maps was in a sixth of the sink's profile over daily
/// snapshots (docs/benchmarks.md).
pub type ByAsin<V> = std::collections::HashMap<String, V, foldhash::fast::RandomState>;
