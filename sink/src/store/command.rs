//! A write command put together from its encoded statements in one buffer
//! of the right size: `{<command>: <collection>, <field>: [...], ordered:
//! true}`.
//!
//! Built with `RawArrayBuf` and `RawDocumentBuf::append`, a command of
//! 5,000 products (about 2.5 MB) was copied twice more, through buffers
//! grown by doubling, before the driver copied it once again to the wire.

use bson::{Document, RawDocumentBuf};

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

/// BSON element types used here.
const STRING: u8 = 0x02;
const DOCUMENT: u8 = 0x03;
const ARRAY: u8 = 0x04;
const BOOLEAN: u8 = 0x08;

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
    b.extend([0; 4]);
    b.push(STRING);
    cstring(&mut b, command);
    b.extend(len_i32(collection.len() + 1));
    cstring(&mut b, collection);
    b.push(ARRAY);
    cstring(&mut b, field);
    let array_start = b.len();
    b.extend([0; 4]);
    for (i, item) in items.iter().enumerate() {
        b.push(DOCUMENT);
        cstring(&mut b, &i.to_string());
        b.extend_from_slice(item.as_bytes());
    }
    b.push(0);
    let array_len = len_i32(b.len() - array_start);
    b[array_start..array_start + 4].copy_from_slice(&array_len);
    b.push(BOOLEAN);
    cstring(&mut b, "ordered");
    b.push(1);
    b.push(0);
    let total = len_i32(b.len());
    b[..4].copy_from_slice(&total);
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

fn cstring(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(s.as_bytes());
    b.push(0);
}

/// A length as BSON writes it. Commands stay far below 2 GiB (16 MiB
/// documents, `MAX_COMMAND_BYTES` a command).
fn len_i32(n: usize) -> [u8; 4] {
    i32::try_from(n).unwrap_or(i32::MAX).to_le_bytes()
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
}
