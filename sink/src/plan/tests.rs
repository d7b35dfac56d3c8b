use bson::doc;

use super::*;
use crate::aggregates::{CategoryDailyAggregate, CategoryStatsAggregate, Merged};
use crate::product::parse;

fn value(asin: &str, category: i64, price: f64) -> Vec<u8> {
    observed(asin, category, price, None)
}

/// A record observed on day `day` of September 2023 (`None`: no time; the
/// record's timestamp stands in).
fn observed(asin: &str, category: i64, price: f64, day: Option<u32>) -> Vec<u8> {
    let lo = (price / 5.0).floor() as i64 * 5;
    let at = day.map_or(String::new(), |d| {
        format!(r#","observed_at":"2023-09-{d:02}T00:00:00Z""#)
    });
    format!(
        r#"{{"asin":"{asin}","title":"t","price":{price},"category_id":{category},"isBestSeller":false,
        "boughtInLastMonth":0,"price_bucket":"{lo}-{}","price_bucket_lo":{lo}{at}}}"#,
        lo + 5
    )
    .into_bytes()
}

/// The records' timestamp: 2023-09-01.
const TIMESTAMP: i64 = 1_693_526_400_000;

/// Runs `values` (partition 0, offsets from `first`) through a plan and
/// "stores" its writes into `db` the way the sink would, optionally
/// crashing after the partials, days and price changes are written.
fn run(db: &mut Db, first: i64, values: &[Vec<u8>], crash_before_products: bool) {
    // A restarted instance starts from what is stored.
    let plan = plan_for(db, records(first, values));
    for p in plan.partials {
        db.partials.insert((p.partition, p.category_id), p);
    }
    for (key, d) in plan.daily {
        db.daily.entry(key).or_default().insert(d.category_id, d);
    }
    for c in plan.price_changes {
        match c.document {
            Some(d) => db.price_changes.insert(c.id, d),
            None => db.price_changes.remove(&c.id),
        };
    }
    if crash_before_products {
        return;
    }
    for w in plan.products {
        let new = w.document.to_document().unwrap();
        let asin = new.get_str("_id").unwrap().to_owned();
        let doc = db.products.entry(asin).or_default();
        // Every field set, the others unset, the rows (not read) kept
        // unless replaced, then appended to.
        let rows = doc.remove(stored_document::ROWS);
        *doc = new;
        if let (false, Some(rows)) = (doc.contains_key(stored_document::ROWS), rows) {
            doc.insert(stored_document::ROWS, rows);
        }
        push(doc, w.append);
    }
    for (asin, update) in plan.product_times {
        let doc = db.products.entry(asin).or_default();
        for (op, fields) in update {
            let fields = fields.as_document().unwrap().clone();
            match op.as_str() {
                "$set" => doc.extend(fields),
                "$unset" => fields.keys().for_each(|k| drop(doc.remove(k))),
                "$push" => {
                    let each = fields.get_document(stored_document::ROWS).unwrap();
                    let each = each.get_array("$each").unwrap();
                    push(
                        doc,
                        each.iter()
                            .map(|r| r.as_str().unwrap().to_owned())
                            .collect(),
                    );
                }
                other => panic!("unexpected {other}"),
            }
        }
    }
}

/// `$push` of rows.
fn push(doc: &mut Document, rows: Vec<String>) {
    if rows.is_empty() {
        return;
    }
    let stored = doc
        .entry(stored_document::ROWS.to_owned())
        .or_insert_with(|| bson::Bson::Array(Vec::new()));
    let bson::Bson::Array(stored) = stored else {
        panic!("rows not an array")
    };
    stored.extend(rows.into_iter().map(bson::Bson::String));
}

/// What the sink reads of `db` for `records`: the products without their
/// rows, then the rows of those a late version needs them of.
fn stored(db: &Db, records: &[ProductRecord<'_>]) -> crate::ByAsin<StoredProduct> {
    let mut stored: crate::ByAsin<StoredProduct> = db
        .products
        .values()
        .filter_map(|d| {
            let mut d = d.clone();
            d.remove(stored_document::ROWS);
            stored_product(&RawDocumentBuf::from_document(&d).unwrap())
        })
        .collect();
    let rows: Vec<RawDocumentBuf> = rows_needed(records, &stored)
        .iter()
        .filter_map(|asin| {
            let rows = db.products.get(asin)?.get(stored_document::ROWS)?.clone();
            Some(
                RawDocumentBuf::from_document(&doc! { "_id": asin, stored_document::ROWS: rows })
                    .unwrap(),
            )
        })
        .collect();
    attach_rows(&mut stored, &rows);
    stored
}

/// A product's history as stored, all of it.
fn history(db: &Db, asin: &str) -> History {
    let d = RawDocumentBuf::from_document(&db.products[asin]).unwrap();
    stored_product(&d).unwrap().1.history
}

/// The plan of `records` against what `db` stores.
fn plan_for<'a>(db: &Db, records: Vec<ProductRecord<'a>>) -> Plan {
    let stored = stored(db, &records);
    plan(&db.partials, &db.daily, records, &stored, &db.names, "t")
}

