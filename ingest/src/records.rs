//! Splitting a request body into keyed records, checking only the envelope.
//!
//! The gateway does not clean anything (the transforms do); it only makes
//! sure each record is a JSON object that carries its key, so that every
//! version of a product lands in the same partition. Values are passed on as
//! the exact bytes the client sent.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use shelf_contract::wire;

/// Which kind of record a route takes: decides the topic and the key field
/// (the contract's record kind).
pub use shelf_contract::wire::RecordKind as Kind;

/// How the body lists its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object, or a JSON array of objects.
    Json,
    /// One JSON object per line.
    NdJson,
}

/// A record ready to be produced: its key and its value as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed<'a> {
    pub key: String,
    pub value: &'a [u8],
}

/// Where in the body a record stands: the array index (0-based) for JSON,
/// the line number (1-based) for NDJSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Position {
    Index(usize),
    Line(usize),
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Index(i) => write!(f, "index {i}"),
            Position::Line(l) => write!(f, "line {l}"),
        }
    }
}

/// One record that failed the envelope check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRecord {
    #[serde(flatten)]
    pub at: Position,
    pub error: String,
}

/// At most this many bad records are listed in an answer.
pub const MAX_REPORTED: usize = 100;

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("body is not valid JSON: {0}")]
    Body(String),
    #[error("{count} invalid record(s)")]
    Records {
        /// The first [`MAX_REPORTED`] bad records.
        bad: Vec<BadRecord>,
        /// How many were bad in all.
        count: usize,
    },
    #[error("record at {at} is {size} bytes, over the limit of {limit}")]
    RecordTooLarge {
        at: Position,
        size: usize,
        limit: usize,
    },
}

/// Splits `body` into keyed records. All-or-nothing: any bad record refuses
/// the whole body, so that nothing is produced for a request that fails.
pub fn split(
    kind: Kind,
    format: Format,
    body: &[u8],
    max_record_bytes: usize,
) -> Result<Vec<Keyed<'_>>, EnvelopeError> {
    let mut checker = Checker {
        kind,
        max_record_bytes,
        out: Vec::new(),
        bad: Vec::new(),
        count: 0,
    };
    match format {
        Format::Json => split_json(body, &mut checker)?,
        Format::NdJson => split_ndjson(body, &mut checker)?,
    }
    if checker.count > 0 {
        return Err(EnvelopeError::Records {
            bad: checker.bad,
            count: checker.count,
        });
    }
    Ok(checker.out)
}

fn split_json<'a>(body: &'a [u8], checker: &mut Checker<'a>) -> Result<(), EnvelopeError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => Err(EnvelopeError::Body("the body is empty".into())),
        Some(b'[') => {
            let items: Vec<&RawValue> =
                serde_json::from_slice(body).map_err(|e| EnvelopeError::Body(e.to_string()))?;
            for (i, raw) in items.into_iter().enumerate() {
                checker.check(Position::Index(i), raw)?;
            }
            Ok(())
        }
        Some(b'{') => {
            let raw: &RawValue =
                serde_json::from_slice(body).map_err(|e| EnvelopeError::Body(e.to_string()))?;
            checker.check(Position::Index(0), raw)
        }
        Some(_) => Err(EnvelopeError::Body(
            "expected a JSON object or an array of objects".into(),
        )),
    }
}

fn split_ndjson<'a>(body: &'a [u8], checker: &mut Checker<'a>) -> Result<(), EnvelopeError> {
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let at = Position::Line(i + 1);
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<&RawValue>(line) {
            Ok(raw) => checker.check(at, raw)?,
            Err(e) => checker.reject(at, format!("not valid JSON: {e}")),
        }
    }
    Ok(())
}

struct Checker<'a> {
    kind: Kind,
    max_record_bytes: usize,
    out: Vec<Keyed<'a>>,
    bad: Vec<BadRecord>,
    count: usize,
}

impl<'a> Checker<'a> {
    fn check(&mut self, at: Position, raw: &'a RawValue) -> Result<(), EnvelopeError> {
        let text = raw.get();
        if text.len() > self.max_record_bytes {
            return Err(EnvelopeError::RecordTooLarge {
                at,
                size: text.len(),
                limit: self.max_record_bytes,
            });
        }
        match record_key(self.kind, text) {
            Ok(key) => {
                // Once the body is known to be refused, stop collecting keys.
                if self.count == 0 {
                    self.out.push(Keyed {
                        key,
                        value: text.as_bytes(),
                    });
                }
            }
            Err(error) => self.reject(at, error),
        }
        Ok(())
    }

    fn reject(&mut self, at: Position, error: String) {
        self.count += 1;
        if self.bad.len() < MAX_REPORTED {
            self.bad.push(BadRecord { at, error });
        }
    }
}

#[derive(Deserialize)]
struct ProductKey {
    asin: Option<Value>,
}

#[derive(Deserialize)]
struct CategoryKey {
    id: Option<Value>,
}

/// The Kafka key of a record ([`shelf_contract::wire::record_key`]).
fn record_key(kind: Kind, text: &str) -> Result<String, String> {
    if !text.starts_with('{') {
        return Err(format!("expected a JSON object, found {}", json_type(text)));
    }
    let value = match kind {
        Kind::Product => serde_json::from_str::<ProductKey>(text).map(|k| k.asin),
        Kind::Category => serde_json::from_str::<CategoryKey>(text).map(|k| k.id),
    }
    .map_err(|e| format!("not a valid record: {e}"))?;
    wire::record_key(kind, value.as_ref()).map_err(|e| e.to_string())
}

