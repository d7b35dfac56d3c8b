//! Writing BSON by hand, for the two places that put documents together
//! from already-encoded parts (`stored_document`, `store::command`): the
//! element types they use and the small pieces every element is made of.

pub const DOUBLE: u8 = 0x01;
pub const STRING: u8 = 0x02;
pub const DOCUMENT: u8 = 0x03;
pub const ARRAY: u8 = 0x04;
pub const BOOLEAN: u8 = 0x08;
pub const DATETIME: u8 = 0x09;
pub const NULL: u8 = 0x0A;
pub const INT32: u8 = 0x10;
pub const INT64: u8 = 0x12;

/// A key (or any C string). Callers pass constants and names without NUL.
pub fn cstring(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(s.as_bytes());
    b.push(0);
}

/// A string element. The value may hold NUL (BSON strings carry their
/// length).
pub fn string(b: &mut Vec<u8>, key: &str, value: &str) {
    b.push(STRING);
    cstring(b, key);
    b.extend(len_i32(value.len() + 1));
    b.extend_from_slice(value.as_bytes());
    b.push(0);
}

/// Starts a document (or array) at the end of `b`: its length is filled
/// in by [`end`] with what this returns.
pub fn start(b: &mut Vec<u8>) -> usize {
    let at = b.len();
    b.extend([0; 4]);
    at
}

/// Ends the document started at `at`.
pub fn end(b: &mut Vec<u8>, at: usize) {
    b.push(0);
    let len = len_i32(b.len() - at);
    b[at..at + 4].copy_from_slice(&len);
}

/// A length as BSON writes it. What is written here stays far below 2 GiB
/// (documents of at most 16 MiB, commands of `MAX_COMMAND_BYTES`).
fn len_i32(n: usize) -> [u8; 4] {
    i32::try_from(n).unwrap_or(i32::MAX).to_le_bytes()
}

/// A top-level element of a document as laid out in its bytes: its type,
/// its key, and its value's bytes, not validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element<'a> {
    pub kind: u8,
    pub key: &'a [u8],
    pub value: &'a [u8],
    /// The whole element: type, key and value.
    pub bytes: &'a [u8],
}

impl<'a> Element<'a> {
    /// The value of a string element.
    pub fn as_str(&self) -> Option<&'a str> {
        if self.kind != STRING {
            return None;
        }
        // Length (with the NUL), the bytes, the NUL.
        let bytes = self.value.get(4..self.value.len().checked_sub(1)?)?;
        std::str::from_utf8(bytes).ok()
    }

    /// The value of an int32 or int64 element.
    pub fn as_i64(&self) -> Option<i64> {
        match self.kind {
            INT32 => Some(i64::from(i32::from_le_bytes(self.value.try_into().ok()?))),
            INT64 => Some(i64::from_le_bytes(self.value.try_into().ok()?)),
            _ => None,
        }
    }

    /// The value of a datetime element, ms since the epoch.
    pub fn as_datetime(&self) -> Option<i64> {
        (self.kind == DATETIME)
            .then(|| Some(i64::from_le_bytes(self.value.try_into().ok()?)))
            .flatten()
    }

    /// The items of an array element, in order.
    pub fn as_array(&self) -> Option<Vec<Element<'a>>> {
        (self.kind == ARRAY).then(|| elements(self.value)).flatten()
    }

    /// The value of an embedded document element.
    pub fn as_document(&self) -> Option<&'a bson::RawDocument> {
        (self.kind == DOCUMENT)
            .then(|| bson::RawDocument::from_bytes(self.value).ok())
            .flatten()
    }
}

