//! `shelf report` and the end of `make demo`.
//!
//! - [`charts`]: the three analyses (products per price bucket, per
//!   category, average price per category) from MongoDB as terminal bars.
//! - [`drain`]: waiting until the runtime and the sink have consumed
//!   everything, and counting what each stage produced.
//! - [`movers`]: the latest day's biggest price drops and rises.
//! - [`reconcile`]: rows read = unparseable + refused + rejected + stored.

pub mod charts;
pub mod drain;
pub mod movers;
pub mod open;
pub mod reconcile;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("MongoDB: {0}")]
    Mongo(#[from] mongodb::error::Error),
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("{0}")]
    Timeout(String),
    #[error("unexpected MongoDB reply: {0}")]
    Reply(String),
    #[error("cannot reach MongoDB at {uri}: {reason}; is it running (`make up` starts the local one), and are --mongo / SHELF_MONGO right?")]
    Unreachable { uri: String, reason: String },
    #[error("database `{database}` holds no shelfstream data (no products, no category_stats); databases there: {others}; set --database or SHELF_DB")]
    NoData { database: String, others: String },
}
