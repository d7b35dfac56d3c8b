//! Kafka for the tests: topics of their own, records produced and read
//! back whole.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use shelf_config::{KafkaSettings, Platform};
use shelf_kafka::{ensure_topics, KafkaClients, TopicSpec};

use crate::unique;

/// The clients of `settings`, which the tests build valid.
pub fn clients(settings: &KafkaSettings) -> KafkaClients {
    KafkaClients::new(settings).expect("valid Kafka settings")
}

/// The clients of the platform the test runs on.
pub fn kafka(p: &Platform) -> KafkaClients {
    clients(&p.kafka)
}

/// Creates topics (or does nothing if they exist).
/// Replication: the broker's default.
pub async fn create_topics(kafka: &KafkaSettings, names: &[&str], partitions: i32) -> Result<()> {
    let specs: Vec<TopicSpec> = names
        .iter()
        .map(|n| TopicSpec::new(n, partitions))
        .collect();
    Ok(ensure_topics(&clients(kafka), &specs, Duration::from_secs(10)).await?)
}

/// A record read back from a topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Record {
    /// The value of the header `name`, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn key_str(&self) -> &str {
        self.key
            .as_deref()
            .map(|k| std::str::from_utf8(k).unwrap_or("<binary>"))
            .unwrap_or("")
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.value).unwrap_or(serde_json::Value::Null)
    }
}

/// The distinct keys of `records`, sorted.
pub fn distinct_keys(records: &[Record]) -> Vec<String> {
    let mut keys: Vec<String> = records.iter().map(|r| r.key_str().to_owned()).collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Reads a topic from the beginning with `read_committed` isolation until
/// `expected` records have arrived, then goes on for `settle` to catch any
/// extra (duplicate) ones. Fails if fewer than `expected` arrive in `timeout`.
pub async fn read_topic(
    kafka: &KafkaSettings,
    topic: &str,
    expected: usize,
    timeout: Duration,
    settle: Duration,
) -> Result<Vec<Record>> {
    let kafka = clients(kafka);
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        read_topic_blocking(&kafka, &topic, expected, timeout, settle)
    })
    .await?
}

fn read_topic_blocking(
    kafka: &KafkaClients,
    topic: &str,
    expected: usize,
    timeout: Duration,
    settle: Duration,
) -> Result<Vec<Record>> {
    let consumer: BaseConsumer = kafka
        .consumer(&unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set_log_level(RDKafkaLogLevel::Warning)
        .create()?;
    consumer.subscribe(&[topic])?;
    let deadline = Instant::now() + timeout;
    let mut settle_until: Option<Instant> = None;
    let mut out = Vec::new();
    loop {
        let now = Instant::now();
        if let Some(until) = settle_until {
            if now >= until {
                break;
            }
        } else if out.len() >= expected {
            settle_until = Some(now + settle);
        } else if now >= deadline {
            bail!(
                "read {} of {expected} records from {topic} within {timeout:?}",
                out.len()
            );
        }
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            // The topic may not exist yet (its writer creates it): keep polling.
            let Ok(m) = m else { continue };
            out.push(Record {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().unwrap_or_default().to_vec(),
                headers: m
                    .headers()
                    .map(|h| {
                        rdkafka::message::Headers::iter(h)
                            .map(|h| {
                                let value = String::from_utf8_lossy(h.value.unwrap_or_default());
                                (h.key.to_owned(), value.into_owned())
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// An idempotent producer for test data. Creating one (and dropping it)
/// costs about a second, so a test that produces often keeps one.
pub fn producer(kafka: &KafkaSettings) -> Result<rdkafka::producer::FutureProducer> {
    Ok(clients(kafka)
        .producer()
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()?)
}

/// Produces `(key, value)` records and waits for every acknowledgement.
pub async fn produce_all(
    kafka: &KafkaSettings,
    topic: &str,
    records: &[(String, Vec<u8>)],
) -> Result<()> {
    produce_with(&producer(kafka)?, topic, records).await
}

/// Like [`produce_all`], with a producer the caller keeps.
pub async fn produce_with(
    producer: &rdkafka::producer::FutureProducer,
    topic: &str,
    records: &[(String, Vec<u8>)],
) -> Result<()> {
    use rdkafka::producer::FutureRecord;
    // `send` only enqueues when polled, so awaiting sends one by one would
    // wait a linger per record; `send_result` enqueues now.
    let mut deliveries = Vec::with_capacity(records.len());
    for (k, v) in records {
        let mut record = FutureRecord::to(topic).key(k).payload(v);
        loop {
            match producer.send_result(record) {
                Ok(delivery) => break deliveries.push(delivery),
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    back,
                )) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err((e, _)) => bail!("producing to {topic}: {e}"),
            }
        }
    }
    for d in deliveries {
        d.await?.map_err(|(e, _)| e)?;
    }
    Ok(())
}
