//! Transform benchmark: records/s through the module chain alone (in this
//! process) and through `shelf transform run` (a child process: consume →
//! the default chain → produce, transactional), with CPU and RSS.
//! Needs the platform (`make up`) and the modules (`make build-wasm`).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use rand::{Rng, SeedableRng};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use shelf_benches::{peak_rss_mib, product_record, repo_root, shelf_release_bin, Service};
use shelf_engine::{Chain, Engine, EngineConfig};
use shelf_kafka::KafkaClients;
use shelf_transform::{registry::Registry, ChainTopics, DefaultChain};

#[derive(Parser)]
struct Args {
    /// Records pushed through each measurement.
    #[arg(long, default_value_t = 2_000_000)]
    records: usize,
    /// Records per `Chain::run` / per transaction.
    #[arg(long, default_value_t = 20_000)]
    batch: usize,
    #[command(flatten)]
    kafka: shelf_config::KafkaSettings,
    /// Skip the runtime measurement (chain alone only).
    #[arg(long)]
    chain_only: bool,
    /// Where the modules are (default: the default chain's `wasm_dir`);
    /// for a profile, modules built without `strip` (docs/benchmarks.md).
    #[arg(long)]
    wasm_dir: Option<std::path::PathBuf>,
}

impl Args {
    fn wasm_dir(&self) -> std::path::PathBuf {
        self.wasm_dir.clone().unwrap_or_else(|| {
            DefaultChain::builtin()
                .map(|c| c.wasm_dir_in(&repo_root()))
                .unwrap_or_default()
        })
    }
}

/// Raw records, about 5 % of them invalid.
fn records(n: usize) -> Vec<Vec<u8>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    (0..n as u64)
        .map(|i| {
            let mut r = product_record(&mut rng, i);
            if rng.random_bool(0.05) {
                r["price"] = serde_json::json!(-1);
            }
            r.to_string().into_bytes()
        })
        .collect()
}

fn main() -> Result<()> {
    let args = Args::parse();
    println!("generating {} records", args.records);
    let data = records(args.records);
    let bytes: usize = data.iter().map(Vec::len).sum();
    println!("{:.0} MB of raw JSON", bytes as f64 / 1e6);

    chain_alone(&args, &data)?;
    if !args.chain_only {
        runtime(&args, &data)?;
    }
    Ok(())
}

fn chain_alone(args: &Args, data: &[Vec<u8>]) -> Result<()> {
    let engine = Engine::new(EngineConfig::default())?;
    let default_chain = DefaultChain::builtin()?;
    let params = default_chain.params(&Default::default());
    let mut modules = Vec::new();
    for ((name, path), params) in default_chain
        .wasm_files(&args.wasm_dir())
        .into_iter()
        .zip(params)
    {
        let wasm = std::fs::read(&path)
            .with_context(|| format!("{}: run `make build-wasm`", path.display()))?;
        modules.push(Arc::new(engine.load(&name, &wasm, params)?));
    }
    let chain = Chain::new(modules);
    let rss_before = peak_rss_mib(std::process::id())?;
    let started = Instant::now();
    let mut outputs = 0;
    for batch in data.chunks(args.batch) {
        let inputs: Vec<(Option<&[u8]>, &[u8])> =
            batch.iter().map(|r| (None, r.as_slice())).collect();
        outputs += chain.run(&engine, &inputs).len();
    }
    let secs = started.elapsed().as_secs_f64();
    println!();
    println!("chain alone (the default chain, batch {}):", args.batch);
    println!(
        "  {} records, {} outcomes in {:.2}s: {:.0} records/s",
        data.len(),
        outputs,
        secs,
        data.len() as f64 / secs
    );
    println!(
        "  bench process peak RSS: {:.0} MB before, {:.0} MB after (includes the input data)",
        rss_before,
        peak_rss_mib(std::process::id())?
    );
    Ok(())
}

