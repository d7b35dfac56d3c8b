use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use shelf::transform::TransformCommand;
use shelf::{doctor, logging};
use shelf_config::Platform;

mod allocator;

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
    /// Stream product and category CSVs to the ingest gateway (resumable).
    Stream(shelf_client::StreamArgs),
    /// The three analyses from MongoDB as terminal charts, and the rejects.
    Report,
    /// Rejects: send them again through the current chain once it is fixed.
    #[command(subcommand)]
    Rejects(RejectsCommand),
    /// The whole pipeline in this process on a CSV pair, then the
    /// reconciliation and the charts (what `make demo` runs).
    Demo(shelf::demo::DemoArgs),
    /// The gateway, the transform runtime and the sink under one
    /// supervisor: one log stream, prefixed by service; a failed service
    /// is restarted; SIGTERM stops all three.
    Run(shelf::supervisor::RunArgs),
    /// Each stage up or down, its records per second, its lag (0 when
    /// drained) and its last warning or error, from the services' /metrics.
    /// Exits 1 when a stage is down.
    Status(shelf::status::StatusArgs),
    /// The live dashboard (Streamlit, dashboard/) on http://127.0.0.1:8501.
    Dashboard(shelf::dashboard::DashboardArgs),
    /// Generate data sets shaped like Amazon Products 2023.
    #[command(subcommand)]
    Dataset(DatasetCommand),
}

#[derive(Debug, Subcommand)]
enum DatasetCommand {
    /// Write products.csv and categories.csv, or with --days one products
    /// file per day (products-YYYY-MM-DD.csv, with observed_at).
    Generate(GenerateCommand),
}

#[derive(Debug, clap::Args)]
struct GenerateCommand {
    #[command(flatten)]
    args: shelf_dataset::GenerateArgs,
    #[command(flatten)]
    days: shelf_dataset::days::DaysArgs,
}

#[derive(Debug, Subcommand)]
enum SinkCommand {
    /// Run the sink.
    Run(shelf_sink::SinkArgs),
    /// Recompute the sink's saved state (`sink_partials`) and the
    /// aggregates from `products`: after an upgrade that changed their
    /// layout, or to repair them. Stop every sink of the group first.
    Rebuild(shelf_sink::RebuildArgs),
}

#[derive(Debug, Subcommand)]
enum RejectsCommand {
    /// Send the selected rejects' stored records through the chain as
    /// deployed now, exactly once, and print what became of each: stored
    /// (the reject is marked resolved), rejected again, or unchanged.
    Replay(shelf_redrive::ReplayArgs),
}

#[derive(Debug, Subcommand)]
enum IngestCommand {
    /// Run the gateway.
    Serve(shelf_ingest::ServeArgs),
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async_main(cli))
}

/// Flags, then the environment, then the config file (`--config`,
/// `SHELF_CONFIG`), then the defaults. The file fills in the environment,
/// so this runs before any thread starts.
fn parse_cli() -> Result<Cli> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    shelf_config::file::apply(&Cli::command(), &args)?;
    // Built anew: clap reads the variables when it builds the command.
    let command = Cli::command();
    let matches = command.clone().get_matches_from(args);
    shelf::unused_settings::check(&command, &matches).map_err(anyhow::Error::msg)?;
    Ok(Cli::from_arg_matches(&matches)?)
}

/// glibc gives each busy thread its own malloc arena (up to 8 per core);
/// the transform runtime's chain threads and librdkafka's then fragment the
/// heap: transform-bench measured 305 MB peak RSS with glibc's default and
/// 227 MB with 4 arenas, at 110k and 98k records/s.
/// Must run before any thread starts.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 4);
    }
}

