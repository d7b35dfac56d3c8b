//! JSON bytes straight to BSON bytes, with MongoDB's rules on keys.
//!
//! The sink stores every product as BSON. Going through `serde_json::Value`
//! and `bson::Document` built two trees of small allocations per record
//! and encoded the document twice (once to check its size); a profile put
//! that at a third of the sink's CPU. Here the JSON parser's events are
//! written to the output bytes as they come.
//!
//! The result is the same document the trees gave: integers that fit
//! become Int64, other numbers Double, keys in input order. Two things
//! make the caller fall back to that slower path or refuse the record:
//! - a key MongoDB does not store (a '.', a leading '$', a NUL) is
//!   reported with its path, but only once the whole input has parsed,
//!   so that invalid JSON is reported as such first, as before;
//! - a key given twice in one object: serde_json keeps the last value, so
//!   such an input goes through the trees ([`via_trees`]), which do that.

use std::borrow::Cow;
use std::fmt;

use bson::{RawArrayBuf, RawBsonRef, RawDocumentBuf};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

#[derive(Debug)]
pub enum Error {
    Json(serde_json::Error),
    NotAnObject,
    /// The path of the first refused key and why.
    Key(String),
}

/// The JSON object `json` as a BSON document, without the top-level keys
/// in `skip` (their values are still checked).
#[cfg(test)]
pub fn document(json: &[u8], skip: &[&str]) -> Result<RawDocumentBuf, Error> {
    document_capturing(json, skip, None).map(|(d, _)| d)
}

/// [`document`], also giving the text of the top-level key `capture` (a
/// key in `skip`), when it is a string.
pub fn document_capturing(
    json: &[u8],
    skip: &[&str],
    capture: Option<&str>,
) -> Result<(RawDocumentBuf, Option<String>), Error> {
    let mut captured = None;
    let mut state = State::default();
    // About the JSON's size: appends then never grow the buffer.
    let mut empty = Vec::with_capacity(json.len() * 5 / 4 + 64);
    empty.extend([5, 0, 0, 0, 0]);
    let mut out = RawDocumentBuf::from_bytes(empty).unwrap_or_default();
    let mut de = serde_json::Deserializer::from_slice(json);
    let top = TopSeed {
        state: &mut state,
        out: &mut out,
        skip,
        capture: capture.map(|key| (key, &mut captured)),
    };
    match top.deserialize(&mut de) {
        Ok(()) => de.end().map_err(Error::Json)?,
        Err(_) if state.not_object => {
            de.end().map_err(Error::Json)?;
            return Err(Error::NotAnObject);
        }
        // The fallback parses the whole input again, errors included.
        Err(_) if state.duplicate => return via_trees(json, skip, capture),
        Err(e) => return Err(Error::Json(e)),
    }
    if let Some(key) = state.refused {
        return Err(Error::Key(key));
    }
    Ok((out, captured))
}

/// A top-level key whose string value is kept apart.
type Capture<'c> = Option<(&'c str, &'c mut Option<String>)>;

#[derive(Default)]
struct State {
    /// The first refused key: nothing more is written after it.
    refused: Option<String>,
    duplicate: bool,
    not_object: bool,
    /// Keys from the top to the value being read.
    path: Vec<String>,
}

impl State {
    fn writing(&self) -> bool {
        self.refused.is_none()
    }

    /// Records `key` as refused when MongoDB would not store it.
    fn check(&mut self, key: &str) {
        let why = if key.contains('.') {
            "the key contains '.', which MongoDB does not store"
        } else if key.starts_with('$') {
            "the key starts with '$', which MongoDB does not store"
        } else if key.contains('\0') {
            "the key contains a NUL character"
        } else {
            return;
        };
        if self.refused.is_none() {
            let mut path = self.path.join("/");
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(key);
            self.refused = Some(format!("field `{path}`: {why}"));
        }
    }
}

/// Where a value goes.
enum Target<'t> {
    Field(&'t mut RawDocumentBuf, &'t str),
    Item(&'t mut RawArrayBuf),
    /// Kept apart when a string.
    Captured(&'t mut Option<String>),
    /// Read and checked, not kept.
    Nowhere,
}

impl Target<'_> {
    fn put(self, state: &State, value: RawBsonRef<'_>) {
        if !state.writing() {
            return;
        }
        match self {
            Target::Field(doc, key) => doc.append_ref(key, value),
            Target::Item(array) => array.push(value.to_raw_bson()),
            Target::Captured(slot) => {
                if let RawBsonRef::String(text) = value {
                    *slot = Some(text.to_owned());
                }
            }
            Target::Nowhere => {}
        }
    }
}

struct TopSeed<'s> {
    state: &'s mut State,
    out: &'s mut RawDocumentBuf,
    skip: &'s [&'s str],
    capture: Capture<'s>,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        fields(self.state, self.out, self.skip, self.capture, map)
    }
    // Anything else is not an object; read it to the end all the same,
    // so that invalid JSON is still reported as such.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        self.not_an_object()
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.not_an_object()
    }
}

