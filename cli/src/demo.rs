//! `shelf demo`: the whole pipeline in one process on a CSV pair (the
//! committed sample by default), then the reconciliation and the charts.
//!
//! Gateway, transform runtime and sink run as tasks of this process, with
//! the same code and defaults as `shelf ingest serve`, `shelf transform
//! run` and `shelf sink run`; the client streams to the gateway over HTTP.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser};
use shelf_client::StreamArgs;
use shelf_config::Platform;
use shelf_contract::{collections, Stage};
use shelf_kafka::KafkaClients;
use shelf_report::{charts, drain, reconcile};

use crate::transform::{execute, TransformCommand};

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Products CSV.
    #[arg(long, default_value = "dataset/sample/products.csv")]
    pub products: PathBuf,
    /// Categories CSV.
    #[arg(long, default_value = "dataset/sample/categories.csv")]
    pub categories: PathBuf,
    /// Generate this many rows (1 % faulty) under .local/demo-data and
    /// stream them instead of --products / --categories.
    #[arg(long, env = "ROWS")]
    pub rows: Option<u64>,
    /// Empty the database and delete the pipeline's topics and consumer
    /// groups first, so the reconciliation covers this run alone.
    #[arg(long)]
    pub reset: bool,
    /// Address of the gateway.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub gateway_listen: String,
    /// How long each stage may take to drain (s).
    #[arg(long, default_value_t = 3600)]
    pub timeout: u64,
}

#[derive(Parser)]
struct Flags<T: Args> {
    #[command(flatten)]
    inner: T,
}

fn flags<T: Args>(argv: &[&str]) -> Result<T> {
    Ok(Flags::<T>::try_parse_from(std::iter::once("demo").chain(argv.iter().copied()))?.inner)
}

/// Runs the demo; `Ok(false)` when the reconciliation fails.
pub async fn run(platform: &Platform, args: DemoArgs) -> Result<bool> {
    let (products, categories) = inputs(&args)?;
    let db = mongodb::Client::with_uri_str(&platform.mongo)
        .await?
        .database(&platform.database);
    prepare(platform, &db, args.reset).await?;
    execute(
        platform,
        TransformCommand::DeployDefaults {
            wasm_dir: None,
            params: Vec::new(),
        },
    )
    .await
    .context("deploying the standard transforms (make build-wasm builds them)")?;
    let services = Services::start(platform, &args.gateway_listen).await?;
    let streamed = shelf_client::stream(&StreamArgs {
        products: products.clone(),
        categories: Some(categories),
        gateway: format!("http://{}", services.gateway.local_addr()),
        token: None,
        batch_size: 1000,
        concurrency: 4,
        max_attempts: 12,
        rate: 0,
        strict: false,
        state_dir: ".local/demo/stream".into(),
        restart: true,
        quiet: false,
        // The gateway is in this process: compressing would only cost CPU.
        observed_at: None,
        compression: shelf_client::Compression::None,
    })
    .await?;
    println!("{streamed}\n\nwaiting for the transforms and the sink to drain …");
    let drained = services
        .wait_drained(platform, Duration::from_secs(args.timeout))
        .await?;
    let (_, counts) = streamed
        .counts
        .iter()
        .find(|(file, _)| *file == products.display().to_string())
        .context("no counts for the products file")?;
    println!("counting the stored products …");
    let mut r = reconcile::Reconciliation {
        read: counts.read,
        unparseable: counts.unparseable,
        refused: counts.refused.clone(),
        dlq_records: drained.dlq.records,
        product_events: drained.clean.records,
        distinct_products: reconcile::stored_products(&db).await?,
        ..Default::default()
    };
    for ((stage, reason), n) in reconcile::rejects(&db).await? {
        if stage == Stage::Sink.as_str() {
            r.sink_rejects.insert(reason, n);
        } else {
            r.transform_rejects.insert(reason, n);
        }
    }
    println!("\n{}\n", charts::load(&db).await?);
    println!("{r}");
    println!("\nthe dashboard of these figures: make dashboard, then open http://127.0.0.1:8501");
    services.stop().await?;
    Ok(r.passes())
}

/// The CSV pair to stream: generated with `--rows`, else the given files.
fn inputs(args: &DemoArgs) -> Result<(PathBuf, PathBuf)> {
    let Some(rows) = args.rows else {
        return Ok((args.products.clone(), args.categories.clone()));
    };
    let out = PathBuf::from(".local/demo-data");
    println!("generating {rows} rows into {}", out.display());
    shelf_dataset::generate(&shelf_dataset::GenerateArgs {
        rows,
        out: out.clone(),
        seed: 2023,
        dirty: 0.01,
        updates: 0.0,
    })?;
    Ok((out.join("products.csv"), out.join("categories.csv")))
}

