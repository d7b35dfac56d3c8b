//! The standard chain, as `transforms/default-chain.toml` defines it
//! (compiled in): its modules, their order and parameters, and where
//! `make build-wasm` leaves them. `shelf transform deploy-defaults`, the
//! tests and the benches all deploy it through [`DefaultChain::deploy`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::deploy::{self, DeployError};
use crate::registry::{ChainSpec, ModuleSpec, Registry};

/// The file's text, as built into this binary.
pub const DEFAULT_CHAIN_TOML: &str = include_str!("../../default-chain.toml");

/// `transforms/default-chain.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultChain {
    pub name: String,
    /// Relative to the repository root.
    pub wasm_dir: PathBuf,
    #[serde(rename = "module")]
    pub modules: Vec<ChainModule>,
    /// Deployed with the chain's modules but not in the chain, for
    /// chains of the user's own.
    #[serde(rename = "also", default)]
    pub also: Vec<ChainModule>,
}

/// One module of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainModule {
    pub name: String,
    /// The file in the WASM directory.
    pub wasm: String,
    /// `Some` for a module that takes parameters: these, under those of
    /// the command line.
    pub params: Option<BTreeMap<String, String>>,
}

/// Where the topics of a deployed chain are.
#[derive(Debug, Clone, Copy)]
pub struct ChainTopics<'a> {
    pub input: &'a str,
    pub output: &'a str,
    pub dlq: &'a str,
}

impl DefaultChain {
    /// The chain built into this binary (a unit test checks it parses).
    pub fn builtin() -> Result<Self, DeployError> {
        toml::from_str(DEFAULT_CHAIN_TOML).map_err(|e| DeployError::DefaultChain(e.to_string()))
    }

    /// The WASM directory under a repository root.
    pub fn wasm_dir_in(&self, root: &Path) -> PathBuf {
        root.join(&self.wasm_dir)
    }

    /// The module files, in chain order, under `wasm_dir`.
    pub fn wasm_files(&self, wasm_dir: &Path) -> Vec<(String, PathBuf)> {
        files(&self.modules, wasm_dir)
    }

    /// Each module's parameters: the file's, with `overrides` on top for
    /// every module that takes parameters.
    pub fn params(&self, overrides: &BTreeMap<String, String>) -> Vec<BTreeMap<String, String>> {
        params(&self.modules, overrides)
    }

    /// Deploys every module (each as its next version) from `wasm_dir`,
    /// the chain's and the `also` ones, then the chain between `topics`.
    /// Returns the chain's modules and the chain.
    pub fn deploy(
        &self,
        registry: &Registry,
        wasm_dir: &Path,
        overrides: &BTreeMap<String, String>,
        topics: ChainTopics<'_>,
    ) -> Result<(Vec<ModuleSpec>, ChainSpec), DeployError> {
        let mut modules = Vec::with_capacity(self.modules.len());
        for ((name, path), params) in self
            .wasm_files(wasm_dir)
            .into_iter()
            .zip(self.params(overrides))
        {
            modules.push(deploy::deploy(registry, &name, &path, params)?);
        }
        for ((name, path), params) in files(&self.also, wasm_dir)
            .into_iter()
            .zip(params(&self.also, overrides))
        {
            deploy::deploy(registry, &name, &path, params)?;
        }
        let chain = deploy::chain(
            registry,
            &self.name,
            modules.iter().map(|m| m.name.clone()).collect(),
            topics.input,
            topics.output,
            topics.dlq,
        )?;
        Ok((modules, chain))
    }
}

fn files(modules: &[ChainModule], wasm_dir: &Path) -> Vec<(String, PathBuf)> {
    modules
        .iter()
        .map(|m| (m.name.clone(), wasm_dir.join(&m.wasm)))
        .collect()
}

fn params(
    modules: &[ChainModule],
    overrides: &BTreeMap<String, String>,
) -> Vec<BTreeMap<String, String>> {
    modules
        .iter()
        .map(|m| match &m.params {
            None => BTreeMap::new(),
            Some(p) => {
                let mut p = p.clone();
                p.extend(overrides.clone());
                p
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_parses_into_the_fused_module_and_its_two_steps() {
        let chain = DefaultChain::builtin().unwrap();
        assert_eq!(chain.name, "default");
        let names: Vec<&str> = chain.modules.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["clean-price-bucket"]);
        let also: Vec<&str> = chain.also.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(also, ["clean", "price-bucket"]);
        let overrides = BTreeMap::from([("width".to_owned(), "10".to_owned())]);
        assert_eq!(chain.params(&overrides)[0]["width"], "10");
        let also = params(&chain.also, &overrides);
        assert!(also[0].is_empty(), "clean takes no parameters");
        assert_eq!(also[1]["width"], "10");
    }
}
