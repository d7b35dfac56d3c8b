//! A consumer's lag in records, from librdkafka's statistics, that reads 0
//! once everything is consumed.
//!
//! librdkafka's own `consumer_lag` (the partition's end minus the last
//! consumed offset + 1) never reaches 0 on a transactional topic: the
//! commit marker after the last record takes an offset no application
//! ever consumes, so a drained pipeline showed one "record" of lag per
//! partition. Here the lag is what is left to fetch up to the last stable
//! offset (markers are fetched and skipped) plus the records fetched but
//! not yet handed to the application.

use std::sync::atomic::{AtomicI64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rdkafka::statistics::{Partition, Statistics};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabels {
    topic: String,
    partition: i32,
}

/// A service's `lag` gauge (per partition) and the total, set from its
/// consumer's statistics.
#[derive(Debug, Default)]
pub struct LagGauges {
    per_partition: Family<PartitionLabels, Gauge>,
    total: AtomicI64,
}

impl LagGauges {
    /// Registers the gauge as `lag` in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "lag",
            "Records not yet read, per partition (0 when drained; from the consumer's statistics)",
            self.per_partition.clone(),
        );
    }

    /// Sets the gauges from one statistics report.
    pub fn set(&self, statistics: &Statistics) {
        let mut total = 0;
        for lag in partition_lags(statistics) {
            total += lag.records;
            self.per_partition
                .get_or_create(&PartitionLabels {
                    topic: lag.topic,
                    partition: lag.partition,
                })
                .set(lag.records);
        }
        self.total.store(total, Ordering::Relaxed);
    }

    /// Every partition's lag together.
    pub fn total(&self) -> i64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// One partition's lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    pub records: i64,
}

/// The lag of each partition `statistics` knows (0 for one no longer
/// assigned here, so a stale figure does not linger).
pub fn partition_lags(statistics: &Statistics) -> Vec<PartitionLag> {
    let mut lags = Vec::new();
    for (topic, t) in &statistics.topics {
        for (&partition, p) in &t.partitions {
            if partition < 0 {
                continue; // librdkafka's internal "unassigned" partition
            }
            if let Some(records) = records_behind(p) {
                lags.push(PartitionLag {
                    topic: topic.clone(),
                    partition,
                    records,
                });
            }
        }
    }
    lags
}

/// Records behind on one partition; `None` while not known yet.
fn records_behind(p: &Partition) -> Option<i64> {
    if !p.desired {
        return Some(0);
    }
    // The end readers may see: the last stable offset under read_committed.
    let end = if p.ls_offset >= 0 {
        p.ls_offset
    } else {
        p.hi_offset
    };
    if end < 0 {
        return None;
    }
    let position = [p.next_offset, p.committed_offset]
        .into_iter()
        .find(|&o| o >= 0)?;
    Some((end - position).max(0) + p.fetchq_cnt.max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(desired: bool, ls: i64, next: i64, committed: i64, queued: i64) -> Partition {
        let json = format!(
            r#"{{"partition":0,"broker":1,"leader":1,"desired":{desired},"unknown":false,
            "msgq_cnt":0,"msgq_bytes":0,"xmit_msgq_cnt":0,"xmit_msgq_bytes":0,
            "fetchq_cnt":{queued},"fetchq_size":0,"fetch_state":"active","query_offset":-1001,
            "next_offset":{next},"app_offset":-1001,"stored_offset":-1001,"committed_offset":{committed},
            "eof_offset":-1001,"lo_offset":0,"hi_offset":{ls},"ls_offset":{ls},
            "consumer_lag":1,"consumer_lag_stored":1,"txmsgs":0,"txbytes":0,"rxmsgs":0,
            "rxbytes":0,"msgs":0,"rx_ver_drops":0,"msgs_inflight":0,"next_ack_seq":0,
            "next_err_seq":0,"acked_msgid":0}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn a_drained_transactional_partition_has_no_lag() {
        // Records 0..=99, the commit marker at 100: fetched past it.
        assert_eq!(records_behind(&partition(true, 101, 101, 100, 0)), Some(0));
    }

    #[test]
    fn unfetched_and_queued_records_count() {
        assert_eq!(
            records_behind(&partition(true, 500, 300, 100, 40)),
            Some(240)
        );
        // Nothing fetched yet: from the committed offset.
        assert_eq!(
            records_behind(&partition(true, 500, -1001, 100, 0)),
            Some(400)
        );
        assert_eq!(records_behind(&partition(true, 500, -1001, -1001, 0)), None);
        assert_eq!(
            records_behind(&partition(false, 500, 300, 100, 40)),
            Some(0)
        );
    }
}