/// A document's top-level elements, read by their sizes without parsing
/// the values (`RawDocument`'s iterator validates every value, which cost
/// a twentieth of the sink's CPU when products are rewritten, and as much
/// again when they are read back). `None` when the bytes are not a
/// well-formed document.
pub fn elements(doc: &[u8]) -> Option<Vec<Element<'_>>> {
    let mut elements = Vec::with_capacity(32);
    let mut at = 4;
    let last = doc.len().checked_sub(1)?;
    while at < last {
        let element_start = at;
        let kind = doc[at];
        let key_start = at + 1;
        let key_len = doc.get(key_start..last)?.iter().position(|b| *b == 0)?;
        let key = &doc[key_start..key_start + key_len];
        at = key_start + key_len + 1;
        let len_at = |at: usize| -> Option<usize> {
            let bytes: [u8; 4] = doc.get(at..at + 4)?.try_into().ok()?;
            usize::try_from(i32::from_le_bytes(bytes)).ok()
        };
        let size = match kind {
            // double, datetime, timestamp, int64
            0x01 | 0x09 | 0x11 | 0x12 => 8,
            // string, JavaScript code, symbol: length-prefixed
            0x02 | 0x0D | 0x0E => 4 + len_at(at)?,
            // document, array, code with scope: the length includes itself
            0x03 | 0x04 | 0x0F => len_at(at)?,
            // binary: length, subtype, bytes
            0x05 => 5 + len_at(at)?,
            // undefined, null, min key, max key
            0x06 | 0x0A | 0x7F | 0xFF => 0,
            0x07 => 12,
            0x08 => 1,
            // regular expression: two C strings
            0x0B => {
                let first = doc.get(at..last)?.iter().position(|b| *b == 0)? + 1;
                first + doc.get(at + first..last)?.iter().position(|b| *b == 0)? + 1
            }
            // DB pointer: a string and an ObjectId
            0x0C => 4 + len_at(at)? + 12,
            0x10 => 4,
            0x13 => 16,
            _ => return None,
        };
        let value = doc.get(at..at.checked_add(size)?)?;
        at += size;
        elements.push(Element {
            kind,
            key,
            value,
            bytes: &doc[element_start..at],
        });
    }
    (at == last && doc[last] == 0).then_some(elements)
}

#[cfg(test)]
mod tests {
    use bson::{doc, oid::ObjectId, Binary, RawDocumentBuf, Regex, Timestamp};

    use super::*;

    #[test]
    fn keys_are_read_past_every_kind_of_value() {
        let d = doc! {
            "d": 1.5, "s": "text", "o": { "a": [1, 2] }, "arr": [ "x" ],
            "bin": Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![1, 2, 3] },
            "oid": ObjectId::new(), "b": true, "t": bson::DateTime::from_millis(5), "n": null,
            "re": Regex { pattern: "a.*".into(), options: "i".into() }, "i": 7,
            "ts": Timestamp { time: 1, increment: 2 }, "l": 9_i64,
            "dec": bson::Decimal128::from_bytes([0; 16]), "min": bson::Bson::MinKey,
            "max": bson::Bson::MaxKey, "last": "end",
        };
        let raw = RawDocumentBuf::from_document(&d).unwrap();
        let got: Vec<&str> = elements(raw.as_bytes())
            .unwrap()
            .into_iter()
            .map(|e| std::str::from_utf8(e.key).unwrap())
            .collect();
        let want: Vec<&str> = d.keys().map(String::as_str).collect();
        assert_eq!(got, want);
        assert_eq!(elements(&raw.as_bytes()[..raw.as_bytes().len() - 3]), None);
        assert_eq!(elements(&[5, 0, 0, 0, 0]), Some(vec![]));
    }

    #[test]
    fn elements_give_their_values_as_the_document_holds_them() {
        let d = doc! {
            "s": "text", "i": 7, "l": -9_i64, "o": { "a": 1 }, "n": null, "e": "",
            "t": bson::DateTime::from_millis(-5), "r": ["x", "y"],
        };
        let raw = RawDocumentBuf::from_document(&d).unwrap();
        let elements = elements(raw.as_bytes()).unwrap();
        let by_key = |k: &str| *elements.iter().find(|e| e.key == k.as_bytes()).unwrap();
        assert_eq!(by_key("s").as_str(), Some("text"));
        assert_eq!(by_key("e").as_str(), Some(""));
        assert_eq!(by_key("i").as_i64(), Some(7));
        assert_eq!(by_key("l").as_i64(), Some(-9));
        assert_eq!(by_key("s").as_i64(), None);
        assert_eq!(by_key("n").as_str(), None);
        let o = by_key("o").as_document().unwrap();
        assert_eq!(o.get_i32("a").unwrap(), 1);
        assert!(by_key("i").as_document().is_none());
        assert_eq!(by_key("t").as_datetime(), Some(-5));
        // Each element's bytes, one after the other, are the document's.
        let joined: Vec<u8> = elements
            .iter()
            .flat_map(|e| e.bytes.iter().copied())
            .collect();
        assert_eq!(joined, raw.as_bytes()[4..raw.as_bytes().len() - 1]);
        assert_eq!(by_key("l").as_datetime(), None);
        let r: Vec<&str> = by_key("r")
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(r, ["x", "y"]);
        assert!(by_key("o").as_array().is_none());
        // A value that runs past the end.
        let mut bytes = raw.as_bytes().to_vec();
        bytes.truncate(bytes.len() - 2);
        bytes.push(0);
        assert_eq!(super::elements(&bytes), None);
    }
}
