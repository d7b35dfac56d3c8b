//! Ingest gateway benchmark: records/s acknowledged through `shelf ingest
//! serve` from a concurrent load generator posting NDJSON batches, with the
//! gateway's CPU and peak RSS. Needs the platform (`make up`).
//!
//! Each batch size gets a fresh gateway (so its peak RSS is its own) on
//! fresh topics; the broker is the platform's.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use rand::SeedableRng;
use shelf_benches::{product_record, shelf_release_bin, wait_http, Service};

#[derive(Parser)]
struct Args {
    /// Batch sizes to measure (records per request).
    #[arg(long, value_delimiter = ',', default_value = "1,100,1000")]
    batches: Vec<usize>,
    /// Seconds of load per batch size.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent requests; default 64 for batch 1, 16 for 100, 8 for 1000.
    #[arg(long)]
    concurrency: Option<usize>,
    #[command(flatten)]
    kafka: shelf_config::KafkaSettings,
    /// Gzip the bodies as the client does.
    #[arg(long)]
    gzip: bool,
}

struct Outcome {
    batch: usize,
    concurrency: usize,
    records: u64,
    requests: u64,
    refused: u64,
    wall: Duration,
    cpu: f64,
    rss_mib: f64,
    p50_ms: f64,
    p99_ms: f64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let bin = shelf_release_bin()?;
    println!(
        "ingest benchmark: {}s per batch size, broker {}, bodies {}",
        args.seconds,
        args.kafka.bootstrap,
        if args.gzip { "gzip NDJSON" } else { "NDJSON" }
    );
    let mut outcomes = Vec::new();
    for &batch in &args.batches {
        let concurrency = args.concurrency.unwrap_or(match batch {
            0..=9 => 64,
            10..=499 => 16,
            _ => 8,
        });
        outcomes.push(run(&args, &bin, batch, concurrency).await?);
    }
    println!();
    println!(
        "{:>6} {:>5} {:>12} {:>10} {:>8} {:>9} {:>9} {:>10} {:>10}",
        "batch",
        "conc",
        "records/s",
        "req/s",
        "refused",
        "p50 ms",
        "p99 ms",
        "gw CPU %",
        "gw RSS MB"
    );
    for o in &outcomes {
        let secs = o.wall.as_secs_f64();
        println!(
            "{:>6} {:>5} {:>12.0} {:>10.0} {:>8} {:>9.1} {:>9.1} {:>10.0} {:>10.1}",
            o.batch,
            o.concurrency,
            o.records as f64 / secs,
            o.requests as f64 / secs,
            o.refused,
            o.p50_ms,
            o.p99_ms,
            100.0 * o.cpu / secs,
            o.rss_mib
        );
    }
    Ok(())
}

async fn run(
    args: &Args,
    bin: &std::path::Path,
    batch: usize,
    concurrency: usize,
) -> Result<Outcome> {
    let port = free_port()?;
    let prefix = format!("bench-{}-", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let gateway = Service::spawn(
        "gateway",
        Command::new(bin)
            .args(["ingest", "serve", "--listen", &format!("127.0.0.1:{port}")])
            .envs(args.kafka.to_env())
            .env(
                "SHELF_TOPIC_INGEST_PRODUCT",
                format!("{prefix}ingest-product"),
            )
            .env(
                "SHELF_TOPIC_INGEST_CATEGORY",
                format!("{prefix}ingest-category"),
            )
            .env("RUST_LOG", "warn"),
    )?;
    let base = format!("http://127.0.0.1:{port}");
    wait_http(&format!("{base}/healthz"), Duration::from_secs(30)).await?;

    // Distinct bodies, built before the clock starts.
    let mut rng = rand::rngs::StdRng::seed_from_u64(batch as u64);
    let bodies: Vec<Arc<Vec<u8>>> = (0..64u64)
        .map(|b| {
            let mut body = Vec::new();
            for i in 0..batch as u64 {
                serde_json::to_writer(&mut body, &product_record(&mut rng, b * batch as u64 + i))
                    .ok();
                body.push(b'\n');
            }
            if args.gzip {
                body = gzip(&body);
            }
            Arc::new(body)
        })
        .collect();

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let url = format!("{base}/v1/products");
    let stop = Arc::new(AtomicBool::new(false));
    let records = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let cpu_before = gateway.cpu_seconds()?;
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (client, url, stop, records, refused, bodies) = (
            client.clone(),
            url.clone(),
            stop.clone(),
            records.clone(),
            refused.clone(),
            bodies.clone(),
        );
        let gzip = args.gzip;
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                let body = bodies[i % bodies.len()].clone();
                i += concurrency;
                let mut req = client
                    .post(&url)
                    .header("content-type", "application/x-ndjson");
                if gzip {
                    req = req.header("content-encoding", "gzip");
                }
                let t = Instant::now();
                match req.body((*body).clone()).send().await {
                    Ok(r) if r.status().is_success() => {
                        records.fetch_add(batch as u64, Ordering::Relaxed);
                        latencies.push(t.elapsed());
                    }
                    _ => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.context("worker")?);
    }
    let wall = started.elapsed();
    let cpu = gateway.cpu_seconds()? - cpu_before;
    let rss_mib = gateway.peak_rss_mib()?;
    gateway.stop()?;
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN)
    };
    let outcome = Outcome {
        batch,
        concurrency,
        records: records.load(Ordering::Relaxed),
        requests: latencies.len() as u64,
        refused: refused.load(Ordering::Relaxed),
        wall,
        cpu,
        rss_mib,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    };
    println!(
        "batch {batch:>5}: {} records acknowledged in {:.1}s",
        outcome.records,
        wall.as_secs_f64()
    );
    Ok(outcome)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}
