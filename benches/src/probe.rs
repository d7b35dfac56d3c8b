//! Latency probes for `pipeline-bench --rate`: while the stream runs, one
//! product every interval is posted to the gateway on its own, timed from
//! the gateway's 200 to the moment the product is readable in `products`
//! and to the moment `category_stats` counts it. Each probe has a category
//! of its own (ids from [`FIRST_CATEGORY`] on), so "counted" is exact per
//! probe. The probes are a sample of the stream's records that travel the
//! same path (gateway, topic, runtime, sink, merge); they add one record
//! per interval to the load.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

/// Categories of the probes: far above the data set's (1 to 270).
pub const FIRST_CATEGORY: i64 = 100_000;

/// Latencies of one kind, in seconds, sorted.
#[derive(Debug, Default)]
pub struct Latencies(Vec<f64>);

impl Latencies {
    fn from(mut v: Vec<f64>) -> Self {
        v.sort_by(f64::total_cmp);
        Self(v)
    }

    /// The `q` quantile (nearest rank), if any were measured.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.0.len();
        (n > 0).then(|| self.0[((q * n as f64).ceil() as usize).clamp(1, n) - 1])
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the probes measured.
#[derive(Debug, Default)]
pub struct ProbeReport {
    pub sent: usize,
    /// Each probe: when it was sent (s after the first), and its latencies.
    pub probes: Vec<ProbeTimes>,
    /// How long each check of the store took: a probe's latency is late
    /// by up to one check and one pause.
    pub checks: Latencies,
}

#[derive(Debug, Clone, Copy)]
pub struct ProbeTimes {
    pub sent_at: f64,
    pub visible: Option<f64>,
    pub counted: Option<f64>,
}

impl ProbeReport {
    /// Latencies to visible and to counted of the probes sent at or after
    /// `from` seconds (0: all; later: the steady state, past the start-up
    /// of the services' first transactions and batches).
    pub fn latencies(&self, from: f64) -> (Latencies, Latencies) {
        let after = self.probes.iter().filter(|p| p.sent_at >= from);
        (
            Latencies::from(after.clone().filter_map(|p| p.visible).collect()),
            Latencies::from(after.filter_map(|p| p.counted).collect()),
        )
    }

    /// The `n` slowest probes to become visible: (probe, sent at, latency).
    pub fn slowest(&self, n: usize) -> Vec<(usize, f64, f64)> {
        let mut slowest: Vec<(usize, f64, f64)> = self
            .probes
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i, p.sent_at, p.visible?)))
            .collect();
        slowest.sort_by(|a, b| b.2.total_cmp(&a.2));
        slowest.truncate(n);
        slowest
    }
}

struct Probe {
    asin: String,
    category: i64,
    acked: Instant,
    visible: Option<f64>,
    counted: Option<f64>,
}

/// Where and how often to probe.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// The gateway's base URL.
    pub gateway: String,
    pub mongo: String,
    pub database: String,
    /// One probe per interval while the stream runs ...
    pub interval: Duration,
    /// ... and at most this long for the last ones to arrive after it.
    pub settle: Duration,
}

/// Starts probing until `stop` is set, then waits up to `settle` for the
/// probes sent to arrive.
pub fn start(config: ProbeConfig, stop: Arc<AtomicBool>) -> JoinHandle<Result<ProbeReport>> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(run(config, stop))
    })
}

async fn run(config: ProbeConfig, stop: Arc<AtomicBool>) -> Result<ProbeReport> {
    let ProbeConfig {
        gateway,
        mongo,
        database,
        interval,
        settle,
    } = config;
    let http = reqwest::Client::new();
    let db = mongodb::Client::with_uri_str(&mongo)
        .await?
        .database(&database);
    let probes: RefCell<Vec<Probe>> = RefCell::new(Vec::new());
    let first = Instant::now();
    // Sending and checking run side by side: a check waiting on a send's
    // 200 (or the reverse) would add its wait to every probe that arrived
    // meanwhile. No borrow of `probes` is held across an await.
    let sending = async {
        let mut next_send = first;
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= next_send {
                let n = probes.borrow().len();
                let probe = send(&http, &gateway, n).await?;
                probes.borrow_mut().push(probe);
                next_send += interval;
            }
            tokio::time::sleep(
                next_send
                    .saturating_duration_since(Instant::now())
                    .min(POLL),
            )
            .await;
        }
        anyhow::Ok(Instant::now() + settle)
    };
    // When the last probe may still arrive: set once sending stops.
    let settle_until = Cell::new(None::<Instant>);
    let checker = async {
        let mut cycles = Vec::new();
        loop {
            let started = Instant::now();
            check(&db, &probes).await?;
            cycles.push(started.elapsed().as_secs_f64());
            let all_in = probes.borrow().iter().all(|p| p.counted.is_some());
            if settle_until
                .get()
                .is_some_and(|t| all_in || Instant::now() >= t)
            {
                return anyhow::Ok(Latencies::from(cycles));
            }
            tokio::time::sleep(POLL).await;
        }
    };
    let sender = async {
        settle_until.set(Some(sending.await?));
        anyhow::Ok(())
    };
    let ((), checks) = tokio::try_join!(sender, checker)?;
    let probes = probes.into_inner();
    Ok(ProbeReport {
        sent: probes.len(),
        probes: probes
            .iter()
            .map(|p| ProbeTimes {
                sent_at: (p.acked - first).as_secs_f64(),
                visible: p.visible,
                counted: p.counted,
            })
            .collect(),
        checks,
    })
}

