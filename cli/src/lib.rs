//! The pieces of the `shelf` command that are not services of their own.
//!
//! `shelf` is a thin front: each subcommand parses its flags and calls into
//! the crate that does the job (`shelf-ingest`, …). What lives here is the
//! glue that belongs to no stage: checking the platform (`doctor`), the
//! in-process demo (`demo`), starting the dashboard (`dashboard`), the
//! three services under one supervisor (`supervisor`, `shelf run`), their
//! status (`status`) and setting up logging.

pub mod dashboard;
pub mod demo;
pub mod doctor;
pub mod logging;
pub mod status;
pub mod supervisor;
pub mod transform;
pub mod unused_settings;
