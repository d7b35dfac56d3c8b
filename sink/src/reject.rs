//! Documents of the `rejects` collection.
//!
//! One per rejected input record, whoever rejected it: the transform
//! runtime (through the dead-letter topic) or the sink itself. The `_id`
//! is the rejected record's own topic, partition and offset, so writing a
//! reject again after a crash replaces it instead of adding a second one.

use bson::{doc, Document};
use shelf_rules::dead_letter::DeadLetter;

use crate::product::Refusal;

/// Payloads are cut here: a reject must always fit in a document.
const MAX_PAYLOAD_BYTES: usize = 1 << 20;

/// Where a record came from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

fn reject(reason: &str, detail: &str, payload: &str, source: Origin<'_>, stage: &str) -> Document {
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
    if truncated {
        d.insert("payload_truncated", true);
    }
    d
}

/// A dead letter from the transform runtime. One that cannot be read is
/// kept as an `invalid_record` reject of the dead-letter topic itself.
pub fn from_dead_letter(value: &[u8], at: Origin<'_>) -> Document {
    match serde_json::from_slice::<DeadLetter>(value) {
        Ok(letter) => reject(
            &letter.reason,
            &letter.detail,
            &letter.payload,
            Origin {
                topic: &letter.source.topic,
                partition: letter.source.partition,
                offset: letter.source.offset,
            },
            "transform",
        ),
        Err(e) => reject(
            "invalid_record",
            &format!("unreadable dead letter: {e}"),
            &String::from_utf8_lossy(value),
            at,
            "sink",
        ),
    }
}

/// A record the sink itself refused.
pub fn from_refusal(refusal: &Refusal, value: &[u8], at: Origin<'_>) -> Document {
    reject(
        refusal.reason,
        &refusal.detail,
        &String::from_utf8_lossy(value),
        at,
        "sink",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: Origin<'static> = Origin {
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
