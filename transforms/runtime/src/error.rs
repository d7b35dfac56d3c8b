//! What stops the transform runtime; shared by the loop and the committer.

use std::net::SocketAddr;

use rdkafka::error::KafkaError;
use shelf_engine::LoadError;
use shelf_kafka::{SettingsError, TopicError};

use crate::registry::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("chain `{0}` is not deployed: deploy it with `shelf transform chain` or `shelf transform deploy-defaults`")]
    NoChain(String),
    #[error("chain `{chain}` uses module `{module}`, which is not deployed")]
    MissingModule { chain: String, module: String },
    #[error("module `{module}` v{version}: {error}")]
    Load {
        module: String,
        version: u32,
        #[source]
        error: LoadError,
    },
    #[error(transparent)]
    Topics(#[from] TopicError),
    #[error("Kafka settings: {0}")]
    KafkaSettings(#[from] SettingsError),
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("Kafka: fatal producer error {code}: {reason}")]
    FatalProducer { code: String, reason: String },
    #[error("the Kafka consumer ended ({code}): {reason}")]
    ConsumerFatal { code: String, reason: String },
    #[error("Kafka gave no consumer group metadata for the transaction")]
    NoGroupMetadata,
    #[error("cannot encode a dead letter: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the runtime's loop ended abnormally: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("cannot start an async runtime for the topic check: {0}")]
    LocalRuntime(#[source] std::io::Error),
    #[error("cannot start the commit thread: {0}")]
    CommitThread(#[source] std::io::Error),
    #[error("the commit thread {0}")]
    Committer(&'static str),
    #[error("cannot serve metrics on {addr}: {error}")]
    Metrics {
        addr: SocketAddr,
        #[source]
        error: std::io::Error,
    },
}

impl RuntimeError {
    /// Whether starting the loop afresh may succeed: the broker was lost
    /// or the group fenced this consumer. Settings, modules and a producer
    /// fenced by a twin with the same transactional id are not.
    pub fn is_restartable(&self) -> bool {
        matches!(
            self,
            Self::ConsumerFatal { .. }
                | Self::Kafka(_)
                | Self::Registry(RegistryError::Kafka { .. })
                | Self::NoGroupMetadata
        ) || matches!(self, Self::Topics(TopicError::Unavailable(_)))
    }
}
