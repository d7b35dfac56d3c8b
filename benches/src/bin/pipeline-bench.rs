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

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use shelf_benches::drain::{bucketed, Watermarks};
use shelf_benches::late::LateCategories;
use shelf_benches::{
    kafka_brokers_cpu, metric_sum, platform_cpu, repo_root, shelf_release_bin, wait_http,
    Endpoints, Service,
};
use shelf_kafka::KafkaClients;

#[derive(Debug, Parser)]
struct Args {
    /// Product rows to generate and stream.
    #[arg(long, default_value_t = 1_426_337)]
    rows: u64,
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

/// One stage's figures, taken when it had handled its last record.
struct Done {
    after: f64,
    records: f64,
    cpu: f64,
    rss: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let root = repo_root();
    let data = dataset(&root, &args)?;
    let prefix = format!("pbench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let kafka_clients = KafkaClients::new(&args.platform.kafka)?;
    let mut env: Vec<(&str, String)> = args.platform.kafka.to_env();
    env.extend([
        ("SHELF_MONGO", args.platform.mongo.clone()),
        ("SHELF_DB", prefix.replace('-', "_")),
        (
            "SHELF_TOPIC_INGEST_PRODUCT",
            format!("{prefix}-ingest-product"),
        ),
        (
            "SHELF_TOPIC_INGEST_CATEGORY",
            format!("{prefix}-ingest-category"),
        ),
        (
            "SHELF_TOPIC_PRODUCT_CLEAN",
            format!("{prefix}-product-clean"),
        ),
        ("SHELF_TOPIC_PRODUCT_DLQ", format!("{prefix}-product-dlq")),
        ("SHELF_TOPIC_TRANSFORMS", format!("{prefix}-transforms")),
        // Warnings would be expected ones (the faulty rows' 400s).
        ("RUST_LOG", "error".into()),
    ]);
    let topic = |name: &str| -> String {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let shelf = shelf_release_bin()?;
    let status = Command::new(&shelf)
        .current_dir(&root)
        .args(["transform", "deploy-defaults"])
        .envs(env.iter().cloned())
        .stdout(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        bail!("shelf transform deploy-defaults failed (make build-wasm builds the modules)");
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let runtime_listens = (0..args.instances)
        .map(|_| free_listen())
        .collect::<Result<Vec<_>>>()?;
    let sink_listens = (0..args.instances)
        .map(|_| free_listen())
        .collect::<Result<Vec<_>>>()?;
    let gateway = Service::spawn(
        "gateway",
        Command::new(&shelf)
            .args(["ingest", "serve", "--listen", &format!("127.0.0.1:{port}")])
            .envs(env.iter().cloned()),
    )?;
    let mut runtimes = Vec::new();
    let mut sinks = Vec::new();
    for (i, (runtime_listen, sink_listen)) in runtime_listens.iter().zip(&sink_listens).enumerate()
    {
        let instance = i.to_string();
        runtimes.push(Service::spawn(
            "transform runtime",
            Command::new(&shelf)
                .args(["transform", "run", "--metrics-listen", runtime_listen])
                .args([
                    "--group",
                    &format!("{prefix}-transform"),
                    "--instance",
                    &instance,
                ])
                .envs(env.iter().cloned()),
        )?);
        sinks.push(Service::spawn(
            "sink",
            Command::new(&shelf)
                .args(["sink", "run", "--metrics-listen", sink_listen])
                .args([
                    "--group",
                    &format!("{prefix}-sink"),
                    "--instance",
                    &instance,
                ])
                .envs(env.iter().cloned()),
        )?);
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        wait_http(
            &format!("http://127.0.0.1:{port}/healthz"),
            Duration::from_secs(30),
        )
        .await?;
        for listen in runtime_listens.iter().chain(&sink_listens) {
            wait_http(&format!("http://{listen}/readyz"), Duration::from_secs(60)).await?;
        }
        anyhow::Ok(())
    })?;
    let (kafka_cpu, ferret_cpu) = (kafka_brokers_cpu(), platform_cpu("ferretdb"));

    let state = std::env::temp_dir().join(format!("{prefix}-stream"));
    let stream = |products: &Path, categories: Option<&Path>, state: &Path| {
        let mut command = Command::new(&shelf);
        command.arg("stream").arg("--products").arg(products);
        if let Some(categories) = categories {
            command.arg("--categories").arg(categories);
        }
        command
            .arg("--state-dir")
            .arg(state)
            .args(["--gateway", &format!("http://127.0.0.1:{port}"), "--quiet"])
            .args(["--concurrency", &args.concurrency.to_string()])
            .args(["--compression", &args.compression])
            .args(
                args.rate
                    .map(|r| ["--rate".to_owned(), r.to_string()])
                    .into_iter()
                    .flatten(),
            )
            .env("RUST_LOG", "error");
        command
    };
    let mut late = args
        .late_categories
        .map(|share| LateCategories::new(share, args.rows, &data, state.join("categories")))
        .transpose()?;
    let started = Instant::now();
    let categories_csv = data.join("categories.csv");
    let mut client = Service::spawn(
        "client",
        &mut stream(
            &data.join("products.csv"),
            late.is_none().then_some(categories_csv.as_path()),
            &state,
        ),
    )?;
    let stop_probes = Arc::new(AtomicBool::new(false));
    let probes = (args.probes || args.rate.is_some()).then(|| {
        let config = shelf_benches::probe::ProbeConfig {
            gateway: format!("http://127.0.0.1:{port}"),
            mongo: args.platform.mongo.clone(),
            database: topic("SHELF_DB"),
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
        .database(&topic("SHELF_DB"));
    let deadline = started + Duration::from_secs(args.timeout);
    let watermarks = Watermarks::new(&kafka_clients)?;
    let mut stages: [Option<Done>; 4] = [None, None, None, None];
    // Records the gateway wrote, known once the client is done.
    let mut ingested = 0.0;
    let mut sink_text = String::new();
    let secs = |at: Instant| at.duration_since(started).as_secs_f64();
    // All instances' lines in one text: the sums add them up.
    let metrics = |listens: &[String]| -> Result<String> {
        rt.block_on(async {
            let mut text = String::new();
            for listen in listens {
                text += &reqwest::get(format!("http://{listen}/metrics"))
                    .await?
                    .text()
                    .await?;
            }
            Ok(text)
        })
    };
    let stored_products = format!(
        "shelf_sink_records_total{{topic=\"{}\",result=\"stored\"",
        topic("SHELF_TOPIC_PRODUCT_CLEAN")
    );
    while stages[3].is_none() {
        if Instant::now() > deadline {
            bail!("not drained within {} s", args.timeout);
        }
        std::thread::sleep(Duration::from_millis(250));
        let now = Instant::now();
        if let Some(late) = late.as_mut() {
            if late.sent_at.is_none() {
                let stored = metric_sum(&metrics(&sink_listens)?, &stored_products);
                late.maybe_send(stored, |p, c, s| stream(p, Some(c), s))?;
            }
            if late.sent()? {
                late.categories = watermarks.total(&topic("SHELF_TOPIC_INGEST_CATEGORY"))? as f64;
            }
        }
        if stages[0].is_none() {
            if let Some(usage) = client.try_reap()? {
                if !usage.success {
                    bail!("shelf stream failed (its errors are above)");
                }
                // Probes stop with the stream, so the records counted
                // below hold them all.
                stop_probes.store(true, Ordering::Relaxed);
                ingested = watermarks.total(&topic("SHELF_TOPIC_INGEST_PRODUCT"))? as f64;
                stages[0] = Some(Done {
                    after: secs(now),
                    records: args.rows as f64,
                    cpu: usage.cpu_seconds,
                    rss: usage.peak_rss_mib,
                });
                stages[1] = Some(Done {
                    after: secs(now),
                    records: ingested,
                    cpu: gateway.cpu_seconds()?,
                    rss: gateway.peak_rss_mib()?,
                });
            }
            continue;
        }
        if stages[2].is_none() {
            let text = metrics(&runtime_listens)?;
            if metric_sum(&text, "shelf_transform_records_in_total") >= ingested {
                stages[2] = Some(Done {
                    after: secs(now),
                    records: ingested,
                    cpu: total_of(&runtimes, Service::cpu_seconds)?,
                    rss: total_of(&runtimes, Service::peak_rss_mib)?,
                });
            }
            continue;
        }
        let runtime_text = metrics(&runtime_listens)?;
        let products = metric_sum(&runtime_text, "shelf_transform_records_out_total");
        let outputs = products + metric_sum(&runtime_text, "shelf_transform_rejects_total");
        sink_text = metrics(&sink_listens)?;
        let handled: f64 = [
            topic("SHELF_TOPIC_PRODUCT_CLEAN"),
            topic("SHELF_TOPIC_PRODUCT_DLQ"),
        ]
        .iter()
        .map(|t| {
            metric_sum(
                &sink_text,
                &format!("shelf_sink_records_total{{topic=\"{t}\""),
            )
        })
        .sum();
        let renamed = late.as_ref().is_none_or(|l| {
            l.renamed(
                &sink_text,
                &topic("SHELF_TOPIC_INGEST_CATEGORY"),
                args.instances,
            )
        });
        if handled >= outputs && renamed && rt.block_on(bucketed(&db))? as f64 >= products {
            stages[3] = Some(Done {
                after: secs(Instant::now()),
                records: outputs,
                cpu: total_of(&sinks, Service::cpu_seconds)?,
                rss: total_of(&sinks, Service::peak_rss_mib)?,
            });
        }
    }
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
    for service in std::iter::once(gateway).chain(runtimes).chain(sinks) {
        service.stop()?;
    }
    let _ = std::fs::remove_dir_all(&state);

    // CPU per million input rows: the figure that holds when the machine's
    // speed drifts, and the one the stages' targets are set in.
    let millions = args.rows as f64 / 1e6;
    println!(
        "\n{:<20} {:>10} {:>10} {:>12} {:>9} {:>7} {:>11} {:>9}",
        "stage", "records", "done at s", "records/s", "CPU s", "CPU %", "CPU s/M rows", "peak RSS"
    );
    let names = ["client", "gateway", "transform runtime", "sink"];
    for (name, d) in names.iter().zip(stages.iter().flatten()) {
        println!(
            "{:<20} {:>10} {:>10.1} {:>12.0} {:>9.1} {:>6.0}% {:>12.1} {:>5.0} MiB",
            name,
            d.records,
            d.after,
            d.records / d.after,
            d.cpu,
            100.0 * d.cpu / d.after,
            d.cpu / millions,
            d.rss
        );
    }
    for (name, cpu) in [("kafka broker", kafka), ("ferretdb", ferret)] {
        match cpu {
            Some(cpu) => println!(
                "{name:<20} {:>10} {:>10.1} {:>12} {cpu:>9.1} {:>6.0}% {:>12.1}",
                "",
                total,
                "",
                100.0 * cpu / total,
                cpu / millions
            ),
            None => println!("{name:<20} (not started by infra/platform.sh here: no CPU figure)"),
        }
    }
    println!("\nstore work of the sink, by kind:");
    print!(
        "{}",
        shelf_benches::store_usage_table(&sink_text, args.rows as f64)
    );
    if let Some(p) = probes {
        print_latencies(&p);
    }
    if let Some(late) = &late {
        late.print(&sink_text, started, total);
    }
    println!(
        "\nwhole pipeline: {} rows in {total:.1} s = {:.0} rows/s from CSV to drained aggregates",
        args.rows,
        args.rows as f64 / total
    );
    if args.keep {
        println!("kept: database {}, topics {prefix}-*", topic("SHELF_DB"));
        return Ok(());
    }
    // A full-size run leaves gigabytes in the store and the broker.
    let topics: Vec<String> = env
        .iter()
        .filter(|(k, _)| k.starts_with("SHELF_TOPIC_"))
        .map(|(_, v)| v.clone())
        .collect();
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    rt.block_on(async {
        db.drop().await?;
        shelf_kafka::delete_topics(&kafka_clients, &topics, Duration::from_secs(60)).await?;
        anyhow::Ok(())
    })
    .context("dropping the run's database and topics (--keep keeps them)")
}

/// The data set for these arguments, generated afresh (a second or two
/// at full size), so it always comes from the current generator.
fn dataset(root: &Path, args: &Args) -> Result<PathBuf> {
    let dir = root.join(".local/bench-data");
    let started = Instant::now();
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

fn free_listen() -> Result<String> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .to_string())
}

/// A figure summed over a stage's instances.
fn total_of(services: &[Service], figure: fn(&Service) -> Result<f64>) -> Result<f64> {
    services.iter().map(figure).sum()
}

/// A share of the rows between 0 and 0.95 (some rows are faulty, so all of
/// them are never stored).
fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=0.95).contains(&x) => Ok(x),
        _ => Err(format!("`{s}` is not a share from 0 to 0.95")),
    }
}

fn print_latencies(p: &shelf_benches::probe::ProbeReport) {
    println!(
        "\nlatency from the gateway's 200, {} probes (one product every probe interval):",
        p.sent
    );
    for (what, l) in [
        ("visible in products", &p.visible),
        ("counted in category_stats", &p.counted),
    ] {
        let fmt = |q: f64| l.quantile(q).map_or("-".into(), |s| format!("{s:.2} s"));
        println!(
            "  {what:<26} p50 {:>8}  p99 {:>8}  max {:>8}  ({} of {})",
            fmt(0.5),
            fmt(0.99),
            fmt(1.0),
            l.len(),
            p.sent
        );
    }
}
