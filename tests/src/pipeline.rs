//! The whole pipeline as separate processes, as in production: `shelf
//! ingest serve`, `shelf transform run`, `shelf sink run` and `shelf
//! stream`, and the end-to-end check of what MongoDB holds against an
//! [`Expectation`] recomputed from the CSV.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use mongodb::bson::Document;
use shelf_config::Platform;

use crate::contract::Expectation;
use crate::sink::{all, check_all, float, int, SinkProcess};
use crate::transform::RuntimeProcess;
use crate::{
    closed_port, create_topics, deploy_standard_chain, retry_check, shelf_bin, unique,
    wait_http_ok, ChildGuard,
};

/// Share of rows that are a later version of a recent product: the client
/// must deliver both in file order for the later one to win.
const UPDATES: f64 = 0.03;

/// A generated data set (`rows`, 3 % faulty, 3 % updates) in a directory of
/// its own, what it should become, and the platform made ready for it: the four
/// topics (3 partitions each) and the standard transforms deployed.
pub async fn prepare(p: &Platform, rows: u64, seed: u64) -> Result<(PathBuf, Expectation)> {
    let dir = std::env::temp_dir().join(unique("shelf-e2e"));
    let generated = shelf_dataset::generate(&shelf_dataset::GenerateArgs {
        rows,
        out: dir.clone(),
        seed,
        dirty: 0.03,
        updates: UPDATES,
    })?;
    let want = Expectation::from_dir(&dir)?;
    ensure!(
        want.rows == generated.products,
        "{} rows read back, {} generated",
        want.rows,
        generated.products
    );
    let t = &p.topics;
    create_topics(
        &p.kafka,
        &[
            &t.ingest_product,
            &t.ingest_category,
            &t.product_clean,
            &t.product_dlq,
        ],
        3,
    )
    .await?;
    deploy_standard_chain(p, &[]).await?;
    Ok((dir, want))
}

/// Gateway, transform runtime and sink, each a process; a restarted one
/// takes its predecessor's place (same port, same consumer group and
/// instance id).
pub struct Services {
    pub gateway: GatewayProcess,
    pub runtime: RuntimeProcess,
    pub sink: SinkProcess,
    runtime_group: String,
    sink_group: String,
}

/// Records per transaction of the runtime and per batch of the sink: small,
/// so a kill lands between batches as often as inside one.
const RUNTIME_BATCH: usize = 1000;
const SINK_BATCH: usize = 500;

impl Services {
    pub async fn start(p: &Platform) -> Result<Self> {
        let (runtime_group, sink_group) = (unique("rt"), unique("sk"));
        let gateway = GatewayProcess::start(p, closed_port()).await?;
        let runtime = RuntimeProcess::spawn(p, &runtime_group, "0", RUNTIME_BATCH);
        runtime.ready(Duration::from_secs(60)).await?;
        let sink = SinkProcess::start(p, &sink_group, "0", SINK_BATCH).await;
        Ok(Self {
            gateway,
            runtime,
            sink,
            runtime_group,
            sink_group,
        })
    }

    /// kill -9 of the gateway, `down` without one, and a new one.
    pub async fn kill_gateway(&mut self, p: &Platform, down: Duration) -> Result<()> {
        self.gateway.kill_9();
        tokio::time::sleep(down).await;
        self.gateway = GatewayProcess::start(p, self.gateway.port).await?;
        Ok(())
    }

    /// kill -9 of the runtime and a new one in its place.
    pub fn kill_runtime(&mut self, p: &Platform) {
        self.runtime.kill_9();
        self.runtime = RuntimeProcess::spawn(p, &self.runtime_group, "0", RUNTIME_BATCH);
    }

    /// kill -9 of the sink and a new one in its place.
    pub async fn kill_sink(&mut self, p: &Platform) {
        self.sink.kill_9();
        self.sink = SinkProcess::start(p, &self.sink_group, "0", SINK_BATCH).await;
    }