/// `values` as records of partition 0, offsets from `first`.
fn records(first: i64, values: &[Vec<u8>]) -> Vec<ProductRecord<'_>> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| ProductRecord {
            partition: 0,
            offset: first + i as i64,
            timestamp: Some(TIMESTAMP),
            value: v,
            event: parse(v),
            redrive: None,
        })
        .collect()
}

#[derive(Default)]
struct Db {
    partials: HashMap<PartialKey, Partial>,
    daily: DailyPartials,
    price_changes: BTreeMap<String, Document>,
    /// The stored product documents.
    products: HashMap<String, Document>,
    names: HashMap<i64, String>,
}

/// Every day's figures: (id, products, price sum, drops, rises).
fn days(db: &Db) -> Vec<(String, i64, f64, i64, i64)> {
    let merged = Merged::of(db.partials.values(), &db.names).with_daily(
        db.daily
            .iter()
            .flat_map(|((_, day), m)| m.values().map(move |p| (*day, p))),
    );
    CategoryDailyAggregate::days(&merged)
        .into_iter()
        .map(|d| (d.id, d.products, d.price_sum, d.drops, d.rises))
        .collect()
}

/// The price changes: (id, day, prev price, price).
fn changes(db: &Db) -> Vec<(String, String, f64, f64)> {
    db.price_changes
        .values()
        .map(|d| {
            (
                d.get_str("_id").unwrap().to_owned(),
                d.get_str("day").unwrap().to_owned(),
                d.get_f64("prev_price").unwrap(),
                d.get_f64("price").unwrap(),
            )
        })
        .collect()
}

#[test]
fn late_versions_after_any_crash_give_the_in_order_history() {
    // A's days 3, 1, 2 (the last between the others), B's day 2 twice.
    let batch = [
        observed("A", 1, 10.0, Some(3)),
        observed("B", 2, 7.0, Some(2)),
        observed("A", 1, 12.0, Some(1)),
        observed("A", 2, 12.0, Some(2)),
        observed("B", 2, 7.0, Some(2)),
        observed("B", 2, 5.0, None),
    ];
    let mut clean = Db::default();
    run(&mut clean, 0, &batch, false);
    let (want_days, want_changes) = (days(&clean), changes(&clean));
    // A: 12 on day 1 (category 1), 12 on day 2 (category 2), 10 on day 3
    // (category 1): one change, on day 3. B: 7 on day 2, then 5 on day 1
    // (the timestamp): B's change is on day 2, from 5 to 7.
    assert_eq!(
        want_changes,
        [
            ("A:0".to_owned(), "2023-09-03".to_owned(), 12.0, 10.0),
            ("B:1".to_owned(), "2023-09-02".to_owned(), 5.0, 7.0),
        ]
    );
    let day = |id: &str| want_days.iter().find(|d| d.0 == id).cloned();
    assert_eq!(
        day("1:2023-09-01"),
        Some(("1:2023-09-01".into(), 1, 12.0, 0, 0))
    );
    assert_eq!(
        day("2:2023-09-01"),
        Some(("2:2023-09-01".into(), 1, 5.0, 0, 0))
    );
    assert_eq!(
        day("1:2023-09-02"),
        Some(("1:2023-09-02".into(), 0, 0.0, 0, 0))
    );
    assert_eq!(
        day("2:2023-09-02"),
        Some(("2:2023-09-02".into(), 2, 19.0, 0, 1))
    );
    assert_eq!(
        day("1:2023-09-03"),
        Some(("1:2023-09-03".into(), 1, 10.0, 1, 0))
    );
    assert_eq!(
        day("2:2023-09-03"),
        Some(("2:2023-09-03".into(), 1, 7.0, 0, 0))
    );
    assert_eq!(want_days.len(), 6);
    let a = &history(&clean, "A");
    assert_eq!(a.current().map(|v| v.contribution.category_id), Some(1));
    assert_eq!(a.price_change_count(), 1);

    for split in 0..batch.len() {
        let mut db = Db::default();
        run(&mut db, 0, &batch, true);
        run(&mut db, 0, &batch[..split], true);
        run(&mut db, 0, &batch[..split], false);
        run(&mut db, 0, &batch, true);
        run(&mut db, 0, &batch, false);
        run(&mut db, 0, &batch, false);
        assert_eq!(days(&db), want_days, "split at {split}");
        assert_eq!(changes(&db), want_changes, "split at {split}");
        assert_eq!(totals(&db), totals(&clean), "split at {split}");
    }
}

