//! When a pipeline run has drained, seen from outside: records in a topic
//! and products counted in the aggregates.

use std::time::Duration;

use anyhow::{Context, Result};
use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use rdkafka::consumer::{BaseConsumer, Consumer};
use shelf_kafka::KafkaClients;

/// Products counted in `price_buckets`. Generated asins are unique, so the
/// aggregates are complete when this equals the runtime's product
/// outputs. (Counting `products` instead would take FerretDB minutes at
/// full size: it reads every document to count.)
pub async fn bucketed(db: &mongodb::Database) -> Result<i64> {
    let buckets: Vec<Document> = db
        .collection::<Document>("price_buckets")
        .find(doc! {})
        .await?
        .try_collect()
        .await?;
    Ok(buckets
        .iter()
        .map(|d| match d.get("products") {
            Some(mongodb::bson::Bson::Int32(n)) => i64::from(*n),
            Some(mongodb::bson::Bson::Int64(n)) => *n,
            _ => 0,
        })
        .sum())
}

/// Records in a topic: the sum of its partitions' high watermarks (the
/// gateway writes without transactions, so every offset is a record).
pub struct Watermarks {
    consumer: BaseConsumer,
}

impl Watermarks {
    pub fn new(kafka: &KafkaClients) -> Result<Self> {
        Ok(Self {
            consumer: kafka
                .consumer("pipeline-bench-watermarks")
                .create()
                .context("Kafka client")?,
        })
    }

    pub fn total(&self, topic: &str) -> Result<i64> {
        let metadata = self
            .consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let mut total = 0;
        for t in metadata.topics() {
            for p in t.partitions() {
                let (low, high) =
                    self.consumer
                        .fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
                total += high - low;
            }
        }
        Ok(total)
    }
}
