//! Shared pieces of the benchmarks: starting a service as a child process
//! and reading its CPU time and peak memory from `/proc`, so each figure is
//! the service's own and not the load generator's.

pub mod drain;
pub mod late;
pub mod probe;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Where the platform listens; `make up`'s addresses by default.
#[derive(Debug, clap::Args)]
pub struct Endpoints {
    #[command(flatten)]
    pub kafka: shelf_config::KafkaSettings,
    #[arg(
        long,
        env = "SHELF_MONGO",
        default_value = "mongodb://127.0.0.1:27017/"
    )]
    pub mongo: String,
}

/// A service under measurement.
pub struct Service {
    pub child: Child,
    pub name: String,
}

impl Service {
    pub fn spawn(name: &str, cmd: &mut Command) -> Result<Self> {
        let child = cmd
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Self {
            child,
            name: name.to_owned(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds (user + system) used so far.
    pub fn cpu_seconds(&self) -> Result<f64> {
        cpu_seconds(self.pid())
    }

    /// Peak resident set size so far, in MiB.
    pub fn peak_rss_mib(&self) -> Result<f64> {
        peak_rss_mib(self.pid())
    }

    /// Reaps the process if it has exited: its exit code with the CPU
    /// seconds and peak RSS (MiB) the kernel accounted to it, which
    /// `/proc` no longer shows once it has exited.
    pub fn try_reap(&mut self) -> Result<Option<Usage>> {
        let mut status = 0;
        // SAFETY: wait4 writes only into the two locals passed to it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let pid = unsafe {
            libc::wait4(
                self.pid() as libc::pid_t,
                &mut status,
                libc::WNOHANG,
                &mut usage,
            )
        };
        if pid == 0 {
            return Ok(None);
        }
        if pid < 0 {
            bail!("wait4 {}: {}", self.name, std::io::Error::last_os_error());
        }
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Ok(Some(Usage {
            success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            cpu_seconds: seconds(usage.ru_utime) + seconds(usage.ru_stime),
            peak_rss_mib: usage.ru_maxrss as f64 / 1024.0,
        }))
    }

    /// SIGTERM, then wait for the exit.
    pub fn stop(mut self) -> Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                self.child.kill()?;
                bail!("{} did not stop within 60 s", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

/// What a reaped process used.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub success: bool,
    pub cpu_seconds: f64,
    pub peak_rss_mib: f64,
}

/// Sum of every sample of a Prometheus text exposition whose line starts
/// with `prefix` (a metric name, optionally with the start of its labels).
pub fn metric_sum(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// CPU seconds of a service `infra/platform.sh` started, if it runs.
pub fn platform_cpu(service: &str) -> Option<f64> {
    platform_pid(service).and_then(|pid| cpu_seconds(pid).ok())
}

/// CPU of the single broker, or the sum over the three-broker cluster's.
pub fn kafka_brokers_cpu() -> Option<f64> {
    platform_cpu("kafka").or_else(|| {
        ["kafka-node1", "kafka-node2", "kafka-node3"]
            .map(platform_cpu)
            .into_iter()
            .sum::<Option<f64>>()
    })
}

/// The pid of a service `infra/platform.sh` started (`kafka`, `ferretdb`,
/// or `kafka-node1` … of its three-broker cluster), if it runs from this
/// checkout's state directory.
pub fn platform_pid(service: &str) -> Option<u32> {
    let home = std::env::var_os("SHELF_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".local"));
    let run = if service.starts_with("kafka-node") {
        std::env::var_os("SHELF_KAFKA_CLUSTER_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("kafka-cluster"))
            .join("run")
    } else {
        home.join("run")
    };
    let text = std::fs::read_to_string(run.join(format!("{service}.pid"))).ok()?;
    let pid = text.trim().parse().ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11).context("utime")?.parse()?;
    let stime: f64 = fields.get(12).context("stime")?.parse()?;
    let ticks = 100.0; // USER_HZ is 100 on Linux
    Ok((utime + stime) / ticks)
}

pub fn peak_rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("VmHWM")?;
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .context("VmHWM value")?
        .parse()?;
    Ok(kib / 1024.0)
}

/// The release `shelf` binary beside this benchmark's executable.
pub fn shelf_release_bin() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("exe dir")?;
    let bin = dir.join("shelf");
    if !bin.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p shelf` (make bench does)",
            bin.display()
        );
    }
    Ok(bin)
}

/// Waits until `url` answers.
pub async fn wait_http(url: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if reqwest::get(url).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} did not answer within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A random, realistic product record (field shapes of the real data set).
pub fn product_record(rng: &mut impl rand::Rng, n: u64) -> serde_json::Value {
    const WORDS: &[&str] = &[
        "Stainless",
        "Steel",
        "Kettle",
        "Wireless",
        "Earbuds",
        "Bluetooth",
        "5.3",
        "Noise",
        "Cancelling",
        "Kids",
        "Toy",
        "Set",
        "Organic",
        "Cotton",
        "T-Shirt",
        "Men's",
        "Women's",
        "Pack",
        "of",
        "2",
        "USB-C",
        "Charger",
        "65W",
        "Fast",
        "Charging",
        "Café",
        "Größe",
        "30\"",
        "LED",
        "Desk",
        "Lamp",
        "&",
        "Dimmable",
        "Waterproof",
        "Hiking",
        "Boots",
    ];
    let words = rng.random_range(6..18);
    let title: Vec<&str> = (0..words)
        .map(|_| WORDS[rng.random_range(0..WORDS.len())])
        .collect();
    let asin = format!("B0{:08X}", n % 0xFFFF_FFFF);
    let price = (rng.random_range(1.0f64..120.0) * 100.0).round() / 100.0;
    let bought = [0, 0, 0, 50, 100, 200][rng.random_range(0..6)];
    serde_json::json!({
        "asin": asin,
        "title": title.join(" "),
        "imgUrl": format!("https://m.media-amazon.com/images/I/{asin}._AC_UL320_.jpg"),
        "productURL": format!("https://www.amazon.com/dp/{asin}"),
        "stars": (rng.random_range(0.0f64..5.0) * 10.0).round() / 10.0,
        "reviews": if rng.random_bool(0.2) { rng.random_range(1..5000) } else { 0 },
        "price": price,
        "listPrice": if rng.random_bool(0.25) { price * 1.2 } else { 0.0 },
        "category_id": rng.random_range(1..270),
        "isBestSeller": rng.random_bool(0.006),
        "boughtInLastMonth": bought,
    })
}

/// Repository root (for scripts and `.local/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The sink's store work by kind (command and collection), from its
/// `/metrics` text, per million `rows`: commands and documents read or
/// written, one line a kind, most documents first.
pub fn store_usage_table(metrics: &str, rows: f64) -> String {
    use std::collections::BTreeMap;
    // commands, documents, seconds waited
    let mut kinds: BTreeMap<(String, String), [f64; 3]> = BTreeMap::new();
    for (prefix, column) in [
        ("shelf_sink_store_commands_total{", 0),
        ("shelf_sink_store_documents_total{", 1),
        ("shelf_sink_store_seconds_total{", 2),
    ] {
        for line in metrics.lines().filter(|l| l.starts_with(prefix)) {
            let Some((labels, value)) = line[prefix.len()..].rsplit_once("} ") else {
                continue;
            };
            let label = |name: &str| {
                labels
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                    .map(|v| v.trim_end_matches('"').to_owned())
                    .unwrap_or_default()
            };
            let n: f64 = value.trim().parse().unwrap_or(0.0);
            kinds
                .entry((label("command"), label("collection")))
                .or_default()[column] += n;
        }
    }
    let mut rows_sorted: Vec<_> = kinds.into_iter().collect();
    rows_sorted.sort_by(|a, b| b.1[1].total_cmp(&a.1[1]));
    let per_million = |x: f64| x * 1e6 / rows.max(1.0);
    let mut out = format!(
        "{:<8} {:<16} {:>15} {:>16} {:>16}\n",
        "command", "collection", "commands/M rows", "documents/M rows", "waited s/M rows"
    );
    let mut all = [0.0; 3];
    let mut line = |command: &str, collection: &str, figures: [f64; 3]| {
        out.push_str(&format!(
            "{command:<8} {collection:<16} {:>15.0} {:>16.0} {:>16.1}\n",
            per_million(figures[0]),
            per_million(figures[1]),
            per_million(figures[2])
        ));
    };
    for ((command, collection), figures) in rows_sorted {
        for (sum, x) in all.iter_mut().zip(figures) {
            *sum += x;
        }
        line(&command, &collection, figures);
    }
    line("all", "", all);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_usage_is_summed_by_kind_per_million_rows() {
        let text = "\
# TYPE shelf_sink_store_commands counter
shelf_sink_store_commands_total{command=\"find\",collection=\"products\"} 2
shelf_sink_store_documents_total{command=\"find\",collection=\"products\"} 10
shelf_sink_store_commands_total{command=\"insert\",collection=\"products\"} 4
shelf_sink_store_documents_total{command=\"insert\",collection=\"products\"} 1000
shelf_sink_store_seconds_total{command=\"insert\",collection=\"products\"} 0.25
";
        let table = store_usage_table(text, 1000.0);
        let lines: Vec<&str> = table.lines().collect();
        // Most documents first; figures per million rows.
        assert!(
            lines[1].starts_with("insert") && lines[1].ends_with(" 1000000            250.0"),
            "{table}"
        );
        assert!(
            lines[2].starts_with("find") && lines[2].contains(" 2000 "),
            "{table}"
        );
        assert!(
            lines[3].starts_with("all") && lines[3].ends_with(" 1010000            250.0"),
            "{table}"
        );
    }
}
