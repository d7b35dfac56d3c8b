//! The categories stream, read whole by every sink instance.
//!
//! Every instance needs every category's name (it names the products of
//! its own partitions), and the stream is small (about 250 records), so
//! each instance reads all its partitions from the start, outside the
//! consumer group, and keeps the names in memory.

use std::time::{Duration, Instant};

use bson::Document;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::Value;
use shelf_kafka::KafkaClients;

use shelf_contract::fields::category as field;
use shelf_contract::{Position, Reject, RejectReason};

use crate::reject;

/// What one category record says.
#[derive(Debug, Clone, PartialEq)]
pub enum CategoryRecord {
    Named {
        id: i64,
        name: String,
    },
    /// Not a category record; stored as a reject.
    Refused(Document),
}

pub struct CategoryReader {
    consumer: BaseConsumer,
    topic: String,
    /// Offsets to reach before the reader has caught up.
    ends: Vec<(i32, i64)>,
}

impl CategoryReader {
    /// Assigns every partition of `topic` from the beginning.
    pub fn new(kafka: &KafkaClients, topic: &str) -> Result<Self, KafkaError> {
        // librdkafka wants a group for `assign`; this consumer never joins
        // it nor commits to it.
        let consumer: BaseConsumer = kafka.consumer("shelf-sink-categories").create()?;
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let mut assignment = TopicPartitionList::new();
        let mut ends = Vec::new();
        for t in metadata.topics() {
            for p in t.partitions() {
                assignment.add_partition_offset(topic, p.id(), Offset::Beginning)?;
                let (_, high) =
                    consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
                ends.push((p.id(), high));
            }
        }
        consumer.assign(&assignment)?;
        Ok(Self {
            consumer,
            topic: topic.to_owned(),
            ends,
        })
    }

    /// Reads until every partition's end as of start-up, so that products
    /// are named from their first write when their category came first.
    pub fn catch_up(&mut self, timeout: Duration) -> Result<Vec<CategoryRecord>, KafkaError> {
        let started = Instant::now();
        let mut out = Vec::new();
        while started.elapsed() < timeout {
            let positions = self.consumer.position()?;
            let done = self.ends.iter().all(|&(partition, end)| {
                end == 0
                    || positions
                        .find_partition(&self.topic, partition)
                        .is_some_and(|p| matches!(p.offset(), Offset::Offset(o) if o >= end))
            });
            if done {
                return Ok(out);
            }
            out.extend(self.poll(Duration::from_millis(100)));
        }
        tracing::warn!(topic = %self.topic, "categories not caught up in {timeout:?}; going on");
        Ok(out)
    }

    /// What has arrived, without waiting.
    pub fn poll_now(&mut self) -> Vec<CategoryRecord> {
        self.poll(Duration::ZERO)
    }

    fn poll(&mut self, wait: Duration) -> Vec<CategoryRecord> {
        let mut out = Vec::new();
        let mut wait = wait;
        while out.len() < 10_000 {
            match self.consumer.poll(wait) {
                Some(Ok(m)) => out.push(parse(
                    m.payload().unwrap_or_default(),
                    Position::new(m.topic(), m.partition(), m.offset()),
                )),
                Some(Err(e)) => tracing::warn!(error = %e, "categories consumer error"),
                None => break,
            }
            wait = Duration::ZERO;
        }
        out
    }
}

/// Reads `{"id": …, "category_name": …}`.
pub fn parse(value: &[u8], at: Position) -> CategoryRecord {
    let refuse = |detail: String| {
        CategoryRecord::Refused(reject::from_refusal(
            Reject::new(RejectReason::InvalidRecord, detail),
            value,
            at.clone(),
            None,
            None,
        ))
    };
    let json: Value = match serde_json::from_slice(value) {
        Ok(v) => v,
        Err(e) => return refuse(format!("category: not valid JSON: {e}")),
    };
    let id = match json.get(field::ID) {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let Some(id) = id.filter(|&id| id >= 1) else {
        return refuse("category field `id`: missing or not a whole number >= 1".into());
    };
    match json.get(field::CATEGORY_NAME) {
        Some(Value::String(name)) => CategoryRecord::Named {
            id,
            name: name.clone(),
        },
        _ => refuse(format!(
            "category {id}: field `category_name` missing or not a string"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Position {
        Position::new("ingest-category", 0, 3)
    }

    #[test]
    fn reads_ids_as_numbers_or_text() {
        assert_eq!(
            parse(br#"{"id":5,"category_name":"Toys & Games"}"#, at()),
            CategoryRecord::Named {
                id: 5,
                name: "Toys & Games".into()
            }
        );
        assert_eq!(
            parse(br#"{"id":"12","category_name":"Kettles"}"#, at()),
            CategoryRecord::Named {
                id: 12,
                name: "Kettles".into()
            }
        );
    }

    #[test]
    fn refuses_what_is_not_a_category() {
        for bad in [
            &b"nope"[..],
            br#"{"id":0,"category_name":"x"}"#,
            br#"{"id":3}"#,
        ] {
            let CategoryRecord::Refused(d) = parse(bad, at()) else {
                panic!("accepted {}", String::from_utf8_lossy(bad));
            };
            assert_eq!(
                d.get_str("reason").unwrap(),
                RejectReason::InvalidRecord.as_str()
            );
            assert_eq!(d.get_str("_id").unwrap(), "ingest-category/0/3");
        }
    }
}
