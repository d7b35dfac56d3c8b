//! Documents of the `rejects` collection.
//!
//! One per rejected input record, whoever rejected it: the transform
//! runtime (through the dead-letter topic) or the sink itself. The `_id`
//! is the record's input row (`file:line`) when the sender named it, and
//! else its own topic, partition and offset, so writing a reject again after
//! a crash replaces it instead of adding a second one; with the input row, a
//! row the client sent twice (a batch resent after a crash) is one reject
//! too.

use bson::{doc, Document};
use shelf_rules::dead_letter::DeadLetter;
use shelf_rules::wire::InputRow;

use crate::product::Refusal;

/// Payloads are cut here: a reject must always fit in a document.
const MAX_PAYLOAD_BYTES: usize = 1 << 20;

/// Where a record was read: topic, partition, offset (its input row,
/// when known, is an [`InputRow`]).
#[derive(Debug, Clone, Copy)]
pub struct Position<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

fn reject(
    reason: &str,
    detail: &str,
    payload: &str,
    source: Position<'_>,
    row: Option<&InputRow>,
    stage: &str,
) -> Document {
    let (payload, truncated) = if payload.len() > MAX_PAYLOAD_BYTES {
        let mut end = MAX_PAYLOAD_BYTES;
        while !payload.is_char_boundary(end) {
            end -= 1;
        }
        (&payload[..end], true)
    } else {
        (payload, false)
    };
    let mut d = doc! {
        "_id": format!("{}/{}/{}", source.topic, source.partition, source.offset),
        "reason": reason,
        "detail": detail,
        "payload": payload,
        "source": { "topic": source.topic, "partition": source.partition, "offset": source.offset },
        "stage": stage,
    };
    if let Some(row) = row {
        d.insert("_id", format!("{}:{}", row.file, row.line));
        d.insert(
            "origin",
            doc! { "file": &row.file, "line": row.line as i64 },
        );
    }
    if truncated {
        d.insert("payload_truncated", true);
    }
    d
}

/// A dead letter from the transform runtime. One that cannot be read is
/// kept as an `invalid_record` reject of the dead-letter topic itself.
pub fn from_dead_letter(value: &[u8], at: Position<'_>) -> Document {
    match serde_json::from_slice::<DeadLetter>(value) {
        Ok(letter) => reject(
            &letter.reason,
            &letter.detail,
            &letter.payload,
            Position {
                topic: &letter.source.topic,
                partition: letter.source.partition,
                offset: letter.source.offset,
            },
            letter.origin.as_ref(),
            "transform",
        ),
        Err(e) => reject(
            "invalid_record",
            &format!("unreadable dead letter: {e}"),
            &String::from_utf8_lossy(value),
            at,
            None,
            "sink",
        ),
    }
}

/// A record the sink itself refused.
pub fn from_refusal(refusal: &Refusal, value: &[u8], at: Position<'_>) -> Document {
    reject(
        refusal.reason,
        &refusal.detail,
        &String::from_utf8_lossy(value),
        at,
        None,
        "sink",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: Position<'static> = Position {
        topic: "product-dlq",
        partition: 1,
        offset: 7,
    };

    #[test]
    fn a_dead_letter_is_keyed_by_the_record_it_rejects() {
        let letter =
            br#"{"reason":"invalid_price","detail":"field `price`: -1","payload":"{\"price\":-1}",
            "source":{"topic":"ingest-product","partition":4,"offset":99}}"#;
        let d = from_dead_letter(letter, AT);
        assert_eq!(d.get_str("_id").unwrap(), "ingest-product/4/99");
        assert_eq!(d.get_str("reason").unwrap(), "invalid_price");
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
            from_dead_letter(letter(99).as_bytes(), AT),
            from_dead_letter(letter(150).as_bytes(), AT),
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
    fn an_unreadable_dead_letter_is_kept() {
        let d = from_dead_letter(b"garbage", AT);
        assert_eq!(d.get_str("_id").unwrap(), "product-dlq/1/7");
        assert_eq!(d.get_str("reason").unwrap(), "invalid_record");
        assert_eq!(d.get_str("payload").unwrap(), "garbage");
    }

    #[test]
    fn huge_payloads_are_cut_on_a_character_boundary() {
        let refusal = Refusal {
            reason: "unstorable_document",
            detail: "too big".into(),
        };
        let value = "é".repeat(MAX_PAYLOAD_BYTES);
        let d = from_refusal(&refusal, value.as_bytes(), AT);
        assert!(d.get_str("payload").unwrap().len() <= MAX_PAYLOAD_BYTES);
        assert!(d.get_bool("payload_truncated").unwrap());
    }
}
