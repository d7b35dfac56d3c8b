use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use shelf::transform::TransformCommand;
use shelf::{doctor, logging};
use shelf_config::Platform;

/// shelfstream: a streaming ETL from CSV to MongoDB through Kafka and WASM
/// transforms.
#[derive(Debug, Parser)]
#[command(name = "shelf", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    platform: Platform,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check that the broker and the store answer, and print their versions.
    Doctor {
        /// Keep trying for this many seconds before giving up (0: one try).
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// Timeout of a single check, in seconds.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// The ingest gateway: HTTP JSON in, Kafka out.
    #[command(subcommand)]
    Ingest(IngestCommand),
    /// WASM transforms: deploy, chain, list, remove, test, run.
    #[command(subcommand)]
    Transform(TransformCommand),
    /// The MongoDB sink: cleaned products, categories and rejects into the
    /// analysts' collections, with exact rolling aggregates.
    #[command(subcommand)]
    Sink(SinkCommand),
}

#[derive(Debug, Subcommand)]
enum SinkCommand {
    /// Run the sink.
    Run(shelf_sink::SinkArgs),
}

#[derive(Debug, Subcommand)]
enum IngestCommand {
    /// Run the gateway.
    Serve(shelf_ingest::ServeArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    logging::init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Doctor { wait, timeout } => {
            let timeout = Duration::from_secs(timeout.max(1));
            let report = if wait == 0 {
                doctor::check(&cli.platform, timeout).await
            } else {
                doctor::check_until_healthy(&cli.platform, timeout, Duration::from_secs(wait)).await
            };
            print!("{report}");
            Ok(if report.healthy() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Ingest(IngestCommand::Serve(args)) => {
            shelf_ingest::serve(&cli.platform, args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sink(SinkCommand::Run(args)) => {
            shelf_sink::run(&cli.platform, args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Transform(command) => {
            shelf::transform::execute(&cli.platform, command).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
