//! What the stages say to each other about a record beside its value: its
//! Kafka key, and the input row it was made from (HTTP headers from the
//! client to the gateway, Kafka headers from the gateway on, and the
//! `origin` of a dead letter). The one definition; the client, the
//! gateway, the runtime and the sink use it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fields;

/// HTTP headers by which a sender tells the gateway which input row each
/// record of a request came from.
pub mod http_headers {
    /// The input file: an absolute path, percent-encoded.
    pub const FILE: &str = "x-shelf-source";
    /// The line of each record, as ranges in body order: `2-500,502`
    /// ([`super::line_ranges`]).
    pub const LINES: &str = "x-shelf-lines";
}

/// Kafka headers that carry a record's [`InputRow`] from the gateway on.
pub mod kafka_headers {
    /// The input file, as an absolute path.
    pub const FILE: &str = "shelf-source";
    /// The line, in decimal.
    pub const LINE: &str = "shelf-line";
    /// On a record `shelf rejects replay` sent again: the `_id` of the
    /// reject it redrives.
    pub const REDRIVE: &str = "shelf-redrive";
    /// Beside [`REDRIVE`]: the replay run that sent it.
    pub const REPLAY: &str = "shelf-replay";
    /// On the runtime's output of a redriven record: the chain that passed
    /// it, as [`chain_label`](super::chain_label) writes it.
    pub const CHAIN: &str = "shelf-chain";
}

/// A record sent again by `shelf rejects replay`: which reject it redrives,
/// and in which replay run. Carried in the Kafka headers [`kafka_headers::REDRIVE`]
/// and [`kafka_headers::REPLAY`] through the runtime to the sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redrive {
    /// The `_id` of the reject in `rejects`.
    pub reject: String,
    /// The replay run's id.
    pub replay: String,
}

impl Redrive {
    /// The redrive a record's headers mark (`header` gives a header's
    /// text by name), if they mark one.
    pub fn from_headers<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Option<Self> {
        Some(Self {
            reject: header(kafka_headers::REDRIVE)?.to_owned(),
            replay: header(kafka_headers::REPLAY)?.to_owned(),
        })
    }
}

/// How a chain and its module versions are named where a record says which
/// chain passed it: `default v3: clean v1 > price-bucket v2`.
pub fn chain_label<'a>(
    name: &str,
    version: u32,
    modules: impl IntoIterator<Item = (&'a str, u32)>,
) -> String {
    let modules: Vec<String> = modules
        .into_iter()
        .map(|(m, v)| format!("{m} v{v}"))
        .collect();
    format!("{name} v{version}: {}", modules.join(" > "))
}

/// The input row a record was made from, when its sender said so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRow {
    /// The input file, as an absolute path.
    pub file: String,
    /// The line the row starts on.
    pub line: u64,
}

/// The two kinds of record the gateway takes: each has its topic and its
/// key field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Product,
    Category,
}

impl RecordKind {
    /// The gateway's HTTP path for this kind, where the client posts it.
    pub fn path(self) -> &'static str {
        match self {
            RecordKind::Product => "/v1/products",
            RecordKind::Category => "/v1/categories",
        }
    }

    /// The kind's name in the metrics and logs: `products`, `categories`.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Product => "products",
            RecordKind::Category => "categories",
        }
    }

    /// The columns of the kind's input CSV, in order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            RecordKind::Product => &crate::columns::PRODUCTS,
            RecordKind::Category => &crate::columns::CATEGORIES,
        }
    }

    /// The field whose value becomes the Kafka key.
    pub fn key_field(self) -> &'static str {
        match self {
            RecordKind::Product => fields::product::ASIN,
            RecordKind::Category => fields::category::ID,
        }
    }
}

/// Why a record has no Kafka key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    Missing {
        field: &'static str,
    },
    Empty {
        field: &'static str,
    },
    NotTextOrNumber {
        field: &'static str,
        found: &'static str,
    },
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Missing { field } => write!(f, "missing key field `{field}`"),
            KeyError::Empty { field } => write!(f, "key field `{field}` is empty"),
            KeyError::NotTextOrNumber { field, found } => {
                write!(
                    f,
                    "key field `{field}` must be a string or a number, found {found}"
                )
            }
        }
    }
}

