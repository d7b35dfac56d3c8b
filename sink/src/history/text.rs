//! The stored form of a history's versions: one row of JSON text per
//! version, `[at, offset, category_id, price, listPrice, stars,
//! bestseller, bought, bucket, bucket_lo]`, amounts in millionths as text
//! (they may exceed 2^53). Stored as an array of rows (`_rows`); sinks
//! before it stored one JSON array of them as a single string (`_hist`),
//! still read.
//!
//! Rows borrow from the text when read, and amounts are written straight
//! into the output, without a `String` per amount.

use std::borrow::Cow;

#[cfg(test)]
use serde::ser::SerializeSeq;
use serde::ser::SerializeTuple;
use serde::{Deserialize, Serialize, Serializer};

use super::{History, Version};
use crate::figures::{AmountText as Text, Contribution};

/// One version's row.
pub(super) fn row(v: &Version) -> String {
    // Integers, booleans and strings always serialise.
    serde_json::to_string(&RowOf(v)).unwrap_or_default()
}

impl History {
    /// The versions stored as rows, oldest first, every one parsed.
    pub fn from_rows<'a>(
        rows: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, serde_json::Error> {
        let versions = rows
            .into_iter()
            .map(|r| serde_json::from_str::<Row<'_>>(r).map(Version::from))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            stored_rows: Some(versions.len()),
            versions,
            earlier: None,
        })
    }

    /// The history as one JSON array of rows: the text form sinks before
    /// `_rows` stored (`_hist`), kept to test that it is still read.
    #[cfg(test)]
    pub fn to_text(&self) -> String {
        let earlier = self
            .earlier
            .as_ref()
            .and_then(|e| e.text.as_deref())
            .unwrap_or("");
        let mut out = Vec::with_capacity(2 + earlier.len() + 96 * self.versions.len());
        let mut json = serde_json::Serializer::new(&mut out);
        // Integers, booleans and strings always serialise.
        if Rows(&self.versions).serialize(&mut json).is_err() {
            return String::new();
        }
        if !earlier.is_empty() {
            // `[` earlier `,` the parsed rows: spliced after the bracket.
            let rest = out.split_off(1);
            out.extend_from_slice(earlier.as_bytes());
            if rest.as_slice() != b"]" {
                out.push(b',');
            }
            out.extend_from_slice(&rest);
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// Every version parsed.
    pub fn from_text(text: &str) -> Result<Self, serde_json::Error> {
        let rows: Vec<Row<'_>> = serde_json::from_str(text)?;
        Ok(Self::of(rows.into_iter().map(Version::from).collect()))
    }

    /// The newest version parsed, the others kept as text; `changes` is
    /// the history's price change count as stored beside it.
    pub fn from_text_newest(text: &str, changes: i64) -> Result<Self, serde_json::Error> {
        let Some(rows) = split_rows(text).filter(|r| r.count > 1) else {
            return Self::from_text(text);
        };
        let first: Row<'_> = serde_json::from_str(&text[rows.first.clone()])?;
        let last: Row<'_> = serde_json::from_str(&text[rows.last.clone()])?;
        Ok(Self {
            versions: vec![Version::from(last)],
            earlier: Some(super::Earlier {
                // The rows before the last, without the comma after them.
                text: Some(text[rows.first.start..rows.last.start - 1].to_owned()),
                count: rows.count - 1,
                first_at: first.0,
                changes,
            }),
            stored_rows: None,
        })
    }
}

/// Where the rows of a stored history are: the first, the last and how
/// many.
struct RowSpans {
    first: std::ops::Range<usize>,
    last: std::ops::Range<usize>,
    count: usize,
}

/// Finds the rows of `[[..],[..],..]` in one pass over the bytes, minding
/// strings (a bucket label may hold brackets). `None` when the text is
/// not of that shape or rows are not separated by a single comma.
fn split_rows(text: &str) -> Option<RowSpans> {
    let b = text.as_bytes();
    let mut depth = 0_u32;
    let (mut start, mut first, mut last, mut count) = (0, None, None, 0);
    // From one bracket or quote to the next: a history is read back for
    // every version stored, and most of its bytes are digits.
    let mut at = 0;
    while let Some(found) = memchr::memchr3(b'"', b'[', b']', &b[at..]) {
        let i = at + found;
        at = i + 1;
        match b[i] {
            b'"' => at = string_end(b, at)?,
            b'[' => {
                depth += 1;
                if depth == 2 {
                    if count > 0 && b.get(i.checked_sub(1)?) != Some(&b',') {
                        return None;
                    }
                    start = i;
                }
            }
            _ => {
                if depth == 2 {
                    count += 1;
                    first.get_or_insert(start..i + 1);
                    last = Some(start..i + 1);
                }
                depth = depth.checked_sub(1)?;
            }
        }
    }
    (depth == 0 && b.first() == Some(&b'[')).then_some(RowSpans {
        first: first?,
        last: last?,
        count,
    })
}

/// Where the JSON string whose contents start at `at` ends: past its
/// closing quote. `None` when it does not end.
fn string_end(b: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let i = at + memchr::memchr2(b'"', b'\\', b.get(at..)?)?;
        if b[i] == b'"' {
            return Some(i + 1);
        }
        // An escape: the next byte is part of it.
        at = i + 2;
    }
}