    /// Waits until the store holds what `want` says ([`check_store`]),
    /// then stops the services with SIGTERM: both the runtime and the sink
    /// must exit cleanly.
    pub async fn drain_and_stop(
        self,
        p: &Platform,
        want: &Expectation,
        within: Duration,
    ) -> Result<()> {
        let db = crate::sink::database(p).await;
        wait_for_store(&db, want, within).await?;
        self.stop()
    }

    /// SIGTERM to the runtime and the sink; both must exit cleanly.
    pub fn stop(self) -> Result<()> {
        self.runtime.terminate().context("runtime on SIGTERM")?;
        let status = self.sink.terminate();
        ensure!(status.success(), "sink on SIGTERM: {status}");
        Ok(())
    }
}

/// `shelf ingest serve` on a fixed port, so a restart listens where the
/// client keeps sending.
pub struct GatewayProcess {
    child: ChildGuard,
    pub port: u16,
}

impl GatewayProcess {
    pub async fn start(p: &Platform, port: u16) -> Result<Self> {
        let child = Command::new(shelf_bin())
            .args(["ingest", "serve", "--listen", &format!("127.0.0.1:{port}")])
            .envs(crate::sink::platform_env(p))
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .context("start shelf ingest serve")?;
        let gateway = Self {
            child: ChildGuard(child),
            port,
        };
        let url = format!("{}/healthz", gateway.url());
        wait_http_ok(&url, "gateway", Duration::from_secs(30)).await?;
        Ok(gateway)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn kill_9(&mut self) {
        self.child.kill_9();
    }
}

/// `shelf stream` of `dir`'s two CSVs, with its state (checkpoint and
/// rejects file) in `dir/state`, so a second start resumes the first.
pub struct ClientProcess {
    child: ChildGuard,
}

impl ClientProcess {
    pub fn start(dir: &Path, gateway: &str, batch_size: usize, rate: u64) -> Result<Self> {
        Self::stream(
            &dir.join("products.csv"),
            Some(&dir.join("categories.csv")),
            &dir.join("state"),
            gateway,
            batch_size,
            rate,
        )
    }

    /// `shelf stream` of `products` (and `categories`, sent first), with
    /// its checkpoint and rejects list in `state`.
    pub fn stream(
        products: &Path,
        categories: Option<&Path>,
        state: &Path,
        gateway: &str,
        batch_size: usize,
        rate: u64,
    ) -> Result<Self> {
        let mut command = Command::new(shelf_bin());
        command.arg("stream").arg("--products").arg(products);
        if let Some(categories) = categories {
            command.arg("--categories").arg(categories);
        }
        let child = command
            .arg("--state-dir")
            .arg(state)
            .args(["--gateway", gateway, "--quiet"])
            .args(["--batch-size", &batch_size.to_string()])
            .args(["--rate", &rate.to_string(), "--concurrency", "2"])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .context("start shelf stream")?;
        Ok(Self {
            child: ChildGuard(child),
        })
    }

    /// The exit status, if it has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub async fn wait(mut self, within: Duration) -> Result<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            ensure!(
                started.elapsed() < within,
                "shelf stream still running after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn kill_9(&mut self) {
        self.child.kill_9();
    }
}

/// An entry of the client's rejects file.
pub struct ClientReject {
    pub line: u64,
    pub reason: String,
    /// The row's text, unescaped.
    pub row: String,
}

/// The client's rejects file in `dir/state`: the entries for the products
/// file.
pub fn client_rejects(dir: &Path) -> Result<Vec<ClientReject>> {
    let state = dir.join("state");
    let list: PathBuf = std::fs::read_dir(&state)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(".rejects.tsv"))
        .with_context(|| format!("no rejects file in {}", state.display()))?;
    let products = dir.join("products.csv").display().to_string();
    std::fs::read_to_string(&list)?
        .lines()
        .filter_map(|l| {
            let mut cells = l.splitn(4, '\t');
            (cells.next()? == products).then_some(())?;
            Some(ClientReject {
                line: cells.next()?.parse().ok()?,
                reason: cells.next()?.to_owned(),
                row: unescape(cells.next().unwrap_or_default()),
            })
        })
        .map(Ok)
        .collect()
}

