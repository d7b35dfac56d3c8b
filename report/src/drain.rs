//! Waiting for the pipeline to drain, from the outside: consumer-group
//! offsets against what the topics hold.
//!
//! The gateway writes `ingest-product` without transactions, so the
//! runtime has drained when its committed offsets reach the high
//! watermarks. `product-clean` and `product-dlq` are written in
//! transactions, whose commit markers take an offset of their own, so the
//! sink has drained when its offsets pass the last *record* of each
//! partition; [`count`] finds those while counting the records.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use shelf_kafka::KafkaClients;

use crate::ReportError;

const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);

/// Records of a topic (read_committed) and the offset after the last one
/// in each partition.
#[derive(Debug, Clone, Default)]
pub struct TopicCount {
    pub records: u64,
    pub next_after_last: HashMap<i32, i64>,
}

fn consumer(kafka: &KafkaClients, group: &str) -> Result<BaseConsumer, ReportError> {
    Ok(kafka.consumer(group).create()?)
}

fn partitions(c: &BaseConsumer, topic: &str) -> Result<Vec<i32>, ReportError> {
    let metadata = c.fetch_metadata(Some(topic), KAFKA_TIMEOUT)?;
    Ok(metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect())
}

/// Committed offset of `group` per partition of `topic` (-1: none).
fn committed(
    c: &BaseConsumer,
    topic: &str,
    parts: &[i32],
) -> Result<HashMap<i32, i64>, ReportError> {
    let mut tpl = TopicPartitionList::new();
    for &p in parts {
        tpl.add_partition(topic, p);
    }
    let committed = c.committed_offsets(tpl, KAFKA_TIMEOUT)?;
    Ok(committed
        .elements()
        .iter()
        .map(|e| {
            let o = match e.offset() {
                Offset::Offset(o) => o,
                _ => -1,
            };
            (e.partition(), o)
        })
        .collect())
}

/// Blocks until `group` has committed up to the high watermark of every
/// partition of `topic` (a topic written without transactions).
pub fn wait_for_group(
    kafka: &KafkaClients,
    group: &str,
    topic: &str,
    timeout: Duration,
) -> Result<(), ReportError> {
    let c = consumer(kafka, group)?;
    let parts = partitions(&c, topic)?;
    let started = Instant::now();
    loop {
        let done = committed(&c, topic, &parts)?;
        let mut behind = 0;
        for &p in &parts {
            let (_, high) = c.fetch_watermarks(topic, p, KAFKA_TIMEOUT)?;
            behind += (high - done.get(&p).copied().unwrap_or(-1).max(0)).max(0);
        }
        if behind == 0 {
            return Ok(());
        }
        tracing::debug!(group, topic, behind, "waiting for the group");
        if started.elapsed() > timeout {
            return Err(ReportError::Timeout(format!(
                "group {group} is still {behind} records behind on {topic} after {timeout:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Reads `topic` whole (read_committed) and counts its records.
pub fn count(kafka: &KafkaClients, topic: &str) -> Result<TopicCount, ReportError> {
    let c = consumer(kafka, "shelf-report")?;
    let parts = partitions(&c, topic)?;
    let mut tpl = TopicPartitionList::new();
    let mut high = HashMap::new();
    for &p in &parts {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
        high.insert(p, c.fetch_watermarks(topic, p, KAFKA_TIMEOUT)?.1);
    }
    c.assign(&tpl)?;
    let mut out = TopicCount::default();
    let idle_since = Instant::now();
    let mut last_record = idle_since;
    // Done when an empty poll finds every partition read up to its high
    // watermark (the last offset may be a transaction marker, never
    // delivered), or after two seconds without a record (aborted
    // transactions at the end).
    loop {
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                out.records += 1;
                out.next_after_last.insert(m.partition(), m.offset() + 1);
                last_record = Instant::now();
            }
            Some(Err(e)) => return Err(e.into()),
            None => {
                let reached = parts
                    .iter()
                    .all(|p| out.next_after_last.get(p).copied().unwrap_or(0) >= high[p] - 1);
                if reached || last_record.elapsed() > Duration::from_secs(2) {
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// Blocks until `group` has committed past the last record of every
/// partition in `counted`.
pub fn wait_past(
    kafka: &KafkaClients,
    group: &str,
    topic: &str,
    counted: &TopicCount,
    timeout: Duration,
) -> Result<(), ReportError> {
    let c = consumer(kafka, group)?;
    let parts: Vec<i32> = counted.next_after_last.keys().copied().collect();
    let started = Instant::now();
    loop {
        let done = committed(&c, topic, &parts)?;
        let behind: Vec<i32> = parts
            .iter()
            .copied()
            .filter(|p| done.get(p).copied().unwrap_or(-1) < counted.next_after_last[p])
            .collect();
        if behind.is_empty() {
            return Ok(());
        }
        tracing::debug!(group, topic, ?behind, ?done, "waiting for the group");
        if started.elapsed() > timeout {
            return Err(ReportError::Timeout(format!(
                "group {group} has not consumed {topic} partitions {behind:?} after {timeout:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
