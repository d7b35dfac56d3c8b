//! The value written to the dead-letter topic (`product-dlq`).

use serde::{Deserialize, Serialize};

/// Where a rejected record came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// The input row a record was made from, when its sender said so
/// (`shelf stream` does; see the gateway's `X-Shelf-Source`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The input file, as an absolute path.
    pub file: String,
    /// The line the row starts on.
    pub line: u64,
}

/// Kafka headers that carry a record's [`Origin`] from the gateway on.
pub const SOURCE_HEADER: &str = "shelf-source";
pub const LINE_HEADER: &str = "shelf-line";

/// A rejected record with its reason, as the contract's topic table says:
/// `{"reason", "detail", "payload", "source": {"topic", "partition", "offset"}}`,
/// and `"origin": {"file", "line"}` when the record's input row is known.
/// `payload` is the original record as text, exactly as it was consumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub reason: String,
    pub detail: String,
    pub payload: String,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}
