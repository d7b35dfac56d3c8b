//! The sink's Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RecordLabels {
    pub topic: String,
    /// `stored`, `skipped` (already applied before a restart) or `rejected`.
    pub result: &'static str,
}

/// One kind of store work: a command (`find`, `insert`, `update`,
/// `delete`) on one collection.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreOpLabels {
    pub command: &'static str,
    pub collection: String,
}

/// What the sink asks of the store, by kind: commands sent, documents
/// read (`find`) or written (statements of `insert`, `update`, `delete`),
/// and the seconds the sink waited for the answers. The benchmarks print
/// these per million input rows.
#[derive(Debug, Clone, Default)]
pub struct StoreUsage {
    /// Every command, `getMore` and index commands included (round trips).
    pub round_trips: Counter,
    pub commands: Family<StoreOpLabels, Counter>,
    pub documents: Family<StoreOpLabels, Counter>,
    pub seconds: Family<StoreOpLabels, Counter<f64, AtomicU64>>,
}

impl StoreOpLabels {
    fn new(command: &'static str, collection: &str) -> Self {
        Self {
            command,
            collection: collection.to_owned(),
        }
    }
}

impl StoreUsage {
    pub fn record(&self, command: &'static str, collection: &str, documents: usize) {
        let labels = StoreOpLabels::new(command, collection);
        self.commands.get_or_create(&labels).inc();
        self.documents
            .get_or_create(&labels)
            .inc_by(documents as u64);
    }

    /// Time spent waiting for a command of this kind, answered or not.
    pub fn waited(&self, command: &'static str, collection: &str, time: std::time::Duration) {
        self.seconds
            .get_or_create(&StoreOpLabels::new(command, collection))
            .inc_by(time.as_secs_f64());
    }
}

pub struct Metrics {
    registry: Registry,
    pub records: Family<RecordLabels, Counter>,
    pub store: StoreUsage,
    pub store_errors: Counter,
    pub store_timeouts: Counter,
    pub merges: Counter,
    pub renames_pending: Gauge,
    pub renamed: Counter,
    pub rename_read: Counter,
    pub batch_seconds: Histogram,
    pub lag: shelf_kafka::LagGauges,
    pub store_up: Gauge,
    /// Records counted by [`Metrics::count`], every topic and result.
    records_total: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("shelf_sink");
        let records = Family::<RecordLabels, Counter>::default();
        let store = StoreUsage::default();
        let store_errors = Counter::default();
        let store_timeouts = Counter::default();
        let merges = Counter::default();
        let renames_pending = Gauge::default();
        let renamed = Counter::default();
        let rename_read = Counter::default();
        let batch_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let lag = shelf_kafka::LagGauges::default();
        lag.register(&mut registry);
        let store_up = Gauge::default();
        registry.register(
            "records",
            "Records handled, by topic and result",
            records.clone(),
        );
        registry.register(
            "mongo_commands",
            "Commands sent to MongoDB (round trips)",
            store.round_trips.clone(),
        );
        registry.register(
            "store_commands",
            "Store commands by command and collection",
            store.commands.clone(),
        );
        registry.register(
            "store_documents",
            "Documents read (find) or written (insert, update, delete statements), by command and collection",
            store.documents.clone(),
        );
        registry.register(
            "store_seconds",
            "Seconds waited for store commands, by command and collection",
            store.seconds.clone(),
        );
        registry.register(
            "store_errors",
            "Batches that failed on MongoDB and were retried",
            store_errors.clone(),
        );
        registry.register(
            "store_timeouts",
            "Batches that failed because a MongoDB command did not answer within --store-timeout-ms",
            store_timeouts.clone(),
        );
        registry.register(
            "renames_pending",
            "Stored products of this instance's partitions still to get their category's new name, at most",
            renames_pending.clone(),
        );
        registry.register(
            "renamed",
            "Stored products given their category's new name by a rename sweep",
            renamed.clone(),
        );
        registry.register(
            "rename_read",
            "Products read by rename sweeps (slices of products in _id order)",
            rename_read.clone(),
        );
        registry.register(
            "merges",
            "Rewrites of category_stats and price_buckets from the partials",
            merges.clone(),
        );
        registry.register(
            "batch_seconds",
            "Time per batch, first write to offset commit",
            batch_seconds.clone(),
        );
        registry.register("store_up", "1 while MongoDB answers", store_up.clone());
        Self {
            registry,
            records,
            store,
            store_errors,
            store_timeouts,
            merges,
            renames_pending,
            renamed,
            rename_read,
            batch_seconds,
            lag,
            store_up,
            records_total: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// What the progress lines show.
    pub fn progress(&self) -> shelf_service::progress::Done {
        shelf_service::progress::Done {
            records: self.records_total.load(Ordering::Relaxed),
            lag: Some(self.lag.total()),
        }
    }

    pub fn render(&self) -> String {
        shelf_service::render_metrics(&self.registry)
    }

    pub fn count(&self, topic: &str, result: &'static str, n: u64) {
        if n > 0 {
            self.records_total.fetch_add(n, Ordering::Relaxed);
            self.records
                .get_or_create(&RecordLabels {
                    topic: topic.to_owned(),
                    result,
                })
                .inc_by(n);
        }
    }
}
