//! A product's stored document, written as BSON bytes in one buffer of
//! the right size: `_id` (the asin), the event's fields (already BSON, see
//! `json_bson`), `category_name`, the times and history ([`Times`]) and
//! `_src` (where the last version was read).
//!
//! The fields are most of the bytes and are copied once; building the
//! small parts as documents of their own and joining them cost a tenth of
//! the sink's CPU in a profile (docs/benchmarks.md).

use bson::{doc, DateTime, Document, RawDocumentBuf};
use shelf_contract::fields::product as field;
use shelf_contract::time::{day_number, format_day};

use crate::bson_bytes::{cstring, end, start, string, DATETIME, DOCUMENT, INT32, INT64, NULL};
use crate::history::History;

/// The stored product's history: its versions as compact text
/// ([`History::to_text`]), not for analysts.
pub const HISTORY: &str = "_hist";

/// What a product's versions say about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Times {
    /// The current version's time, and its offset (kept in `_src.current`:
    /// without a stored history, a replay must still name the version as
    /// before).
    pub observed_at: i64,
    pub current_offset: i64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub price_change_count: i64,
    /// `None` for a product seen once: its one version is the document
    /// itself (a first load stores no history).
    pub history: Option<String>,
}

impl Times {
    /// `None` for an empty history.
    pub fn of(history: &History) -> Option<Self> {
        Some(Self {
            observed_at: history.current()?.at,
            current_offset: history.current()?.offset,
            first_seen: history.first_seen()?,
            last_seen: history.last_seen()?,
            price_change_count: history.price_change_count(),
            history: (history.len() > 1).then(|| history.to_text()),
        })
    }
}

/// The fields a version that is not the newest changes: `$set` over the
/// stored document.
pub fn times_update(asin: &str, times: &Times, partition: i32, offset: i64) -> Document {
    doc! {
        "_id": asin,
        field::FIRST_SEEN: DateTime::from_millis(times.first_seen),
        field::LAST_SEEN: DateTime::from_millis(times.last_seen),
        field::PRICE_CHANGE_COUNT: times.price_change_count,
        HISTORY: times.history.as_deref().unwrap_or_default(),
        "_src": { "partition": partition, "offset": offset, "current": times.current_offset },
    }
}

/// The document stored for a product.
pub fn product(
    asin: &str,
    fields: &RawDocumentBuf,
    category_name: Option<&str>,
    times: &Times,
    partition: i32,
    offset: i64,
) -> RawDocumentBuf {
    let field_bytes = fields.as_bytes();
    let elements = &field_bytes[4..field_bytes.len() - 1];
    let name_len = category_name.map_or(0, str::len);
    let history_len = times.history.as_ref().map_or(0, String::len);
    let mut b = Vec::with_capacity(224 + asin.len() + elements.len() + name_len + history_len);
    let doc = start(&mut b);
    string(&mut b, "_id", asin);
    b.extend_from_slice(elements);
    match category_name {
        Some(name) => string(&mut b, "category_name", name),
        None => {
            b.push(NULL);
            cstring(&mut b, "category_name");
        }
    }
    let date = |b: &mut Vec<u8>, key: &str, ms: i64| {
        b.push(DATETIME);
        cstring(b, key);
        b.extend(ms.to_le_bytes());
    };
    date(&mut b, field::OBSERVED_AT, times.observed_at);
    string(
        &mut b,
        field::DAY,
        &format_day(day_number(times.observed_at)),
    );
    date(&mut b, field::FIRST_SEEN, times.first_seen);
    date(&mut b, field::LAST_SEEN, times.last_seen);
    b.push(INT64);
    cstring(&mut b, field::PRICE_CHANGE_COUNT);
    b.extend(times.price_change_count.to_le_bytes());
    if let Some(history) = &times.history {
        string(&mut b, HISTORY, history);
    }
    b.push(DOCUMENT);
    cstring(&mut b, "_src");
    let src = start(&mut b);
    b.push(INT32);
    cstring(&mut b, "partition");
    b.extend(partition.to_le_bytes());
    b.push(INT64);
    cstring(&mut b, "offset");
    b.extend(offset.to_le_bytes());
    // Only when an older version was applied after the current one: a
    // field costs FerretDB on every insert.
    if times.current_offset != offset {
        b.push(INT64);
        cstring(&mut b, "current");
        b.extend(times.current_offset.to_le_bytes());
    }
    end(&mut b, src);
    end(&mut b, doc);
    RawDocumentBuf::from_bytes(b).unwrap_or_else(|_| {
        // Not reached (the parts are well formed); the same, the slow way.
        let mut d = RawDocumentBuf::new();
        d.append("_id", asin);
        for (key, value) in fields.iter().flatten() {
            d.append_ref(key, value);
        }
        match category_name {
            Some(name) => d.append("category_name", name),
            None => d.append("category_name", bson::RawBson::Null),
        }
        append_times(&mut d, times);
        let mut src = bson::rawdoc! { "partition": partition, "offset": offset };
        if times.current_offset != offset {
            src.append("current", times.current_offset);
        }
        d.append("_src", src);
        d
    })
}

