//! A product's stored document, written as BSON bytes in one buffer of
//! the right size: `_id` (the asin), the event's fields (already BSON, see
//! `json_bson`), `category_name` and `_src` (where the event was read).
//!
//! The fields are most of the bytes and are copied once; building the
//! small parts as documents of their own and joining them cost a tenth of
//! the sink's CPU in a profile (docs/benchmarks.md).

use bson::RawDocumentBuf;

const DOUBLE_NUL: usize = 2;
const STRING: u8 = 0x02;
const DOCUMENT: u8 = 0x03;
const NULL: u8 = 0x0A;
const INT32: u8 = 0x10;
const INT64: u8 = 0x12;

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
    let mut b = Vec::with_capacity(96 + asin.len() + elements.len() + name_len + DOUBLE_NUL);
    b.extend([0; 4]);
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
    let src = b.len();
    b.extend([0; 4]);
    b.push(INT32);
    cstring(&mut b, "partition");
    b.extend(partition.to_le_bytes());
    b.push(INT64);
    cstring(&mut b, "offset");
    b.extend(offset.to_le_bytes());
    b.push(0);
    let src_len = len_i32(b.len() - src);
    b[src..src + 4].copy_from_slice(&src_len);
    b.push(0);
    let total = len_i32(b.len());
    b[..4].copy_from_slice(&total);
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

/// A string element. Keys here are constants without NUL; a value may hold
/// one (BSON strings carry their length).
fn string(b: &mut Vec<u8>, key: &str, value: &str) {
    b.push(STRING);
    cstring(b, key);
    b.extend(len_i32(value.len() + 1));
    b.extend_from_slice(value.as_bytes());
    b.push(0);
}

fn cstring(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(s.as_bytes());
    b.push(0);
}

/// A length as BSON writes it; a product document is at most 16 MiB.
fn len_i32(n: usize) -> [u8; 4] {
    i32::try_from(n).unwrap_or(i32::MAX).to_le_bytes()
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
