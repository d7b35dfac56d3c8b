//! Documents of the `rejects` collection
//! ([`shelf_contract::documents::RejectDocument`]), from a dead letter of
//! the transform runtime or from a record the sink itself refused, and the
//! mark that resolves one once its redrive is stored.

use bson::{doc, DateTime, Document};
use shelf_contract::dead_letter::DeadLetter;
use shelf_contract::documents::RejectDocument;
use shelf_contract::fields::reject as field;
use shelf_contract::wire::Redrive;
use shelf_contract::{Position, Reject, RejectReason, Stage};

/// A product record that `shelf rejects replay` sent again, as the
/// runtime passed it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redriven {
    pub redrive: Redrive,
    /// The chain that passed it (`default v3: clean v1 > price-bucket v2`).
    pub chain: String,
}

impl Redriven {
    /// The update that marks its reject resolved: stored, when, by which
    /// replay and chain. A `$set` of `resolved` only: the reject keeps its
    /// reason and payload.
    pub fn resolution(&self) -> Document {
        doc! {
            "_id": &self.redrive.reject,
            field::RESOLVED: {
                "at": DateTime::now(),
                "replay": &self.redrive.replay,
                "chain": &self.chain,
            },
        }
    }
}

/// A dead letter from the transform runtime. One that cannot be read is
/// kept as an `invalid_record` reject of the dead-letter topic itself.
pub fn from_dead_letter(value: &[u8], at: impl FnOnce() -> Position) -> Document {
    match serde_json::from_slice::<DeadLetter>(value) {
        Ok(letter) => to_document(
            RejectDocument::new(
                letter.reason,
                letter.detail,
                &letter.payload,
                letter.read_at,
                letter.input_row,
                Stage::Transform,
            )
            .redriven(letter.redrive),
            letter.received_at,
        ),
        Err(e) => to_document(
            RejectDocument::new(
                RejectReason::InvalidRecord,
                format!("unreadable dead letter: {e}"),
                &String::from_utf8_lossy(value),
                at(),
                None,
                Stage::Sink,
            ),
            None,
        ),
    }
}

/// A record the sink itself refused, read at `at`, received by the gateway
/// at `received_at` (ms).
pub fn from_refusal(
    refusal: Reject,
    value: &[u8],
    at: Position,
    received_at: Option<i64>,
    redrive: Option<Redrive>,
) -> Document {
    to_document(
        RejectDocument::new(
            refusal.reason,
            refusal.detail,
            &String::from_utf8_lossy(value),
            at,
            None,
            Stage::Sink,
        )
        .redriven(redrive),
        received_at,
    )
}

fn to_document(reject: RejectDocument, received_at: Option<i64>) -> Document {
    let mut d = bson_of(reject);
    if let Some(ms) = received_at {
        d.insert(field::RECEIVED_AT, DateTime::from_millis(ms));
    }
    d
}