/// The times, element by element (the slow way).
fn append_times(d: &mut RawDocumentBuf, times: &Times) {
    d.append(field::OBSERVED_AT, DateTime::from_millis(times.observed_at));
    d.append(field::DAY, format_day(day_number(times.observed_at)));
    d.append(field::FIRST_SEEN, DateTime::from_millis(times.first_seen));
    d.append(field::LAST_SEEN, DateTime::from_millis(times.last_seen));
    d.append(field::PRICE_CHANGE_COUNT, times.price_change_count);
    if let Some(history) = &times.history {
        d.append(HISTORY, history.as_str());
    }
}

#[cfg(test)]
mod tests {
    use bson::{rawdoc, RawBson};

    use super::*;

    fn times() -> Times {
        Times {
            observed_at: 1_693_549_800_250,
            current_offset: 9,
            first_seen: 1_693_526_400_000,
            last_seen: 1_693_549_800_250,
            price_change_count: 2,
            history: Some("[[1]]".into()),
        }
    }

    #[test]
    fn equals_the_document_built_element_by_element() {
        let fields =
            rawdoc! { "asin": "B01", "price": 19.99, "specs": { "a": [1, "x"] }, "n": "nul\0in" };
        for (name, partition, offset) in [(Some("Kettles"), 3, 12_345_678_901_i64), (None, 0, 0)] {
            let mut want = rawdoc! { "_id": "B01" };
            for (k, v) in fields.iter().flatten() {
                want.append_ref(k, v);
            }
            want.append(
                "category_name",
                name.map_or(RawBson::Null, |n| RawBson::String(n.to_owned())),
            );
            append_times(&mut want, &times());
            want.append(
                "_src",
                rawdoc! { "partition": partition, "offset": offset, "current": 9_i64 },
            );
            let got = product("B01", &fields, name, &times(), partition, offset);
            assert_eq!(got.as_bytes(), want.as_bytes());
        }
        let once = Times {
            history: None,
            ..times()
        };
        let want = {
            let mut d = rawdoc! { "_id": "B03", "category_name": RawBson::Null };
            append_times(&mut d, &once);
            d.append(
                "_src",
                rawdoc! { "partition": 1, "offset": 2_i64, "current": 9_i64 },
            );
            d
        };
        let got = product("B03", &RawDocumentBuf::new(), None, &once, 1, 2);
        assert_eq!(got.as_bytes(), want.as_bytes());
        assert!(got.get(HISTORY).unwrap().is_none());
        let current = Times {
            current_offset: 2,
            ..times()
        };
        let src = product("B04", &RawDocumentBuf::new(), None, &current, 1, 2);
        let src = src.get_document("_src").unwrap();
        assert!(
            src.get("current").unwrap().is_none(),
            "the current version is the last read"
        );
        let empty = product("B02", &RawDocumentBuf::new(), None, &times(), 1, 2);
        assert_eq!(empty.get_str("_id").unwrap(), "B02");
        assert_eq!(empty.get_str("day").unwrap(), "2023-09-01");
    }
}
