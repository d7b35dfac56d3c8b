//! Writing `category_stats` and `price_buckets`: the merge of all partials
//! ([`crate::figures::merge`]) against what this instance last wrote, so a
//! merge sends only the documents that changed since the one before.
//!
//! What the store holds is read back whole only when this instance does not
//! know it: at start, after a rebalance or a failed write, and on every
//! verify interval. The read on the verify interval is what repairs a write
//! that raced with another instance's (or a killed instance's last command
//! that the store finished late): its cost is bounded by the number of
//! categories and buckets, not by the data or the partitions.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use bson::{doc, Bson, Document};
use shelf_contract::collections;

use crate::figures::{CategoryStats, PriceBucket};
use crate::store::{Store, StoreError};

/// The aggregate documents as this instance last wrote or read them.
#[derive(Debug, Default)]
pub struct Aggregates {
    known: Option<Known>,
}

#[derive(Debug)]
struct Known {
    stats: HashMap<i64, CategoryStats>,
    buckets: HashMap<String, PriceBucket>,
}

impl Aggregates {
    /// Forgets what the store holds: the next sync reads it first.
    pub fn forget(&mut self) {
        self.known = None;
    }

    /// Makes the store hold exactly `stats` and `buckets`; returns the
    /// number of documents written or deleted. With `verify`, or when the
    /// stored documents are not known, they are read first.
    pub async fn sync(
        &mut self,
        store: &Store,
        stats: Vec<CategoryStats>,
        buckets: Vec<PriceBucket>,
        verify: bool,
    ) -> Result<usize, StoreError> {
        // Taken: left unknown if a write below fails, since it may have
        // been made or not.
        let known = match self.known.take() {
            Some(k) if !verify => k,
            _ => {
                let (stats, buckets) = store.merged().await?;
                Known::of(stats, buckets)
            }
        };
        let wanted = Known::of(stats, buckets);
        let changes = sync_collection(
            store,
            collections::CATEGORY_STATS,
            &wanted.stats,
            &known.stats,
            |id| Bson::Int64(*id),
            stats_update,
        )
        .await?
            + sync_collection(
                store,
                collections::PRICE_BUCKETS,
                &wanted.buckets,
                &known.buckets,
                |label| Bson::String(label.clone()),
                |b, _| set_all(b),
            )
            .await?;
        self.known = Some(wanted);
        Ok(changes)
    }
}

impl Known {
    fn of(stats: Vec<CategoryStats>, buckets: Vec<PriceBucket>) -> Self {
        Self {
            stats: stats.into_iter().map(|s| (s.id, s)).collect(),
            buckets: buckets.into_iter().map(|b| (b.label.clone(), b)).collect(),
        }
    }
}

/// Makes `collection` hold `wanted` where it holds `current`: rewrites what
/// differs, deletes what is no longer wanted. `update` turns a wanted
/// document (and the current one, if any) into update operators.
async fn sync_collection<K: Eq + Hash, T: PartialEq>(
    store: &Store,
    collection: &str,
    wanted: &HashMap<K, T>,
    current: &HashMap<K, T>,
    id: impl Fn(&K) -> Bson,
    update: impl Fn(&T, Option<&T>) -> Document,
) -> Result<usize, StoreError> {
    let stale: Vec<Bson> = current
        .keys()
        .filter(|k| !wanted.contains_key(*k))
        .map(&id)
        .collect();
    let changed: Vec<(Bson, Document)> = wanted
        .iter()
        .filter_map(|(k, w)| {
            let old = current.get(k);
            (old != Some(w)).then(|| (id(k), update(w, old)))
        })
        .collect();
    let n = changed.len() + stale.len();
    store.update_by_id(collection, changed, None).await?;
    store.delete_ids(collection, stale).await?;
    Ok(n)
}

/// `$set` of every field but `_id`.
fn set_all<T: serde::Serialize>(value: &T) -> Document {
    let mut fields = bson::to_document(value).unwrap_or_default();
    fields.remove("_id");
    doc! { "$set": fields }
}

/// The update of a `category_stats` document. Its bucket map is updated
/// entry by entry: FerretDB v1 would skip a `$set` of the whole map when
/// only its keys changed (one product moving from "5-10" to "10-15").
fn stats_update(new: &CategoryStats, old: Option<&CategoryStats>) -> Document {
    let Some(old) = old else {
        return set_all(new);
    };
    let mut fields = bson::to_document(new).unwrap_or_default();
    fields.remove("_id");
    fields.remove("buckets");
    let mut unset = Document::new();
    for (label, n) in &new.buckets {
        if old.buckets.get(label) != Some(n) {
            fields.insert(format!("buckets.{label}"), *n);
        }
    }
    let kept: HashSet<&String> = new.buckets.keys().collect();
    for label in old.buckets.keys().filter(|l| !kept.contains(l)) {
        unset.insert(format!("buckets.{label}"), "");
    }
    let mut update = doc! { "$set": fields };
    if !unset.is_empty() {
        update.insert("$unset", unset);
    }
    update
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(buckets: &[(&str, i64)]) -> CategoryStats {
        CategoryStats {
            id: 3,
            category_name: None,
            products: 2,
            priced: 2,
            price_sum: 20.0,
            avg_price: Some(10.0),
            bestsellers: 0,
            rated: 0,
            stars_sum: 0.0,
            avg_stars: None,
            bought_last_month: 0,
            buckets: buckets.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn bucket_maps_are_updated_entry_by_entry() {
        let old = stats(&[("5-10", 1), ("10-15", 1)]);
        let new = stats(&[("10-15", 1), ("15-20", 1)]);
        let update = stats_update(&new, Some(&old));
        let set = update.get_document("$set").unwrap();
        assert_eq!(set.get_i64("buckets.15-20").unwrap(), 1);
        assert!(!set.contains_key("buckets") && !set.contains_key("buckets.10-15"));
        assert!(update
            .get_document("$unset")
            .unwrap()
            .contains_key("buckets.5-10"));
        // A new document is set whole.
        let fresh = stats_update(&new, None);
        assert!(fresh.get_document("$set").unwrap().contains_key("buckets"));
    }
}
