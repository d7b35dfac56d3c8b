//! What stops the transform runtime; shared by the loop and the committer.

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
    #[error(transparent)]
    IgnoredTopic(#[from] Box<crate::topic_check::IgnoredTopic>),
    #[error("chain `{chain}` uses module `{module}`, which is not deployed")]
    MissingModule { chain: String, module: String },
    #[error("module `{module}` v{version}")]
    Load {
        module: String,
        version: u32,
        #[source]
        error: LoadError,
    },
    #[error(transparent)]
    Topics(#[from] TopicError),
    #[error(transparent)]
    KafkaSettings(#[from] SettingsError),
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error("Kafka: fatal producer error {code}: {reason}")]
    FatalProducer { code: String, reason: String },
    #[error("the Kafka consumer ended ({code}): {reason}")]
    ConsumerFatal { code: String, reason: String },
    #[error("Kafka gave no consumer group metadata for the transaction")]
    NoGroupMetadata,
    #[error("cannot encode a dead letter")]
    Encode(#[from] serde_json::Error),
    #[error("the runtime's loop ended abnormally")]
    Join(#[from] tokio::task::JoinError),
    #[error("cannot start an async runtime for the topic check")]
    LocalRuntime(#[source] std::io::Error),
    #[error("cannot start the commit thread")]
    CommitThread(#[source] std::io::Error),
    #[error("the commit thread {0}")]
    Committer(&'static str),
    #[error(transparent)]
    Metrics(#[from] shelf_service::StatusError),
}

impl RuntimeError {
    /// Whether starting the loop afresh may succeed: the broker was lost,
    /// the group fenced this consumer, or the transaction coordinator moved
    /// and left the producer in a state it cannot leave (a new producer
    /// with the same transactional id aborts what was open). Settings and
    /// modules are not.
    pub fn is_restartable(&self) -> bool {
        matches!(
            self,
            Self::ConsumerFatal { .. }
                | Self::FatalProducer { .. }
                | Self::Kafka(_)
                | Self::Registry(RegistryError::Kafka { .. })
                | Self::NoGroupMetadata
        ) || matches!(self, Self::Topics(TopicError::Unavailable(_)))
    }
}