fn unescape(cell: &str) -> String {
    let mut out = String::with_capacity(cell.len());
    let mut chars = cell.chars();
    while let Some(c) = chars.next() {
        out.push(match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('t') => '\t',
                Some('n') => '\n',
                Some('r') => '\r',
                Some(other) => other,
                None => break,
            },
            (c, false) => c,
        });
    }
    out
}

/// The client's report matches the expectation: every unparseable and
/// refused line listed, once, with its text as it is in the file.
pub fn check_client_rejects(dir: &Path, want: &Expectation) -> Result<()> {
    let entries = client_rejects(dir)?;
    // Dirty data holds invalid UTF-8; the client writes such rows lossily.
    let bytes = std::fs::read(dir.join("products.csv"))?;
    let file = String::from_utf8_lossy(&bytes);
    let file_lines: Vec<&str> = file.lines().collect();
    for e in &entries {
        let first = file_lines
            .get(e.line as usize - 1)
            .with_context(|| format!("line {} listed, past the file's end", e.line))?;
        ensure!(
            !first.is_empty() && e.row.starts_with(first.trim_end_matches('\r')),
            "line {}: listed as {:?}, the file has {first:?}",
            e.line,
            e.row
        );
    }
    let lines = |prefix: &str| -> Vec<u64> {
        entries
            .iter()
            .filter(|e| e.reason.starts_with(prefix))
            .map(|e| e.line)
            .collect()
    };
    let once = |found: Vec<u64>, want: &BTreeSet<u64>, what: &str| -> Result<()> {
        let set: BTreeSet<u64> = found.iter().copied().collect();
        ensure!(
            set.len() == found.len(),
            "{what} lines listed twice: {found:?}"
        );
        ensure!(&set == want, "{what} lines {set:?}, expected {want:?}");
        Ok(())
    };
    once(lines("unparseable"), &want.unparseable, "unparseable")?;
    once(lines("refused"), &want.refused, "refused")
}

/// Transform rejects in `rejects`, as (reason, asin as sent) -> documents
/// and as (file, line) of their input row -> reason.
pub struct StoredRejects {
    pub by_asin: BTreeMap<(String, String), u64>,
    pub by_row: BTreeMap<(String, u64), String>,
}

pub async fn stored_rejects(db: &mongodb::Database) -> Result<StoredRejects> {
    let docs = all(db, "rejects").await?;
    let mut by_asin = BTreeMap::new();
    let mut by_row = BTreeMap::new();
    for d in docs {
        ensure!(
            d.get_str("stage")? == "transform",
            "a reject not from the transforms: {d}"
        );
        let payload: serde_json::Value = serde_json::from_str(d.get_str("payload")?)?;
        let asin = payload["asin"].as_str().unwrap_or_default().to_owned();
        let reason = d.get_str("reason")?.to_owned();
        let origin = d
            .get_document("origin")
            .with_context(|| format!("a reject without its input row: {d}"))?;
        let row = (
            origin.get_str("file")?.to_owned(),
            int(origin, "line")? as u64,
        );
        ensure!(
            by_row.insert(row.clone(), reason.clone()).is_none(),
            "row {row:?} rejected twice"
        );
        *by_asin.entry((reason, asin)).or_default() += 1;
    }
    Ok(StoredRejects { by_asin, by_row })
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
        (a, b) => a == b,
    }
}

fn number(d: &Document, k: &str) -> Option<f64> {
    float(d, k).ok().flatten()
}

fn text(d: &Document, k: &str) -> Option<String> {
    d.get_str(k).ok().map(str::to_owned)
}