fn json_type(text: &str) -> &'static str {
    match text.as_bytes().first() {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(r: &[Keyed<'_>]) -> Vec<String> {
        r.iter().map(|k| k.key.clone()).collect()
    }

    #[test]
    fn single_object_array_and_ndjson() {
        let one = split(
            Kind::Product,
            Format::Json,
            br#" {"asin":" b0abc12345 ","x":1} "#,
            1024,
        )
        .unwrap();
        assert_eq!(keys(&one), ["B0ABC12345"]);
        assert_eq!(one[0].value, br#"{"asin":" b0abc12345 ","x":1}"#);

        let arr = split(
            Kind::Product,
            Format::Json,
            br#"[{"asin":"A1"},{"asin":"a2"}]"#,
            1024,
        )
        .unwrap();
        assert_eq!(keys(&arr), ["A1", "A2"]);

        let nd = split(
            Kind::Product,
            Format::NdJson,
            b"{\"asin\":\"A1\"}\r\n\n{\"asin\":\"A2\"}\n",
            1024,
        )
        .unwrap();
        assert_eq!(keys(&nd), ["A1", "A2"]);
        assert_eq!(nd[0].value, br#"{"asin":"A1"}"#);
    }

    #[test]
    fn numeric_keys_are_kept_as_text() {
        let r = split(
            Kind::Category,
            Format::Json,
            br#"[{"id":42,"category_name":"Toys"},{"id":" 7 "}]"#,
            1024,
        )
        .unwrap();
        assert_eq!(keys(&r), ["42", "7"]);
        let r = split(Kind::Product, Format::Json, br#"{"asin":1234567890}"#, 1024).unwrap();
        assert_eq!(keys(&r), ["1234567890"]);
    }

    #[test]
    fn bad_records_are_named_by_position() {
        let body = b"{\"asin\":\"A1\"}\n{\"title\":\"no key\"}\nnot json\n[1]\n{\"asin\":true}\n{\"asin\":\"  \"}\n";
        let err = split(Kind::Product, Format::NdJson, body, 1024).unwrap_err();
        let EnvelopeError::Records { bad, count } = err else {
            panic!("{err:?}")
        };
        assert_eq!(count, 5);
        let at: Vec<Position> = bad.iter().map(|b| b.at).collect();
        assert_eq!(
            at,
            [
                Position::Line(2),
                Position::Line(3),
                Position::Line(4),
                Position::Line(5),
                Position::Line(6)
            ]
        );
        assert_eq!(bad[0].error, "missing key field `asin`");
        assert!(
            bad[1].error.starts_with("not valid JSON"),
            "{}",
            bad[1].error
        );
        assert_eq!(bad[2].error, "expected a JSON object, found an array");
        assert_eq!(
            bad[3].error,
            "key field `asin` must be a string or a number, found a boolean"
        );
        assert_eq!(bad[4].error, "key field `asin` is empty");
    }

    #[test]
    fn array_elements_report_their_index() {
        let err = split(
            Kind::Category,
            Format::Json,
            br#"[{"id":1},"x",{"id":null}]"#,
            1024,
        )
        .unwrap_err();
        let EnvelopeError::Records { bad, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(
            bad[0],
            BadRecord {
                at: Position::Index(1),
                error: "expected a JSON object, found a string".into()
            }
        );
        assert_eq!(
            bad[1],
            BadRecord {
                at: Position::Index(2),
                error: "missing key field `id`".into()
            }
        );
    }

    #[test]
    fn at_most_one_hundred_are_listed() {
        let body = "{}\n".repeat(250);
        let EnvelopeError::Records { bad, count } =
            split(Kind::Product, Format::NdJson, body.as_bytes(), 1024).unwrap_err()
        else {
            panic!()
        };
        assert_eq!((bad.len(), count), (MAX_REPORTED, 250));
    }

    #[test]
    fn whole_body_errors() {
        assert!(matches!(
            split(Kind::Product, Format::Json, b"  ", 10),
            Err(EnvelopeError::Body(_))
        ));
        assert!(matches!(
            split(Kind::Product, Format::Json, b"[{\"asin\":\"A\"", 10),
            Err(EnvelopeError::Body(_))
        ));
        assert!(matches!(
            split(Kind::Product, Format::Json, b"42", 10),
            Err(EnvelopeError::Body(_))
        ));
        // Invalid UTF-8 inside a string.
        assert!(matches!(
            split(Kind::Product, Format::Json, b"{\"asin\":\"A\xff\"}", 100),
            Err(EnvelopeError::Body(_))
        ));
        let EnvelopeError::Records { bad, .. } =
            split(Kind::Product, Format::NdJson, b"{\"asin\":\"\xff\"}", 100).unwrap_err()
        else {
            panic!()
        };
        assert_eq!(bad[0].at, Position::Line(1));
    }

    #[test]
    fn oversized_record_is_refused() {
        let big = format!(
            r#"[{{"asin":"A"}},{{"asin":"B","t":"{}"}}]"#,
            "x".repeat(100)
        );
        let err = split(Kind::Product, Format::Json, big.as_bytes(), 64).unwrap_err();
        assert!(
            matches!(
                err,
                EnvelopeError::RecordTooLarge {
                    at: Position::Index(1),
                    limit: 64,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
