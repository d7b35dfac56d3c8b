//! Sink benchmark: cleaned product events into MongoDB (FerretDB locally)
//! with the aggregates maintained, through `shelf sink run` (release),
//! against two writers on the same records:
//! - a plain insert of the documents the sink stores (the store's limit,
//!   see `plain.rs`): the sink's rate and the store's CPU are printed as a
//!   share of it;
//! - a naive writer that handles one record at a time (find the old
//!   state, `$inc` it out of the aggregates, replace the product, `$inc`
//!   the new state in).
//!
//! Prints documents/s, MongoDB round trips per 1000 records, and the
//! sink's CPU and peak RSS. The store's speed drifts on a shared machine
//! by more than the difference measured, so the plain insert and the sink
//! run in turns (`--rounds`), each sink run held against the plain insert
//! just before it, and the median of the rounds is the figure. Needs the
//! platform (`make up`); `make bench` runs it.

mod plain;

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use mongodb::bson::{doc, Bson, Document};
use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;
use mongodb::options::{ClientOptions, ReplaceOptions, UpdateOptions};
use rand::{Rng, SeedableRng};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use shelf_benches::{product_record, shelf_release_bin, Endpoints, Service};
use shelf_kafka::KafkaClients;
use shelf_rules::{clean, derive, BucketParams};

#[derive(Debug, Parser)]
struct Args {
    /// Product events.
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// Events per asin on average: 1 is a first load (every event a new
    /// product, what a plain insert can be held against), 2 makes about
    /// half of them later versions of earlier asins.
    #[arg(long, default_value_t = 1.0)]
    versions_per_asin: f64,
    /// Events the naive writer handles (the first ones of the same data;
    /// it is slow).
    #[arg(long, default_value_t = 5_000)]
    naive_records: usize,
    /// The sink's batch (`shelf sink run --batch-size`).
    #[arg(long, default_value_t = 5000)]
    batch: usize,
    /// Documents per `insert` command of the plain insert.
    #[arg(long, default_value_t = 5000)]
    plain_batch: usize,
    /// Turns of plain insert then sink, each on a fresh database.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    rounds: u32,
    #[command(flatten)]
    platform: Endpoints,
}

/// Cleaned, priced product events keyed by asin: `records` events over
/// `records / versions_per_asin` asins (with more than one, products change
/// price and category).
fn events(records: usize, versions_per_asin: f64) -> Vec<(String, Vec<u8>)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let asins = ((records as f64 / versions_per_asin.max(1.0)) as u64).max(1);
    let mut out = Vec::with_capacity(records);
    while out.len() < records {
        // A first load: each asin once, in random order.
        let n = if asins as usize >= records {
            out.len() as u64 * 7_919 % asins
        } else {
            rng.random_range(0..asins)
        };
        let mut raw = product_record(&mut rng, n);
        raw["asin"] = serde_json::json!(format!("B{n:09}"));
        if let Ok(product) = clean(&raw) {
            let priced = derive(product, BucketParams::default());
            let asin = priced.product.asin.clone();
            out.push((asin, serde_json::to_vec(&priced).unwrap_or_default()));
        }
    }
    out
}

