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
    /// How soon they follow while the sink is behind (its batches come
    /// full), when a merge per batch would take store time the backlog
    /// needs; also the longest time between checks then (ms).
    #[arg(
        long,
        env = "SHELF_SINK_MERGE_INTERVAL_BEHIND_MS",
        default_value_t = 5000
    )]
    pub merge_interval_behind_ms: u64,
    /// How often they are checked against the partials even when this
    /// instance changed nothing, which repairs a write another instance
    /// raced with (ms).
    #[arg(long, env = "SHELF_SINK_VERIFY_INTERVAL_MS", default_value_t = 2000)]
    pub verify_interval_ms: u64,
    /// The same while the sink is behind: each check reads back the
    /// aggregates' recent documents (a week of `category_daily`), which
    /// at every merge took a tenth of the sink's CPU in a backlog of
    /// daily snapshots (ms).
    #[arg(
        long,
        env = "SHELF_SINK_VERIFY_INTERVAL_BEHIND_MS",
        default_value_t = 30_000
    )]
    pub verify_interval_behind_ms: u64,
    /// How soon category_daily follows a change while records keep coming
    /// (ms); once none are waiting, at the next merge. Its documents cost
    /// the store as much as category_stats' (at a steady 2,000 rows/s each
    /// took a quarter of FerretDB's time), and its figures describe days,
    /// not the last second.
    #[arg(
        long,
        env = "SHELF_SINK_DAILY_MERGE_INTERVAL_MS",
        default_value_t = 5000
    )]
    pub daily_merge_interval_ms: u64,
    /// The same while the sink is behind: each merge of it sums every
    /// partition's daily entries, which grow with the days (ms).
    #[arg(
        long,
        env = "SHELF_SINK_DAILY_MERGE_INTERVAL_BEHIND_MS",
        default_value_t = 15_000
    )]
    pub daily_merge_interval_behind_ms: u64,
    /// Longest wait for one MongoDB command before the batch is retried (ms).
    #[arg(long, env = "SHELF_SINK_STORE_TIMEOUT_MS", default_value_t = 30_000)]
    pub store_timeout_ms: u64,
    /// Products read per slice of a rename sweep (products stored before
    /// their category's name was known get it in slices between batches).
    #[arg(long, env = "SHELF_SINK_RENAME_SLICE", default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rename_slice: u32,
    /// Time per loop for rename slices while the sink keeps up (ms); while
    /// it is behind (batches come full), slices take as long as each batch.
    #[arg(long, env = "SHELF_SINK_RENAME_BUDGET_MS", default_value_t = 500)]
    pub rename_budget_ms: u64,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(
        long,
        env = "SHELF_SINK_METRICS_LISTEN",
        default_value = "127.0.0.1:9102"
    )]
    pub metrics_listen: SocketAddr,
    /// More `products` indexes for analysts' queries (fields, repeatable
    /// or comma-separated), beside `category_id`, which is always there.
    /// Each makes every insert dearer (three took a fifth of the throughput
    /// on FerretDB with SQLite).
    #[arg(
        long = "products-index",
        env = "SHELF_SINK_PRODUCTS_INDEXES",
        value_delimiter = ',',
        value_parser = index_field
    )]
    pub products_indexes: Vec<String>,
    /// Partitions of the topics when the sink has to create them.
    #[arg(long, env = "SHELF_SINK_PARTITIONS", default_value_t = 6)]
    pub partitions: i32,
}

impl SinkArgs {
    pub fn batch_wait(&self) -> Duration {
        Duration::from_millis(self.batch_wait_ms)
    }

    /// The merge interval, and the verify interval, for a sink that is
    /// `behind` or not.
    pub fn merge_intervals(&self, behind: bool) -> (Duration, Duration) {
        let (merge, verify) = (self.merge_interval_ms, self.verify_interval_ms);
        let (merge, verify) = if behind {
            let slow = self.merge_interval_behind_ms;
            (merge.max(slow), verify.max(self.verify_interval_behind_ms))
        } else {
            (merge, verify)
        };
        (Duration::from_millis(merge), Duration::from_millis(verify))
    }

    /// The same for category_daily: never more often than the others,
    /// and checked at most once per merge of it.
    pub fn daily_merge_intervals(&self, behind: bool) -> (Duration, Duration) {
        let (merge, verify) = self.merge_intervals(behind);
        let daily = Duration::from_millis(if behind {
            self.daily_merge_interval_ms
                .max(self.daily_merge_interval_behind_ms)
        } else {
            self.daily_merge_interval_ms
        });
        (merge.max(daily), verify.max(daily))
    }

    pub fn rename_budget(&self) -> Duration {
        Duration::from_millis(self.rename_budget_ms)
    }

    pub fn store_timeout(&self) -> Duration {
        Duration::from_millis(self.store_timeout_ms)
    }
}

/// A field to index: a plain or dotted path (no operators, no empty parts).
fn index_field(s: &str) -> Result<String, String> {
    if s.split('.')
        .any(|part| part.is_empty() || part.starts_with('$'))
    {
        return Err(format!(
            "`{s}` is not a field path (like `price` or `details.brand`)"
        ));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sink: SinkArgs,
    }

    #[test]
    fn merges_and_checks_slow_down_only_while_behind() {
        let args = Cli::parse_from(["sink"]).sink;
        let ms = Duration::from_millis;
        assert_eq!(args.merge_intervals(false), (ms(500), ms(2000)));
        assert_eq!(args.merge_intervals(true), (ms(5000), ms(30_000)));
        let args = Cli::parse_from([
            "sink",
            "--merge-interval-behind-ms",
            "100",
            "--verify-interval-behind-ms",
            "100",
        ])
        .sink;
        assert_eq!(args.merge_intervals(true), (ms(500), ms(2000)));
    }

    #[test]
    fn daily_figures_follow_more_slowly_and_never_faster_than_the_others() {
        let args = Cli::parse_from(["sink"]).sink;
        let ms = Duration::from_millis;
        assert_eq!(args.daily_merge_intervals(false), (ms(5000), ms(5000)));
        assert_eq!(args.daily_merge_intervals(true), (ms(15_000), ms(30_000)));
        let args = Cli::parse_from([
            "sink",
            "--daily-merge-interval-ms",
            "100",
            "--daily-merge-interval-behind-ms",
            "100",
        ])
        .sink;
        assert_eq!(args.daily_merge_intervals(false), (ms(500), ms(2000)));
        assert_eq!(args.daily_merge_intervals(true), (ms(5000), ms(30_000)));
    }

    #[test]
    fn extra_products_indexes_are_field_paths() {
        let parse = |a: &[&str]| Cli::try_parse_from(["sink"].iter().chain(a)).map(|c| c.sink);
        assert!(parse(&[]).unwrap().products_indexes.is_empty());
        let args = parse(&[
            "--products-index",
            "price,isBestSeller",
            "--products-index",
            "a.b",
        ]);
        assert_eq!(
            args.unwrap().products_indexes,
            ["price", "isBestSeller", "a.b"]
        );
        for bad in ["", "$price", "a..b", "price,"] {
            assert!(parse(&["--products-index", bad]).is_err(), "{bad:?}");
        }
    }
}
