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
use crate::bson_bytes::{self, STRING};

impl Store {
    /// The stored documents of these products.
    pub async fn products(&self, asins: &[String]) -> Result<Vec<RawDocumentBuf>, StoreError> {
        let coll = self.db.collection::<RawDocumentBuf>(collections::PRODUCTS);
        let mut out = Vec::with_capacity(asins.len());
        for chunk in asins.chunks(MAX_STATEMENTS) {
            let options = FindOptions::builder().batch_size(10_000).build();
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

    /// Rewrites stored products: each document's fields `$set`, and the
    /// fields its `previous` version had and it has not `$unset` (see
    /// [`Store::upsert`] for why not a replacement). `guard` as there.
    pub async fn update_products(
        &self,
        docs: Vec<RawDocumentBuf>,
        previous: &HashMap<String, RawDocumentBuf>,
        guard: Guard<'_>,
    ) -> Result<(), StoreError> {
        let statements = docs.into_iter().map(|d| -> Result<RawDocumentBuf, String> {
            let id = d.get_str("_id").map_err(|e| e.to_string())?;
            let mut filter = doc! { "_id": id };
            filter.extend(guard(id));
            let filter = RawDocumentBuf::from_document(&filter).map_err(|e| e.to_string())?;
            let gone = previous
                .get(id)
                .map(|old| gone(old, &d))
                .unwrap_or_default();
            let set: Cow<'_, [u8]> = match fields_after_id(&d) {
                Some(elements) => Cow::Borrowed(elements),
                None => {
                    // Not a document `stored_document::product` wrote: the
                    // same, the slow way.
                    let mut fields = d.to_document().map_err(|e| e.to_string())?;
                    fields.remove("_id");
                    let raw = RawDocumentBuf::from_document(&fields).map_err(|e| e.to_string())?;
                    let bytes = raw.as_bytes();
                    Cow::Owned(bytes[4..bytes.len() - 1].to_vec())
                }
            };
            Ok(command::set_statement(&filter, &set, &gone))
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

/// The keys `old` has and `new` has not.
fn gone(old: &RawDocument, new: &RawDocument) -> Vec<String> {
    let old = bson_bytes::elements(old.as_bytes()).unwrap_or_default();
    let new = bson_bytes::elements(new.as_bytes()).unwrap_or_default();
    // Usually the same keys in the same order.
    if old.len() == new.len() && old.iter().zip(&new).all(|(o, n)| o.key == n.key) {
        return Vec::new();
    }
    let kept: HashSet<&[u8]> = new.iter().map(|e| e.key).collect();
    old.iter()
        .filter(|e| !kept.contains(e.key))
        .map(|e| String::from_utf8_lossy(e.key).into_owned())
        .collect()
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

    #[test]
    fn gone_keys_are_the_old_ones_the_new_document_lacks() {
        let old = rawdoc! { "_id": "B01", "title": "x", "_hist": "v", "extra": 1 };
        let new = rawdoc! { "_id": "B01", "title": "y" };
        assert_eq!(gone(&old, &new), ["_hist", "extra"]);
        // As many keys, one of them another.
        let new = rawdoc! { "_id": "B01", "title": "y", "_hist": "w", "other": 2 };
        assert_eq!(gone(&old, &new), ["extra"]);
        assert!(gone(&old, &old).is_empty());
    }
}
