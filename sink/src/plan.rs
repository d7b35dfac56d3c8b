//! What one batch of product records changes: pure logic, no I/O.
//!
//! Exactly-once without transactions rests on three rules (ARCHITECTURE.md
//! has the argument):
//!
//! 1. Every partial (one category within one partition) and every product
//!    document has a single writer: the instance that owns the partition
//!    (products are keyed by asin, so all versions of one are in one
//!    partition).
//! 2. Partials are written before the product documents whose old state
//!    they retract, and each carries the last offset it includes
//!    (`applied_offset`); each product carries the offset of its event.
//! 3. A replayed record changes a partial only if it is past the partial's
//!    offset, and changes nothing at all if the product already holds it
//!    or a later event.

use std::collections::HashMap;

use bson::{Bson, Document, RawDocumentBuf};

use crate::figures::{Contribution, Partial};
use shelf_contract::{Position, Reject, RejectReason};

use crate::product::ProductEvent;
use crate::reject;

/// Key of a partial: (partition, category id).
pub type PartialKey = (i32, i64);

/// A product record of the batch, parsed.
#[derive(Debug)]
pub struct ProductRecord<'a> {
    pub partition: i32,
    pub offset: i64,
    pub value: &'a [u8],
    pub event: Result<ProductEvent, Reject>,
}

/// What the store holds for a product before the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredProduct {
    pub partition: i32,
    pub offset: i64,
    /// `None` when the stored fields cannot be counted (written by hand?).
    pub contribution: Option<Contribution>,
}

/// A partition whose stored products may carry a category name that is
/// no longer the known one: they are renamed by a sweep
/// ([`crate::rename`]), in bounded slices after the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenameStart {
    pub partition: i32,
    /// Products counted by the partials whose name changed.
    pub products: i64,
}

/// The writes of one batch, in the order they must be made.
#[derive(Debug, Default)]
pub struct Plan {
    /// 1. The partials the batch changed (written with each partition's
    ///    rename sweep, started for these partitions).
    pub partials: Vec<Partial>,
    /// 2. The products' new states (full documents, by `_id`).
    pub products: Vec<RawDocumentBuf>,
    /// 3. Rejects (idempotent by `_id`; any time).
    pub rejects: Vec<Document>,
    /// Partitions whose stored products need a category's new name.
    pub renames: Vec<RenameStart>,
    /// Records applied, and records skipped because already applied.
    pub applied: u64,
    pub skipped: u64,
}

/// Applies `records` (in offset order within each partition) to
/// `partials`, the state of the partitions this instance owns, and says
/// what to write: [`Plan::partials`] are the new versions of the partials
/// the batch changed (the others are left as they are, not copied).
/// `stored` holds the products' states before the batch.
pub fn plan(
    partials: &HashMap<PartialKey, Partial>,
    records: Vec<ProductRecord<'_>>,
    stored: &HashMap<String, StoredProduct>,
    names: &HashMap<i64, String>,
    topic: &str,
) -> Plan {
    let mut plan = Plan::default();
    let mut changed: HashMap<PartialKey, Partial> = HashMap::new();
    let mut touched: Vec<PartialKey> = Vec::new();
    let mut batch_end: HashMap<i32, i64> = HashMap::new();
    // Each product's state as the batch goes; `Some` event once changed.
    let mut latest: HashMap<String, (StoredProduct, Option<ProductEvent>)> = HashMap::new();

    for r in records {
        let end = batch_end.entry(r.partition).or_insert(r.offset);
        *end = (*end).max(r.offset);
        let read_at = || Position::new(topic, r.partition, r.offset);
        let event = match r.event {
            Ok(e) => e,
            Err(refusal) => {
                plan.rejects
                    .push(reject::from_refusal(refusal, r.value, read_at()));
                continue;
            }
        };
        let current = latest
            .get(&event.asin)
            .map(|(s, _)| s.clone())
            .or_else(|| stored.get(&event.asin).cloned());
        match admit(&event.asin, current.as_ref(), r.partition, r.offset, topic) {
            Ok(true) => {}
            Ok(false) => {
                plan.skipped += 1;
                continue;
            }
            Err(refusal) => {
                plan.rejects
                    .push(reject::from_refusal(refusal, r.value, read_at()));
                continue;
            }
        }
        let mut apply = |c: &Contribution, sign: i64| {
            let key = (r.partition, c.category_id);
            let partial = changed.entry(key).or_insert_with(|| {
                partials
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| Partial::new(key.0, key.1, names.get(&key.1).cloned()))
            });
            // At or below the partial's offset: an earlier attempt at this
            // batch already counted it there.
            if r.offset > partial.applied_offset {
                partial.figures.apply(c, sign);
                touched.push(key);
            }
        };
        if let Some(old) = current.as_ref().and_then(|c| c.contribution.as_ref()) {
            apply(old, -1);
        }
        apply(&event.contribution, 1);
        plan.applied += 1;
        let state = StoredProduct {
            partition: r.partition,
            offset: r.offset,
            contribution: Some(event.contribution.clone()),
        };
        latest.insert(event.asin.clone(), (state, Some(event)));
    }

    for key in &touched {
        if let (Some(p), Some(end)) = (changed.get_mut(key), batch_end.get(&key.0)) {
            p.applied_offset = p.applied_offset.max(*end);
        }
    }
    plan.renames = renamed_partials(partials, &mut changed, names, &mut touched);
    touched.sort_unstable();
    touched.dedup();
    plan.partials = touched.iter().filter_map(|k| changed.remove(k)).collect();
    plan.products = latest
        .into_iter()
        .filter_map(|(asin, (state, event))| Some(product_document(asin, state, event?, names)))
        .collect();
    plan
}