fn main() -> Result<()> {
    let args = Args::parse();
    let data = events(args.records, args.versions_per_asin);
    let prefix = format!("sbench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let (products, categories, dlq) = (
        format!("{prefix}-product-clean"),
        format!("{prefix}-ingest-category"),
        format!("{prefix}-product-dlq"),
    );
    let rt = tokio::runtime::Runtime::new()?;
    let kafka = KafkaClients::new(&args.platform.kafka)?;
    rt.block_on(shelf_kafka::ensure_topics(
        &kafka,
        &[&products, &categories, &dlq].map(|t| shelf_kafka::TopicSpec::new(t, 6)),
        Duration::from_secs(30),
    ))?;
    println!("producing {} events and 270 categories", data.len());
    let producer: ThreadedProducer<DefaultProducerContext> = kafka
        .producer()
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    for id in 1..=270 {
        let value =
            serde_json::json!({"id": id, "category_name": format!("Category {id}")}).to_string();
        let key = id.to_string();
        send(
            &producer,
            BaseRecord::to(&categories)
                .key(&key)
                .payload(value.as_bytes()),
        );
    }
    for (key, value) in &data {
        send(&producer, BaseRecord::to(&products).key(key).payload(value));
    }
    producer.flush(Duration::from_secs(120))?;

    let database = prefix.replace('-', "_");
    let mut rates = Vec::new();
    let mut store_cpus = Vec::new();
    for round in 1..=args.rounds {
        println!("\nround {round} of {}", args.rounds);
        let plain = rt.block_on(plain::run(
            &args.platform.mongo,
            &format!("{database}_plain"),
            &data,
            args.plain_batch,
        ))?;
        let sink_db = format!("{database}_{round}");
        let sink = sink(&rt, &args, &data, &sink_db, [&products, &categories, &dlq]);
        rt.block_on(drop_database(&args.platform.mongo, &sink_db))?;
        let sink = sink?;
        let rate = sink.products_per_s / plain.docs_per_s;
        println!(
            "\n  round {round}: the sink at {:.0} % of the plain insert's rate",
            100.0 * rate
        );
        rates.push(rate);
        if let (Some(s), Some(p)) = (sink.store_cpu_per_m, plain.store_cpu_per_m) {
            println!(
                "  FerretDB CPU per million products: {:.2} times the plain insert's",
                s / p
            );
            store_cpus.push(s / p);
        }
    }
    println!(
        "\nthe sink against the plain insert of its documents (median of {} rounds):",
        args.rounds
    );
    println!(
        "  rate {:.0} % of the plain insert's (steady rate, products stored per second; rounds: {})",
        100.0 * median(&mut rates),
        percentages(&rates)
    );
    if !store_cpus.is_empty() {
        println!(
            "  FerretDB CPU per million products: {:.2} times the plain insert's (rounds: {})",
            median(&mut store_cpus),
            store_cpus
                .iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    rt.block_on(naive(
        &args,
        &data[..args.naive_records.min(data.len())],
        &format!("{database}_naive"),
    ))?;
    rt.block_on(async {
        drop_database(&args.platform.mongo, &format!("{database}_naive")).await?;
        let topics = [products.as_str(), categories.as_str(), dlq.as_str()];
        shelf_kafka::delete_topics(&kafka, &topics, Duration::from_secs(60)).await?;
        anyhow::Ok(())
    })?;
    Ok(())
}

/// The median (sorts `xs`; not empty).
fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn percentages(xs: &[f64]) -> String {
    xs.iter()
        .map(|x| format!("{:.0} %", 100.0 * x))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn drop_database(mongo: &str, database: &str) -> Result<()> {
    mongodb::Client::with_uri_str(mongo)
        .await?
        .database(database)
        .drop()
        .await?;
    Ok(())
}

fn send(
    producer: &ThreadedProducer<DefaultProducerContext>,
    mut record: BaseRecord<'_, String, [u8]>,
) {
    while let Err((_, back)) = producer.send(record) {
        record = back;
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What the sink's run measured.
struct SinkRun {
    /// Events stored per second from the first stored to the last (start-up
    /// and the group join left out, as the plain insert has none).
    products_per_s: f64,
    store_cpu_per_m: Option<f64>,
}

fn sink(
    rt: &tokio::runtime::Runtime,
    args: &Args,
    data: &[(String, Vec<u8>)],
    database: &str,
    [products, categories, dlq]: [&str; 3],
) -> Result<SinkRun> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = format!("127.0.0.1:{port}");
    // FerretDB's own CPU shows where the time goes: the sink mostly waits.
    let ferretdb = shelf_benches::platform_pid("ferretdb");
    let ferretdb_cpu_before = ferretdb.and_then(|pid| shelf_benches::cpu_seconds(pid).ok());
    let started = Instant::now();
    let service = Service::spawn(
        "sink",
        Command::new(shelf_release_bin()?)
            .args(["sink", "run", "--group", &format!("{database}-group")])
            .args([
                "--batch-size",
                &args.batch.to_string(),
                "--metrics-listen",
                &listen,
            ])
            .envs(args.platform.kafka.to_env())
            .env("SHELF_MONGO", &args.platform.mongo)
            .env("SHELF_DB", database)
            .env("SHELF_TOPIC_PRODUCT_CLEAN", products)
            .env("SHELF_TOPIC_INGEST_CATEGORY", categories)
            .env("SHELF_TOPIC_PRODUCT_DLQ", dlq)
            // SHELF_BENCH_SINK_LOG=shelf_sink=debug shows each command's time.
            .env(
                "RUST_LOG",
                std::env::var("SHELF_BENCH_SINK_LOG").unwrap_or_else(|_| "warn".into()),
            ),
    )?;
    let metrics_url = format!("http://{listen}/metrics");
    let metric = shelf_benches::metric_sum;
    let stored_prefix = format!("shelf_sink_records_total{{topic=\"{products}\"");
    let mut last_print = Instant::now();
    let mut first_stored: Option<(Instant, f64)> = None;
    let (commands, final_metrics) = loop {
        std::thread::sleep(Duration::from_millis(250));
        let fetched = rt.block_on(async { reqwest::get(&metrics_url).await?.text().await });
        let Ok(text) = fetched else {
            continue;
        };
        let done = metric(&text, &stored_prefix);
        if done > 0.0 && first_stored.is_none() {
            first_stored = Some((Instant::now(), done));
        }
        if last_print.elapsed() > Duration::from_secs(5) {
            println!(
                "  {done} / {} events stored after {:.0}s",
                data.len(),
                started.elapsed().as_secs_f64()
            );
            last_print = Instant::now();
        }
        // All stored and the aggregates merged after the last batch.
        if done as usize >= data.len() && metric(&text, "shelf_sink_merges_total") > 0.0 {
            break (metric(&text, "shelf_sink_mongo_commands_total"), text);
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(3600),
            "sink did not finish in an hour"
        );
    };
    let secs = started.elapsed().as_secs_f64();
    let products_per_s = match first_stored {
        Some((at, done)) if at.elapsed().as_secs_f64() > 0.0 => {
            (data.len() as f64 - done) / at.elapsed().as_secs_f64()
        }
        _ => data.len() as f64 / secs,
    };
    let cpu = service.cpu_seconds()?;
    let peak = service.peak_rss_mib()?;
    service.stop()?;
    print_rate(
        &format!("sink (one instance, batch {}, FerretDB)", args.batch),
        " (including start-up and group join)",
        data.len(),
        secs,
        commands,
    );
    let millions = data.len() as f64 / 1e6;
    println!(
        "  CPU {:.0} % of one core on average, {:.1} CPU-s per million events, peak RSS {:.0} MB",
        100.0 * cpu / secs,
        cpu / millions,
        peak
    );
    println!("  steady rate: {products_per_s:.0} events stored per second");
    let mut store_cpu_per_m = None;
    if let (Some(pid), Some(before)) = (ferretdb, ferretdb_cpu_before) {
        let used = shelf_benches::cpu_seconds(pid)? - before;
        println!(
            "  FerretDB meanwhile: CPU {:.0} % of one core on average, {:.1} CPU-s per million events",
            100.0 * used / secs,
            used / millions
        );
        store_cpu_per_m = Some(used / millions);
    }
    println!("\n  store work by kind:");
    for line in shelf_benches::store_usage_table(&final_metrics, data.len() as f64).lines() {
        println!("  {line}");
    }
    Ok(SinkRun {
        products_per_s,
        store_cpu_per_m,
    })
}

/// One record at a time, the obvious way: find the old state, retract it
/// with `$inc`, replace the product, add the new state with `$inc`.
async fn naive(args: &Args, data: &[(String, Vec<u8>)], database: &str) -> Result<()> {
    let commands = Arc::new(AtomicU64::new(0));
    let mut options = ClientOptions::parse(&args.platform.mongo).await?;
    let counter = commands.clone();
    options.command_event_handler = Some(EventHandler::callback(move |e| {
        if let CommandEvent::Started(_) = e {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }));
    let db = mongodb::Client::with_options(options)?.database(database);
    let products = db.collection::<Document>("products");
    let stats = db.collection::<Document>("category_stats");
    let buckets = db.collection::<Document>("price_buckets");
    let upsert = UpdateOptions::builder().upsert(true).build();
    let before = commands.load(Ordering::Relaxed);
    let started = Instant::now();
    for (asin, value) in data {
        let new: serde_json::Value = serde_json::from_slice(value)?;
        let old = products.find_one(doc! {"_id": asin}).await?;
        if let Some(old) = &old {
            let (category, inc, bucket) = contribution_of(old, -1);
            stats
                .update_one(doc! {"_id": category}, doc! {"$inc": inc})
                .with_options(upsert.clone())
                .await?;
            buckets
                .update_one(doc! {"_id": bucket}, doc! {"$inc": {"products": -1}})
                .with_options(upsert.clone())
                .await?;
        }
        let mut d: Document = mongodb::bson::to_document(&new).context("product to BSON")?;
        d.insert("_id", asin.as_str());
        products
            .replace_one(doc! {"_id": asin}, d.clone())
            .with_options(ReplaceOptions::builder().upsert(true).build())
            .await?;
        let (category, inc, bucket) = contribution_of(&d, 1);
        stats
            .update_one(doc! {"_id": category}, doc! {"$inc": inc})
            .with_options(upsert.clone())
            .await?;
        buckets
            .update_one(doc! {"_id": bucket}, doc! {"$inc": {"products": 1}})
            .with_options(upsert.clone())
            .await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let sent = (commands.load(Ordering::Relaxed) - before) as f64;
    print_rate(
        &format!(
            "naive writer (one record at a time, $inc aggregates, same data, first {} events)",
            data.len()
        ),
        "",
        data.len(),
        secs,
        sent,
    );
    Ok(())
}

/// A writer's throughput and round trips.
fn print_rate(writer: &str, note: &str, events: usize, secs: f64, commands: f64) {
    println!("\n{writer}:");
    println!(
        "  {events} events in {secs:.1}s: {:.0} documents/s{note}",
        events as f64 / secs
    );
    println!(
        "  {commands:.0} MongoDB commands: {:.1} round trips per 1000 records",
        1000.0 * commands / events as f64
    );
}

/// What a product adds (`sign` 1) or takes away (-1), as `$inc` fields.
fn contribution_of(d: &Document, sign: i64) -> (Bson, Document, String) {
    let num = |k: &str| match d.get(k) {
        Some(Bson::Double(x)) => Some(*x),
        Some(Bson::Int32(i)) => Some(f64::from(*i)),
        Some(Bson::Int64(i)) => Some(*i as f64),
        _ => None,
    };
    let price = num("price");
    let stars = num("stars");
    let s = sign as f64;
    let inc = doc! {
        "products": sign,
        "priced": if price.is_some() { sign } else { 0 },
        "price_sum": s * price.unwrap_or(0.0),
        "rated": if stars.is_some() { sign } else { 0 },
        "stars_sum": s * stars.unwrap_or(0.0),
        "bestsellers": if d.get_bool("isBestSeller").unwrap_or(false) { sign } else { 0 },
        "bought_last_month": s * num("boughtInLastMonth").unwrap_or(0.0),
    };
    let category = d.get("category_id").cloned().unwrap_or(Bson::Null);
    let bucket = d.get_str("price_bucket").unwrap_or("unpriced").to_owned();
    (category, inc, bucket)
}