#[test]
fn daily_batches_append_rows_and_a_late_one_rewrites_them() {
    let prices = [10.0, 10.0, 12.0, 12.0, 9.0];
    let day = |d: u32| observed("A", 1, prices[d as usize - 1], Some(d));
    // A version of day 3 arriving last, its price another.
    let late = observed("A", 1, 11.0, Some(3));
    let mut db = Db::default();
    for d in 1..=5 {
        run(&mut db, i64::from(d), &[day(d)], false);
        let rows = db.products["A"].get_array(stored_document::ROWS);
        // Seen once: the document is the version; then every day a row.
        assert_eq!(
            rows.map_or(0, Vec::len),
            if d == 1 { 0 } else { d as usize }
        );
    }
    run(&mut db, 6, std::slice::from_ref(&late), false);
    let mut clean = Db::default();
    let in_order: Vec<Vec<u8>> = (1..=3)
        .map(day)
        .chain([late])
        .chain((4..=5).map(day))
        .collect();
    run(&mut clean, 0, &in_order, false);
    assert_eq!(days(&db), days(&clean));
    assert_eq!(changes(&db).len(), changes(&clean).len());
    let (got, want) = (history(&db, "A"), history(&clean, "A"));
    assert_eq!(got.len(), 6);
    let at_offsets = |h: &History| -> Vec<(i64, Option<i128>)> {
        h.versions
            .iter()
            .map(|v| (v.at, v.contribution.price_micros))
            .collect()
    };
    assert_eq!(at_offsets(&got), at_offsets(&want));
    assert_eq!(got.price_change_count(), want.price_change_count());
    let src = db.products["A"].get_document("_src").unwrap();
    assert_eq!(src.get_i64("versions"), Ok(6));
    assert_eq!(src.get_i64("current"), Ok(5));
}

#[test]
fn a_price_change_carries_the_offset_its_product_was_stored_at() {
    let mut db = Db::default();
    run(&mut db, 0, &[observed("A", 1, 10.0, Some(1))], false);
    run(&mut db, 1, &[observed("A", 1, 10.0, Some(2))], false);
    let batch = [
        observed("A", 1, 12.0, Some(4)),
        observed("B", 1, 5.0, Some(1)),
        // Late: a change on the 3rd, and the 4th's is now against it.
        observed("A", 1, 11.0, Some(3)),
        observed("C", 1, 5.0, Some(1)),
    ];
    let writes = |records| {
        let mut w: Vec<(String, i64, bool)> = plan_for(&db, records)
            .price_changes
            .into_iter()
            .map(|c| (c.id, c.src, c.document.is_some()))
            .collect();
        w.sort();
        w
    };
    // A was stored at offset 1: both changes carry it, not their own
    // offsets nor the batch's last.
    assert_eq!(
        writes(records(2, &batch)),
        [("A:2".into(), 1, true), ("A:4".into(), 1, true)]
    );
    // A replay whose batch ends earlier computes from the same state.
    assert_eq!(writes(records(2, &batch[..1])), [("A:2".into(), 1, true)]);
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
    let stored = stored(&db, &[]);
    let mut plan_and_adopt = |names: &HashMap<i64, String>| {
        let plan = plan(&partials, &db.daily, Vec::new(), &stored, names, "t");
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
    let stored: crate::ByAsin<_> = [(
        "A".to_owned(),
        StoredProduct {
            partition: 5,
            offset: 0,
            history: History::default(),
        },
    )]
    .into_iter()
    .collect();
    let bad = br#"{"asin":"B","x.y":1}"#.to_vec();
    let a = value("A", 1, 1.0);
    let records = vec![
        ProductRecord {
            partition: 0,
            offset: 0,
            timestamp: Some(TIMESTAMP),
            value: &bad,
            event: parse(&bad),
            redrive: None,
        },
        ProductRecord {
            partition: 0,
            offset: 1,
            timestamp: Some(TIMESTAMP),
            value: &a,
            event: parse(&a),
            redrive: None,
        },
    ];
    let plan = plan(
        &partials,
        &DailyPartials::new(),
        records,
        &stored,
        &HashMap::new(),
        "t",
    );
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
