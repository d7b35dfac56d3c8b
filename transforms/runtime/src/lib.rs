//! The transform runtime and the registry of deployed transforms.
//!
//! - [`registry`]: deployed modules and chains, kept in a compacted topic.
//! - [`runtime`]: `shelf transform run`: consume → chain → produce, with
//!   the consumed offsets committed in the same Kafka transaction.
//! - [`loaded`]: a deployed chain loaded into an engine (the runtime's,
//!   and `shelf rejects replay`'s local run).
//! - [`committer`]: the Kafka transactions, one batch behind the chain.
//! - [`deploy`]: what `shelf transform deploy|chain|list|remove|test` do.
//! - [`default_chain`]: the standard chain, from `transforms/default-chain.toml`.
//! - [`topic_check`]: `run` refuses topic settings its chain would ignore.
//!
//! Category names are joined in the sink, not here: the sink already keeps
//! the categories and must fill in names for products that arrived first.

pub mod committer;
pub mod default_chain;
pub mod deploy;
pub mod error;
pub mod loaded;
pub mod metrics;
pub mod registry;
pub mod runtime;
pub mod topic_check;

pub use default_chain::{ChainTopics, DefaultChain};
pub use error::RuntimeError;
pub use loaded::LoadedChain;
pub use metrics::Metrics;
pub use runtime::{run, run_blocking, run_until, RunArgs};
