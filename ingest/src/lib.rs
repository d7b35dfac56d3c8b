//! The ingest gateway: the front door of shelfstream.
//!
//! Clients POST product and category records as JSON, a JSON array or NDJSON
//! (optionally gzip), and the gateway writes them to the ingest topics keyed
//! by asin or id. It answers 200 only once the broker has acknowledged every
//! record of the request (acks=all, idempotent producer); otherwise it claims
//! nothing and says why, so a client can always retry the whole request.
//!
//! - [`records`]: splitting a body into keyed records (the envelope check).
//! - [`body`]: content type and decompression.
//! - [`auth`]: bearer tokens and per-client rate limits.
//! - [`producer`]: the shared Kafka producer.
//! - [`server`]: routes, the request pipeline, metrics and shutdown.

pub mod auth;
pub mod body;
pub mod config;
pub mod input_rows;
mod metrics;
pub mod producer;
pub mod records;
pub mod server;

pub use config::ServeArgs;
pub use server::{serve, Gateway, GatewayError};
