//! What stops the sink.

use shelf_kafka::{SettingsError, TopicError};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Topics(#[from] TopicError),
    #[error("Kafka settings: {0}")]
    KafkaSettings(#[from] SettingsError),
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot serve metrics on {addr}: {error}")]
    Metrics {
        addr: std::net::SocketAddr,
        error: std::io::Error,
    },
    #[error("the Kafka consumer ended ({code}): {reason}")]
    ConsumerFatal { code: String, reason: String },
    #[error("the sink loop stopped unexpectedly: {0}")]
    Join(String),
}

impl SinkError {
    /// Whether starting the sink afresh may succeed: the broker was lost
    /// or the group fenced its consumer.
    pub(super) fn is_restartable(&self) -> bool {
        matches!(self, Self::ConsumerFatal { .. } | Self::Kafka(_))
    }
}