/// Pause between two checks of the store, and at most between two looks
/// at the time to send.
const POLL: Duration = Duration::from_millis(20);

async fn send(http: &reqwest::Client, gateway: &str, n: usize) -> Result<Probe> {
    let asin = format!("PRB{n:07}");
    let category = FIRST_CATEGORY + n as i64;
    let body = serde_json::json!({
        "asin": asin, "title": format!("latency probe {n}"), "imgUrl": "", "productURL": "",
        "stars": 4.5, "reviews": 1, "price": 12.34, "listPrice": 0.0,
        "category_id": category, "isBestSeller": false, "boughtInLastMonth": 0,
    });
    let response = http
        .post(format!("{gateway}/v1/products"))
        .json(&body)
        .send()
        .await
        .context("posting a latency probe")?;
    anyhow::ensure!(
        response.status().is_success(),
        "the gateway answered {} to a latency probe",
        response.status()
    );
    Ok(Probe {
        asin,
        category,
        acked: Instant::now(),
        visible: None,
        counted: None,
    })
}

/// Marks the probes now visible in `products` and counted in
/// `category_stats` (reads by `_id` only, cheap on any store). A probe's
/// time is taken when the read that saw it returns: late by up to one
/// check ([`ProbeReport::checks`]).
async fn check(db: &mongodb::Database, probes: &RefCell<Vec<Probe>>) -> Result<()> {
    let unseen: Vec<String> = probes
        .borrow()
        .iter()
        .filter(|p| p.visible.is_none())
        .map(|p| p.asin.clone())
        .collect();
    if !unseen.is_empty() {
        let found = ids(db, "products", doc! { "_id": { "$in": unseen } }).await?;
        for p in probes
            .borrow_mut()
            .iter_mut()
            .filter(|p| p.visible.is_none())
        {
            if found.contains(&Bson::String(p.asin.clone())) {
                p.visible = Some(p.acked.elapsed().as_secs_f64());
            }
        }
    }
    let uncounted: Vec<i64> = probes
        .borrow()
        .iter()
        .filter(|p| p.counted.is_none())
        .map(|p| p.category)
        .collect();
    if !uncounted.is_empty() {
        let filter = doc! { "_id": { "$in": uncounted }, "products": { "$gte": 1 } };
        let found = ids(db, "category_stats", filter).await?;
        for p in probes
            .borrow_mut()
            .iter_mut()
            .filter(|p| p.counted.is_none())
        {
            let id = p.category;
            if found
                .iter()
                .any(|b| b.as_i64() == Some(id) || b.as_i32().map(i64::from) == Some(id))
            {
                p.counted = Some(p.acked.elapsed().as_secs_f64());
            }
        }
    }
    Ok(())
}

async fn ids(db: &mongodb::Database, collection: &str, filter: Document) -> Result<Vec<Bson>> {
    let docs: Vec<Document> = db
        .collection::<Document>(collection)
        .find(filter)
        .projection(doc! { "_id": 1 })
        .await?
        .try_collect()
        .await?;
    Ok(docs
        .into_iter()
        .filter_map(|d| d.get("_id").cloned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let l = Latencies::from((1..=100).rev().map(f64::from).collect());
        assert_eq!(l.quantile(0.5), Some(50.0));
        assert_eq!(l.quantile(0.99), Some(99.0));
        assert_eq!(l.quantile(1.0), Some(100.0));
        assert_eq!(Latencies::default().quantile(0.5), None);
    }
}
