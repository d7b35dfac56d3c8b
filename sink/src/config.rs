//! Flags of `shelf sink run` (each also a `SHELF_SINK_*` variable).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct SinkArgs {
    /// This instance's id (its static group membership): give each
    /// concurrent instance its own; a restarted one takes its partitions back.
    #[arg(long, env = "SHELF_SINK_INSTANCE", default_value = "0")]
    pub instance: String,
    /// Consumer group shared by the sink instances.
    #[arg(long, env = "SHELF_SINK_GROUP", default_value = "shelf-sink")]
    pub group: String,
    /// Records per batch at most.
    #[arg(long, env = "SHELF_SINK_BATCH_SIZE", default_value_t = 5000)]
    pub batch_size: usize,
    /// How long to wait for a batch to fill once it has a record (ms).
    #[arg(long, env = "SHELF_SINK_BATCH_WAIT_MS", default_value_t = 100)]
    pub batch_wait_ms: u64,
    /// How soon category_stats and price_buckets follow a change (ms).
    #[arg(long, env = "SHELF_SINK_MERGE_INTERVAL_MS", default_value_t = 500)]
    pub merge_interval_ms: u64,
    /// How often they are checked against the partials even when this
    /// instance changed nothing, which repairs a write another instance
    /// raced with (ms).
    #[arg(long, env = "SHELF_SINK_VERIFY_INTERVAL_MS", default_value_t = 2000)]
    pub verify_interval_ms: u64,
    /// Longest wait for one MongoDB command before the batch is retried (ms).
    #[arg(long, env = "SHELF_SINK_STORE_TIMEOUT_MS", default_value_t = 30_000)]
    pub store_timeout_ms: u64,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(
        long,
        env = "SHELF_SINK_METRICS_LISTEN",
        default_value = "127.0.0.1:9102"
    )]
    pub metrics_listen: SocketAddr,
    /// Partitions of the topics when the sink has to create them.
    #[arg(long, env = "SHELF_SINK_PARTITIONS", default_value_t = 6)]
    pub partitions: i32,
}

impl SinkArgs {
    pub fn batch_wait(&self) -> Duration {
        Duration::from_millis(self.batch_wait_ms)
    }

    pub fn merge_interval(&self) -> Duration {
        Duration::from_millis(self.merge_interval_ms)
    }

    pub fn store_timeout(&self) -> Duration {
        Duration::from_millis(self.store_timeout_ms)
    }

    pub fn verify_interval(&self) -> Duration {
        Duration::from_millis(self.verify_interval_ms)
    }
}
