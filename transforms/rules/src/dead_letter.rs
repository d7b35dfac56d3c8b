//! The value written to the dead-letter topic (`product-dlq`).

use serde::{Deserialize, Serialize};

use crate::wire::InputRow;

/// Where a rejected record came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

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
    pub origin: Option<InputRow>,
}
