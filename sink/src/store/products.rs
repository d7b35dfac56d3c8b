//! The products' own reads and writes, kept as BSON bytes.
//!
//! From the second daily snapshot on nearly every record updates a stored
//! product: read back and rewritten whole. Decoded into `Document`s (a map
//! per product, a `Bson` per field) the read alone took a fifth of the
//! sink's CPU over ten days (docs/benchmarks.md); the bytes are all the
//! plan and the update need.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use bson::{doc, RawDocument, RawDocumentBuf};
use futures::TryStreamExt;
use mongodb::options::FindOptions;
use shelf_contract::collections;

use super::command;
use super::{Guard, Store, StoreError, MAX_STATEMENTS};
use crate::bson_bytes::{self, Element, STRING};
use crate::plan::ProductWrite;
use crate::stored_document::ROWS;
use crate::ByAsin;

impl Store {
    /// The stored documents of these products, without their versions'
    /// rows (which grow with every day a product is seen).
    pub async fn products(&self, asins: &[String]) -> Result<Vec<RawDocumentBuf>, StoreError> {
        self.find_products(asins, doc! { ROWS: 0 }).await
    }

    /// The versions' rows of these products (`_id` and `_rows`).
    pub async fn product_rows(&self, asins: &[String]) -> Result<Vec<RawDocumentBuf>, StoreError> {
        self.find_products(asins, doc! { ROWS: 1 }).await
    }

    async fn find_products(
        &self,
        asins: &[String],
        projection: bson::Document,
    ) -> Result<Vec<RawDocumentBuf>, StoreError> {
        let coll = self.db.collection::<RawDocumentBuf>(collections::PRODUCTS);
        let mut out = Vec::with_capacity(asins.len());
        for chunk in asins.chunks(MAX_STATEMENTS) {
            let options = FindOptions::builder()
                .batch_size(10_000)
                .projection(projection.clone())
                .build();
            let docs: Vec<RawDocumentBuf> = self
                .timed_as("find", collections::PRODUCTS, async {
                    coll.find(doc! { "_id": { "$in": chunk } })
                        .with_options(options)
                        .await?
                        .try_collect()
                        .await
                })
                .await?;
            self.usage.record("find", collections::PRODUCTS, docs.len());
            out.extend(docs);
        }
        Ok(out)
    }