/// The fields of each stored product that [`check_all`] does not look at:
/// title, links, reviews, list price, discount and bucket.
async fn check_product_fields(db: &mongodb::Database, want: &Expectation) -> Result<()> {
    let docs = all(db, "products").await?;
    for d in docs {
        let asin = d.get_str("_id")?;
        let w = want
            .products
            .get(asin)
            .with_context(|| format!("unexpected product {asin}"))?;
        let (bucket, lo) = w.state.bucket();
        let got = (
            text(&d, "title"),
            text(&d, "imgUrl"),
            text(&d, "productURL"),
            number(&d, "reviews"),
            text(&d, "price_bucket"),
            number(&d, "price_bucket_lo"),
        );
        let expected = (
            Some(w.title.clone()),
            w.img_url.clone(),
            w.product_url.clone(),
            Some(w.reviews as f64),
            Some(bucket),
            lo.map(|lo| lo as f64),
        );
        ensure!(
            got == expected,
            "product {asin}: {got:?}, expected {expected:?}"
        );
        let (list_price, discount) = (number(&d, "listPrice"), number(&d, "discount_pct"));
        ensure!(
            close(list_price, w.list_price) && close(discount, w.discount_pct),
            "product {asin}: listPrice {list_price:?} discount {discount:?}, expected {:?} {:?}",
            w.list_price,
            w.discount_pct
        );
    }
    Ok(())
}

/// Everything MongoDB should hold: products (every field), category names,
/// `category_stats` and `price_buckets` exactly as recomputed, the
/// invariant, and the transforms' rejects, each rejected row once with its
/// input row, also after a crash made the client or the gateway send it
/// twice.
pub async fn check_store(db: &mongodb::Database, want: &Expectation) -> Result<()> {
    let states = want
        .products
        .iter()
        .map(|(asin, p)| (asin.clone(), p.state.clone()))
        .collect();
    check_all(db, &states, &want.names).await?;
    check_product_fields(db, want).await?;
    let names = all(db, "categories").await?;
    let stored_names: HashMap<i64, String> = names
        .iter()
        .map(|d| Ok((int(d, "_id")?, d.get_str("name")?.to_owned())))
        .collect::<Result<_>>()?;
    ensure!(
        stored_names == want.names,
        "categories {stored_names:?}, expected {:?}",
        want.names
    );
    let rejects = stored_rejects(db).await?;
    ensure!(
        rejects.by_asin == want.rejects,
        "rejects by (reason, asin) differ: {}",
        differences(&rejects.by_asin, &want.rejects)
    );
    let products_csv = std::fs::canonicalize(&want.products_csv)?
        .display()
        .to_string();
    let by_row: BTreeMap<(String, u64), String> = want
        .reject_lines
        .iter()
        .map(|(line, reason)| ((products_csv.clone(), *line), reason.clone()))
        .collect();
    ensure!(
        rejects.by_row == by_row,
        "rejects by input row differ: {}",
        differences(&rejects.by_row, &by_row)
    );
    Ok(())
}

/// The entries where `got` and `want` differ, as `key: got / want`.
fn differences<K: Ord + std::fmt::Debug, V: PartialEq + std::fmt::Debug>(
    got: &BTreeMap<K, V>,
    want: &BTreeMap<K, V>,
) -> String {
    let keys: BTreeSet<&K> = got.keys().chain(want.keys()).collect();
    keys.into_iter()
        .filter(|k| got.get(k) != want.get(k))
        .map(|k| {
            format!(
                "{k:?}: stored {:?} / expected {:?}",
                got.get(k),
                want.get(k)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Waits until [`check_store`] passes; fails with its last complaint.
pub async fn wait_for_store(
    db: &mongodb::Database,
    want: &Expectation,
    within: Duration,
) -> Result<()> {
    retry_check(within, Duration::from_secs(1), || check_store(db, want)).await
}
