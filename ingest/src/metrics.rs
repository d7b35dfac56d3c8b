//! The gateway's Prometheus metrics, served on `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: &'static str,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabels {
    pub topic: String,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub records_accepted: Family<TopicLabels, Counter>,
    pub bytes_received: Counter,
    pub produce_latency: Histogram,
    pub in_flight_records: Gauge,
    pub in_flight_requests: Gauge,
    accepted_total: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("shelf_ingest");
        let requests = Family::<RequestLabels, Counter>::default();
        let records_accepted = Family::<TopicLabels, Counter>::default();
        let bytes_received = Counter::default();
        let produce_latency = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let in_flight_records = Gauge::default();
        let in_flight_requests = Gauge::default();
        registry.register(
            "requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "records_accepted",
            "Records acknowledged by the broker",
            records_accepted.clone(),
        );
        registry.register(
            "bytes_received",
            "Request body bytes received (as sent, before decompression)",
            bytes_received.clone(),
        );
        registry.register(
            "produce_latency_seconds",
            "Time from the first record enqueued to the last acknowledgement, per request",
            produce_latency.clone(),
        );
        registry.register(
            "in_flight_records",
            "Records produced and not yet acknowledged",
            in_flight_records.clone(),
        );
        registry.register(
            "in_flight_requests",
            "Requests being handled",
            in_flight_requests.clone(),
        );
        Self {
            registry,
            requests,
            records_accepted,
            bytes_received,
            produce_latency,
            in_flight_records,
            in_flight_requests,
            accepted_total: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Counts records the broker acknowledged on `topic`.
    pub fn accepted(&self, topic: &str, n: u64) {
        self.accepted_total.fetch_add(n, Ordering::Relaxed);
        self.records_accepted
            .get_or_create(&TopicLabels {
                topic: topic.to_owned(),
            })
            .inc_by(n);
    }

    /// What the progress lines show (the gateway has no lag).
    pub fn progress(&self) -> shelf_service::progress::Done {
        shelf_service::progress::Done {
            records: self.accepted_total.load(Ordering::Relaxed),
            lag: None,
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        shelf_service::render_metrics(&self.registry)
    }
}
