//! The contract between shelfstream's stages, as types and names.
//!
//! Everything two stages must agree on is defined here once: the client and
//! the gateway derive the same record key, the gateway and the runtime read
//! the same headers, the runtime and the sink the same dead letter, the sink
//! and the report the same documents. `docs/data-contract.md` states the
//! same in prose.
//!
//! No I/O, and it builds for `wasm32-unknown-unknown` too, so the
//! SmartModules (through `shelf-rules`) share it.
//!
//! - [`wire`]: record keys, HTTP and Kafka headers, [`wire::InputRow`];
//! - [`Position`]: where a record was read (topic, partition, offset);
//! - [`reject`]: every reason a record is rejected, and the reject;
//! - [`dead_letter`] and [`envelope`]: how a reject travels;
//! - [`fields`], [`topics`], [`collections`], [`columns`]: names;
//! - [`documents`]: the aggregate and reject documents analysts read;
//! - [`time`]: observation times, their accepted forms and UTC days.

pub mod dead_letter;
pub mod documents;
pub mod envelope;
pub mod fields;
pub mod module_params;
mod names;
mod position;
pub mod reject;
pub mod time;
pub mod wire;

pub use names::{collections, columns, topics};
pub use position::Position;
pub use reject::{Reject, RejectReason, Stage};
