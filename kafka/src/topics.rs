//! Creating and deleting topics.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::{ConnectError, KafkaClients};

/// A topic to create if it is missing.
#[derive(Debug, Clone)]
pub struct TopicSpec<'a> {
    pub name: &'a str,
    pub partitions: i32,
    /// Replicas of each partition; `None`: the broker's
    /// `default.replication.factor` (1 on the local platform, 3 on its
    /// three-broker cluster).
    pub replication: Option<i32>,
    /// Topic configs, e.g. `("cleanup.policy", "compact")`.
    pub config: Vec<(&'a str, String)>,
}

impl<'a> TopicSpec<'a> {
    pub fn new(name: &'a str, partitions: i32) -> Self {
        Self {
            name,
            partitions,
            replication: None,
            config: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum TopicError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("cannot reach the broker to create topics")]
    Unavailable(#[source] KafkaError),
    #[error("creating topic {topic}: {reason}")]
    Refused { topic: String, reason: String },
    #[error("deleting {what}: {reason}")]
    Delete { what: String, reason: String },
}

/// Creates the topics that do not exist yet; existing ones are left as
/// they are.
///
/// Checks first that the cluster accepts the client settings
/// ([`KafkaClients::check`]), so that a service given a wrong password or
/// CA stops at once with an error naming the setting.
pub async fn ensure_topics(
    kafka: &KafkaClients,
    topics: &[TopicSpec<'_>],
    timeout: Duration,
) -> Result<(), TopicError> {
    kafka.check_async(timeout).await?;
    let admin: AdminClient<DefaultClientContext> =
        kafka.admin().create().map_err(TopicError::Unavailable)?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| {
            t.config.iter().fold(
                NewTopic::new(
                    t.name,
                    t.partitions,
                    // -1: the broker's default (Kafka 2.4+, Redpanda).
                    TopicReplication::Fixed(t.replication.unwrap_or(-1)),
                ),
                |topic, (k, v)| topic.set(k, v),
            )
        })
        .collect();
    let options = AdminOptions::new()
        .operation_timeout(Some(timeout))
        .request_timeout(Some(timeout));
    let results = admin
        .create_topics(&new, &options)
        .await
        .map_err(TopicError::Unavailable)?;
    for result in results {
        match result {
            Ok(name) => tracing::info!(topic = %name, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(TopicError::Refused {
                    topic,
                    reason: code.to_string(),
                })
            }
        }
    }
    Ok(())
}

/// Deletes topics (missing ones are skipped) and waits until the broker
/// no longer lists them, so they can be created afresh. For `shelf demo
/// --reset`.
pub async fn delete_topics(
    kafka: &KafkaClients,
    topics: &[&str],
    timeout: Duration,
) -> Result<(), TopicError> {
    let unavailable = TopicError::Unavailable;
    let admin: AdminClient<DefaultClientContext> = kafka.admin().create().map_err(unavailable)?;
    let options = AdminOptions::new().operation_timeout(Some(timeout));
    let started = std::time::Instant::now();
    for result in admin
        .delete_topics(topics, &options)
        .await
        .map_err(unavailable)?
    {
        if let Err((topic, code)) = result {
            if code != RDKafkaErrorCode::UnknownTopicOrPartition {
                return Err(TopicError::Delete {
                    what: format!("topic {topic}"),
                    reason: code.to_string(),
                });
            }
        }
    }
    loop {
        let metadata = admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(5))
            .map_err(unavailable)?;
        let left: Vec<&str> = metadata
            .topics()
            .iter()
            .map(|t| t.name())
            .filter(|n| topics.contains(n))
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        if started.elapsed() > timeout {
            return Err(TopicError::Delete {
                what: format!("topics {}", left.join(", ")),
                reason: "still listed after deletion".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
