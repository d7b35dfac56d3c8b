use shelf_transform::registry::RegistryError;
use shelf_transform::RuntimeError;

#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    #[error("--{flag} {value:?}: {reason} (write a date, 2023-09-01, or a date-time, 2023-09-01T06:30:00Z)")]
    Time {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error("MongoDB (reading or marking rejects): {0}")]
    Mongo(#[from] mongodb::error::Error),
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("Kafka client settings: {0}")]
    Settings(#[from] shelf_kafka::SettingsError),
    #[error("the transform registry: {0}")]
    Registry(#[from] RegistryError),
    #[error("loading the chain to replay through: {0}")]
    Chain(Box<RuntimeError>),
    #[error("the thread loading the chain: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("redriving reject {}", .0)]
    Send(Box<SendFailure>),
}

impl From<RuntimeError> for RedriveError {
    fn from(e: RuntimeError) -> Self {
        RedriveError::Chain(Box::new(e))
    }
}

/// A record the broker did not take.
#[derive(Debug, thiserror::Error)]
#[error("{id} to {topic}: {error}")]
pub struct SendFailure {
    pub id: String,
    pub topic: String,
    pub error: rdkafka::error::KafkaError,
}