async fn async_main(cli: Cli) -> ExitCode {
    // The demo reports on stdout; its embedded services speak up only for
    // warnings (RUST_LOG still decides when set).
    logging::init(if matches!(cli.command, Command::Demo(_)) {
        "warn"
    } else {
        "info"
    });
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
            allocator::hold_freed_pages(allocator::SINK_DECAY);
            shelf_sink::run(&cli.platform, args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sink(SinkCommand::Rebuild(args)) => {
            let rebuilt = shelf_sink::rebuild(&cli.platform, &args).await?;
            println!("rebuilt from products: {rebuilt}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Transform(command) => {
            shelf::transform::execute(&cli.platform, command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Stream(args) => {
            let report = shelf_client::stream(&args).await?;
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Report => {
            let db = shelf_report::open::open(&cli.platform.mongo, &cli.platform.database).await?;
            println!("{}\n", shelf_report::charts::load(&db).await?);
            if let Some(movers) = shelf_report::movers::load(&db).await? {
                println!("{movers}");
            }
            println!("Rejects by stage and reason (resolved: stored since, by a replay)");
            for ((stage, reason), n) in shelf_report::reconcile::rejects(&db).await? {
                println!("  {n:>8}  {stage:<9} {reason}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Rejects(RejectsCommand::Replay(args)) => {
            let mut out = std::io::stdout();
            let summary =
                shelf_redrive::replay(&cli.platform, &args, &mut out, &|line| eprintln!("{line}"))
                    .await?;
            eprint!("{summary}");
            // Pending redrives are not a failure of the replay, but a
            // script must be able to tell that it has to wait or run again.
            Ok(if summary.pending > 0 {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Demo(args) => {
            // At its end the demo stops its services gracefully. After an
            // error or on Ctrl-C / SIGTERM they may still be running as
            // tasks (on blocking threads a runtime would wait for), so the
            // process exits without waiting for them.
            let passed = tokio::select! {
                result = shelf::demo::run(&cli.platform, args) => result?,
                () = shelf_service::shutdown_signal() => {
                    eprintln!("demo interrupted");
                    false
                }
            };
            use std::io::Write;
            let _ = std::io::stdout().flush();
            std::process::exit(if passed { 0 } else { 1 });
        }
        Command::Run(args) => {
            shelf::supervisor::run(&cli.platform, &args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(args) => {
            let stages = shelf::status::read(&args).await;
            if args.json {
                for stage in &stages {
                    println!("{}", serde_json::to_string(stage)?);
                }
            } else {
                print!("{}", shelf::status::table(&stages));
            }
            Ok(if stages.iter().all(|s| s.up) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Dashboard(args) => {
            shelf::dashboard::run(&cli.platform, args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dataset(DatasetCommand::Generate(GenerateCommand { args, days }))
            if days.days > 0 =>
        {
            let summary = shelf_dataset::days::generate_days(&args, &days)?;
            println!(
                "{}: {} daily files ({} … {}), {} observations of {} products, {} price changes, {} category moves, {} gone; {} categories",
                args.out.display(),
                summary.files.len(),
                summary.files.first().map(|f| f.display().to_string()).unwrap_or_default(),
                summary.files.last().map(|f| f.display().to_string()).unwrap_or_default(),
                summary.observations,
                summary.products,
                summary.price_changes,
                summary.moves,
                summary.gone,
                summary.categories,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Dataset(DatasetCommand::Generate(GenerateCommand { args, .. })) => {
            let summary = shelf_dataset::generate(&args)?;
            println!(
                "{}: {} products, {} categories, {} faulty rows {:?}, {} unparseable lines",
                args.out.display(),
                summary.products,
                summary.categories,
                summary.faulty.values().sum::<u64>(),
                summary.faulty,
                summary.unparseable
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument of every command says what it is, and `--help`
    /// lists a command's own flags before the connection settings.
    #[test]
    fn every_argument_is_described() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut command = Cli::command();
        command.build();
        let mut missing = Vec::new();
        walk(&command, "shelf", &mut missing);
        assert!(
            missing.is_empty(),
            "arguments without a description: {missing:?}"
        );
        let help = command
            .find_subcommand_mut("stream")
            .expect("the stream command")
            .render_help()
            .to_string();
        let own = help.find("--products").expect("stream's own flag");
        let connection = help.find("Connection settings").expect("the heading");
        assert!(
            own < connection && connection < help.find("--kafka ").unwrap(),
            "{help}"
        );
    }
}
