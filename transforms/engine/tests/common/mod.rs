//! Loading the modules that `make build-wasm` builds.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use shelf_engine::{Chain, Engine, Module};

/// Where `make build-wasm` leaves the modules (`SHELF_WASM_DIR` overrides).
pub fn wasm_dir() -> PathBuf {
    std::env::var_os("SHELF_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/wasm/wasm32-unknown-unknown/release")
        })
}

pub fn wasm(name: &str) -> Vec<u8> {
    let path = wasm_dir().join(format!("{name}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `make build-wasm` first", path.display()))
}

pub fn load(engine: &Engine, file: &str, params: &[(&str, &str)]) -> Arc<Module> {
    let params: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Arc::new(engine.load(file, &wasm(file), params).unwrap())
}

pub fn standard_chain(engine: &Engine, params: &[(&str, &str)]) -> Chain {
    Chain::new(vec![
        load(engine, "shelf_clean", &[]),
        load(engine, "shelf_price_bucket", params),
    ])
}