fn runtime(args: &Args, data: &[Vec<u8>]) -> Result<()> {
    let prefix = format!("tbench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let (input, output, dlq, registry_topic) = (
        format!("{prefix}-in"),
        format!("{prefix}-out"),
        format!("{prefix}-dlq"),
        format!("{prefix}-transforms"),
    );
    let rt = tokio::runtime::Runtime::new()?;
    let kafka = KafkaClients::new(&args.kafka)?;
    let registry = Registry::new(&kafka, &registry_topic);
    rt.block_on(registry.ensure_topic())?;
    rt.block_on(shelf_kafka_topics(&kafka, &input))?;
    let topics = ChainTopics {
        input: &input,
        output: &output,
        dlq: &dlq,
    };
    DefaultChain::builtin()?.deploy(&registry, &args.wasm_dir(), &Default::default(), topics)?;

    println!();
    println!("producing {} records to {input}", data.len());
    let producer: ThreadedProducer<DefaultProducerContext> = kafka
        .producer()
        .set("linger.ms", "20")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for (i, value) in data.iter().enumerate() {
        let key = format!("B0{:08X}", rng.random::<u32>() ^ i as u32);
        let mut record = BaseRecord::to(&input).key(&key).payload(value.as_slice());
        while let Err((_, back)) = producer.send(record) {
            record = back;
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    producer.flush(Duration::from_secs(120))?;

    let group = format!("{prefix}-group");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let service = Service::spawn(
        "transform runtime",
        Command::new(shelf_release_bin()?)
            .args([
                "transform",
                "run",
                "--group",
                &group,
                "--batch-size",
                &args.batch.to_string(),
            ])
            .args(["--metrics-listen", &format!("127.0.0.1:{port}")])
            .envs(args.kafka.to_env())
            .env("SHELF_TOPIC_TRANSFORMS", &registry_topic)
            .env("RUST_LOG", "warn"),
    )?;
    let watcher: BaseConsumer = kafka.consumer(&group).create()?;
    let started = Instant::now();
    let mut rss_samples = Vec::new();
    let mut last_print = Instant::now();
    let mut first_commit: Option<(Instant, i64)> = None;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        // The broker shares the cores with the runtime; a slow answer is
        // asked again rather than ending the run.
        let done = match committed_total(&watcher, &input) {
            Ok(done) => done,
            Err(e) => {
                println!("  (committed offsets not read: {e}; asking again)");
                continue;
            }
        };
        if done > 0 {
            first_commit.get_or_insert((Instant::now(), done));
        }
        rss_samples.push((
            done,
            service.peak_rss_mib().unwrap_or(0.0),
            current_rss_mib(service.pid()),
        ));
        if last_print.elapsed() > Duration::from_secs(5) {
            println!(
                "  {done} / {} committed after {:.0}s",
                data.len(),
                started.elapsed().as_secs_f64()
            );
            last_print = Instant::now();
        }
        if done >= data.len() as i64 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "runtime did not finish in 30 minutes"
        );
    }
    let finished = Instant::now();
    let secs = finished.duration_since(started).as_secs_f64();
    let cpu = service.cpu_seconds()?;
    let peak = service.peak_rss_mib()?;
    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    let phases = rt.block_on(async { reqwest::get(&metrics_url).await?.text().await });
    service.stop()?;
    let quarter = rss_samples.len() / 4;
    let steady: Vec<f64> = rss_samples[quarter..].iter().map(|s| s.2).collect();
    let (lo, hi) = steady
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    println!();
    println!(
        "runtime (one instance, consume > default chain > produce, transactional, batch {}):",
        args.batch
    );
    println!(
        "  {} records in {:.1}s: {:.0} records/s (including start-up and group join)",
        data.len(),
        secs,
        data.len() as f64 / secs
    );
    if let Some((at, done)) = first_commit {
        println!(
            "  {:.0} records/s from the first commit to the last",
            (data.len() as i64 - done) as f64 / finished.duration_since(at).as_secs_f64()
        );
    }
    println!(
        "  CPU {:.0} % of one core on average, peak RSS {:.0} MB",
        100.0 * cpu / secs,
        peak
    );
    println!(
        "  RSS after the first quarter of the run: {:.0} to {:.0} MB",
        lo, hi
    );
    match phases {
        Ok(text) => {
            let batches = shelf_benches::metric_sum(&text, "shelf_transform_batch_seconds_count");
            println!("  where a batch's time goes (mean of {batches:.0} batches):");
            for phase in [
                "collect", "registry", "chain", "handoff", "produce", "commit", "release",
            ] {
                let sum = shelf_benches::metric_sum(
                    &text,
                    &format!("shelf_transform_phase_seconds_sum{{phase=\"{phase}\"}}"),
                );
                println!("    {phase:<8} {:>7.1} ms", 1000.0 * sum / batches.max(1.0));
            }
        }
        Err(e) => println!("  (phase times not read: {e})"),
    }
    Ok(())
}

async fn shelf_kafka_topics(kafka: &KafkaClients, input: &str) -> Result<()> {
    shelf_kafka::ensure_topics(
        kafka,
        &[shelf_kafka::TopicSpec::new(input, 6)],
        Duration::from_secs(30),
    )
    .await?;
    Ok(())
}

/// Sum of the group's committed offsets on `topic`.
fn committed_total(watcher: &BaseConsumer, topic: &str) -> Result<i64> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..6 {
        tpl.add_partition(topic, p);
    }
    let committed = watcher.committed_offsets(tpl, Duration::from_secs(10))?;
    Ok(committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum())
}

fn current_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kib| kib / 1024.0)
}