impl TopSeed<'_> {
    fn not_an_object<E: de::Error>(self) -> Result<(), E> {
        self.state.not_object = true;
        Err(E::custom("not an object"))
    }
}

/// An object's fields into `out`, checking each key.
fn fields<'de, A: MapAccess<'de>>(
    state: &mut State,
    out: &mut RawDocumentBuf,
    skip: &[&str],
    mut capture: Capture<'_>,
    mut map: A,
) -> Result<(), A::Error> {
    let mut seen = SeenKeys::default();
    while let Some(key) = map.next_key_seed(KeySeed)? {
        if seen.contains(&key) {
            // The fallback takes the last value, as serde_json does.
            state.duplicate = true;
            return Err(de::Error::custom("duplicate key"));
        }
        state.check(&key);
        let target = if let Some((_, slot)) = capture.as_mut().filter(|(k, _)| *k == key) {
            Target::Captured(slot)
        } else if skip.contains(&key.as_ref()) || !state.writing() {
            Target::Nowhere
        } else {
            Target::Field(&mut *out, &key)
        };
        state.path.push(key.to_string());
        map.next_value_seed(ValueSeed { state, target })?;
        state.path.pop();
        seen.insert(key);
    }
    Ok(())
}

/// An object's keys so far: a list while short (a product has about 15),
/// a set beyond, so that a huge object is not quadratic.
#[derive(Default)]
struct SeenKeys<'de> {
    list: Vec<Cow<'de, str>>,
    set: std::collections::HashSet<Cow<'de, str>>,
}

impl<'de> SeenKeys<'de> {
    const LIST_MAX: usize = 32;

    fn contains(&self, key: &str) -> bool {
        self.list.iter().any(|k| k == key) || self.set.contains(key)
    }

    fn insert(&mut self, key: Cow<'de, str>) {
        if self.list.len() < Self::LIST_MAX {
            self.list.push(key);
        } else {
            self.set.insert(key);
        }
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

struct ValueSeed<'s, 't> {
    state: &'s mut State,
    target: Target<'t>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.target.put(self.state, RawBsonRef::Null);
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.target.put(self.state, RawBsonRef::Boolean(v));
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.target.put(self.state, RawBsonRef::Int64(v));
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        let value = match i64::try_from(v) {
            Ok(i) => RawBsonRef::Int64(i),
            Err(_) => RawBsonRef::Double(v as f64),
        };
        self.target.put(self.state, value);
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.target.put(self.state, RawBsonRef::Double(v));
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.target.put(self.state, RawBsonRef::String(v));
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let mut doc = RawDocumentBuf::new();
        fields(self.state, &mut doc, &[], None, map)?;
        self.target.put(self.state, RawBsonRef::Document(&doc));
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut array = RawArrayBuf::new();
        loop {
            let target = Target::Item(&mut array);
            let more = seq.next_element_seed(ValueSeed {
                state: &mut *self.state,
                target,
            })?;
            if more.is_none() {
                break;
            }
        }
        self.target
            .put(self.state, RawBsonRef::Array(array.as_ref()));
        Ok(())
    }
}

/// What [`document`] gives, through `serde_json::Value` and
/// `bson::Document`: slower, and the last of duplicate keys wins.
pub fn via_trees(
    json: &[u8],
    skip: &[&str],
    capture: Option<&str>,
) -> Result<(RawDocumentBuf, Option<String>), Error> {
    let value: serde_json::Value = serde_json::from_slice(json).map_err(Error::Json)?;
    if !value.is_object() {
        return Err(Error::NotAnObject);
    }
    let mut state = State::default();
    check_keys(&value, &mut state);
    if let Some(key) = state.refused {
        return Err(Error::Key(key));
    }
    let bson::Bson::Document(mut doc) = to_bson(value) else {
        return Err(Error::NotAnObject);
    };
    let captured = match capture.and_then(|key| doc.remove(key)) {
        Some(bson::Bson::String(text)) => Some(text),
        _ => None,
    };
    for key in skip {
        doc.remove(*key);
    }
    RawDocumentBuf::from_document(&doc)
        .map(|d| (d, captured))
        .map_err(|e| Error::Key(e.to_string()))
}

fn check_keys(value: &serde_json::Value, state: &mut State) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                state.check(key);
                state.path.push(key.clone());
                check_keys(v, state);
                state.path.pop();
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| check_keys(v, state)),
        _ => {}
    }
}

/// JSON to BSON without extended-JSON interpretation: integers that fit
/// become Int64, other numbers Double.
fn to_bson(value: serde_json::Value) -> bson::Bson {
    use bson::Bson;
    use serde_json::Value;
    match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Bson::Int64(i),
            None => Bson::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Bson::String(s),
        Value::Array(items) => Bson::Array(items.into_iter().map(to_bson).collect()),
        Value::Object(map) => {
            Bson::Document(map.into_iter().map(|(k, v)| (k, to_bson(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests;
