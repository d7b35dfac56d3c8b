//! The sink's side of the consumer group: batches polled from Kafka,
//! partitions coming and going, offsets committed, and rewinding to the
//! last committed offsets when a batch must be replayed.

use super::*;
use shelf_kafka::BatchLimits;

/// Partition changes, recorded by the consumer's rebalance callbacks
/// (which run inside `poll`, on the loop's thread), and the lag from its
/// statistics.
pub(super) struct GroupEvents {
    pub(super) revoked: Mutex<Vec<(String, i32)>>,
    pub(super) assigned: Mutex<Vec<(String, i32)>>,
    pub(super) metrics: Arc<Metrics>,
}

fn partitions(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

/// The partitions revoked and assigned by one poll's rebalance.
struct GroupChange {
    revoked: Vec<(String, i32)>,
    assigned: Vec<(String, i32)>,
}

impl GroupChange {
    fn take(events: &GroupEvents) -> Self {
        let drain = |m: &Mutex<Vec<(String, i32)>>| {
            m.lock()
                .map(|mut v| v.drain(..).collect())
                .unwrap_or_default()
        };
        Self {
            revoked: drain(&events.revoked),
            assigned: drain(&events.assigned),
        }
    }
}

impl ClientContext for GroupEvents {
    fn stats(&self, statistics: rdkafka::Statistics) {
        self.metrics.lag.set(&statistics);
    }
}

impl ConsumerContext for GroupEvents {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            if let Ok(mut r) = self.revoked.lock() {
                r.extend(partitions(tpl));
            }
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            if let Ok(mut a) = self.assigned.lock() {
                a.extend(partitions(tpl));
            }
        }
    }
}

impl Sink {
    /// Up to `batch_size` records ([`shelf_kafka::collect`]). Group
    /// changes are noted after every poll: records polled before a
    /// revocation are dropped then, while those polled after it (the
    /// partition may come straight back) are kept.
    pub(super) fn collect(&mut self) -> Vec<OwnedMessage> {
        let limits = BatchLimits {
            size: self.args.batch_size,
            wait: self.args.batch_wait(),
            // Rename slices wait for the poll when there is nothing to store.
            idle: if self.sweeps.is_empty() {
                Duration::from_millis(200)
            } else {
                Duration::from_millis(10)
            },
        };
        let mut changes: Vec<GroupChange> = Vec::new();
        let ctx = self.consumer.context();
        let batch = shelf_kafka::collect(&self.consumer, limits, &self.shutdown, |batch| {
            let change = GroupChange::take(ctx);
            if !change.revoked.is_empty() {
                batch.retain(|m| {
                    !change
                        .revoked
                        .iter()
                        .any(|(t, p)| t == m.topic() && *p == m.partition())
                });
            }
            if !change.revoked.is_empty() || !change.assigned.is_empty() {
                changes.push(change);
            }
        });
        for change in changes {
            self.apply_group_change(change);
        }
        batch
    }

    /// Drops the state of revoked partitions (their new owner replays
    /// them from the committed offsets) and notes new ones.
    fn apply_group_change(&mut self, GroupChange { revoked, assigned }: GroupChange) {
        let products = &self.platform.topics.product_clean;
        if !revoked.is_empty() {
            tracing::info!(?revoked, "partitions revoked");
            for (_, p) in revoked.iter().filter(|(t, _)| t == products) {
                self.loaded.remove(p);
                self.to_load.remove(p);
                self.partials.retain(|k, _| k.0 != *p);
                self.stored_seq.remove(p);
                self.daily.retain(|k, _| k.0 != *p);
                self.daily_seq.retain(|k, _| k.0 != *p);
                self.sweeps.remove(p);
            }
        }
        // Another instance joined or left: check the aggregates whole at
        // the next merge, and whether partitions were added.
        self.current_merge.forget();
        self.daily_merge.forget();
        self.topic_partitions.clear();
        if !assigned.is_empty() {
            tracing::info!(?assigned, "partitions assigned");
            for (_, p) in assigned.iter().filter(|(t, _)| t == products) {
                if !self.loaded.contains(p) {
                    self.to_load.insert(*p);
                }
            }
        }
    }

    pub(super) fn commit(&self, batch: &[OwnedMessage]) -> Result<(), SinkError> {
        let offsets = shelf_kafka::next_offsets(batch)?;
        // Asynchronous: a commit lost in a crash only means a replay,
        // which changes nothing.
        self.consumer.commit(&offsets, CommitMode::Async)?;
        Ok(())
    }

    /// The partitions of the product topic, from the broker.
    pub(super) fn product_partitions(&self) -> Result<Vec<i32>, SinkError> {
        let topic = &self.platform.topics.product_clean;
        let metadata = self
            .consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect())
    }

    /// After a failed batch: the cached partials may be ahead of or behind
    /// what got written, so they are read again, and the consumer goes back
    /// to the committed offsets to replay.
    pub(super) fn forget_and_rewind(&mut self) -> Result<(), SinkError> {
        self.partials.clear();
        self.stored_seq.clear();
        self.daily.clear();
        self.daily_seq.clear();
        self.sweeps.clear();
        self.current_merge.forget();
        self.daily_merge.forget();
        self.to_load.extend(self.loaded.drain());
        self.rewind()
    }

    /// Puts the consumer back at the committed offsets.
    pub(super) fn rewind(&self) -> Result<(), SinkError> {
        let t = &self.platform.topics;
        shelf_kafka::rewind_to_committed(&self.consumer, &[&t.product_clean, &t.product_dlq])?;
        Ok(())
    }
}
