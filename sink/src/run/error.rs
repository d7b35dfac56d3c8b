//! What stops the sink.

use shelf_kafka::{SettingsError, TopicError};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Topics(#[from] TopicError),
    #[error(transparent)]
    KafkaSettings(#[from] SettingsError),
    #[error(transparent)]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Metrics(#[from] shelf_service::StatusError),
    #[error("the Kafka consumer ended ({code}): {reason}")]
    ConsumerFatal { code: String, reason: String },
    #[error(
        "the sink group `{group}` has members ({}): stop every sink of the group before a rebuild",
        members.join(", ")
    )]
    GroupRunning { group: String, members: Vec<String> },
    #[error("the sink loop stopped unexpectedly")]
    Join(#[from] tokio::task::JoinError),
}

impl SinkError {
    /// Whether starting the sink afresh may succeed: the broker was lost
    /// or the group fenced its consumer.
    pub(super) fn is_restartable(&self) -> bool {
        matches!(self, Self::ConsumerFatal { .. } | Self::Kafka(_))
    }
}
