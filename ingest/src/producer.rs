//! The gateway's side of Kafka: one shared idempotent producer, and a call
//! that returns only once the broker holds every record of a request.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::future::join_all;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode as Code;
use rdkafka::ClientConfig;
use shelf_kafka::KafkaClients;

use rdkafka::message::{Header, OwnedHeaders};
use shelf_contract::wire::{kafka_headers, InputRow};

use crate::records::Keyed;

/// Why records could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// The broker did not acknowledge in time or is unreachable; retrying
    /// the whole request later is safe.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker refuses the record as too large.
    #[error("record refused by the broker as too large: {0}")]
    TooLarge(String),
    #[error("cannot configure the Kafka client: {0}")]
    Config(String),
}

/// Producer settings that matter for delivery guarantees and speed.
#[derive(Debug, Clone)]
pub struct ProducerSettings {
    pub kafka: KafkaClients,
    /// How long librdkafka may try to deliver a record before the request
    /// fails with 503.
    pub delivery_timeout: Duration,
    /// Largest record value accepted, so the producer's own limit is above it.
    pub max_record_bytes: usize,
    /// Bound of librdkafka's local queue (records).
    pub queue_records: usize,
}

fn client_config(s: &ProducerSettings) -> ClientConfig {
    let mut c = s.kafka.producer();
    // acks=all + idempotence: an acknowledged record is on every in-sync
    // replica exactly once, even when librdkafka retries internally.
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set(
            "message.timeout.ms",
            s.delivery_timeout.as_millis().to_string(),
        )
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("compression.type", "lz4")
        .set(
            "message.max.bytes",
            (s.max_record_bytes + 65_536).to_string(),
        )
        .set("queue.buffering.max.messages", s.queue_records.to_string())
        .set("queue.buffering.max.kbytes", "1048576");
    c
}

/// The shared producer. Replaced by a fresh one if librdkafka reports a
/// fatal error (an idempotent producer is unusable after one).
pub struct RecordProducer {
    settings: ProducerSettings,
    current: RwLock<Arc<FutureProducer>>,
}

impl RecordProducer {
    pub fn new(settings: ProducerSettings) -> Result<Self, ProduceError> {
        let producer = client_config(&settings)
            .create()
            .map_err(|e: KafkaError| ProduceError::Config(e.to_string()))?;
        Ok(Self {
            settings,
            current: RwLock::new(Arc::new(producer)),
        })
    }

    fn producer(&self) -> Arc<FutureProducer> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Produces every record and waits for all acknowledgements. `Ok` means
    /// the broker holds every one of them; on `Err` some may be stored and
    /// some not, and the caller claims none.
    /// `input_rows`, when given, holds one entry per record, written as the
    /// record's input-row headers.
    pub async fn send_all(
        &self,
        topic: &str,
        records: &[Keyed<'_>],
        input_rows: Option<&[InputRow]>,
    ) -> Result<(), ProduceError> {
        let producer = self.producer();
        let mut pending = Vec::with_capacity(records.len());
        let mut enqueue_error = None;
        for (i, r) in records.iter().enumerate() {
            let mut record = FutureRecord::to(topic).key(r.key.as_str()).payload(r.value);
            if let Some(row) = input_rows.and_then(|o| o.get(i)) {
                let line = row.line.to_string();
                record = record.headers(
                    OwnedHeaders::new_with_capacity(2)
                        .insert(Header {
                            key: kafka_headers::FILE,
                            value: Some(row.file.as_str()),
                        })
                        .insert(Header {
                            key: kafka_headers::LINE,
                            value: Some(line.as_str()),
                        }),
                );
            }
            match producer.send_result(record) {
                Ok(delivery) => pending.push(delivery),
                Err((e, _)) => {
                    enqueue_error = Some(e);
                    break;
                }
            }
        }
        // Wait for everything already enqueued even after a failure, so that
        // the in-flight bound the caller holds stays true.
        let results = join_all(pending).await;
        let mut error = enqueue_error.map(classify);
        for r in results {
            match r {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    error.get_or_insert_with(|| classify(e));
                }
                Err(_) => {
                    error
                        .get_or_insert_with(|| ProduceError::Unavailable("producer closed".into()));
                }
            }
        }
        match error {
            None => Ok(()),
            Some(e) => {
                self.replace_if_fatal(&producer);
                Err(e)
            }
        }
    }

    fn replace_if_fatal(&self, failed: &Arc<FutureProducer>) {
        let Some((code, reason)) = failed.client().fatal_error() else {
            return;
        };
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if !Arc::ptr_eq(&current, failed) {
            return; // another request already replaced it
        }
        tracing::error!(?code, %reason, "producer hit a fatal error; creating a new one");
        match client_config(&self.settings).create() {
            Ok(fresh) => *current = Arc::new(fresh),
            Err(e) => tracing::error!(error = %e, "cannot create a new producer"),
        }
    }

    /// Waits until every queued record is delivered or `timeout` passes.
    pub fn flush(&self, timeout: Duration) -> Result<(), ProduceError> {
        self.producer()
            .flush(timeout)
            .map_err(|e| ProduceError::Unavailable(e.to_string()))
    }

    /// A metadata request: is the broker there?
    pub async fn ping(&self, topic: &str, timeout: Duration) -> Result<(), ProduceError> {
        let producer = self.producer();
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&topic), timeout)
                .map(|_| ())
                .map_err(|e| ProduceError::Unavailable(e.to_string()))
        })
        .await
        .map_err(|e| ProduceError::Unavailable(e.to_string()))?
    }
}

fn classify(e: KafkaError) -> ProduceError {
    match e.rdkafka_error_code() {
        Some(Code::MessageSizeTooLarge) | Some(Code::InvalidMessageSize) => {
            ProduceError::TooLarge(e.to_string())
        }
        _ => ProduceError::Unavailable(e.to_string()),
    }
}
