//! The platform's flags (`--kafka…`, `--mongo`, `--database`, `--topic-…`)
//! are accepted by every subcommand, as clap's global flags are. A flag
//! given on the command line to a command that does not use it is refused
//! here, naming what the command does use: `shelf stream --kafka …` would
//! otherwise look like it changed something. (Variables and the config
//! file are shared by every command, so they are not checked.)

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Command};
use shelf_config::KafkaSettings;

/// The Kafka connection flags, as one entry of a command's list.
const KAFKA: &str = "(kafka)";

/// The platform settings (clap ids) each command reads; `None`: all.
fn used_by(path: &[&str]) -> Option<&'static [&'static str]> {
    const TRANSFORM_TOPICS: &[&str] = &[
        KAFKA,
        "transforms",
        "ingest_product",
        "product_clean",
        "product_dlq",
    ];
    Some(match path {
        ["doctor"] => &[KAFKA, "mongo", "database"],
        ["ingest", "serve"] => &[KAFKA, "ingest_product", "ingest_category"],
        // `run` refuses topics that differ from its chain's itself.
        ["transform", "run" | "chain" | "deploy-defaults"] => TRANSFORM_TOPICS,
        ["transform", "test"] => &[],
        ["transform", ..] => &[KAFKA, "transforms"],
        ["sink", "run"] => &[
            KAFKA,
            "mongo",
            "database",
            "product_clean",
            "product_dlq",
            "ingest_category",
        ],
        ["sink", "rebuild"] => &[KAFKA, "mongo", "database"],
        ["stream"] | ["status"] => &[],
        ["report"] | ["dashboard"] => &["mongo", "database"],
        ["rejects", "replay"] => &[KAFKA, "mongo", "database", "transforms"],
        ["dataset", ..] => &[],
        _ => return None,
    })
}

/// Refuses a platform flag given to a command that does not read it.
pub fn check(command: &Command, matches: &ArgMatches) -> Result<(), String> {
    let mut path = Vec::new();
    let mut leaf = matches;
    while let Some((name, sub)) = leaf.subcommand() {
        path.push(name);
        leaf = sub;
    }
    let Some(used) = used_by(&path) else {
        return Ok(());
    };
    let kafka: Vec<String> = KafkaSettings::augment_args(Command::new("kafka"))
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect();
    for arg in command.get_arguments().filter(|a| a.is_global_set()) {
        let id = arg.get_id().as_str();
        if id == "config" || leaf.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let group = if kafka.iter().any(|k| k == id) {
            KAFKA
        } else {
            id
        };
        if used.contains(&group) {
            continue;
        }
        let flag = arg.get_long().unwrap_or(id);
        return Err(format!(
            "`shelf {}` does not use --{flag}; {}",
            path.join(" "),
            what_it_uses(command, used, &kafka)
        ));
    }
    Ok(())
}

fn what_it_uses(command: &Command, used: &[&str], kafka: &[String]) -> String {
    let flags: Vec<String> = command
        .get_arguments()
        .filter(|a| a.is_global_set())
        .filter(|a| {
            let id = a.get_id().as_str();
            used.contains(&id) || (used.contains(&KAFKA) && kafka.iter().any(|k| k == id))
        })
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    if flags.is_empty() {
        "it uses none of the platform's settings (see its --help)".to_owned()
    } else {
        format!("of the platform's settings it uses {}", flags.join(", "))
    }
}
