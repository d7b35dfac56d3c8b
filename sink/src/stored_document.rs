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

use crate::bson_bytes::{
    cstring, end, start, string, ARRAY, DATETIME, DOCUMENT, INT32, INT64, NULL,
};
use crate::history::{History, Rows};

/// The stored product's versions, oldest first: an array of rows of
/// compact JSON text (`history::text`), not for analysts. Absent for a
/// product seen once (its one version is the document). Appended to with
/// `$push`, so a version after the newest does not rewrite them.
pub const ROWS: &str = "_rows";

/// The versions as sinks before [`ROWS`] stored them: one JSON text. Read
/// still, and replaced by `_rows` at the product's next write.
pub const LEGACY_HISTORY: &str = "_hist";

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
    /// How many versions (kept in `_src.versions` when more than one: a
    /// batch reads the product without its rows).
    pub versions: usize,
    /// The rows the store lacks: [`product`] writes those that replace
    /// the stored ones, the caller appends the others.
    pub rows: Rows,
}

impl Times {
    /// `None` for an empty history.
    pub fn of(history: &History) -> Option<Self> {
        let rows = history.rows().unwrap_or_else(|e| {
            // Only when a late version's stored rows could not be read
            // (`plan::attach_rows` said why): rewriting them from the
            // versions known would drop the others.
            tracing::error!(error = %e, "a product's stored rows are left as they are");
            Rows::Keep
        });
        Some(Self {
            observed_at: history.current()?.at,
            current_offset: history.current()?.offset,
            first_seen: history.first_seen()?,
            last_seen: history.last_seen()?,
            price_change_count: history.price_change_count(),
            versions: history.len(),
            rows,
        })
    }
}

/// The update of a product by a version that is not the newest: the
/// times and `_src` set, the rows appended or replaced.
pub fn times_update(times: &Times, partition: i32, offset: i64) -> Document {
    let mut src =
        doc! { "partition": partition, "offset": offset, "current": times.current_offset };
    if times.versions > 1 {
        src.insert("versions", versions_i64(times.versions));
    }
    let mut set = doc! {
        field::FIRST_SEEN: DateTime::from_millis(times.first_seen),
        field::LAST_SEEN: DateTime::from_millis(times.last_seen),
        field::PRICE_CHANGE_COUNT: times.price_change_count,
        "_src": src,
    };
    let mut update = Document::new();
    match &times.rows {
        Rows::Keep => {}
        Rows::Append(rows) => {
            update.insert("$push", doc! { ROWS: { "$each": rows } });
        }
        Rows::Replace(rows) => {
            set.insert(ROWS, rows);
            update.insert("$unset", doc! { LEGACY_HISTORY: "" });
        }
    }
    update.insert("$set", set);
    update
}

fn versions_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
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
    let history_len = match &times.rows {
        Rows::Replace(rows) => rows.iter().map(|r| r.len() + 16).sum(),
        _ => 0,
    };
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
    if let Rows::Replace(rows) = &times.rows {
        b.push(ARRAY);
        cstring(&mut b, ROWS);
        let array = start(&mut b);
        for (i, row) in rows.iter().enumerate() {
            string(&mut b, &i.to_string(), row);
        }
        end(&mut b, array);
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
    if times.versions > 1 {
        b.push(INT64);
        cstring(&mut b, "versions");
        b.extend(versions_i64(times.versions).to_le_bytes());
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
        d.append("_src", src_slow(times, partition, offset));
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
    if let Rows::Replace(rows) = &times.rows {
        let mut array = bson::RawArrayBuf::new();
        for row in rows {
            array.push(row.as_str());
        }
        d.append(ROWS, array);
    }
}

/// `_src`, the slow way.
fn src_slow(times: &Times, partition: i32, offset: i64) -> RawDocumentBuf {
    let mut src = bson::rawdoc! { "partition": partition, "offset": offset };
    if times.current_offset != offset {
        src.append("current", times.current_offset);
    }
    if times.versions > 1 {
        src.append("versions", versions_i64(times.versions));
    }
    src
}

#[cfg(test)]
mod tests {
    use bson::{rawdoc, Bson, RawBson};

    use super::*;

    fn times() -> Times {
        Times {
            observed_at: 1_693_549_800_250,
            current_offset: 9,
            first_seen: 1_693_526_400_000,
            last_seen: 1_693_549_800_250,
            price_change_count: 2,
            versions: 2,
            rows: Rows::Replace(vec!["[1]".into(), "[2]".into()]),
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
                rawdoc! { "partition": partition, "offset": offset, "current": 9_i64, "versions": 2_i64 },
            );
            let got = product("B01", &fields, name, &times(), partition, offset);
            assert_eq!(got.as_bytes(), want.as_bytes());
            let rows = got.get_array(ROWS).unwrap();
            let rows: Vec<&str> = rows
                .into_iter()
                .map(|r| r.unwrap().as_str().unwrap())
                .collect();
            assert_eq!(rows, ["[1]", "[2]"]);
        }
        let once = Times {
            versions: 1,
            rows: Rows::Keep,
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
        assert!(got.get(ROWS).unwrap().is_none());
        // Rows appended are not the document's: the caller pushes them.
        let appended = Times {
            rows: Rows::Append(vec!["[3]".into()]),
            ..times()
        };
        let got = product("B05", &RawDocumentBuf::new(), None, &appended, 1, 2);
        assert!(got.get(ROWS).unwrap().is_none());
        assert_eq!(got.get_document("_src").unwrap().get_i64("versions"), Ok(2));
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

    #[test]
    fn a_version_before_the_newest_appends_or_replaces_rows() {
        let append = Times {
            rows: Rows::Append(vec!["[3]".into()]),
            versions: 3,
            ..times()
        };
        let u = times_update(&append, 1, 12);
        assert_eq!(
            u.get_document("$push").unwrap(),
            &doc! { ROWS: { "$each": ["[3]"] } }
        );
        assert!(!u.contains_key("$unset"));
        let set = u.get_document("$set").unwrap();
        assert!(!set.contains_key(ROWS));
        assert_eq!(
            set.get_document("_src").unwrap(),
            &doc! { "partition": 1, "offset": 12_i64, "current": 9_i64, "versions": 3_i64 }
        );
        let replace = times_update(&times(), 1, 12);
        assert!(!replace.contains_key("$push"));
        let set = replace.get_document("$set").unwrap();
        assert_eq!(
            set.get_array(ROWS).unwrap(),
            &vec![Bson::from("[1]"), Bson::from("[2]")]
        );
        // A history stored as text goes.
        assert_eq!(
            replace.get_document("$unset").unwrap(),
            &doc! { LEGACY_HISTORY: "" }
        );
    }
}
