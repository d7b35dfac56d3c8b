//! A product's stored document, written as BSON bytes in one buffer of
//! the right size: `_id` (the asin), the event's fields (already BSON, see
//! `json_bson`), `category_name` and `_src` (where the event was read).
//!
//! The fields are most of the bytes and are copied once; building the
//! small parts as documents of their own and joining them cost a tenth of
//! the sink's CPU in a profile (docs/benchmarks.md).

use bson::RawDocumentBuf;

use crate::bson_bytes::{cstring, end, start, string, DOCUMENT, INT32, INT64, NULL};

/// The document stored for a product.
pub fn product(
    asin: &str,
    fields: &RawDocumentBuf,
    category_name: Option<&str>,
    partition: i32,
    offset: i64,
) -> RawDocumentBuf {
    let field_bytes = fields.as_bytes();
    let elements = &field_bytes[4..field_bytes.len() - 1];
    let name_len = category_name.map_or(0, str::len);
    let mut b = Vec::with_capacity(96 + asin.len() + elements.len() + name_len);
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
    b.push(DOCUMENT);
    cstring(&mut b, "_src");
    let src = start(&mut b);
    b.push(INT32);
    cstring(&mut b, "partition");
    b.extend(partition.to_le_bytes());
    b.push(INT64);
    cstring(&mut b, "offset");
    b.extend(offset.to_le_bytes());
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
        d.append(
            "_src",
            bson::rawdoc! { "partition": partition, "offset": offset },
        );
        d
    })
}

#[cfg(test)]
mod tests {
    use bson::{rawdoc, RawBson};

    use super::*;

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
            want.append("_src", rawdoc! { "partition": partition, "offset": offset });
            let got = product("B01", &fields, name, partition, offset);
            assert_eq!(got.as_bytes(), want.as_bytes());
        }
        let empty = product("B02", &RawDocumentBuf::new(), None, 1, 2);
        assert_eq!(empty.get_str("_id").unwrap(), "B02");
    }
}
