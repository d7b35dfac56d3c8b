//! Why a module cannot be loaded or a call failed; shared by the engine,
//! the modules and the chains.

use std::time::Duration;

/// Why a module cannot be used. Found at deploy time, before it replaces
/// anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("cannot create the wasm engine: {0}")]
    Engine(String),
    #[error("not a valid WebAssembly module: {0}")]
    Compile(String),
    #[error("not a usable SmartModule: {0}")]
    Abi(String),
    #[error("init failed: {0}")]
    Init(String),
    #[error("bad parameter: {0}")]
    Param(String),
}

/// Why a call failed. The chain isolates the record that caused it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("module trapped: {0}")]
    Trap(String),
    #[error("module exceeded its time limit of {0:?}")]
    Timeout(Duration),
    #[error("module returned an error: {0}")]
    Module(String),
    #[error("module returned error status {0}")]
    Status(i32),
    #[error("module broke the ABI: {0}")]
    Abi(String),
}