/// With `reset`, empties the database and deletes the pipeline's topics;
/// without, refuses a database that already holds products.
async fn prepare(platform: &Platform, db: &mongodb::Database, reset: bool) -> Result<()> {
    let t = &platform.topics;
    if reset {
        println!(
            "reset: dropping database `{}`, deleting topics {}, {}, {}, {}",
            platform.database, t.ingest_product, t.ingest_category, t.product_clean, t.product_dlq
        );
        db.drop().await?;
        shelf_kafka::delete_topics(
            &KafkaClients::new(&platform.kafka)?,
            &[
                &t.ingest_product,
                &t.ingest_category,
                &t.product_clean,
                &t.product_dlq,
            ],
            Duration::from_secs(60),
        )
        .await?;
    } else if db
        .collection::<bson::Document>(collections::PRODUCTS)
        .estimated_document_count()
        .await?
        > 0
    {
        bail!(
            "database `{}` already holds products: run with --reset (make demo does) so the reconciliation covers this run alone",
            platform.database
        );
    }
    Ok(())
}

/// The gateway, transform runtime and sink, as tasks of this process.
struct Services {
    gateway: shelf_ingest::Gateway,
    runtime: tokio::task::JoinHandle<Result<()>>,
    sink: tokio::task::JoinHandle<Result<()>>,
    /// Set when the demo is done, as SIGTERM stops the services.
    stop: Arc<AtomicBool>,
    /// The runtime's and the sink's consumer groups.
    groups: [String; 2],
}

/// What the transforms wrote, counted once they drained.
struct Drained {
    clean: drain::TopicCount,
    dlq: drain::TopicCount,
}

impl Services {
    async fn start(platform: &Platform, gateway_listen: &str) -> Result<Self> {
        // Consumer groups of this run alone: no offsets of an earlier run
        // (or a static member of a killed one) can get in the way.
        let run_id = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let groups = [
            format!("shelf-demo-{run_id}-transform"),
            format!("shelf-demo-{run_id}-sink"),
        ];
        let gateway = shelf_ingest::Gateway::start(
            platform,
            shelf_ingest::ServeArgs::from_flags(["--listen", gateway_listen, "--no-auth"])?,
        )
        .await?;
        let runtime_args = flags(&["--metrics-listen", "127.0.0.1:0", "--group", &groups[0]])?;
        let sink_args = flags(&["--metrics-listen", "127.0.0.1:0", "--group", &groups[1]])?;
        let stop = Arc::new(AtomicBool::new(false));
        let runtime = tokio::spawn({
            let (p, stop) = (platform.clone(), stop.clone());
            async move {
                shelf_transform::run_until(&p, runtime_args, stop)
                    .await
                    .map_err(anyhow::Error::from)
            }
        });
        let sink = tokio::spawn({
            let (p, stop) = (platform.clone(), stop.clone());
            async move {
                shelf_sink::run_until(&p, sink_args, stop)
                    .await
                    .map_err(anyhow::Error::from)
            }
        });
        println!(
            "gateway on http://{}, transform runtime and sink running",
            gateway.local_addr()
        );
        Ok(Self {
            gateway,
            runtime,
            sink,
            stop,
            groups,
        })
    }

    /// Waits until the runtime has consumed everything streamed and the
    /// sink everything the runtime wrote, then a merge interval more.
    async fn wait_drained(&self, platform: &Platform, timeout: Duration) -> Result<Drained> {
        let kafka = KafkaClients::new(&platform.kafka)?;
        let topics = platform.topics.clone();
        let [runtime_group, sink_group] = self.groups.clone();
        let drained =
            tokio::task::spawn_blocking(move || -> Result<_, shelf_report::ReportError> {
                drain::wait_for_group(&kafka, &runtime_group, &topics.ingest_product, timeout)?;
                println!("transforms drained");
                let clean = drain::count(&kafka, &topics.product_clean)?;
                let dlq = drain::count(&kafka, &topics.product_dlq)?;
                drain::wait_past(&kafka, &sink_group, &topics.product_clean, &clean, timeout)?;
                drain::wait_past(&kafka, &sink_group, &topics.product_dlq, &dlq, timeout)?;
                println!("sink drained");
                Ok(Drained { clean, dlq })
            })
            .await??;
        // The sink merges the aggregates within its merge interval (500 ms).
        tokio::time::sleep(Duration::from_secs(3)).await;
        for (name, task) in [("runtime", &self.runtime), ("sink", &self.sink)] {
            if task.is_finished() {
                bail!("the {name} stopped early; see its log above");
            }
        }
        Ok(drained)
    }

    /// Stops the gateway, then the runtime and the sink (each finishes its
    /// batch).
    async fn stop(self) -> Result<()> {
        self.gateway.shutdown().await?;
        self.stop.store(true, Ordering::Relaxed);
        for (name, task) in [("runtime", self.runtime), ("sink", self.sink)] {
            match tokio::time::timeout(Duration::from_secs(60), task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => bail!("the {name} failed while stopping: {e:#}"),
                Ok(Err(e)) => bail!("the {name} task failed: {e}"),
                Err(_) => bail!("the {name} did not stop within 60 s"),
            }
        }
        Ok(())
    }
}
