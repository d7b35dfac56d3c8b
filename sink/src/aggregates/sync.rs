//! Writing the aggregates: each one's documents, computed from the merged
//! partials, against what this instance last wrote, so a merge sends only
//! the documents that changed since the one before.
//!
//! What the store holds is read back whole only when this instance does not
//! know it: at start, after a rebalance or a failed write, and on every
//! verify interval. The read on the verify interval is what repairs a write
//! that raced with another instance's (or a killed instance's last command
//! that the store finished late): its cost is bounded by the number of
//! categories and buckets, not by the data or the partitions.

use std::collections::HashMap;

use bson::{Bson, Document};

use super::{all, Aggregate, Merged};
use crate::store::{id_key, Store, StoreError};

/// A collection's documents by `_id` (as text).
type Held = HashMap<String, Document>;

/// The aggregate documents as this instance last wrote or read them.
#[derive(Debug)]
pub struct Aggregates {
    list: Vec<Box<dyn Aggregate>>,
    /// Per aggregate (same order as `list`); `None` when not known.
    known: Option<Vec<Held>>,
    /// The figures `known` was computed from: an aggregate recomputes only
    /// what changed since ([`Aggregate::changed`]).
    previous: Option<Merged<'static>>,
}

impl Default for Aggregates {
    /// Every aggregate.
    fn default() -> Self {
        Self::of(all())
    }
}

impl Aggregates {
    /// These aggregates, nothing known of what the store holds.
    pub fn of(list: Vec<Box<dyn Aggregate>>) -> Self {
        Self {
            list,
            known: None,
            previous: None,
        }
    }

    /// Forgets what the store holds: the next sync reads it first.
    pub fn forget(&mut self) {
        self.known = None;
        self.previous = None;
    }

    /// Makes the store hold exactly each aggregate's documents for
    /// `merged`; returns the number of documents written or deleted. With
    /// `verify`, or when the stored documents are not known, they are read
    /// first.
    pub async fn sync(
        &mut self,
        store: &Store,
        merged: &Merged<'_>,
        verify: bool,
    ) -> Result<usize, StoreError> {
        // Taken: left unknown if a write below fails, since it may have
        // been made or not.
        let mut previous = self.previous.take();
        let known = match self.known.take() {
            Some(k) if !verify => k,
            Some(mut k) => {
                // The verify: each aggregate's scope read back, the rest
                // of what this instance knows kept.
                for (a, held) in self.list.iter().zip(&mut k) {
                    match a.verify_scope(merged) {
                        Some(scope) => {
                            held.retain(|_, d| !(scope.holds)(d));
                            held.extend(by_id(
                                store.find_where(a.collection(), scope.filter).await?,
                            ));
                        }
                        None => *held = by_id(store.all(a.collection()).await?),
                    }
                }
                k
            }
            None => {
                previous = None;
                let mut read = Vec::with_capacity(self.list.len());
                for a in &self.list {
                    read.push(by_id(store.all(a.collection()).await?));
                }
                read
            }
        };
        let mut changes = 0;
        let mut now_known = Vec::with_capacity(self.list.len());
        for (aggregate, current) in self.list.iter().zip(known) {
            let part = previous
                .as_ref()
                .and_then(|p| aggregate.changed(merged, p, verify));
            let Some(part) = part else {
                let wanted = by_id(aggregate.documents(merged));
                changes += write(store, aggregate.as_ref(), &wanted, &current).await?;
                now_known.push(wanted);
                continue;
            };
            let wanted = by_id(part.documents);
            let (inside, mut outside): (Held, Held) =
                current.into_iter().partition(|(_, d)| (part.holds)(d));
            changes += write(store, aggregate.as_ref(), &wanted, &inside).await?;
            outside.extend(wanted);
            now_known.push(outside);
        }
        self.known = Some(now_known);
        self.previous = Some(merged.owned());
        Ok(changes)
    }
}

fn by_id(documents: Vec<Document>) -> Held {
    documents
        .into_iter()
        .map(|d| (d.get("_id").map(id_key).unwrap_or_default(), d))
        .collect()
}

/// Makes the aggregate's collection hold `wanted` where it holds
/// `current`: rewrites what differs, deletes what is no longer wanted.
async fn write(
    store: &Store,
    aggregate: &dyn Aggregate,
    wanted: &Held,
    current: &Held,
) -> Result<usize, StoreError> {
    let id = |d: &Document| d.get("_id").cloned().unwrap_or(Bson::Null);
    let stale: Vec<Bson> = current
        .iter()
        .filter(|(k, _)| !wanted.contains_key(*k))
        .map(|(_, d)| id(d))
        .collect();
    let changed: Vec<(Bson, Document)> = wanted
        .iter()
        .filter_map(|(k, w)| {
            let old = current.get(k);
            (old != Some(w)).then(|| (id(w), aggregate.update(w, old)))
        })
        .collect();
    let n = changed.len() + stale.len();
    let collection = aggregate.collection();
    store.update_by_id(collection, changed, None).await?;
    store.delete_ids(collection, stale).await?;
    Ok(n)
}
