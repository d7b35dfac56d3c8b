//! A chaos run: the whole pipeline as separate processes (a gateway, two
//! transform runtimes, two sinks, the client) streams a dirty generated
//! data set at a steady rate, its categories only after 40 % of the
//! products, while a seeded random loop kill -9s one of the client, the
//! gateway, a runtime, a sink, the store or the broker and restarts it
//! after a moment. Then the store must equal the independent
//! recomputation from the CSV within a bound after the last kill, and
//! every runtime and sink must obey SIGTERM.
//!
//! `tests/tests/chaos.rs` runs a short one in the suite; `make chaos`
//! a longer one (`SHELF_CHAOS_ROWS`, `SHELF_CHAOS_RATE`, `SHELF_CHAOS_SEED`).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use shelf_config::Platform;

use crate::pipeline::{
    check_client_rejects, prepare, wait_for_store, ClientProcess, GatewayProcess,
};
use crate::sink::{database, SinkProcess};
use crate::transform::RuntimeProcess;
use crate::{closed_port, platform, platform_ctl, platform_signal, unique};

/// Share of the products streamed before the categories.
const CATEGORIES_AFTER: f64 = 0.4;
const RUNTIME_BATCH: usize = 1000;
const SINK_BATCH: usize = 500;

/// What a run streams and how hard it is shaken.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    pub rows: u64,
    /// Rows per second the client sends.
    pub rate: u64,
    pub seed: u64,
    /// Pause between two kills, and how long a killed process stays down
    /// (ms, uniformly drawn from each range).
    pub pause_ms: (u64, u64),
    pub down_ms: (u64, u64),
    /// Longest wait for the store to be complete after the last kill.
    pub drain_within: Duration,
}

impl ChaosConfig {
    /// The suite's run, or the one the `SHELF_CHAOS_*` variables ask for.
    pub fn from_env() -> Self {
        let var = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Self {
            rows: var("SHELF_CHAOS_ROWS", 20_000),
            rate: var("SHELF_CHAOS_RATE", 1_000),
            seed: var("SHELF_CHAOS_SEED", 20),
            pause_ms: (1_500, 4_000),
            down_ms: (300, 2_500),
            drain_within: Duration::from_secs(var("SHELF_CHAOS_DRAIN_SECONDS", 300)),
        }
    }
}

/// The processes that can be killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Victim {
    Client,
    Gateway,
    Runtime,
    Sink,
    Store,
    Broker,
}

/// Every kind, the client first.
const VICTIMS: [Victim; 6] = [
    Victim::Client,
    Victim::Gateway,
    Victim::Runtime,
    Victim::Sink,
    Victim::Store,
    Victim::Broker,
];

/// What a run did: kills by kind, and how long the stream and the drain
/// after the last kill took.
#[derive(Debug)]
pub struct ChaosReport {
    pub config: ChaosConfig,
    pub kills: BTreeMap<Victim, u32>,
    /// Client runs that gave up (the gateway away too long) and were
    /// started again, as a user would.
    pub client_reruns: u32,
    pub streamed_in: Duration,
    pub drained_in: Duration,
    /// The slowest SIGTERM of a runtime or a sink.
    pub slowest_stop: Duration,
}

impl fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "chaos: {} rows at {} rows/s, seed {}, categories after {:.0} %",
            c.rows,
            c.rate,
            c.seed,
            CATEGORIES_AFTER * 100.0
        )?;
        let kills: Vec<String> = self
            .kills
            .iter()
            .map(|(v, n)| format!("{v:?} {n}"))
            .collect();
        let total: u32 = self.kills.values().sum();
        writeln!(f, "chaos: {total} kills: {}", kills.join(", "))?;
        writeln!(
            f,
            "chaos: clients done after {:.1} s ({} reruns); store exact {:.1} s after the last kill; slowest SIGTERM {:.1} s",
            self.streamed_in.as_secs_f64(),
            self.client_reruns,
            self.drained_in.as_secs_f64(),
            self.slowest_stop.as_secs_f64()
        )
    }
}

