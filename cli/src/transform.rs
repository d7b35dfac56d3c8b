//! `shelf transform …`: deploy, chain, list, remove, test and run.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use shelf_config::Platform;
use shelf_kafka::KafkaClients;
use shelf_transform::deploy::{self, parse_params};
use shelf_transform::registry::Registry;
use shelf_transform::{ChainTopics, DefaultChain, RunArgs};

#[derive(Debug, Subcommand)]
pub enum TransformCommand {
    /// Check a module (compile, ABI, init with its params) and deploy it as
    /// the next version of NAME. A refused module replaces nothing.
    Deploy {
        /// The module's name, which chains refer to it by.
        #[arg(long)]
        name: String,
        /// The module, built for wasm32-unknown-unknown with fluvio-smartmodule.
        #[arg(long)]
        wasm: PathBuf,
        /// Init parameter, repeatable: --param width=10 --param cap=500.
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
    /// Deploy a chain: MODULES applied in order from --input to --output.
    Chain {
        /// Deployed modules, applied in this order.
        #[arg(required = true, num_args = 1..)]
        modules: Vec<String>,
        /// The chain's name: what `shelf transform run --chain` runs.
        #[arg(long, default_value = "default")]
        name: String,
        /// Input topic (default: the ingest-product topic).
        #[arg(long)]
        input: Option<String>,
        /// Output topic (default: the product-clean topic).
        #[arg(long)]
        output: Option<String>,
        /// Dead-letter topic (default: the product-dlq topic).
        #[arg(long)]
        dlq: Option<String>,
    },
    /// List deployed modules and chains.
    List,
    /// Remove a module (refused while a chain uses it), or a chain with --chain.
    Remove {
        /// The module's (or with --chain, the chain's) name.
        name: String,
        /// NAME is a chain, not a module.
        #[arg(long)]
        chain: bool,
    },
    /// Run modules locally over NDJSON on stdin; print one JSON line per
    /// output or reject (like Fluvio's `smdk test`).
    Test {
        /// Module(s), applied in order.
        #[arg(long, required = true)]
        wasm: Vec<PathBuf>,
        /// Init parameter given to every module, repeatable.
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
    /// Deploy the standard chain (transforms/default-chain.toml: clean >
    /// price-bucket), ingest-product -> product-clean.
    DeployDefaults {
        /// Where the modules are (default: the file's wasm_dir, where
        /// `make build-wasm` leaves them).
        #[arg(long)]
        wasm_dir: Option<PathBuf>,
        /// Parameter of the modules that take them (price-bucket),
        /// repeatable: --param width=10.
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
    /// Run the transform runtime (consume, transform, produce; exactly once).
    Run(RunArgs),
}

pub async fn execute(platform: &Platform, command: TransformCommand) -> Result<()> {
    let registry = Registry::new(
        &KafkaClients::new(&platform.kafka)?,
        &platform.topics.transforms,
    );
    if !matches!(
        command,
        TransformCommand::Test { .. } | TransformCommand::Run(_)
    ) {
        registry
            .ensure_topic()
            .await
            .context("preparing the registry topic")?;
    }
    let topics = platform.topics.clone();
    match command {
        TransformCommand::Run(args) => return Ok(shelf_transform::run(platform, args).await?),
        TransformCommand::Test { wasm, params } => {
            let params = parse_params(&params)?;
            let modules: Vec<_> = wasm.into_iter().map(|w| (w, params.clone())).collect();
            let summary = tokio::task::spawn_blocking(move || {
                deploy::test_locally(&modules, std::io::stdin().lock(), std::io::stdout().lock())
            })
            .await??;
            eprintln!(
                "{} record(s): {} output(s), {} reject(s)",
                summary.records, summary.outputs, summary.rejects
            );
            return Ok(());
        }
        _ => {}
    }
    tokio::task::spawn_blocking(move || blocking(&registry, &topics, command)).await?
}

fn blocking(
    registry: &Registry,
    topics: &shelf_config::Topics,
    command: TransformCommand,
) -> Result<()> {
    match command {
        TransformCommand::Deploy { name, wasm, params } => {
            let m = deploy::deploy(registry, &name, &wasm, parse_params(&params)?)?;
            println!(
                "deployed {} v{} ({} bytes, sha256 {})",
                m.name,
                m.version,
                m.size,
                &m.sha256[..12]
            );
        }
        TransformCommand::Chain {
            modules,
            name,
            input,
            output,
            dlq,
        } => {
            let c = deploy::chain(
                registry,
                &name,
                modules,
                input.as_deref().unwrap_or(&topics.ingest_product),
                output.as_deref().unwrap_or(&topics.product_clean),
                dlq.as_deref().unwrap_or(&topics.product_dlq),
            )?;
            println!(
                "deployed chain {} v{}: {} ({} -> {}, rejects to {})",
                c.name,
                c.version,
                c.modules.join(" > "),
                c.input,
                c.output,
                c.dlq
            );
        }
        TransformCommand::List => print!("{}", deploy::format_list(&registry.load()?)),
        TransformCommand::Remove { name, chain } => {
            deploy::remove(registry, &name, chain)?;
            println!("removed {}{name}", if chain { "chain " } else { "" });
        }
        TransformCommand::DeployDefaults { wasm_dir, params } => {
            let chain = DefaultChain::builtin()?;
            let wasm_dir = wasm_dir.unwrap_or_else(|| chain.wasm_dir.clone());
            let topics = ChainTopics {
                input: &topics.ingest_product,
                output: &topics.product_clean,
                dlq: &topics.product_dlq,
            };
            let (modules, c) =
                chain.deploy(registry, &wasm_dir, &parse_params(&params)?, topics)?;
            let deployed: Vec<String> = modules
                .iter()
                .map(|m| format!("{} v{}", m.name, m.version))
                .collect();
            println!(
                "deployed {}, chain {} v{} ({} -> {})",
                deployed.join(", "),
                c.name,
                c.version,
                c.input,
                c.output
            );
        }
        TransformCommand::Test { .. } | TransformCommand::Run(_) => {}
    }
    Ok(())
}
