//! The optional config file (TOML) that every command reads.
//!
//! Its keys are the long flag names without the dashes, so one file serves
//! every command and the flag reference documents it too:
//!
//! ```toml
//! kafka = "broker-1.example.com:9092"
//! kafka-security-protocol = "sasl_ssl"
//! kafka-sasl-mechanism = "SCRAM-SHA-512"
//! kafka-sasl-username = "shelf"
//! kafka-sasl-password-file = "/etc/shelfstream/kafka-password"
//! kafka-option = ["linger.ms=5"]
//! mongo = "mongodb://db.example.com:27017/"
//! ```
//!
//! A flag that several commands take, each with its own variable (`group`,
//! `batch-size`, `metrics-listen`), goes in the section of the command it
//! is meant for: `[sink.run]`, `[transform.run]`, `[ingest.serve]`.
//!
//! Precedence: flags, then environment variables, then the file, then the
//! defaults. The file is applied by filling in the environment variable of
//! each key that is not already set, before the flags are parsed; so a key
//! must name a flag that has a variable, and clap checks its value like any
//! other.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Environment variable naming the config file (also `--config`).
pub const CONFIG_ENV: &str = "SHELF_CONFIG";

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("reading the config file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}")]
    Syntax {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("config file {path}: unknown setting '{key}' (keys are flag names without the leading --, e.g. kafka-security-protocol)")]
    UnknownKey { path: PathBuf, key: String },
    #[error("config file {path}: '{key}' is a setting of several commands; put it in the section of the one you mean: [{sections}]")]
    Ambiguous {
        path: PathBuf,
        key: String,
        sections: String,
    },
    #[error("config file {path}: '{key}' cannot be set in a file, only as --{key}")]
    NotSettable { path: PathBuf, key: String },
    #[error("config file {path}: '{key}' must be a string, number, boolean{list}")]
    BadValue {
        path: PathBuf,
        key: String,
        list: &'static str,
    },
}

/// Finds the config file named by `--config` in `args` or by
/// `SHELF_CONFIG`, and fills in the environment from it. Returns the file
/// it read, if any. Call before any thread starts (it sets variables).
pub fn apply(
    command: &clap::Command,
    args: &[OsString],
) -> Result<Option<PathBuf>, ConfigFileError> {
    let Some(path) = config_path(args) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigFileError::Read {
        path: path.clone(),
        source,
    })?;
    for (env, value) in settings(command, &path, &text)? {
        if std::env::var_os(&env).is_none() {
            std::env::set_var(env, value);
        }
    }
    Ok(Some(path))
}

fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut args = args.iter().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.to_str().and_then(|a| a.strip_prefix("--config=")) {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os(CONFIG_ENV).map(PathBuf::from)
}

/// The (variable, value) pairs the file sets, checked against the flags
/// of `command` and all its subcommands.
fn settings(
    command: &clap::Command,
    path: &Path,
    text: &str,
) -> Result<Vec<(String, String)>, ConfigFileError> {
    let table: toml::Table = text.parse().map_err(|e| ConfigFileError::Syntax {
        path: path.to_owned(),
        source: Box::new(e),
    })?;
    let mut out = Vec::with_capacity(table.len());
    settings_in(command, "", path, table, &mut out)?;
    Ok(out)
}

/// The keys of `table`, for `command` (named `section` in the file): a
/// table is a subcommand's section (`[sink.run]`), anything else a flag of
/// `command` or of the commands below it.
fn settings_in(
    command: &clap::Command,
    section: &str,
    path: &Path,
    table: toml::Table,
    out: &mut Vec<(String, String)>,
) -> Result<(), ConfigFileError> {
    for (key, value) in table {
        let name = if section.is_empty() {
            key.clone()
        } else {
            format!("{section}.{key}")
        };
        if let toml::Value::Table(inner) = value {
            let Some(sub) = command.find_subcommand(&key) else {
                return Err(ConfigFileError::UnknownKey {
                    path: path.to_owned(),
                    key: name,
                });
            };
            settings_in(sub, &name, path, inner, out)?;
            continue;
        }
        let mut found = Vec::new();
        find_args(command, "", &key, &mut found);
        let Some((_, arg)) = found.first() else {
            return Err(ConfigFileError::UnknownKey {
                path: path.to_owned(),
                key: name,
            });
        };
        let Some(env) = arg.get_env().and_then(|e| e.to_str()) else {
            return Err(ConfigFileError::NotSettable {
                path: path.to_owned(),
                key,
            });
        };
        // One flag name, several commands, several variables: the file
        // must say which command it means.
        let mut sections: Vec<&str> = found
            .iter()
            .filter(|(_, a)| a.get_env() != arg.get_env())
            .map(|(at, _)| at.as_str())
            .collect();
        if !sections.is_empty() {
            sections.insert(0, &found[0].0);
            return Err(ConfigFileError::Ambiguous {
                path: path.to_owned(),
                key: name,
                sections: sections.join("], ["),
            });
        }
        let delimiter = arg.get_value_delimiter();
        let bad = || ConfigFileError::BadValue {
            path: path.to_owned(),
            key: name.clone(),
            list: if delimiter.is_some() {
                " or a list of them"
            } else {
                ""
            },
        };
        let text = match &value {
            toml::Value::Array(items) => {
                let sep = delimiter.ok_or_else(bad)?;
                let items: Option<Vec<String>> = items.iter().map(scalar).collect();
                items.ok_or_else(bad)?.join(&sep.to_string())
            }
            other => scalar(other).ok_or_else(bad)?,
        };
        out.push((env.to_owned(), text));
    }
    Ok(())
}

fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Every argument named `--long` in `command` and below, with the section
/// (subcommand path, `sink.run`) it belongs to.
fn find_args<'a>(
    command: &'a clap::Command,
    section: &str,
    long: &str,
    out: &mut Vec<(String, &'a clap::Arg)>,
) {
    if let Some(arg) = command.get_arguments().find(|a| a.get_long() == Some(long)) {
        out.push((section.to_owned(), arg));
    }
    for sub in command.get_subcommands() {
        let name = if section.is_empty() {
            sub.get_name().to_owned()
        } else {
            format!("{section}.{}", sub.get_name())
        };
        find_args(sub, &name, long, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser, Subcommand};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        platform: crate::Platform,
        #[command(subcommand)]
        command: Option<Sub>,
    }

    #[derive(Subcommand)]
    enum Sub {
        Run {
            #[arg(long, env = "SHELF_TEST_BATCH", default_value_t = 1)]
            batch: u32,
            #[arg(long)]
            once: bool,
            #[arg(long, env = "SHELF_TEST_RUN_GROUP")]
            group: Option<String>,
        },
        Other {
            #[arg(long, env = "SHELF_TEST_OTHER_GROUP")]
            group: Option<String>,
        },
    }

    fn parse(text: &str) -> Result<Vec<(String, String)>, ConfigFileError> {
        settings(&Cli::command(), Path::new("shelf.toml"), text)
    }

    #[test]
    fn keys_are_flag_names_and_become_their_variables() {
        let got = parse(
            "kafka = \"b:9\"\nkafka-security-protocol = \"sasl_ssl\"\nbatch = 7\nkafka-option = [\"linger.ms=5\", \"acks=all\"]\n",
        )
        .unwrap();
        assert!(got.contains(&("SHELF_KAFKA".into(), "b:9".into())));
        assert!(got.contains(&("SHELF_KAFKA_SECURITY_PROTOCOL".into(), "sasl_ssl".into())));
        assert!(got.contains(&("SHELF_TEST_BATCH".into(), "7".into())));
        assert!(got.contains(&("SHELF_KAFKA_OPTIONS".into(), "linger.ms=5;acks=all".into())));
    }

    #[test]
    fn a_flag_of_several_commands_goes_in_its_commands_section() {
        let got = parse("[run]\ngroup = \"g1\"\n[other]\ngroup = \"g2\"\n").unwrap();
        assert!(got.contains(&("SHELF_TEST_RUN_GROUP".into(), "g1".into())));
        assert!(got.contains(&("SHELF_TEST_OTHER_GROUP".into(), "g2".into())));
        let flat = parse("group = \"g\"").unwrap_err().to_string();
        assert!(flat.contains("[run], [other]"), "{flat}");
        let nowhere = parse("[run]\nkafak = 1\n").unwrap_err().to_string();
        assert!(nowhere.contains("'run.kafak'"), "{nowhere}");
        let no_command = parse("[sinq]\ngroup = 1\n").unwrap_err().to_string();
        assert!(no_command.contains("'sinq'"), "{no_command}");
    }

    #[test]
    fn mistakes_name_the_file_and_the_key() {
        let unknown = parse("kafak = \"b:9\"").unwrap_err().to_string();
        assert!(
            unknown.contains("shelf.toml") && unknown.contains("'kafak'"),
            "{unknown}"
        );
        let flag_only = parse("once = true").unwrap_err().to_string();
        assert!(flag_only.contains("only as --once"), "{flag_only}");
        let list = parse("kafka = [\"a\", \"b\"]").unwrap_err().to_string();
        assert!(list.contains("'kafka' must be"), "{list}");
        let syntax = parse("kafka = ").unwrap_err();
        assert!(syntax.to_string().contains("shelf.toml"), "{syntax}");
        assert!(std::error::Error::source(&syntax).is_some());
    }

    #[test]
    fn the_path_comes_from_the_flag_before_the_variable() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            config_path(&args(&["shelf", "--config", "a.toml", "doctor"])),
            Some(PathBuf::from("a.toml"))
        );
        assert_eq!(
            config_path(&args(&["shelf", "doctor", "--config=b.toml"])),
            Some(PathBuf::from("b.toml"))
        );
    }
}