/// Writes past the test harness's capture, so CI's log shows the kills.
pub fn say(line: impl fmt::Display) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Runs the pipeline under random kills; fails if the store is not exact
/// in time or a service does not stop cleanly.
pub async fn run(config: ChaosConfig) -> Result<ChaosReport> {
    let p = platform();
    let (dir, want) = prepare(&p, config.rows, config.seed).await?;
    // The categories go by a run of their own, with a products file that
    // holds only the header.
    std::fs::create_dir_all(dir.join("late"))?;
    shelf_dataset::header_only(&dir.join("products.csv"), &dir.join("late/products.csv"))?;

    let mut services = Services::start(&p).await?;
    let mut rng = StdRng::seed_from_u64(config.seed);
    let started = Instant::now();
    let categories_due =
        Duration::from_secs_f64(config.rows as f64 * CATEGORIES_AFTER / config.rate as f64);
    let mut clients = Clients::new(&dir, config.rate);
    clients.start(Stream::Products, &services.gateway.url())?;
    let mut kills: BTreeMap<Victim, u32> = BTreeMap::new();
    // Victims drawn from a shuffled bag, refilled when empty: every kind
    // is killed once per round, in a seeded random order, except that the
    // client goes first (the stream may end before a later turn).
    let mut bag: Vec<Victim> = Vec::new();
    let deadline = Duration::from_secs(600);
    // When the last killed process was back.
    let mut last_kill = Instant::now();

    loop {
        let pause = rng.random_range(config.pause_ms.0..=config.pause_ms.1);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        if started.elapsed() >= categories_due && !clients.categories.started {
            say(format_args!(
                "chaos: {:5.1} s streaming the categories",
                started.elapsed().as_secs_f64()
            ));
            clients.start(Stream::Categories, &services.gateway.url())?;
        }
        clients.rerun_failed(&services.gateway.url())?;
        // Every kind killed at least once, even when the stream ends
        // sooner (the client only while it streams).
        let every_kind = VICTIMS
            .iter()
            .all(|v| *v == Victim::Client || kills.contains_key(v));
        if clients.done() {
            if every_kind {
                break;
            }
            bag.retain(|v| *v != Victim::Client);
        }
        ensure!(
            started.elapsed() < deadline,
            "the clients were not done after {deadline:?}"
        );
        if bag.is_empty() {
            bag = VICTIMS[1..].to_vec();
            bag.shuffle(&mut rng);
            bag.push(Victim::Client);
        }
        // The client only while one runs; it stays in the bag till then.
        let Some(at) = bag
            .iter()
            .rposition(|v| *v != Victim::Client || clients.running())
        else {
            continue;
        };
        let victim = bag.remove(at);
        let down = Duration::from_millis(rng.random_range(config.down_ms.0..=config.down_ms.1));
        let which = rng.random_range(0..2);
        say(format_args!(
            "chaos: {:5.1} s kill -9 {victim:?}{}, down {:.1} s",
            started.elapsed().as_secs_f64(),
            if matches!(victim, Victim::Runtime | Victim::Sink) {
                format!(" {which}")
            } else {
                String::new()
            },
            down.as_secs_f64()
        ));
        services
            .kill(&p, victim, which, down, &mut clients)
            .await
            .with_context(|| format!("restarting {victim:?}"))?;
        *kills.entry(victim).or_default() += 1;
        last_kill = Instant::now();
    }
    let streamed_in = started.elapsed();
    check_client_rejects(&dir, &want)?;

    let db = database(&p).await;
    wait_for_store(&db, &want, config.drain_within)
        .await
        .with_context(|| {
            format!(
                "the store was not exact {:?} after the last kill",
                config.drain_within
            )
        })?;
    let drained_in = last_kill.elapsed();
    let slowest_stop = services.stop()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ChaosReport {
        config,
        kills,
        client_reruns: clients.reruns,
        streamed_in,
        drained_in,
        slowest_stop,
    })
}

/// Which run of `shelf stream`: the products, or (late) the categories
/// with a header-only products file.
#[derive(Debug, Clone, Copy)]
enum Stream {
    Products,
    Categories,
}

/// One run of `shelf stream`, with a state directory of its own so that a
/// restart resumes it.
#[derive(Default)]
struct StreamRun {
    process: Option<ClientProcess>,
    started: bool,
    done: bool,
}

impl StreamRun {
    fn running(&mut self) -> bool {
        self.process.as_mut().is_some_and(|c| c.exited().is_none())
    }
}

/// The products run and, once due, the categories run.
struct Clients<'a> {
    dir: &'a Path,
    rate: u64,
    products: StreamRun,
    categories: StreamRun,
    reruns: u32,
}

impl<'a> Clients<'a> {
    fn new(dir: &'a Path, rate: u64) -> Self {
        Self {
            dir,
            rate,
            products: StreamRun::default(),
            categories: StreamRun::default(),
            reruns: 0,
        }
    }

    fn run(&mut self, which: Stream) -> &mut StreamRun {
        match which {
            Stream::Products => &mut self.products,
            Stream::Categories => &mut self.categories,
        }
    }

    /// Starts `which` (again: it resumes from its checkpoint).
    fn start(&mut self, which: Stream, gateway: &str) -> Result<()> {
        let d = self.dir;
        let (products, categories, state) = match which {
            Stream::Products => (d.join("products.csv"), None, d.join("state")),
            Stream::Categories => (
                d.join("late/products.csv"),
                Some(d.join("categories.csv")),
                d.join("state-categories"),
            ),
        };
        let process = ClientProcess::stream(
            &products,
            categories.as_deref(),
            &state,
            gateway,
            200,
            self.rate,
        )?;
        let run = self.run(which);
        run.process = Some(process);
        run.started = true;
        Ok(())
    }