impl std::error::Error for KeyError {}

/// The Kafka key of a record, from the value of its key field
/// ([`RecordKind::key_field`]; `None` when absent): the asin trimmed and
/// upper-cased, the category id trimmed; numbers as their text. The client
/// and the gateway both call this, so the client's ordering by key is the
/// gateway's partitioning.
pub fn record_key(kind: RecordKind, value: Option<&Value>) -> Result<String, KeyError> {
    let field = kind.key_field();
    let key = match value {
        None | Some(Value::Null) => return Err(KeyError::Missing { field }),
        Some(Value::String(s)) => match kind {
            RecordKind::Product => product_key(s),
            RecordKind::Category => category_key(s),
        },
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(KeyError::NotTextOrNumber {
                field,
                found: json_type(other),
            })
        }
    };
    if key.is_empty() {
        return Err(KeyError::Empty { field });
    }
    Ok(key)
}

/// A JSON value's type, as error messages name it ("an array").
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The Kafka key of a product: its asin, trimmed and upper-cased (the
/// contract's topic table), so `b0abc ` and `B0ABC` are one product.
pub fn product_key(asin: &str) -> String {
    asin.trim().to_uppercase()
}

/// The Kafka key of a category: its id, trimmed.
pub fn category_key(id: &str) -> String {
    id.trim().to_owned()
}

/// Line numbers (ascending) as the ranges of [`http_headers::LINES`]:
/// `[2, 3, 4, 7]` → `2-4,7`.
pub fn line_ranges(lines: &[u64]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let first = lines[i];
        let mut last = first;
        while i + 1 < lines.len() && lines[i + 1] == last + 1 {
            i += 1;
            last = lines[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if first == last {
            out.push_str(&first.to_string());
        } else {
            out.push_str(&format!("{first}-{last}"));
        }
        i += 1;
    }
    out
}

/// One part of a [`http_headers::LINES`] value (`7` or `2-4`) as
/// (first, last); `None` if it is neither.
pub fn parse_line_range(part: &str) -> Option<(u64, u64)> {
    let (first, last) = match part.split_once('-') {
        Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
        None => {
            let line = part.trim().parse().ok()?;
            (line, line)
        }
    };
    (first <= last).then_some((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_trimmed_and_products_upper_cased() {
        assert_eq!(product_key(" b0abc\t"), "B0ABC");
        assert_eq!(category_key(" 7 "), "7");
    }

    #[test]
    fn record_keys_follow_the_kind() {
        let key = |kind, v: Value| record_key(kind, Some(&v));
        assert_eq!(key(RecordKind::Product, " b0abc ".into()).unwrap(), "B0ABC");
        assert_eq!(key(RecordKind::Category, " id7 ".into()).unwrap(), "id7");
        assert_eq!(key(RecordKind::Category, 7.into()).unwrap(), "7");
        assert_eq!(
            record_key(RecordKind::Product, None)
                .unwrap_err()
                .to_string(),
            "missing key field `asin`"
        );
        assert_eq!(
            key(RecordKind::Category, "  ".into()).unwrap_err(),
            KeyError::Empty { field: "id" }
        );
        assert!(key(RecordKind::Product, Value::Array(vec![]))
            .unwrap_err()
            .to_string()
            .ends_with("found an array"));
    }

    #[test]
    fn line_ranges_round_trip() {
        let lines = [2, 3, 4, 7, 9, 10];
        let text = line_ranges(&lines);
        assert_eq!(text, "2-4,7,9-10");
        let back: Vec<u64> = text
            .split(',')
            .filter_map(parse_line_range)
            .flat_map(|(a, b)| a..=b)
            .collect();
        assert_eq!(back, lines);
        assert_eq!(parse_line_range("4-2"), None);
        assert_eq!(parse_line_range("x"), None);
        assert_eq!(line_ranges(&[]), "");
    }
}
