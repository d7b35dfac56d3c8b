//! Which rejects a replay takes: the selection's filter on `rejects`, and
//! the stored reject as the replay reads it.

use bson::{doc, Bson, DateTime, Document};
use serde_json::Value;
use shelf_contract::fields::reject as field;
use shelf_contract::wire::InputRow;
use shelf_contract::{RejectReason, Stage};

/// What `shelf rejects replay` selects. Every part narrows it; resolved
/// rejects are never selected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    pub reasons: Vec<RejectReason>,
    pub stage: Option<Stage>,
    /// The input file, as stored in `origin.file` (an absolute path).
    pub file: Option<String>,
    /// The payload's `category_id` (a number or a text holding one).
    pub category: Option<i64>,
    /// Received by the gateway at or after (ms since the epoch).
    pub since: Option<i64>,
    /// Received by the gateway before (ms since the epoch).
    pub until: Option<i64>,
}

impl Selection {
    /// The filter on `rejects`: the selection, the rejects of records read
    /// from `topics` (a chain's input and output: a category's or an
    /// unreadable dead letter's payload is not a product to run through the
    /// chain), and not resolved. The category is checked on the payload,
    /// by [`Selection::takes_payload`].
    pub fn filter(&self, topics: &[&str]) -> Document {
        let mut f = doc! {
            field::RESOLVED: { "$exists": false },
            format!("{}.topic", field::SOURCE): { "$in": topics },
        };
        if !self.reasons.is_empty() {
            let reasons: Vec<&str> = self.reasons.iter().map(|r| r.as_str()).collect();
            f.insert(field::REASON, doc! { "$in": reasons });
        }
        if let Some(stage) = self.stage {
            f.insert(field::STAGE, stage.as_str());
        }
        if let Some(file) = &self.file {
            f.insert(format!("{}.file", field::ORIGIN), file);
        }
        let mut received = Document::new();
        if let Some(ms) = self.since {
            received.insert("$gte", DateTime::from_millis(ms));
        }
        if let Some(ms) = self.until {
            received.insert("$lt", DateTime::from_millis(ms));
        }
        if !received.is_empty() {
            f.insert(field::RECEIVED_AT, received);
        }
        f
    }

    /// Does a payload belong to the selection's category (if it names one)?
    pub fn takes_payload(&self, payload: &str) -> bool {
        let Some(category) = self.category else {
            return true;
        };
        let id = serde_json::from_str::<Value>(payload).ok().and_then(|v| {
            match v.get(shelf_contract::fields::product::CATEGORY_ID)? {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
        });
        id == Some(category)
    }
}

/// A stored reject, as much of it as a replay needs.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReject {
    pub id: String,
    /// `None` when the stored reason is not one this build knows.
    pub reason: Option<RejectReason>,
    pub payload: String,
    /// The payload was cut at the store's limit: it cannot be redriven.
    pub truncated: bool,
    /// When the gateway received the record (ms): its observation time if
    /// it has none of its own, which the redrive keeps.
    pub received_at: Option<i64>,
    pub origin: Option<InputRow>,
}

impl StoredReject {
    /// Reads a `rejects` document; `None` without an `_id` or payload.
    pub fn from_document(d: &Document) -> Option<Self> {
        let origin = d.get_document(field::ORIGIN).ok().and_then(|o| {
            let line = match o.get("line")? {
                Bson::Int64(n) => u64::try_from(*n).ok()?,
                Bson::Int32(n) => u64::try_from(*n).ok()?,
                _ => return None,
            };
            Some(InputRow {
                file: o.get_str("file").ok()?.to_owned(),
                line,
            })
        });
        Some(Self {
            id: d.get_str("_id").ok()?.to_owned(),
            reason: d
                .get_str(field::REASON)
                .ok()
                .and_then(RejectReason::from_name),
            payload: d.get_str(field::PAYLOAD).ok()?.to_owned(),
            truncated: d.get_bool("payload_truncated").unwrap_or(false),
            received_at: d
                .get_datetime(field::RECEIVED_AT)
                .ok()
                .map(|t| t.timestamp_millis()),
            origin,
        })
    }

    /// The Kafka key the gateway gives the record: its asin, normalised.
    pub fn key(&self) -> Option<String> {
        let v: Value = serde_json::from_str(&self.payload).ok()?;
        let asin = v.get(shelf_contract::fields::product::ASIN)?.as_str()?;
        Some(shelf_contract::wire::product_key(asin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_selection_takes_every_unresolved_product_reject() {
        let f = Selection::default().filter(&["in", "out"]);
        assert_eq!(
            f,
            doc! { "resolved": { "$exists": false }, "source.topic": { "$in": ["in", "out"] } }
        );
    }

    #[test]
    fn each_part_narrows_the_filter() {
        let s = Selection {
            reasons: vec![RejectReason::InvalidCategory, RejectReason::InvalidPrice],
            stage: Some(Stage::Transform),
            file: Some("/data/p.csv".into()),
            category: Some(9),
            since: Some(1_000),
            until: Some(2_000),
        };
        let f = s.filter(&["in"]);
        assert_eq!(
            f.get_document("reason").unwrap(),
            &doc! { "$in": ["invalid_category", "invalid_price"] }
        );
        assert_eq!(f.get_str("stage").unwrap(), "transform");
        assert_eq!(f.get_str("origin.file").unwrap(), "/data/p.csv");
        assert_eq!(
            f.get_document("received_at").unwrap(),
            &doc! { "$gte": DateTime::from_millis(1_000), "$lt": DateTime::from_millis(2_000) }
        );
        assert!(s.takes_payload(r#"{"category_id":9}"#));
        assert!(s.takes_payload(r#"{"category_id":" 9"}"#));
        assert!(!s.takes_payload(r#"{"category_id":10}"#));
        assert!(!s.takes_payload("not json"));
        assert!(Selection::default().takes_payload("not json"));
    }

    #[test]
    fn a_stored_reject_is_read_with_its_row_and_time() {
        let d = doc! {
            "_id": "/data/p.csv:7", "reason": "invalid_category", "payload": r#"{"asin":" b0x "}"#,
            "origin": { "file": "/data/p.csv", "line": 7_i64 },
            "received_at": DateTime::from_millis(5),
        };
        let r = StoredReject::from_document(&d).unwrap();
        assert_eq!(r.reason, Some(RejectReason::InvalidCategory));
        assert_eq!(r.origin.as_ref().unwrap().line, 7);
        assert_eq!(r.received_at, Some(5));
        assert_eq!(r.key().as_deref(), Some("B0X"));
        assert!(!r.truncated);
        assert!(StoredReject::from_document(&doc! { "_id": "x" }).is_none());
    }
}
