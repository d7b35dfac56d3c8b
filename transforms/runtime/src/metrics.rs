//! The runtime's Prometheus metrics.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use rdkafka::consumer::ConsumerContext;
use rdkafka::ClientContext;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

/// A step of the per-batch loop, so `/metrics` shows where the time goes.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: &'static str,
}

fn phase_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    pub records_in: Counter,
    pub records_out: Counter,
    pub rejects: Family<ReasonLabels, Counter>,
    pub transactions: Family<ResultLabels, Counter>,
    pub batch_seconds: Histogram,
    pub chain_version: Gauge,
    pub phase_seconds: Family<PhaseLabels, Histogram, fn() -> Histogram>,
    pub lag: shelf_kafka::LagGauges,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("shelf_transform");
        let records_in = Counter::default();
        let records_out = Counter::default();
        let rejects = Family::<ReasonLabels, Counter>::default();
        let transactions = Family::<ResultLabels, Counter>::default();
        let batch_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let chain_version = Gauge::default();
        let phase_seconds = Family::new_with_constructor(phase_histogram as fn() -> Histogram);
        let lag = shelf_kafka::LagGauges::default();
        lag.register(&mut registry);
        registry.register("records_in", "Input records committed", records_in.clone());
        registry.register(
            "records_out",
            "Output records committed",
            records_out.clone(),
        );
        registry.register(
            "rejects",
            "Records sent to the dead-letter topic",
            rejects.clone(),
        );
        registry.register(
            "transactions",
            "Kafka transactions by result",
            transactions.clone(),
        );
        registry.register(
            "batch_seconds",
            "Time per batch, consume to commit",
            batch_seconds.clone(),
        );
        registry.register(
            "chain_version",
            "Version of the chain in use",
            chain_version.clone(),
        );
        registry.register(
            "phase_seconds",
            "Time per batch in each step: collect (poll), chain (modules), produce (send outputs), commit (offsets and transaction commit)",
            phase_seconds.clone(),
        );
        Self {
            registry,
            records_in,
            records_out,
            rejects,
            transactions,
            batch_seconds,
            chain_version,
            phase_seconds,
            lag,
        }
    }
}

impl Metrics {
    pub fn render(&self) -> String {
        shelf_service::render_metrics(&self.registry)
    }
}

impl Metrics {
    /// What the progress lines show.
    pub fn progress(&self) -> shelf_service::progress::Done {
        shelf_service::progress::Done {
            records: self.records_in.get(),
            lag: Some(self.lag.total()),
        }
    }

    /// Records how long one step of a batch took.
    pub fn phase(&self, phase: &'static str, started: std::time::Instant) {
        self.phase_seconds
            .get_or_create(&PhaseLabels { phase })
            .observe(started.elapsed().as_secs_f64());
    }
}

/// The input consumer's context: its statistics set the lag.
pub struct LagStats(pub Arc<Metrics>);

impl ClientContext for LagStats {
    fn stats(&self, statistics: rdkafka::Statistics) {
        self.0.lag.set(&statistics);
    }
}

impl ConsumerContext for LagStats {}
