//! The data contract's rules for one product record, as plain functions.
//!
//! This crate is the single definition of cleaning and derivation: the WASM
//! SmartModules wrap it, the runtime's tests compare the modules against it,
//! and it compiles for both the host and `wasm32-unknown-unknown`. It does
//! no I/O.
//!
//! - [`clean`]: validate and normalise a raw record, or say why it is
//!   rejected ([`Reject`]), checking the fields in the contract's order.
//! - [`derive`]: add `discount_pct`, `price_bucket` and `price_bucket_lo`.
//! - [`envelope`] (from `shelf-contract`): how a module marks an output as
//!   a reject so the runtime can route it to the dead-letter topic.

mod clean;
mod derive;
mod value;

pub use clean::{clean, clean_bytes, CleanProduct};
pub use derive::{derive, discount_pct, price_bucket, BucketParams, ParamError, PricedProduct};
pub use shelf_contract::{declare_params, envelope, module_params, Reject, RejectReason};
