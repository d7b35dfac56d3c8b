//! The value written to the dead-letter topic (`product-dlq`).

use serde::{Deserialize, Serialize};

use crate::reject::RejectReason;
use crate::wire::{InputRow, Redrive};
use crate::Position;

/// A rejected record with its reason, as the contract's topic table says:
/// `{"reason", "detail", "payload", "source": {"topic", "partition", "offset"}}`,
/// and `"origin": {"file", "line"}` when the record's input row is known.
/// `payload` is the original record as text, exactly as it was consumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub reason: RejectReason,
    pub detail: String,
    pub payload: String,
    /// Where the rejected record was read.
    #[serde(rename = "source")]
    pub read_at: Position,
    /// The input row the rejected record was made from.
    #[serde(rename = "origin", default, skip_serializing_if = "Option::is_none")]
    pub input_row: Option<InputRow>,
    /// When the gateway received the record (its Kafka timestamp, ms since
    /// the epoch): the observation time of a record without one, which a
    /// redrive must keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<i64>,
    /// Set when the record was a redrive of an earlier reject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redrive: Option<Redrive>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_names_are_the_contracts() {
        let letter = DeadLetter {
            reason: RejectReason::InvalidPrice,
            detail: "d".into(),
            payload: "{}".into(),
            read_at: Position::new("ingest-product", 4, 99),
            input_row: Some(InputRow {
                file: "/data/p.csv".into(),
                line: 17,
            }),
            received_at: Some(1_693_548_000_000),
            redrive: None,
        };
        let json: serde_json::Value = serde_json::to_value(&letter).unwrap();
        assert_eq!(json["reason"], "invalid_price");
        assert_eq!(json["source"]["offset"], 99);
        assert_eq!(json["origin"]["line"], 17);
        assert!(json.get("redrive").is_none());
        let back: DeadLetter = serde_json::from_value(json).unwrap();
        assert_eq!(back, letter);
    }
}
