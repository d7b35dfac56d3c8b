//! How a module's output says "this record is rejected".
//!
//! SmartModules return records, not routing decisions, and an `Err` from a
//! module drops the rest of its batch. So a reject is returned as an
//! ordinary output whose JSON starts with the marker field `_reject`. The
//! engine takes it out of the batch at once (later modules of a chain never
//! see it), and the runtime sends it to the dead-letter topic.

use serde::{Deserialize, Serialize};

use crate::reject::{Reject, RejectReason};

/// The first bytes of every reject output.
pub const REJECT_PREFIX: &[u8] = br#"{"_reject":"#;

#[derive(Debug, Serialize)]
struct RejectOut<'a> {
    _reject: &'a Reject,
    /// The record as the module received it (lossy if not UTF-8).
    payload: &'a str,
}

#[derive(Debug, Deserialize)]
struct RejectIn {
    _reject: Reject,
    payload: String,
}

/// Encodes a reject with the payload that caused it.
pub fn encode_reject(reject: &Reject, payload: &[u8]) -> Vec<u8> {
    let payload = String::from_utf8_lossy(payload);
    let out = RejectOut {
        _reject: reject,
        payload: &payload,
    };
    // Serialising strings and enums into memory cannot fail.
    serde_json::to_vec(&out).unwrap_or_default()
}

/// `true` when a module output is a reject.
pub fn is_reject(output: &[u8]) -> bool {
    output.starts_with(REJECT_PREFIX)
}

/// Reads a reject output back: the reject and the original payload.
pub fn decode_reject(output: &[u8]) -> Option<(Reject, String)> {
    if !is_reject(output) {
        return None;
    }
    let r: RejectIn = serde_json::from_slice(output).ok()?;
    Some((r._reject, r.payload))
}

/// A reject for a record that made a module fail.
pub fn transform_error(detail: impl Into<String>) -> Reject {
    Reject::new(RejectReason::TransformError, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = Reject {
            reason: RejectReason::InvalidPrice,
            detail: "field `price`: -1 is negative".into(),
        };
        let out = encode_reject(&r, br#"{"asin":"B0","price":-1}"#);
        assert!(is_reject(&out));
        let (back, payload) = decode_reject(&out).unwrap();
        assert_eq!(back, r);
        assert_eq!(payload, r#"{"asin":"B0","price":-1}"#);
        assert!(!is_reject(br#"{"asin":"B014TMV5YE"}"#));
    }
}