/// Whether an event of `asin` read at `partition`/`offset` is applied
/// against the product's current state: not when the product already holds
/// it or a later event (a replay), refused when the product is stored from
/// another partition (the topic is not keyed by asin, and two owners would
/// write it).
fn admit(
    asin: &str,
    current: Option<&StoredProduct>,
    partition: i32,
    offset: i64,
    topic: &str,
) -> Result<bool, Reject> {
    let Some(cur) = current else {
        return Ok(true);
    };
    if cur.partition != partition {
        return Err(Reject::new(
            RejectReason::PartitionConflict,
            format!(
                "asin {asin} is stored from partition {} but this event came on partition {partition}; {topic} must be keyed by asin",
                cur.partition
            ),
        ));
    }
    Ok(cur.offset < offset)
}

/// Partials whose products carry another name than the one now known:
/// records the new name (the partial is touched, so written) and says
/// which partitions' products must be renamed, and how many at most.
/// `changed` holds the batch's new versions of `partials`.
fn renamed_partials(
    partials: &HashMap<PartialKey, Partial>,
    changed: &mut HashMap<PartialKey, Partial>,
    names: &HashMap<i64, String>,
    touched: &mut Vec<PartialKey>,
) -> Vec<RenameStart> {
    let stale = |key: &PartialKey, partial: &Partial| {
        names
            .get(&key.1)
            .is_some_and(|name| partial.named.as_ref() != Some(name))
    };
    // Copied only when their name changes, which is rare.
    let unchanged: Vec<PartialKey> = partials
        .iter()
        .filter(|(k, p)| !changed.contains_key(k) && stale(k, p))
        .map(|(k, _)| *k)
        .collect();
    for key in unchanged {
        if let Some(p) = partials.get(&key) {
            changed.insert(key, p.clone());
        }
    }
    let mut renames: HashMap<i32, i64> = HashMap::new();
    for (key, partial) in changed.iter_mut() {
        if !stale(key, partial) {
            continue;
        }
        if partial.figures.products > 0 {
            *renames.entry(key.0).or_default() += partial.figures.products;
        }
        partial.named = names.get(&key.1).cloned();
        touched.push(*key);
    }
    let mut renames: Vec<RenameStart> = renames
        .into_iter()
        .map(|(partition, products)| RenameStart {
            partition,
            products,
        })
        .collect();
    renames.sort_by_key(|r| r.partition);
    renames
}

/// The stored document of a product's new state.
fn product_document(
    asin: String,
    state: StoredProduct,
    event: ProductEvent,
    names: &HashMap<i64, String>,
) -> RawDocumentBuf {
    let name = names.get(&event.contribution.category_id);
    crate::stored_document::product(
        &asin,
        &event.fields,
        name.map(String::as_str),
        state.partition,
        state.offset,
    )
}

