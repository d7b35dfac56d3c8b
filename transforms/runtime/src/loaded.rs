//! A deployed chain loaded into an engine: what the runtime runs, and what
//! `shelf rejects replay` runs locally to see what a redrive would become.

use std::sync::Arc;

use shelf_contract::wire::chain_label;
use shelf_engine::{Chain, Engine};

use crate::error::RuntimeError;
use crate::registry::{ChainSpec, Deployments};

/// A chain as deployed, its modules loaded, and what it was built from.
pub struct LoadedChain {
    pub spec: ChainSpec,
    /// The versions of its modules, in order.
    pub versions: Vec<u32>,
    pub chain: Chain,
    /// `default v3: clean v1 > price-bucket v2`: what a redriven record's
    /// output says passed it.
    pub label: Arc<str>,
}

impl LoadedChain {
    /// Loads the chain `name` of `deployments` with its modules' current
    /// versions and parameters.
    pub fn load(
        engine: &Engine,
        deployments: &Deployments,
        name: &str,
    ) -> Result<Self, RuntimeError> {
        let spec = deployments
            .chains
            .get(name)
            .ok_or_else(|| RuntimeError::NoChain(name.to_owned()))?;
        let specs =
            deployments
                .chain_modules(spec)
                .map_err(|module| RuntimeError::MissingModule {
                    chain: name.to_owned(),
                    module,
                })?;
        let mut modules = Vec::with_capacity(specs.len());
        for m in &specs {
            let load = |error| RuntimeError::Load {
                module: m.name.clone(),
                version: m.version,
                error,
            };
            let wasm = m.wasm_bytes()?;
            modules.push(Arc::new(
                engine
                    .load(&m.name, &wasm, m.params.clone())
                    .map_err(load)?,
            ));
        }
        let label = chain_label(
            &spec.name,
            spec.version,
            specs.iter().map(|m| (m.name.as_str(), m.version)),
        );
        Ok(Self {
            spec: spec.clone(),
            versions: specs.iter().map(|m| m.version).collect(),
            chain: Chain::new(modules),
            label: label.into(),
        })
    }

    /// Has the registry changed anything this chain is built from? (A
    /// removed chain keeps running as it is.)
    pub fn changed_in(&self, deployments: &Deployments) -> bool {
        match deployments.chains.get(&self.spec.name) {
            None => false,
            Some(spec) if spec != &self.spec => true,
            Some(spec) => match deployments.chain_modules(spec) {
                Ok(modules) => modules
                    .iter()
                    .map(|m| m.version)
                    .ne(self.versions.iter().copied()),
                Err(_) => false,
            },
        }
    }
}