    fn running(&mut self) -> bool {
        self.products.running() || self.categories.running()
    }

    fn done(&self) -> bool {
        self.products.done && self.categories.done
    }

    /// Notes finished runs, and starts again a run that gave up.
    fn rerun_failed(&mut self, gateway: &str) -> Result<()> {
        for which in [Stream::Products, Stream::Categories] {
            let run = self.run(which);
            match run.process.as_mut().and_then(ClientProcess::exited) {
                Some(status) if status.success() => {
                    run.done = true;
                    run.process = None;
                }
                Some(status) => {
                    say(format_args!(
                        "chaos: the {which:?} run ended with {status}; again"
                    ));
                    self.reruns += 1;
                    self.start(which, gateway)?;
                }
                None => {}
            }
        }
        Ok(())
    }

    /// kill -9 of the running client and, after `down`, the same run again.
    async fn kill(&mut self, gateway: &str, down: Duration) -> Result<()> {
        let which = if self.products.running() {
            Stream::Products
        } else {
            Stream::Categories
        };
        if let Some(c) = self.run(which).process.as_mut() {
            c.kill_9();
        }
        tokio::time::sleep(down).await;
        self.start(which, gateway)
    }
}

/// The gateway, two runtimes and two sinks; a restarted one takes its
/// predecessor's place (port, group and instance id).
struct Services {
    gateway: GatewayProcess,
    runtimes: Vec<RuntimeProcess>,
    sinks: Vec<SinkProcess>,
    runtime_group: String,
    sink_group: String,
}

impl Services {
    async fn start(p: &Platform) -> Result<Self> {
        let (runtime_group, sink_group) = (unique("rt"), unique("sk"));
        let gateway = GatewayProcess::start(p, closed_port()).await?;
        let mut runtimes = Vec::new();
        for i in 0..2 {
            runtimes.push(Self::runtime(p, &runtime_group, i).await?);
        }
        let mut sinks = Vec::new();
        for i in 0..2 {
            sinks.push(SinkProcess::start(p, &sink_group, &i.to_string(), SINK_BATCH).await);
        }
        Ok(Self {
            gateway,
            runtimes,
            sinks,
            runtime_group,
            sink_group,
        })
    }

    async fn runtime(p: &Platform, group: &str, i: usize) -> Result<RuntimeProcess> {
        let runtime = RuntimeProcess::spawn(p, group, &i.to_string(), RUNTIME_BATCH);
        runtime.ready(Duration::from_secs(90)).await?;
        Ok(runtime)
    }

    /// kill -9 of `victim` (`which` of the runtimes or sinks), and after
    /// `down` the same again.
    async fn kill(
        &mut self,
        p: &Platform,
        victim: Victim,
        which: usize,
        down: Duration,
        clients: &mut Clients<'_>,
    ) -> Result<()> {
        match victim {
            Victim::Client => clients.kill(&self.gateway.url(), down).await?,
            Victim::Gateway => self.gateway.kill_9(),
            Victim::Runtime => self.runtimes[which].kill_9(),
            Victim::Sink => self.sinks[which].kill_9(),
            Victim::Store => platform_signal("ferretdb", "KILL"),
            Victim::Broker => platform_signal("kafka", "KILL"),
        }
        if victim != Victim::Client {
            tokio::time::sleep(down).await;
        }
        match victim {
            Victim::Client => {}
            Victim::Gateway => {
                self.gateway = GatewayProcess::start(p, self.gateway.port).await?;
            }
            Victim::Runtime => {
                self.runtimes[which] = Self::runtime(p, &self.runtime_group, which).await?;
            }
            Victim::Sink => {
                self.sinks[which] =
                    SinkProcess::start(p, &self.sink_group, &which.to_string(), SINK_BATCH).await;
            }
            // `up` right after a kill -9: the platform must see the old
            // process gone and start a new one.
            Victim::Store => up("ferretdb").await?,
            Victim::Broker => up("kafka").await?,
        }
        Ok(())
    }

    /// SIGTERM to every runtime and sink: each must exit cleanly. Returns
    /// the slowest.
    fn stop(self) -> Result<Duration> {
        let mut slowest = Duration::ZERO;
        for (i, runtime) in self.runtimes.into_iter().enumerate() {
            let asked = Instant::now();
            runtime
                .terminate()
                .with_context(|| format!("runtime {i} on SIGTERM"))?;
            slowest = slowest.max(asked.elapsed());
        }
        for (i, sink) in self.sinks.into_iter().enumerate() {
            let asked = Instant::now();
            let status = sink.terminate();
            if !status.success() {
                bail!("sink {i} on SIGTERM: {status}");
            }
            slowest = slowest.max(asked.elapsed());
        }
        Ok(slowest)
    }
}

async fn up(service: &'static str) -> Result<()> {
    tokio::task::spawn_blocking(move || platform_ctl("up", service)).await?;
    Ok(())
}
