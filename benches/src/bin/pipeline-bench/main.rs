//! End-to-end benchmark: a generated products CSV (1,426,337 rows by
//! default, 1 % faulty) through the whole pipeline, each stage its own
//! release process: `shelf stream` → `shelf ingest serve` → `shelf
//! transform run` → `shelf sink run` → MongoDB, until the aggregates hold
//! every stored product. Prints, per stage, when it had handled its last
//! record (seconds from the client's start), its rows/s, CPU and peak RSS,
//! and the broker's and the store's CPU over the run. With `--rate` (a
//! steady stream) or `--probes` it also prints the latency from the
//! gateway's 200 to a product being readable and counted
//! (`shelf_benches::probe`). With `--late-categories` the categories are
//! streamed only after most products, and the run ends when the sinks have
//! renamed the products stored before them (`shelf_benches::late`).
//!
//! Needs the platform (`make up`) and the modules (`make build-wasm`);
//! `make bench` runs it. The data set is generated into
//! `.local/bench-data/` on every run.

mod report;
mod services;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use shelf_benches::late::LateCategories;
use shelf_benches::{kafka_brokers_cpu, platform_cpu, repo_root, Endpoints};
use shelf_kafka::KafkaClients;

use services::{Names, Services};
use watch::Watch;

#[derive(Debug, Parser)]
struct Args {
    /// Where the modules of the default chain are (default: where `make
    /// build-wasm` leaves them); to compare two builds of the modules.
    #[arg(long)]
    wasm_dir: Option<std::path::PathBuf>,
    /// Product rows to generate and stream (with --days: the first day's
    /// products; the run then streams every day's rows).
    #[arg(long, default_value_t = 1_426_337)]
    rows: u64,
    /// Daily snapshots of a drifting catalogue (`shelf dataset generate
    /// --days`), streamed in day order as one file with `observed_at`
    /// (0: one snapshot without time).
    #[arg(long, default_value_t = 0)]
    days: u32,
    /// Share of faulty rows.
    #[arg(long, default_value_t = 0.01)]
    dirty: f64,
    /// The client's request bodies: auto (its default: none on loopback), gzip or none.
    #[arg(long, default_value = "auto", value_parser = ["auto", "gzip", "none"])]
    compression: String,
    /// Client requests in flight.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Stream at this many rows/s (a steady stream) instead of at full
    /// speed; turns the latency probes on.
    #[arg(long)]
    rate: Option<u64>,
    /// Latency probes also at full speed: one product every
    /// --probe-interval-ms, timed from the gateway's 200 to visible in
    /// `products` and counted in `category_stats`.
    #[arg(long)]
    probes: bool,
    #[arg(long, default_value_t = 500)]
    probe_interval_ms: u64,
    /// Stream the categories only once the sinks have stored this share
    /// of the products (0.9 when given without a value, at most 0.95), so
    /// they rename the products stored before them.
    #[arg(long, num_args = 0..=1, default_missing_value = "0.9", value_parser = share)]
    late_categories: Option<f64>,
    /// Transform runtimes and sinks to run (each stage's figures are the
    /// sum over its instances).
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Keep the run's database and topics (dropped at the end otherwise).
    #[arg(long)]
    keep: bool,
    /// Give up when a stage has not drained after this long (s).
    #[arg(long, default_value_t = 5400)]
    timeout: u64,
    #[command(flatten)]
    platform: Endpoints,
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    let root = repo_root();
    let data = dataset(&root, &mut args)?;
    let names = Names::new(&format!(
        "pbench-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    let kafka_clients = KafkaClients::new(&args.platform.kafka)?;
    let rt = tokio::runtime::Runtime::new()?;
    let services = Services::start(&rt, &root, &args, &names)?;
    let (kafka_cpu, ferret_cpu) = (kafka_brokers_cpu(), platform_cpu("ferretdb"));

    let state = std::env::temp_dir().join(format!("{}-stream", names.prefix));
    let late = args
        .late_categories
        .map(|share| LateCategories::new(share, args.rows, &data, state.join("categories")))
        .transpose()?;
    let started = Instant::now();
    let categories_csv = data.join("categories.csv");
    let client = services.stream(
        &args,
        &data.join("products.csv"),
        late.is_none().then_some(categories_csv.as_path()),
        &state,
    )?;
    let stop_probes = Arc::new(AtomicBool::new(false));
    let probes = (args.probes || args.rate.is_some()).then(|| {
        let config = shelf_benches::probe::ProbeConfig {
            gateway: services.gateway_url(),
            mongo: args.platform.mongo.clone(),
            database: names.database.clone(),
            interval: Duration::from_millis(args.probe_interval_ms),
            settle: Duration::from_secs(120),
        };
        shelf_benches::probe::start(config, stop_probes.clone())
    });
    println!(
        "pipeline-bench: {} rows ({} % faulty) from {}",
        args.rows,
        args.dirty * 100.0,
        data.display()
    );

    let db = rt
        .block_on(mongodb::Client::with_uri_str(&args.platform.mongo))?
        .database(&names.database);
    let mut watch = Watch {
        rt: &rt,
        args: &args,
        names: &names,
        services: &services,
        db: &db,
        watermarks: shelf_benches::drain::Watermarks::new(&kafka_clients)?,
        started,
        client,
        late,
        stop_probes,
    };
    let finished = watch.until_drained()?;
    let total = started.elapsed().as_secs_f64();
    let probes = match probes {
        Some(p) => Some(
            p.join()
                .map_err(|_| anyhow::anyhow!("the probe thread panicked"))??,
        ),
        None => None,
    };
    let kafka = kafka_brokers_cpu().zip(kafka_cpu).map(|(b, a)| b - a);
    let ferret = platform_cpu("ferretdb").zip(ferret_cpu).map(|(b, a)| b - a);
    let late = watch.late.take();
    services.stop()?;
    let _ = std::fs::remove_dir_all(&state);

    report::stages(
        &finished.stages,
        args.rows,
        total,
        [("kafka broker", kafka), ("ferretdb", ferret)],
    );
    println!("\nstore work of the sink, by kind:");
    print!(
        "{}",
        shelf_benches::store_usage_table(&finished.sink_metrics, args.rows as f64)
    );
    if let Some(p) = probes {
        report::latencies(&p);
    }
    if let Some(late) = &late {
        late.print(&finished.sink_metrics, started, total);
    }
    println!(
        "\nwhole pipeline: {} rows in {total:.1} s = {:.0} rows/s from CSV to drained aggregates",
        args.rows,
        args.rows as f64 / total
    );
    if let Err(e) = rt.block_on(store_size(&db)) {
        println!("store size: not known ({e})");
    }
    if args.keep {
        println!(
            "kept: database {}, topics {}-*",
            names.database, names.prefix
        );
        return Ok(());
    }
    // A full-size run leaves gigabytes in the store and the broker.
    let topics = names.topics();
    rt.block_on(async {
        db.drop().await?;
        shelf_kafka::delete_topics(&kafka_clients, &topics, Duration::from_secs(60)).await?;
        anyhow::Ok(())
    })
    .context("dropping the run's database and topics (--keep keeps them)")
}

/// The run's database on disk, as the store reports it (`dbStats`).
async fn store_size(db: &mongodb::Database) -> Result<()> {
    let stats = db
        .run_command(mongodb::bson::doc! { "dbStats": 1, "scale": 1 })
        .await?;
    let size = |k: &str| {
        stats.get(k).and_then(|v| match v {
            mongodb::bson::Bson::Int32(i) => Some(f64::from(*i)),
            mongodb::bson::Bson::Int64(i) => Some(*i as f64),
            mongodb::bson::Bson::Double(x) => Some(*x),
            _ => None,
        })
    };
    let mib = |x: Option<f64>| x.map_or("?".to_owned(), |x| format!("{:.0} MiB", x / 1048576.0));
    println!(
        "store size: {} data, {} on disk (dbStats dataSize, totalSize or storageSize)",
        mib(size("dataSize")),
        mib(size("totalSize").or(size("storageSize")))
    );
    Ok(())
}

/// The data set for these arguments, generated afresh (a second or two
/// at full size), so it always comes from the current generator. With
/// `--days`, the days in order in one products file, and `args.rows`
/// becomes the rows streamed.
fn dataset(root: &Path, args: &mut Args) -> Result<PathBuf> {
    let dir = root.join(".local/bench-data");
    let started = Instant::now();
    if args.days > 0 {
        let days = dir.join("days");
        let summary = shelf_dataset::days::generate_days(
            &shelf_dataset::GenerateArgs {
                rows: args.rows,
                out: days.clone(),
                seed: 2023,
                dirty: 0.0,
                updates: 0.0,
            },
            &shelf_dataset::days::DaysArgs {
                days: args.days,
                start: "2023-09-01".into(),
            },
        )?;
        concatenate(&summary.files, &dir.join("products.csv"))?;
        std::fs::copy(days.join("categories.csv"), dir.join("categories.csv"))?;
        println!(
            "generated {} days, {} observations of {} products ({} price changes) into {} in {:.1} s",
            args.days,
            summary.observations,
            summary.products,
            summary.price_changes,
            dir.display(),
            started.elapsed().as_secs_f64()
        );
        args.rows = summary.observations;
        args.dirty = 0.0;
        return Ok(dir);
    }
    shelf_dataset::generate(&shelf_dataset::GenerateArgs {
        rows: args.rows,
        out: dir.clone(),
        seed: 2023,
        dirty: args.dirty,
        updates: 0.0,
    })?;
    println!(
        "generated {} rows into {} in {:.1} s",
        args.rows,
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(dir)
}

/// The daily files as one, in day order, with one header.
fn concatenate(files: &[PathBuf], to: &Path) -> Result<()> {
    use std::io::{BufRead, BufReader, BufWriter, Write};
    let mut out = BufWriter::new(std::fs::File::create(to)?);
    for (i, file) in files.iter().enumerate() {
        let mut lines = BufReader::new(std::fs::File::open(file)?).split(b'\n');
        let header = lines.next().transpose()?.unwrap_or_default();
        if i == 0 {
            out.write_all(&header)?;
            out.write_all(b"\n")?;
        }
        for line in lines {
            out.write_all(&line?)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(out.flush()?)
}

/// A share of the rows between 0 and 0.95 (some rows are faulty, so all of
/// them are never stored).
fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=0.95).contains(&x) => Ok(x),
        _ => Err(format!("`{s}` is not a share from 0 to 0.95")),
    }
}
