//! The runtime's Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub records_in: Counter,
    pub records_out: Counter,
    pub rejects: Family<ReasonLabels, Counter>,
    pub transactions: Family<ResultLabels, Counter>,
    pub batch_seconds: Histogram,
    pub chain_version: Gauge,
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
        Self {
            registry,
            records_in,
            records_out,
            rejects,
            transactions,
            batch_seconds,
            chain_version,
        }
    }
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
