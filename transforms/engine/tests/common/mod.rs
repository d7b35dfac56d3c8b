//! Loading the modules that `make build-wasm` builds.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use shelf_engine::{Chain, Engine, Module};

/// Where `make build-wasm` leaves the modules: `wasm_dir` of
/// transforms/default-chain.toml (`SHELF_WASM_DIR` overrides).
pub fn wasm_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SHELF_WASM_DIR") {
        return dir.into();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let file = root.join("transforms/default-chain.toml");
    let text = std::fs::read_to_string(&file).expect("transforms/default-chain.toml");
    let table: toml::Table = text.parse().expect("default-chain.toml parses");
    root.join(table["wasm_dir"].as_str().expect("wasm_dir is text"))
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

/// `clean` then `price-bucket`, two modules.
pub fn standard_chain(engine: &Engine, params: &[(&str, &str)]) -> Chain {
    Chain::new(vec![
        load(engine, "shelf_clean", &[]),
        load(engine, "shelf_price_bucket", params),
    ])
}

/// The default chain's one module, which must do what the two do.
pub fn fused_chain(engine: &Engine, params: &[(&str, &str)]) -> Chain {
    Chain::new(vec![load(engine, "shelf_clean_price_bucket", params)])
}

/// Both forms of the standard chain, named.
pub fn both_chains(engine: &Engine, params: &[(&str, &str)]) -> [(&'static str, Chain); 2] {
    [
        ("clean > price-bucket", standard_chain(engine, params)),
        ("clean-price-bucket", fused_chain(engine, params)),
    ]
}
