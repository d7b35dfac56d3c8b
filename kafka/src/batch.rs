//! Consuming in batches, as the transform runtime and the sink both do:
//! a group member with a fixed id, batches collected up to a size or a
//! wait, and a rewind to the committed offsets when a batch is replayed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;
use rdkafka::Offset;

use crate::KafkaClients;

impl KafkaClients {
    /// A consumer of `group` with the fixed member id `member` (static
    /// membership): a restarted instance takes its partitions back at once
    /// instead of waiting for its killed self's session (10 s) to time out.
    /// Reads from the beginning when the group has no committed offset.
    pub fn group_member(&self, group: &str, member: &str) -> ClientConfig {
        let mut c = self.consumer(group);
        c.set("group.instance.id", member)
            .set("session.timeout.ms", "10000")
            .set("auto.offset.reset", "earliest");
        c
    }
}

/// How a batch is collected.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Records per batch at most.
    pub size: usize,
    /// How long a batch may wait to fill once it has its first record.
    pub wait: Duration,
    /// How long to wait for a first record before returning an empty
    /// batch, so the caller gets to do its between-batches work.
    pub idle: Duration,
}

/// Up to `limits.size` records. Returns early once the batch has waited
/// `limits.wait` since its first record, when nothing came for
/// `limits.idle`, on `stop`, or on a fatal consumer error (the caller
/// checks `fatal_error` and restarts). `after_poll` runs after every poll,
/// inside which rebalance callbacks run: it may drop records of revoked
/// partitions from the batch.
pub fn collect<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    limits: BatchLimits,
    stop: &AtomicBool,
    mut after_poll: impl FnMut(&mut Vec<OwnedMessage>),
) -> Vec<OwnedMessage> {
    let mut batch = Vec::new();
    let mut first_at: Option<Instant> = None;
    while batch.len() < limits.size && !stop.load(Ordering::Relaxed) {
        let wait = match first_at {
            None => limits.idle,
            Some(t) => match limits.wait.checked_sub(t.elapsed()) {
                Some(left) => left,
                None => break,
            },
        };
        let polled = consumer.poll(wait).map(|r| r.map(|m| m.detach()));
        after_poll(&mut batch);
        match polled {
            Some(Ok(m)) => {
                first_at.get_or_insert_with(Instant::now);
                batch.push(m);
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "consumer error");
                // A fatal one (fenced by the group after a lost
                // coordinator) ends this consumer.
                if consumer.client().fatal_error().is_some() {
                    break;
                }
            }
            None if batch.is_empty() => break,
            None => {}
        }
    }
    batch
}

/// Puts the consumer back at the committed offsets of its assignment, so
/// what was read since is read again. Where that cannot be done (offsets
/// unreadable, a partition not fetched yet), rejoins the group by
/// subscribing to `topics` again, which restarts every partition from its
/// committed offset.
pub fn rewind_to_committed<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topics: &[&str],
) -> Result<(), KafkaError> {
    let timeout = Duration::from_secs(10);
    let assignment = consumer.assignment()?;
    let committed = match consumer.committed_offsets(assignment, timeout) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read committed offsets; rejoining the group");
            return resubscribe(consumer, topics);
        }
    };
    for e in committed.elements() {
        let to = match e.offset() {
            Offset::Offset(o) => Offset::Offset(o),
            _ => Offset::Beginning,
        };
        if let Err(err) = consumer.seek(e.topic(), e.partition(), to, timeout) {
            tracing::warn!(error = %err, "seek failed; rejoining the group");
            return resubscribe(consumer, topics);
        }
    }
    Ok(())
}

fn resubscribe<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topics: &[&str],
) -> Result<(), KafkaError> {
    consumer.unsubscribe();
    consumer.subscribe(topics)
}
