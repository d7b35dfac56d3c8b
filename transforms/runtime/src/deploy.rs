//! What the `shelf transform` subcommands do, apart from `run`.
//!
//! A module is loaded by the same engine the runtime uses (compiled, ABI
//! checked, `init` run with the given parameters) before it is written to
//! the registry, so a module that would fail in the runtime is refused here
//! and never replaces a working version.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use shelf_engine::{Chain, Engine, EngineConfig, LoadError, Outcome};

use crate::registry::{
    chain_key, module_key, ChainSpec, Deployments, Entry, ModuleSpec, Registry, RegistryError,
};

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("module `{name}` refused ({path}): {error}")]
    Refused {
        name: String,
        path: PathBuf,
        error: LoadError,
    },
    #[error("transforms/default-chain.toml: {0}")]
    DefaultChain(String),
    #[error("parameter {0:?} is not NAME=VALUE")]
    BadParam(String),
    #[error("chain `{chain}` needs module(s) not deployed: {missing}; deploy them first")]
    MissingModules { chain: String, missing: String },
    #[error("module `{module}` is used by chain(s) {chains}; remove or change those first")]
    InUse { module: String, chains: String },
    #[error("nothing named `{0}` is deployed")]
    NotFound(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Parses `NAME=VALUE` parameters.
pub fn parse_params(pairs: &[String]) -> Result<BTreeMap<String, String>, DeployError> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => Err(DeployError::BadParam(p.clone())),
        })
        .collect()
}

fn read(path: &Path) -> Result<Vec<u8>, DeployError> {
    std::fs::read(path).map_err(|error| DeployError::Read {
        path: path.to_owned(),
        error,
    })
}

/// Checks a module and deploys it as the next version of `name`.
pub fn deploy(
    registry: &Registry,
    name: &str,
    path: &Path,
    params: BTreeMap<String, String>,
) -> Result<ModuleSpec, DeployError> {
    let wasm = read(path)?;
    let engine = Engine::new(EngineConfig::default()).map_err(|error| DeployError::Refused {
        name: name.to_owned(),
        path: path.to_owned(),
        error,
    })?;
    engine
        .load(name, &wasm, params.clone())
        .map_err(|error| DeployError::Refused {
            name: name.to_owned(),
            path: path.to_owned(),
            error,
        })?;
    let current = registry.load()?;
    let version = current.modules.get(name).map_or(1, |m| m.version + 1);
    let spec = ModuleSpec::new(name, version, &wasm, params);
    registry.put(&module_key(name), Some(&Entry::Module(spec.clone())))?;
    Ok(spec)
}

/// Deploys (or redeploys) a chain of already deployed modules.
pub fn chain(
    registry: &Registry,
    name: &str,
    modules: Vec<String>,
    input: &str,
    output: &str,
    dlq: &str,
) -> Result<ChainSpec, DeployError> {
    let current = registry.load()?;
    let missing: Vec<&str> = modules
        .iter()
        .filter(|m| !current.modules.contains_key(*m))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(DeployError::MissingModules {
            chain: name.to_owned(),
            missing: missing.join(", "),
        });
    }
    let version = current.chains.get(name).map_or(1, |c| c.version + 1);
    let spec = ChainSpec::new(name, version, modules, input, output, dlq);
    registry.put(&chain_key(name), Some(&Entry::Chain(spec.clone())))?;
    Ok(spec)
}

/// Removes a module (refused while a chain uses it) or, with `chain`, a chain.
pub fn remove(registry: &Registry, name: &str, is_chain: bool) -> Result<(), DeployError> {
    let current = registry.load()?;
    if is_chain {
        if !current.chains.contains_key(name) {
            return Err(DeployError::NotFound(name.to_owned()));
        }
        registry.put(&chain_key(name), None)?;
        return Ok(());
    }
    if !current.modules.contains_key(name) {
        return Err(DeployError::NotFound(name.to_owned()));
    }
    let users: Vec<&str> = current
        .chains
        .values()
        .filter(|c| c.modules.iter().any(|m| m == name))
        .map(|c| c.name.as_str())
        .collect();
    if !users.is_empty() {
        return Err(DeployError::InUse {
            module: name.to_owned(),
            chains: users.join(", "),
        });
    }
    registry.put(&module_key(name), None)?;
    Ok(())
}

/// The `list` table.
pub fn format_list(d: &Deployments) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{:<16} {:>4}  {:<12} {:>9}  {:<20}  {}\n",
        "MODULE", "VER", "SHA256", "SIZE", "DEPLOYED", "PARAMS"
    ));
    for m in d.modules.values() {
        let params: Vec<String> = m.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push_str(&format!(
            "{:<16} {:>4}  {:<12} {:>9}  {:<20}  {}\n",
            m.name,
            m.version,
            &m.sha256[..12.min(m.sha256.len())],
            m.size,
            m.deployed_at,
            params.join(",")
        ));
    }
    out.push_str(&format!(
        "\n{:<16} {:>4}  {:<28} {}\n",
        "CHAIN", "VER", "MODULES", "INPUT -> OUTPUT (DLQ)"
    ));
    for c in d.chains.values() {
        out.push_str(&format!(
            "{:<16} {:>4}  {:<28} {} -> {} ({})\n",
            c.name,
            c.version,
            c.modules.join(" > "),
            c.input,
            c.output,
            c.dlq
        ));
    }
    out
}

/// Counts of a local test run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TestSummary {
    pub records: usize,
    pub outputs: usize,
    pub rejects: usize,
}

/// `shelf transform test`: runs modules locally over NDJSON lines and
/// writes one JSON line per outcome: `{"line", "output"}` or
/// `{"line", "reject": {"reason", "detail"}}`.
pub fn test_locally(
    modules: &[(PathBuf, BTreeMap<String, String>)],
    input: impl BufRead,
    mut out: impl Write,
) -> Result<TestSummary, DeployError> {
    let engine = Engine::new(EngineConfig::default()).map_err(|error| DeployError::Refused {
        name: "-".into(),
        path: PathBuf::new(),
        error,
    })?;
    let mut loaded = Vec::new();
    for (path, params) in modules {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let module = engine
            .load(&name, &read(path)?, params.clone())
            .map_err(|error| DeployError::Refused {
                name: name.clone(),
                path: path.clone(),
                error,
            })?;
        loaded.push(Arc::new(module));
    }
    let chain = Chain::new(loaded);
    let lines: Vec<(usize, String)> = input
        .lines()
        .enumerate()
        .filter_map(|(i, l)| l.ok().filter(|l| !l.trim().is_empty()).map(|l| (i + 1, l)))
        .collect();
    let batch: Vec<(Option<&[u8]>, &[u8])> =
        lines.iter().map(|(_, l)| (None, l.as_bytes())).collect();
    let mut summary = TestSummary {
        records: lines.len(),
        ..Default::default()
    };
    let mut outcomes = chain.run(&engine, &batch);
    outcomes.sort_by_key(Outcome::input);
    for outcome in outcomes {
        let line = lines[outcome.input()].0;
        let json = match outcome {
            Outcome::Output { value, .. } => {
                summary.outputs += 1;
                let output =
                    serde_json::from_slice::<serde_json::Value>(&value).unwrap_or_else(|_| {
                        serde_json::Value::String(String::from_utf8_lossy(&value).into_owned())
                    });
                serde_json::json!({ "line": line, "output": output })
            }
            Outcome::Reject { reject, .. } => {
                summary.rejects += 1;
                serde_json::json!({ "line": line, "reject": reject })
            }
        };
        writeln!(out, "{json}")?;
    }
    Ok(summary)
}