    /// Rewrites stored products: the fields of each document that its
    /// `previous` version (as read, without rows) lacks or holds otherwise
    /// are `$set`, those it had and the document has not are `$unset` (see
    /// [`Store::upsert`] for why not a replacement), and the rows are
    /// appended. `guard` as there: it makes `previous` the stored state.
    pub async fn update_products(
        &self,
        writes: Vec<ProductWrite>,
        previous: &ByAsin<RawDocumentBuf>,
        guard: Guard<'_>,
    ) -> Result<(), StoreError> {
        let statements = writes
            .into_iter()
            .map(|w| -> Result<RawDocumentBuf, String> {
                let d = &w.document;
                let id = d.get_str("_id").map_err(|e| e.to_string())?;
                let mut filter = doc! { "_id": id };
                filter.extend(guard(id));
                let filter = RawDocumentBuf::from_document(&filter).map_err(|e| e.to_string())?;
                let push = Some((ROWS, w.append.as_slice()));
                if let Some((set, gone)) = previous.get(id).and_then(|old| changes(old, d)) {
                    return Ok(command::set_statement(&filter, &set, &gone, push));
                }
                // Nothing readable to compare with: every field.
                let set: Cow<'_, [u8]> = match fields_after_id(d) {
                    Some(elements) => Cow::Borrowed(elements),
                    None => {
                        // Not a document `stored_document::product` wrote: the
                        // same, the slow way.
                        let mut fields = d.to_document().map_err(|e| e.to_string())?;
                        fields.remove("_id");
                        let raw =
                            RawDocumentBuf::from_document(&fields).map_err(|e| e.to_string())?;
                        let bytes = raw.as_bytes();
                        Cow::Owned(bytes[4..bytes.len() - 1].to_vec())
                    }
                };
                Ok(command::set_statement(&filter, &set, &[], push))
            });
        let statements = statements
            .map(|s| {
                s.map_err(|message| StoreError::Encode {
                    collection: collections::PRODUCTS.to_owned(),
                    message,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.update(collections::PRODUCTS, statements).await
    }
}

/// The element bytes of a document whose first element is its `_id`
/// string, after that element.
fn fields_after_id(d: &RawDocument) -> Option<&[u8]> {
    let b = d.as_bytes();
    let head = b.get(4..9)?;
    if head != [STRING, b'_', b'i', b'd', 0] {
        return None;
    }
    let len = i32::from_le_bytes(b.get(9..13)?.try_into().ok()?);
    let rest = 13 + usize::try_from(len).ok()?;
    b.get(rest..b.len().checked_sub(1)?)
}

/// What turns `old` into `new`: the bytes of `new`'s elements (its `_id`
/// aside) that `old` lacks or holds otherwise, and the keys `old` has and
/// `new` has not. `None` when either is not a well-formed document.
///
/// From one daily snapshot to the next most fields stay as they were:
/// only the changed ones cross to the store, which parses every byte.
fn changes(old: &RawDocument, new: &RawDocument) -> Option<(Vec<u8>, Vec<String>)> {
    let old = bson_bytes::elements(old.as_bytes())?;
    let new = bson_bytes::elements(new.as_bytes())?;
    let mut set = Vec::with_capacity(256);
    if old.len() > MATCHED_IN_ORDER || new.len() > MATCHED_IN_ORDER {
        return Some(changes_by_key(&old, &new));
    }
    // Usually the same keys in the same order, give or take one (`_rows`
    // written whole at a product's second version): each key of `new` is
    // looked for from where the last one was found.
    let mut found = [false; MATCHED_IN_ORDER];
    let mut next = 0;
    for n in &new {
        if n.key == b"_id" {
            continue;
        }
        let at = (next..old.len())
            .chain(0..next)
            .find(|&i| old[i].key == n.key);
        match at {
            Some(i) => {
                found[i] = true;
                next = i + 1;
                if old[i].bytes != n.bytes {
                    set.extend_from_slice(n.bytes);
                }
            }
            None => set.extend_from_slice(n.bytes),
        }
    }
    let gone = old
        .iter()
        .zip(found)
        .filter(|(e, found)| !found && !new.iter().any(|n| n.key == e.key))
        .map(|(e, _)| String::from_utf8_lossy(e.key).into_owned())
        .collect();
    Some((set, gone))
}

/// Documents with more fields than this are compared through a map:
/// matching keys in order costs the square of the fields when they are
/// not in the same order.
const MATCHED_IN_ORDER: usize = 64;

fn changes_by_key(old: &[Element<'_>], new: &[Element<'_>]) -> (Vec<u8>, Vec<String>) {
    let mut set = Vec::with_capacity(256);
    let stored: HashMap<&[u8], &[u8]> = old.iter().map(|e| (e.key, e.bytes)).collect();
    for n in new {
        if n.key != b"_id" && stored.get(n.key) != Some(&n.bytes) {
            set.extend_from_slice(n.bytes);
        }
    }
    let kept: HashSet<&[u8]> = new.iter().map(|e| e.key).collect();
    let gone = old
        .iter()
        .filter(|e| !kept.contains(e.key))
        .map(|e| String::from_utf8_lossy(e.key).into_owned())
        .collect();
    (set, gone)
}

#[cfg(test)]
mod tests {
    use bson::rawdoc;

    use super::*;

    #[test]
    fn the_fields_after_the_id_are_the_rest_of_the_document() {
        let d = rawdoc! { "_id": "B01", "title": "x", "n": { "a": 1 } };
        let want = rawdoc! { "title": "x", "n": { "a": 1 } };
        let want = want.as_bytes();
        assert_eq!(fields_after_id(&d), Some(&want[4..want.len() - 1]));
        assert_eq!(
            fields_after_id(&rawdoc! { "title": "x", "_id": "B01" }),
            None
        );
        assert_eq!(fields_after_id(&rawdoc! { "_id": 7 }), None);
    }

    /// The elements' bytes of a document built from these.
    fn elements(d: RawDocumentBuf) -> Vec<u8> {
        let b = d.as_bytes();
        b[4..b.len() - 1].to_vec()
    }

    #[test]
    fn changes_set_what_differs_and_unset_what_went() {
        let old = rawdoc! { "_id": "B01", "title": "x", "_hist": "v", "extra": 1 };
        let new = rawdoc! { "_id": "B01", "title": "y" };
        let (set, gone) = changes(&old, &new).unwrap();
        assert_eq!(set, elements(rawdoc! { "title": "y" }));
        assert_eq!(gone, ["_hist", "extra"]);
        // As many keys, one of them another.
        let new = rawdoc! { "_id": "B01", "title": "x", "_hist": "w", "other": 2 };
        let (set, gone) = changes(&old, &new).unwrap();
        assert_eq!(set, elements(rawdoc! { "_hist": "w", "other": 2 }));
        assert_eq!(gone, ["extra"]);
        // The same keys: only the values that differ, by type too.
        let new = rawdoc! { "_id": "B01", "title": "x", "_hist": "v", "extra": 1_i64 };
        let (set, gone) = changes(&old, &new).unwrap();
        assert_eq!(set, elements(rawdoc! { "extra": 1_i64 }));
        assert!(gone.is_empty());
        let (set, gone) = changes(&old, &old).unwrap();
        assert!(set.is_empty() && gone.is_empty());
        // Another order: compared by key.
        let new = rawdoc! { "_id": "B01", "extra": 1, "title": "z", "_hist": "v" };
        let (set, gone) = changes(&old, &new).unwrap();
        assert_eq!(set, elements(rawdoc! { "title": "z" }));
        assert!(gone.is_empty());
    }

    #[test]
    fn a_field_written_whole_at_the_second_version_is_set_and_the_rest_compared() {
        let old = rawdoc! { "_id": "B01", "title": "x", "price": 2, "_src": { "offset": 1 } };
        let new = rawdoc! {
            "_id": "B01", "title": "x", "price": 3, "_rows": ["a", "b"], "_src": { "offset": 1 }
        };
        let (set, gone) = changes(&old, &new).unwrap();
        assert_eq!(set, elements(rawdoc! { "price": 3, "_rows": ["a", "b"] }));
        assert!(gone.is_empty());
    }

    fn key_set() -> impl proptest::strategy::Strategy<Value = Vec<(String, i32)>> {
        use proptest::prelude::*;
        proptest::collection::vec(("[a-f]", 0..3), 0..8).prop_map(|fields| {
            let mut seen = std::collections::HashSet::new();
            fields
                .into_iter()
                .filter(|(k, _)| seen.insert(k.clone()))
                .collect()
        })
    }

    fn document(fields: &[(String, i32)]) -> RawDocumentBuf {
        let mut d = rawdoc! { "_id": "B01" };
        for (k, v) in fields {
            d.append(k.as_str(), *v);
        }
        d
    }

    proptest::proptest! {
        /// Matching keys in order says what matching them through maps
        /// says, whatever the order and the keys each side has.
        #[test]
        fn matched_in_order_as_by_key(old in key_set(), new in key_set()) {
            let (old, new) = (document(&old), document(&new));
            let got = changes(&old, &new).unwrap();
            let o = bson_bytes::elements(old.as_bytes()).unwrap();
            let n = bson_bytes::elements(new.as_bytes()).unwrap();
            let (set, mut gone) = changes_by_key(&o, &n);
            gone.sort();
            let mut got_gone = got.1.clone();
            got_gone.sort();
            proptest::prop_assert_eq!(got.0, set);
            proptest::prop_assert_eq!(got_gone, gone);
        }
    }
}