fn bson_of(reject: RejectDocument) -> Document {
    match bson::to_document(&reject) {
        Ok(d) => d,
        // Only a line number beyond i64 can get here: keep the reject
        // without its input row rather than lose it.
        Err(e) => doc! {
            "_id": &reject.id,
            "reason": reject.reason.as_str(),
            "detail": format!("{} (input row not storable: {e})", reject.detail),
            "payload": &reject.payload,
            "stage": reject.stage.as_str(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Position {
        Position::new("product-dlq", 1, 7)
    }

    #[test]
    fn a_dead_letter_is_keyed_by_the_record_it_rejects() {
        let letter =
            br#"{"reason":"invalid_price","detail":"field `price`: -1","payload":"{\"price\":-1}",
            "source":{"topic":"ingest-product","partition":4,"offset":99}}"#;
        let d = from_dead_letter(letter, at);
        assert_eq!(d.get_str("_id").unwrap(), "ingest-product/4/99");
        assert_eq!(
            d.get_str("reason").unwrap(),
            RejectReason::InvalidPrice.as_str()
        );
        assert_eq!(d.get_str("payload").unwrap(), r#"{"price":-1}"#);
        assert_eq!(d.get_str("stage").unwrap(), "transform");
    }

    #[test]
    fn a_dead_letter_with_its_input_row_is_keyed_by_the_row() {
        let letter = |offset: u32| {
            format!(
                r#"{{"reason":"invalid_price","detail":"d","payload":"{{}}",
                "source":{{"topic":"ingest-product","partition":4,"offset":{offset}}},
                "origin":{{"file":"/data/products.csv","line":17}}}}"#
            )
        };
        // The same row sent twice: two offsets, one reject.
        let (a, b) = (
            from_dead_letter(letter(99).as_bytes(), at),
            from_dead_letter(letter(150).as_bytes(), at),
        );
        assert_eq!(a.get_str("_id").unwrap(), "/data/products.csv:17");
        assert_eq!(a.get_str("_id").unwrap(), b.get_str("_id").unwrap());
        let origin = a.get_document("origin").unwrap();
        assert_eq!(origin.get_i64("line").unwrap(), 17);
        assert_eq!(
            a.get_document("source").unwrap().get_i64("offset").unwrap(),
            99
        );
    }

    #[test]
    fn a_redrive_rejected_again_is_the_reject_it_redrives() {
        let letter = br#"{"reason":"invalid_category","detail":"d","payload":"{}",
            "source":{"topic":"ingest-product","partition":4,"offset":180},
            "received_at":1693526400000,
            "redrive":{"reject":"ingest-product/4/99","replay":"r1"}}"#;
        let d = from_dead_letter(letter, at);
        assert_eq!(d.get_str("_id").unwrap(), "ingest-product/4/99");
        assert_eq!(d.get_str("replay").unwrap(), "r1");
        assert_eq!(
            d.get_datetime("received_at").unwrap().timestamp_millis(),
            1_693_526_400_000
        );
        let redrive = Some(Redrive {
            reject: "/data/p.csv:9".into(),
            replay: "r2".into(),
        });
        let refusal = Reject::new(RejectReason::UnstorableDocument, "x");
        let d = from_refusal(refusal, b"{}", at(), None, redrive);
        assert_eq!(d.get_str("_id").unwrap(), "/data/p.csv:9");
        assert!(!d.contains_key("received_at"));
    }

    #[test]
    fn a_resolution_sets_only_resolved() {
        let mark = Redriven {
            redrive: Redrive {
                reject: "/data/p.csv:9".into(),
                replay: "r1".into(),
            },
            chain: "default v2: clean v1".into(),
        };
        let d = mark.resolution();
        assert_eq!(d.keys().collect::<Vec<_>>(), ["_id", "resolved"]);
        let resolved = d.get_document("resolved").unwrap();
        assert_eq!(resolved.get_str("replay").unwrap(), "r1");
        assert_eq!(resolved.get_str("chain").unwrap(), "default v2: clean v1");
    }

    #[test]
    fn an_unreadable_dead_letter_is_kept() {
        let d = from_dead_letter(b"garbage", at);
        assert_eq!(d.get_str("_id").unwrap(), "product-dlq/1/7");
        assert_eq!(
            d.get_str("reason").unwrap(),
            RejectReason::InvalidRecord.as_str()
        );
        assert_eq!(d.get_str("payload").unwrap(), "garbage");
        assert_eq!(d.get_str("stage").unwrap(), "sink");
    }

    #[test]
    fn a_refusal_keeps_the_record_and_where_it_was_read() {
        let refusal = Reject::new(RejectReason::UnstorableDocument, "too big");
        let d = from_refusal(refusal, br#"{"asin":"B0"}"#, at(), Some(1_000), None);
        assert_eq!(
            d.get_datetime("received_at").unwrap().timestamp_millis(),
            1_000
        );
        assert_eq!(
            d.get_str("reason").unwrap(),
            RejectReason::UnstorableDocument.as_str()
        );
        assert_eq!(d.get_str("payload").unwrap(), r#"{"asin":"B0"}"#);
        assert_eq!(
            d.get_document("source")
                .unwrap()
                .get_i32("partition")
                .unwrap(),
            1
        );
    }
}
