//! The stored form of a history (`_hist`): a JSON array with one array
//! per version, `[at, offset, category_id, price, listPrice, stars,
//! bestseller, bought, bucket, bucket_lo]`, amounts in millionths as text
//! (they may exceed 2^53).
//!
//! Read and written once per stored version of every product a batch
//! touches, so without a `String` per amount: rows borrow from the text
//! and amounts are written straight into the output.

use std::borrow::Cow;

use serde::ser::{SerializeSeq, SerializeTuple};
use serde::{Deserialize, Serialize, Serializer};

use super::{History, Version};
use crate::figures::Contribution;

impl History {
    pub fn to_text(&self) -> String {
        let mut out = Vec::with_capacity(2 + 96 * self.versions.len());
        let mut json = serde_json::Serializer::new(&mut out);
        // Integers, booleans and strings always serialise.
        if Rows(&self.versions).serialize(&mut json).is_err() {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }

    pub fn from_text(text: &str) -> Result<Self, serde_json::Error> {
        let rows: Vec<Row<'_>> = serde_json::from_str(text)?;
        Ok(Self {
            versions: rows.into_iter().map(Version::from).collect(),
        })
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
                bucket: r.8.into_owned(),
                bucket_lo: r.9,
            },
            list_micros: number(r.4),
        }
    }
}

struct Rows<'a>(&'a [Version]);

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
        t.serialize_element(&c.bucket)?;
        t.serialize_element(&c.bucket_lo)?;
        t.end()
    }
}

/// An amount written as a JSON string of its digits.
struct Text(i128);

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
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
        assert_eq!(history.versions[0].contribution.bucket, "a\"b");
        assert_eq!(history.to_text(), text);
    }
}
