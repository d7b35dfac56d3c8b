//! Offsets to commit for a batch of consumed records.

use std::collections::HashMap;

use rdkafka::error::KafkaResult;
use rdkafka::message::OwnedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};

/// The offset after the last record of each partition in `batch`: what a
/// consumer commits once the batch is done (the sink) or sends with its
/// outputs in one transaction (the transform runtime).
pub fn next_offsets(batch: &[OwnedMessage]) -> KafkaResult<TopicPartitionList> {
    let mut next: HashMap<(&str, i32), i64> = HashMap::new();
    for m in batch {
        let e = next.entry((m.topic(), m.partition())).or_insert(0);
        *e = (*e).max(m.offset() + 1);
    }
    let mut offsets = TopicPartitionList::new();
    for ((topic, partition), offset) in next {
        offsets.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    }
    Ok(offsets)
}
