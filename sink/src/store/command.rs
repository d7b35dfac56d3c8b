//! A write command put together from its encoded statements in one buffer
//! of the right size: `{<command>: <collection>, <field>: [...], ordered:
//! true}`.
//!
//! Built with `RawArrayBuf` and `RawDocumentBuf::append`, a command of
//! 5,000 products (about 2.5 MB) was copied twice more, through buffers
//! grown by doubling, before the driver copied it once again to the wire.

use bson::{Document, RawDocumentBuf};

use crate::bson_bytes::{cstring, end, start, string, ARRAY, BOOLEAN, DOCUMENT};

/// A document a write command carries, encoded once.
pub trait Encode {
    fn encode(self) -> bson::raw::Result<RawDocumentBuf>;
}

impl Encode for Document {
    fn encode(self) -> bson::raw::Result<RawDocumentBuf> {
        RawDocumentBuf::from_document(&self)
    }
}

impl Encode for RawDocumentBuf {
    fn encode(self) -> bson::raw::Result<RawDocumentBuf> {
        Ok(self)
    }
}

/// The command's body, statements in order.
pub fn body(
    command: &str,
    collection: &str,
    field: &str,
    items: &[RawDocumentBuf],
) -> RawDocumentBuf {
    let items_bytes: usize = items.iter().map(|d| d.as_bytes().len() + 8).sum();
    let mut b =
        Vec::with_capacity(64 + command.len() + collection.len() + field.len() + items_bytes);
    let doc = start(&mut b);
    string(&mut b, command, collection);
    b.push(ARRAY);
    cstring(&mut b, field);
    let array = start(&mut b);
    for (i, item) in items.iter().enumerate() {
        b.push(DOCUMENT);
        cstring(&mut b, &i.to_string());
        b.extend_from_slice(item.as_bytes());
    }
    end(&mut b, array);
    b.push(BOOLEAN);
    cstring(&mut b, "ordered");
    b.push(1);
    end(&mut b, doc);
    RawDocumentBuf::from_bytes(b).unwrap_or_else(|_| {
        // Not reached (the parts are well formed); the same, the slow way.
        let mut array = bson::RawArrayBuf::new();
        for item in items {
            array.push(item.clone());
        }
        let mut d = RawDocumentBuf::new();
        d.append(command, collection);
        d.append(field, array);
        d.append("ordered", true);
        d
    })
}

/// An update statement `{q: filter, u: {$set: {<fields>}, $unset: {<gone>:
/// ""}, $push: {<key>: {$each: [<items>]}}}, upsert: true, multi: true}`,
/// `fields` being a document's element bytes, copied in as they are; no
/// `$unset` or `$push` when there is nothing to unset or push.
pub fn set_statement(
    filter: &RawDocumentBuf,
    fields: &[u8],
    gone: &[String],
    push: Option<(&str, &[String])>,
) -> RawDocumentBuf {
    let q = filter.as_bytes();
    let gone_len: usize = gone.iter().map(|k| k.len() + 8).sum();
    let push_len: usize = push.map_or(0, |(_, items)| items.iter().map(|i| i.len() + 16).sum());
    let mut b = Vec::with_capacity(96 + q.len() + fields.len() + gone_len + push_len);
    let doc = start(&mut b);
    b.push(DOCUMENT);
    cstring(&mut b, "q");
    b.extend_from_slice(q);
    b.push(DOCUMENT);
    cstring(&mut b, "u");
    let u = start(&mut b);
    b.push(DOCUMENT);
    cstring(&mut b, "$set");
    let set = start(&mut b);
    b.extend_from_slice(fields);
    end(&mut b, set);
    if !gone.is_empty() {
        b.push(DOCUMENT);
        cstring(&mut b, "$unset");
        let unset = start(&mut b);
        for key in gone {
            string(&mut b, key, "");
        }
        end(&mut b, unset);
    }
    if let Some((key, items)) = push.filter(|(_, items)| !items.is_empty()) {
        b.push(DOCUMENT);
        cstring(&mut b, "$push");
        let op = start(&mut b);
        b.push(DOCUMENT);
        cstring(&mut b, key);
        let each_doc = start(&mut b);
        b.push(ARRAY);
        cstring(&mut b, "$each");
        let each = start(&mut b);
        for (i, item) in items.iter().enumerate() {
            string(&mut b, &i.to_string(), item);
        }
        end(&mut b, each);
        end(&mut b, each_doc);
        end(&mut b, op);
    }
    end(&mut b, u);
    for flag in ["upsert", "multi"] {
        b.push(BOOLEAN);
        cstring(&mut b, flag);
        b.push(1);
    }
    end(&mut b, doc);
    // Malformed only if `fields` is: the store refuses the statement then.
    RawDocumentBuf::from_bytes(b).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use bson::{rawdoc, RawArrayBuf};

    use super::*;

    #[test]
    fn the_body_equals_the_one_built_element_by_element() {
        let items = [
            rawdoc! { "_id": "B01", "price": 1.5, "n": { "a": [1, 2] } },
            rawdoc! {},
            rawdoc! { "_id": "B02", "title": "x".repeat(300) },
        ];
        for items in [&items[..], &items[..1], &[]] {
            let mut array = RawArrayBuf::new();
            for item in items {
                array.push(item.clone());
            }
            let mut want = RawDocumentBuf::new();
            want.append("insert", "products");
            want.append("documents", array);
            want.append("ordered", true);
            let got = body("insert", "products", "documents", items);
            assert_eq!(got.as_bytes(), want.as_bytes());
        }
    }

    #[test]
    fn a_set_statement_equals_the_one_built_as_a_document() {
        let q = rawdoc! { "_id": "B01", "_src.offset": 7_i64 };
        let fields = rawdoc! { "title": "x", "_src": { "offset": 9_i64 } };
        let bytes = fields.as_bytes();
        let elements = &bytes[4..bytes.len() - 1];
        let got = set_statement(&q, elements, &["_hist".to_owned()], None);
        let want = bson::doc! {
            "q": { "_id": "B01", "_src.offset": 7_i64 },
            "u": { "$set": { "title": "x", "_src": { "offset": 9_i64 } }, "$unset": { "_hist": "" } },
            "upsert": true, "multi": true,
        };
        assert_eq!(got.to_document().unwrap(), want);
        let rows = ["[1]".to_owned(), "[2]".to_owned()];
        let got = set_statement(&q, elements, &[], Some(("_rows", &rows)));
        let want = bson::doc! {
            "q": { "_id": "B01", "_src.offset": 7_i64 },
            "u": { "$set": { "title": "x", "_src": { "offset": 9_i64 } }, "$push": { "_rows": { "$each": ["[1]", "[2]"] } } },
            "upsert": true, "multi": true,
        };
        assert_eq!(got.to_document().unwrap(), want);
        let got = set_statement(&q, elements, &[], Some(("_rows", &[])));
        assert!(got
            .to_document()
            .unwrap()
            .get_document("u")
            .unwrap()
            .get("$unset")
            .is_none());
    }
}
