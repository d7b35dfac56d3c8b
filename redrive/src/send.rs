//! Sending stored payloads again into the chain's input topic, marked as
//! redrives, with the time and input row they first came with.

use std::time::Duration;

use futures::future::join_all;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use shelf_contract::wire::kafka_headers;
use shelf_kafka::KafkaClients;
use tokio::time::Instant;

use crate::error::{RedriveError, SendFailure};
use crate::select::StoredReject;

pub struct Sender {
    producer: FutureProducer,
    topic: String,
    replay: String,
    /// Records per second at most (0: no limit).
    rate: u64,
    started: Instant,
    sent: u64,
}

impl Sender {
    pub fn new(
        kafka: &KafkaClients,
        topic: &str,
        replay: &str,
        rate: u64,
    ) -> Result<Self, RedriveError> {
        // Idempotent and acknowledged by all replicas, like the gateway's.
        let producer = kafka
            .producer()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "60000")
            .create()?;
        Ok(Self {
            producer,
            topic: topic.to_owned(),
            replay: replay.to_owned(),
            rate,
            started: Instant::now(),
            sent: 0,
        })
    }

    /// Sends `rejects`' payloads and waits until the broker has them all.
    /// The key is the asin as the gateway keys it; the timestamp is the
    /// first receipt's, which is the observation time of a record without
    /// one, so the redriven version is the version it would have been.
    pub async fn send(&mut self, rejects: &[&StoredReject]) -> Result<(), RedriveError> {
        let mut pending = Vec::with_capacity(rejects.len());
        for r in rejects {
            self.pace().await;
            let key = r.key();
            let line = r.origin.as_ref().map(|o| o.line.to_string());
            let mut headers = OwnedHeaders::new_with_capacity(4)
                .insert(text(kafka_headers::REDRIVE, &r.id))
                .insert(text(kafka_headers::REPLAY, &self.replay));
            if let (Some(origin), Some(line)) = (&r.origin, &line) {
                headers = headers
                    .insert(text(kafka_headers::FILE, &origin.file))
                    .insert(text(kafka_headers::LINE, line));
            }
            let mut record: FutureRecord<'_, String, String> = FutureRecord::to(&self.topic)
                .payload(&r.payload)
                .headers(headers);
            if let Some(key) = &key {
                record = record.key(key);
            }
            if let Some(ms) = r.received_at {
                record = record.timestamp(ms);
            }
            let delivery = loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => break delivery,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err((error, _)) => return Err(self.failed(&r.id, error)),
                }
            };
            pending.push(async move { (r.id.as_str(), delivery.await) });
            self.sent += 1;
        }
        for (id, result) in join_all(pending).await {
            let error = match result {
                Ok(Ok(_)) => continue,
                Ok(Err((error, _))) => error,
                Err(_cancelled) => KafkaError::Canceled,
            };
            return Err(self.failed(id, error));
        }
        Ok(())
    }

    fn failed(&self, id: &str, error: KafkaError) -> RedriveError {
        RedriveError::Send(Box::new(SendFailure {
            id: id.to_owned(),
            topic: self.topic.clone(),
            error,
        }))
    }

    /// `--rate`: the n-th record leaves no earlier than n / rate seconds in.
    async fn pace(&self) {
        if self.rate > 0 {
            let due = Duration::from_secs_f64(self.sent as f64 / self.rate as f64);
            tokio::time::sleep_until(self.started + due).await;
        }
    }
}

fn text<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}