/// A version as read back.
#[derive(Deserialize)]
struct Row<'a>(
    i64,
    i64,
    i64,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] Option<Cow<'a, str>>,
    bool,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    Option<i64>,
);

impl From<Row<'_>> for Version {
    fn from(r: Row<'_>) -> Self {
        let number = |x: Option<Cow<'_, str>>| x.and_then(|x| x.parse().ok());
        Version {
            at: r.0,
            offset: r.1,
            contribution: Contribution {
                category_id: r.2,
                price_micros: number(r.3),
                stars_micros: number(r.5),
                bestseller: r.6,
                bought_last_month: r.7.parse().unwrap_or(0),
                bucket: r.8.as_ref().into(),
                bucket_lo: r.9,
            },
            list_micros: number(r.4),
        }
    }
}

#[cfg(test)]
struct Rows<'a>(&'a [Version]);

#[cfg(test)]
impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&RowOf(v))?;
        }
        seq.end()
    }
}

/// A version as written.
struct RowOf<'a>(&'a Version);

impl Serialize for RowOf<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (v, c) = (self.0, &self.0.contribution);
        let mut t = s.serialize_tuple(10)?;
        t.serialize_element(&v.at)?;
        t.serialize_element(&v.offset)?;
        t.serialize_element(&c.category_id)?;
        t.serialize_element(&c.price_micros.map(Text))?;
        t.serialize_element(&v.list_micros.map(Text))?;
        t.serialize_element(&c.stars_micros.map(Text))?;
        t.serialize_element(&c.bestseller)?;
        t.serialize_element(&Text(c.bought_last_month))?;
        t.serialize_element(&*c.bucket)?;
        t.serialize_element(&c.bucket_lo)?;
        t.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_form_reads_back_and_is_written_the_same() {
        // As written before rows were borrowed: the stored form must not
        // change under stored products.
        let text = concat!(
            r#"[[1693526400000,7,12,"19990000",null,"4500000",false,"50","10-20",10],"#,
            r#"[1693612800000,9,12,null,"25000000",null,true,"0","unpriced",null]]"#,
        );
        let history = History::from_text(text).unwrap();
        assert_eq!(history.versions.len(), 2);
        assert_eq!(
            history.versions[0].contribution.price_micros,
            Some(19_990_000)
        );
        assert_eq!(history.versions[1].list_micros, Some(25_000_000));
        assert_eq!(history.to_text(), text);
    }

    #[test]
    fn an_escaped_bucket_label_reads_back() {
        let text = r#"[[0,1,2,null,null,null,false,"0","a\"b",null]]"#;
        let history = History::from_text(text).unwrap();
        assert_eq!(&*history.versions[0].contribution.bucket, "a\"b");
        assert_eq!(history.to_text(), text);
    }

    #[test]
    fn rows_are_found_past_brackets_in_strings() {
        let text = r#"[[1,2,"a]b",null],[3,4,"c\"[",null],[5,6,"x",null]]"#;
        let rows = split_rows(text).unwrap();
        assert_eq!(rows.count, 3);
        assert_eq!(&text[rows.first], r#"[1,2,"a]b",null]"#);
        assert_eq!(&text[rows.last], r#"[5,6,"x",null]"#);
        assert!(split_rows("[[1] [2]]").is_none());
        assert!(split_rows("[[1],[2]").is_none());
        // A label ending in a backslash, and one of escapes and brackets.
        let text = r#"[[1,"a\\",null],[2,"]\\\"[",null]]"#;
        let rows = split_rows(text).unwrap();
        assert_eq!(rows.count, 2);
        assert_eq!(&text[rows.last], r#"[2,"]\\\"[",null]"#);
        assert!(
            split_rows(r#"[[1,"a],[2]]"#).is_none(),
            "a string that never ends"
        );
    }
}