/// The state of a stored product document, as [`plan`] needs it.
pub fn stored_product(d: &Document) -> Option<(String, StoredProduct)> {
    let asin = d.get_str("_id").ok()?.to_owned();
    let src = d.get_document("_src").ok()?;
    let int = |name: &str| match src.get(name)? {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        _ => None,
    };
    let partition = i32::try_from(int("partition")?).ok()?;
    let offset = int("offset")?;
    Some((
        asin,
        StoredProduct {
            partition,
            offset,
            contribution: crate::product::contribution(d).ok(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregates::{CategoryStatsAggregate, Merged};
    use crate::product::parse;

    fn value(asin: &str, category: i64, price: f64) -> Vec<u8> {
        let lo = (price / 5.0).floor() as i64 * 5;
        format!(
            r#"{{"asin":"{asin}","title":"t","price":{price},"category_id":{category},"isBestSeller":false,
            "boughtInLastMonth":0,"price_bucket":"{lo}-{}","price_bucket_lo":{lo}}}"#,
            lo + 5
        )
        .into_bytes()
    }

    /// Runs `values` (partition 0, offsets from `first`) through a plan and
    /// "stores" its writes into `db` the way the sink would, optionally
    /// crashing after the partials are written.
    fn run(db: &mut Db, first: i64, values: &[Vec<u8>], crash_before_products: bool) {
        let records = values
            .iter()
            .enumerate()
            .map(|(i, v)| ProductRecord {
                partition: 0,
                offset: first + i as i64,
                value: v,
                event: parse(v),
            })
            .collect();
        // A restarted instance starts from what is stored.
        let plan = plan(&db.partials, records, &db.products, &db.names, "t");
        for p in plan.partials {
            db.partials.insert((p.partition, p.category_id), p);
        }
        if crash_before_products {
            return;
        }
        for d in plan.products {
            let (asin, state) = stored_product(&d.to_document().unwrap()).unwrap();
            db.products.insert(asin, state);
        }
    }

    #[derive(Default)]
    struct Db {
        partials: HashMap<PartialKey, Partial>,
        products: HashMap<String, StoredProduct>,
        names: HashMap<i64, String>,
    }

    fn totals(db: &Db) -> Vec<(i64, i64, f64)> {
        let stats = CategoryStatsAggregate::stats(&Merged::of(db.partials.values(), &db.names));
        stats
            .iter()
            .map(|s| (s.id, s.products, s.price_sum))
            .collect()
    }

    #[test]
    fn a_later_event_moves_the_product_between_categories() {
        let mut db = Db::default();
        run(
            &mut db,
            0,
            &[value("A", 1, 10.0), value("B", 1, 20.0)],
            false,
        );
        run(&mut db, 2, &[value("A", 2, 12.0)], false);
        assert_eq!(totals(&db), vec![(1, 1, 20.0), (2, 1, 12.0)]);
    }

    #[test]
    fn replaying_a_batch_after_any_crash_changes_nothing() {
        let batch = [
            value("A", 1, 10.0),
            value("A", 2, 11.0),
            value("B", 2, 5.0),
            value("A", 3, 12.0),
        ];
        let mut clean = Db::default();
        run(&mut clean, 0, &[value("A", 1, 1.0)], false);
        run(&mut clean, 1, &batch, false);
        let expected = totals(&clean);
        assert_eq!(expected, vec![(2, 1, 5.0), (3, 1, 12.0)]);

        // Crash after the partials, then replay the same records, whole or
        // from the middle (a new batch boundary), any number of times.
        for split in 0..batch.len() {
            let mut db = Db::default();
            run(&mut db, 0, &[value("A", 1, 1.0)], false);
            run(&mut db, 1, &batch, true);
            run(&mut db, 1, &batch[..split], true);
            run(&mut db, 1, &batch, false);
            run(&mut db, 1, &batch, false);
            assert_eq!(totals(&db), expected, "split at {split}");
        }
    }

    #[test]
    fn a_late_category_starts_a_rename_of_its_partition() {
        let mut db = Db::default();
        run(
            &mut db,
            0,
            &[value("A", 1, 10.0), value("B", 1, 11.0), value("C", 2, 1.0)],
            false,
        );
        assert_eq!(db.partials[&(0, 1)].named, None);
        db.names.insert(1, "Kettles".into());
        db.names.insert(3, "Nothing stored yet".into());
        let mut partials = db.partials.clone();
        let mut plan_and_adopt = |names: &HashMap<i64, String>| {
            let plan = plan(&partials, Vec::new(), &db.products, names, "t");
            for p in &plan.partials {
                partials.insert((p.partition, p.category_id), p.clone());
            }
            plan
        };
        let plan = plan_and_adopt(&db.names);
        assert_eq!(
            plan.renames,
            vec![RenameStart {
                partition: 0,
                products: 2
            }]
        );
        assert_eq!(plan.partials.len(), 1);
        assert_eq!(plan.partials[0].named.as_deref(), Some("Kettles"));
        // The name is recorded: nothing more to start.
        let plan = plan_and_adopt(&db.names);
        assert!(plan.renames.is_empty() && plan.partials.is_empty());
        // A new name for it starts another.
        db.names.insert(1, "Kettles & Jugs".into());
        let plan = plan_and_adopt(&db.names);
        assert_eq!(plan.renames.len(), 1);
    }

    #[test]
    fn refused_and_misrouted_records_become_rejects() {
        let partials = HashMap::new();
        let stored = HashMap::from([(
            "A".to_owned(),
            StoredProduct {
                partition: 5,
                offset: 0,
                contribution: None,
            },
        )]);
        let bad = br#"{"asin":"B","x.y":1}"#.to_vec();
        let a = value("A", 1, 1.0);
        let records = vec![
            ProductRecord {
                partition: 0,
                offset: 0,
                value: &bad,
                event: parse(&bad),
            },
            ProductRecord {
                partition: 0,
                offset: 1,
                value: &a,
                event: parse(&a),
            },
        ];
        let plan = plan(&partials, records, &stored, &HashMap::new(), "t");
        let reasons: Vec<&str> = plan
            .rejects
            .iter()
            .map(|d| d.get_str("reason").unwrap())
            .collect();
        assert_eq!(
            reasons,
            [
                RejectReason::UnstorableDocument.as_str(),
                RejectReason::PartitionConflict.as_str()
            ]
        );
        assert!(plan.products.is_empty() && plan.partials.is_empty());
    }
}
