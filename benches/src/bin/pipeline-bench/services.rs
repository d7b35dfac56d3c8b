//! The run's names (its own database and topics) and its processes: the
//! gateway, and per instance a transform runtime and a sink, each a
//! release `shelf` process.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Result};
use shelf_benches::{shelf_release_bin, wait_http, Service};
use shelf_config::{Platform, Topics};

use crate::Args;

/// The run's database and topics, all under one prefix.
pub struct Names {
    pub prefix: String,
    pub database: String,
    pub ingest_product: String,
    pub ingest_category: String,
    pub product_clean: String,
    pub product_dlq: String,
    pub transforms: String,
}

impl Names {
    pub fn new(prefix: &str) -> Self {
        let topic = |name: &str| format!("{prefix}-{name}");
        Self {
            prefix: prefix.to_owned(),
            database: prefix.replace('-', "_"),
            ingest_product: topic("ingest-product"),
            ingest_category: topic("ingest-category"),
            product_clean: topic("product-clean"),
            product_dlq: topic("product-dlq"),
            transforms: topic("transforms"),
        }
    }

    pub fn topics(&self) -> [&str; 5] {
        [
            &self.ingest_product,
            &self.ingest_category,
            &self.product_clean,
            &self.product_dlq,
            &self.transforms,
        ]
    }

    /// The platform every process of the run works on: the bench's own
    /// broker and store, with the run's database and topics.
    fn platform(&self, args: &Args) -> Platform {
        Platform {
            config: None,
            kafka: args.platform.kafka.clone(),
            mongo: args.platform.mongo.clone(),
            database: self.database.clone(),
            topics: Topics {
                ingest_product: self.ingest_product.clone(),
                ingest_category: self.ingest_category.clone(),
                product_clean: self.product_clean.clone(),
                product_dlq: self.product_dlq.clone(),
                transforms: self.transforms.clone(),
            },
        }
    }

    /// The environment every process of the run gets.
    fn env(&self, args: &Args) -> Vec<(&'static str, String)> {
        let mut env = self.platform(args).to_env();
        // Warnings would be expected ones (the faulty rows' 400s).
        env.push(("RUST_LOG", "error".into()));
        env
    }
}

/// The running stages but the client.
pub struct Services {
    shelf: std::path::PathBuf,
    env: Vec<(&'static str, String)>,
    port: u16,
    pub gateway: Service,
    pub runtimes: Vec<Service>,
    pub sinks: Vec<Service>,
    pub runtime_listens: Vec<String>,
    pub sink_listens: Vec<String>,
}

impl Services {
    /// Deploys the default chain, starts every process and waits until
    /// each is ready.
    pub fn start(
        rt: &tokio::runtime::Runtime,
        root: &Path,
        args: &Args,
        names: &Names,
    ) -> Result<Self> {
        let shelf = shelf_release_bin()?;
        let env = names.env(args);
        let mut deploy = Command::new(&shelf);
        deploy
            .current_dir(root)
            .args(["transform", "deploy-defaults"])
            .envs(env.iter().cloned());
        if let Some(dir) = &args.wasm_dir {
            deploy.arg("--wasm-dir").arg(dir);
        }
        let status = deploy.stdout(std::process::Stdio::null()).status()?;
        if !status.success() {
            bail!("shelf transform deploy-defaults failed (make build-wasm builds the modules)");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let listens = || {
            (0..args.instances)
                .map(|_| free_listen())
                .collect::<Result<Vec<_>>>()
        };
        let (runtime_listens, sink_listens) = (listens()?, listens()?);
        let gateway = Service::spawn(
            "gateway",
            Command::new(&shelf)
                .args(["ingest", "serve", "--listen", &format!("127.0.0.1:{port}")])
                .envs(env.iter().cloned()),
        )?;
        let mut runtimes = Vec::new();
        let mut sinks = Vec::new();
        for (i, (runtime, sink)) in runtime_listens.iter().zip(&sink_listens).enumerate() {
            let instance = i.to_string();
            let group = |stage: &str| format!("{}-{stage}", names.prefix);
            runtimes.push(Service::spawn(
                "transform runtime",
                Command::new(&shelf)
                    .args(["transform", "run", "--metrics-listen", runtime])
                    .args(["--group", &group("transform"), "--instance", &instance])
                    .envs(env.iter().cloned()),
            )?);
            sinks.push(Service::spawn(
                "sink",
                Command::new(&shelf)
                    .args(["sink", "run", "--metrics-listen", sink])
                    .args(["--group", &group("sink"), "--instance", &instance])
                    .envs(env.iter().cloned()),
            )?);
        }
        rt.block_on(async {
            let health = format!("http://127.0.0.1:{port}/healthz");
            wait_http(&health, Duration::from_secs(30)).await?;
            for listen in runtime_listens.iter().chain(&sink_listens) {
                wait_http(&format!("http://{listen}/readyz"), Duration::from_secs(60)).await?;
            }
            anyhow::Ok(())
        })?;
        Ok(Self {
            shelf,
            env,
            port,
            gateway,
            runtimes,
            sinks,
            runtime_listens,
            sink_listens,
        })
    }

    pub fn gateway_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `shelf stream` of a products file (and maybe a categories file).
    pub fn stream_command(
        &self,
        args: &Args,
        products: &Path,
        categories: Option<&Path>,
        state: &Path,
    ) -> Command {
        let mut command = Command::new(&self.shelf);
        command.arg("stream").arg("--products").arg(products);
        if let Some(categories) = categories {
            command.arg("--categories").arg(categories);
        }
        command
            .arg("--state-dir")
            .arg(state)
            .args(["--gateway", &self.gateway_url(), "--quiet"])
            .args(["--concurrency", &args.concurrency.to_string()])
            .args(["--compression", &args.compression])
            .args(
                args.rate
                    .map(|r| ["--rate".to_owned(), r.to_string()])
                    .into_iter()
                    .flatten(),
            )
            .envs(self.env.iter().cloned())
            .env("RUST_LOG", "error");
        command
    }

    /// Starts the client on a products file (and maybe a categories file).
    pub fn stream(
        &self,
        args: &Args,
        products: &Path,
        categories: Option<&Path>,
        state: &Path,
    ) -> Result<Service> {
        Service::spawn(
            "client",
            &mut self.stream_command(args, products, categories, state),
        )
    }

    /// All instances' `/metrics` in one text: the sums add them up.
    pub fn metrics(&self, rt: &tokio::runtime::Runtime, listens: &[String]) -> Result<String> {
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
    }

    pub fn stop(self) -> Result<()> {
        for service in std::iter::once(self.gateway)
            .chain(self.runtimes)
            .chain(self.sinks)
        {
            service.stop()?;
        }
        Ok(())
    }
}

fn free_listen() -> Result<String> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .to_string())
}
