//! The documents analysts read, as types: what the sink writes and the
//! report, the dashboard's tests and the end-to-end checks read back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::reject::{RejectReason, Stage};
use crate::wire::{InputRow, Redrive};
use crate::Position;

/// A `category_stats` document, as the data contract defines it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryStats {
    #[serde(rename = "_id")]
    pub id: i64,
    pub category_name: Option<String>,
    pub products: i64,
    pub priced: i64,
    pub price_sum: f64,
    pub avg_price: Option<f64>,
    pub bestsellers: i64,
    pub rated: i64,
    pub stars_sum: f64,
    pub avg_stars: Option<f64>,
    pub bought_last_month: i64,
    /// Products per price bucket label (labels with none are left out).
    pub buckets: BTreeMap<String, i64>,
}

/// A `category_daily` document: a category's figures at the end of a UTC
/// day, had every observation arrived in `(observed_at, topic order)`, and
/// that day's price changes of products then in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryDaily {
    /// `{category_id}:{YYYY-MM-DD}`.
    #[serde(rename = "_id")]
    pub id: String,
    pub category_id: i64,
    /// `YYYY-MM-DD`.
    pub day: String,
    pub category_name: Option<String>,
    pub products: i64,
    pub priced: i64,
    pub price_sum: f64,
    pub avg_price: Option<f64>,
    pub bestsellers: i64,
    pub rated: i64,
    pub stars_sum: f64,
    pub avg_stars: Option<f64>,
    pub bought_last_month: i64,
    pub buckets: BTreeMap<String, i64>,
    /// The day's price changes (`price_changes` documents) in the category.
    pub changes: i64,
    /// Those with `change_pct` < 0 and > 0.
    pub drops: i64,
    pub rises: i64,
    /// The mean of the day's non-null `change_pct` (`None` when none).
    pub avg_change_pct: Option<f64>,
}

impl CategoryDaily {
    /// The `_id` of a category's day.
    pub fn id_of(category_id: i64, day: &str) -> String {
        format!("{category_id}:{day}")
    }
}

/// A `price_buckets` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceBucket {
    #[serde(rename = "_id")]
    pub label: String,
    /// The bucket's lower bound in dollars (`None` for "unpriced").
    pub lo: Option<i64>,
    pub products: i64,
}

/// Payloads of rejects are cut here: a reject must always fit in a
/// document.
pub const MAX_REJECT_PAYLOAD_BYTES: usize = 1 << 20;

/// A `rejects` document: one per rejected input record, whoever rejected
/// it.
///
/// Its `_id` is the record's input row (`file:line`) when the sender named
/// it, else where it was read (`topic/partition/offset`): writing a reject
/// again after a crash replaces it, and a row the client sent twice (a
/// batch resent after a crash) is one reject too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectDocument {
    #[serde(rename = "_id")]
    pub id: String,
    pub reason: RejectReason,
    pub detail: String,
    /// The record as text, cut at [`MAX_REJECT_PAYLOAD_BYTES`].
    pub payload: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub payload_truncated: bool,
    /// Where the rejected record was read.
    #[serde(rename = "source")]
    pub read_at: Position,
    /// The input row it was made from, when known.
    #[serde(rename = "origin", default, skip_serializing_if = "Option::is_none")]
    pub input_row: Option<InputRow>,
    pub stage: Stage,
    /// The replay run whose redrive of this record was rejected again
    /// (`shelf rejects replay`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
}

impl RejectDocument {
    pub fn new(
        reason: RejectReason,
        detail: impl Into<String>,
        payload: &str,
        read_at: Position,
        input_row: Option<InputRow>,
        stage: Stage,
    ) -> Self {
        let (payload, payload_truncated) = if payload.len() > MAX_REJECT_PAYLOAD_BYTES {
            let mut end = MAX_REJECT_PAYLOAD_BYTES;
            while !payload.is_char_boundary(end) {
                end -= 1;
            }
            (&payload[..end], true)
        } else {
            (payload, false)
        };
        let id = match &input_row {
            Some(row) => format!("{}:{}", row.file, row.line),
            None => read_at.to_string(),
        };
        Self {
            id,
            reason,
            detail: detail.into(),
            payload: payload.to_owned(),
            payload_truncated,
            read_at,
            input_row,
            stage,
            replay: None,
        }
    }

    /// The reject of a redriven record is the reject it redrives, again:
    /// same `_id`, now with the new reason and the replay run that sent it.
    pub fn redriven(mut self, redrive: Option<Redrive>) -> Self {
        if let Some(r) = redrive {
            self.id = r.reject;
            self.replay = Some(r.replay);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reject_is_keyed_by_its_input_row_when_known() {
        let at = Position::new("ingest-product", 4, 99);
        let r = RejectDocument::new(
            RejectReason::InvalidPrice,
            "d",
            "{}",
            at.clone(),
            None,
            Stage::Transform,
        );
        assert_eq!(r.id, "ingest-product/4/99");
        let row = InputRow {
            file: "/data/p.csv".into(),
            line: 17,
        };
        let r = RejectDocument::new(
            RejectReason::InvalidPrice,
            "d",
            "{}",
            at,
            Some(row),
            Stage::Sink,
        );
        assert_eq!(r.id, "/data/p.csv:17");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["origin"]["line"], 17);
        assert_eq!(json["stage"], "sink");
        assert!(json.get("payload_truncated").is_none());
    }

    #[test]
    fn huge_payloads_are_cut_on_a_character_boundary() {
        let value = "é".repeat(MAX_REJECT_PAYLOAD_BYTES);
        let at = Position::new("t", 0, 0);
        let r = RejectDocument::new(
            RejectReason::UnstorableDocument,
            "big",
            &value,
            at,
            None,
            Stage::Sink,
        );
        assert!(r.payload.len() <= MAX_REJECT_PAYLOAD_BYTES);
        assert!(r.payload_truncated);
    }
}
