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

use std::collections::{BTreeMap, HashMap};

use bson::{Document, RawDocument, RawDocumentBuf};
use shelf_contract::fields::product as product_field;

use crate::daily::{day_changes, DailyPartial, DayKey};
use crate::figures::{Contribution, Partial};
use crate::history::{History, Rows, Version};
use shelf_contract::{Position, Reject, RejectReason};

use crate::product::ProductEvent;
use crate::stored_document::{self, Times};
use crate::{bson_bytes, price_changes, reject, ByAsin};

/// Key of a partial: (partition, category id).
pub type PartialKey = (i32, i64);

/// The daily state of the partitions an instance owns: per (partition,
/// day), each category's entry.
pub type DailyPartials = HashMap<DayKey, BTreeMap<i64, DailyPartial>>;

/// A product record of the batch, parsed.
#[derive(Debug)]
pub struct ProductRecord<'a> {
    pub partition: i32,
    pub offset: i64,
    /// The Kafka record's timestamp: when the gateway received the input,
    /// the observation time of a record without `observed_at`.
    pub timestamp: Option<i64>,
    pub value: &'a [u8],
    pub event: Result<ProductEvent, Reject>,
    /// Set when `shelf rejects replay` sent the record again.
    pub redrive: Option<reject::Redriven>,
}

/// What the store holds for a product before the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredProduct {
    pub partition: i32,
    /// The last offset applied to it (not necessarily the current
    /// version's: an older version may have arrived since).
    pub offset: i64,
    pub history: History,
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
    /// 2. The daily entries it changed, by (partition, day).
    pub daily: Vec<(DayKey, DailyPartial)>,
    /// 3. Price changes, to write or delete.
    pub price_changes: Vec<PriceChangeWrite>,
    /// 4. The products' new states: full documents where the current
    ///    version changed, else updates of the times and rows (by asin).
    pub products: Vec<ProductWrite>,
    pub product_times: Vec<(String, Document)>,
    /// 5. Rejects (idempotent by `_id`; any time).
    pub rejects: Vec<Document>,
    /// Partitions whose stored products need a category's new name.
    pub renames: Vec<RenameStart>,
    /// Records applied, and records skipped because already applied.
    pub applied: u64,
    pub skipped: u64,
}

/// A product whose current version changed: its document, and the rows
/// of versions to append to the stored ones (not in the document).
#[derive(Debug, Clone, PartialEq)]
pub struct ProductWrite {
    pub document: RawDocumentBuf,
    pub append: Vec<String>,
}

/// A price change the batch writes (`document`) or deletes (`None`).
#[derive(Debug, Clone, PartialEq)]
pub struct PriceChangeWrite {
    pub id: String,
    /// The offset the product was stored at before the batch (-1: not
    /// stored), written as the document's `_src`: a writer that computed
    /// the change from an older state of the product (a sink that lost the
    /// partition) carries a smaller one, and the store refuses its write
    /// ([`crate::store::Store::write_price_changes`]). Not the batch's
    /// last offset: a replay after a crash may end its batch earlier, and
    /// must still write.
    pub src: i64,
    pub document: Option<Document>,
}

/// A product as the batch leaves it.
struct Latest {
    state: StoredProduct,
    /// The event of the current version, when the batch changed it.
    current: Option<ProductEvent>,
}

/// The partials and daily entries as the batch changes them.
struct Working<'s> {
    partials: &'s HashMap<PartialKey, Partial>,
    daily: &'s DailyPartials,
    names: &'s HashMap<i64, String>,
    changed: HashMap<PartialKey, Partial>,
    touched: Vec<PartialKey>,
    changed_daily: HashMap<(i32, i64, i64), DailyPartial>,
    touched_daily: Vec<(i32, i64, i64)>,
}

impl Working<'_> {
    /// Adds or retracts a product in its partial, unless an earlier attempt
    /// at this batch already did (the record is at or below the partial's
    /// offset).
    fn count(&mut self, partition: i32, offset: i64, c: &Contribution, sign: i64) {
        let key = (partition, c.category_id);
        let (partials, names) = (self.partials, self.names);
        let partial = self.changed.entry(key).or_insert_with(|| {
            partials
                .get(&key)
                .cloned()
                .unwrap_or_else(|| Partial::new(key.0, key.1, names.get(&key.1).cloned()))
        });
        if offset > partial.applied_offset {
            partial.figures.apply(c, sign);
            self.touched.push(key);
        }
    }

    /// A category's day, to change, unless an earlier attempt at this
    /// batch already changed it for this record.
    fn day(
        &mut self,
        partition: i32,
        offset: i64,
        day: i64,
        category: i64,
    ) -> Option<&mut DailyPartial> {
        let key = (partition, day, category);
        let daily = self.daily;
        let entry = self.changed_daily.entry(key).or_insert_with(|| {
            daily
                .get(&(partition, day))
                .and_then(|m| m.get(&category))
                .cloned()
                .unwrap_or_else(|| DailyPartial::new(category))
        });
        (offset > entry.applied_offset).then(|| {
            self.touched_daily.push(key);
            entry
        })
    }
}

/// Applies `records` (in offset order within each partition) to
/// `partials` and `daily`, the state of the partitions this instance owns,
/// and says what to write: [`Plan::partials`] and [`Plan::daily`] are the
/// new versions of the entries the batch changed (the others are left as
/// they are, not copied). `stored` holds the products' states before the
/// batch.
pub fn plan(
    partials: &HashMap<PartialKey, Partial>,
    daily: &DailyPartials,
    records: Vec<ProductRecord<'_>>,
    stored: &ByAsin<StoredProduct>,
    names: &HashMap<i64, String>,
    topic: &str,
) -> Plan {
    let mut plan = Plan::default();
    let mut w = Working {
        partials,
        daily,
        names,
        changed: HashMap::new(),
        touched: Vec::new(),
        changed_daily: HashMap::new(),
        touched_daily: Vec::new(),
    };
    let mut batch_end: HashMap<i32, i64> = HashMap::new();
    let mut latest = ByAsin::<Latest>::with_capacity_and_hasher(records.len(), Default::default());
    // By `_id`: the asin and the document, or `None` to delete.
    let mut changes = ByAsin::<(String, Option<Document>)>::default();

    for r in records {
        let end = batch_end.entry(r.partition).or_insert(r.offset);
        *end = (*end).max(r.offset);
        let read_at = || Position::new(topic, r.partition, r.offset);
        let refused = |refusal| {
            reject::from_refusal(
                refusal,
                r.value,
                read_at(),
                r.timestamp,
                r.redrive.as_ref().map(|m| m.redrive.clone()),
            )
        };
        let event = match r.event {
            Ok(e) => e,
            Err(refusal) => {
                plan.rejects.push(refused(refusal));
                continue;
            }
        };
        let current = latest
            .get(&event.asin)
            .map(|l| &l.state)
            .or_else(|| stored.get(&event.asin));
        let admitted = admit(&event.asin, current, r.partition, r.offset, topic);
        let at = match (admitted, event.observed_at.or(r.timestamp)) {
            (Err(refusal), _) => {
                plan.rejects.push(refused(refusal));
                continue;
            }
            (Ok(_), None) => {
                let refusal = Reject::new(
                    RejectReason::InvalidObservedAt,
                    "no field `observed_at` and no record timestamp to stand in",
                );
                plan.rejects.push(refused(refusal));
                continue;
            }
            // A redrive stored (now or, when skipped, before a crash)
            // resolves its reject.
            (Ok(admitted), Some(at)) => {
                if let Some(mark) = &r.redrive {
                    plan.rejects.push(mark.resolution());
                }
                if !admitted {
                    plan.skipped += 1;
                    continue;
                }
                at
            }
        };
        let asin = event.asin.clone();
        let mut product = latest.remove(&asin).unwrap_or_else(|| Latest {
            state: stored.get(&asin).cloned().unwrap_or(StoredProduct {
                partition: r.partition,
                offset: -1,
                history: History::default(),
            }),
            current: None,
        });
        let version = Version {
            at,
            offset: r.offset,
            contribution: event.contribution.clone(),
            list_micros: event.list_micros,
        };
        let (day, category) = (version.day(), version.contribution.category_id);
        let fx = product.state.history.insert(version);
        let (p, o) = (r.partition, r.offset);
        for (day, category, change) in day_changes(day, category, &fx) {
            if let Some(d) = w.day(p, o, day, category) {
                d.apply(&change);
            }
        }
        for (change, sign) in fx
            .changes_removed
            .iter()
            .map(|c| (c, -1))
            .chain(fx.changes_added.iter().map(|c| (c, 1)))
        {
            let id = price_changes::id(&asin, &change.new);
            let document = (sign > 0).then(|| price_changes::document(&asin, change));
            changes.insert(id, (asin.clone(), document));
        }
        if fx.becomes_current && !fx.repeated {
            if let Some(old) = &fx.replaces {
                w.count(p, o, &old.contribution, -1);
            }
            w.count(p, o, &event.contribution, 1);
        }
        product.state.partition = p;
        product.state.offset = o;
        if fx.becomes_current {
            product.current = Some(event);
        }
        plan.applied += 1;
        latest.insert(asin, product);
    }

    for key in &w.touched {
        if let (Some(p), Some(end)) = (w.changed.get_mut(key), batch_end.get(&key.0)) {
            p.applied_offset = p.applied_offset.max(*end);
        }
    }
    for key in &w.touched_daily {
        if let (Some(d), Some(end)) = (w.changed_daily.get_mut(key), batch_end.get(&key.0)) {
            d.applied_offset = d.applied_offset.max(*end);
        }
    }
    plan.renames = renamed_partials(partials, &mut w.changed, names, &mut w.touched);
    w.touched.sort_unstable();
    w.touched.dedup();
    plan.partials = w
        .touched
        .iter()
        .filter_map(|k| w.changed.remove(k))
        .collect();
    w.touched_daily.sort_unstable();
    w.touched_daily.dedup();
    plan.daily = w
        .touched_daily
        .iter()
        .filter_map(|k| Some(((k.0, k.1), w.changed_daily.remove(k)?)))
        .collect();
    plan.price_changes = changes
        .into_iter()
        .map(|(id, (asin, document))| {
            let src = stored.get(&asin).map_or(-1, |s| s.offset);
            PriceChangeWrite { id, src, document }
        })
        .collect();
    for (asin, product) in latest {
        let Some(times) = Times::of(&product.state.history) else {
            continue;
        };
        let StoredProduct {
            partition, offset, ..
        } = product.state;
        match product.current {
            Some(event) => {
                let name = names.get(&event.contribution.category_id);
                let document = stored_document::product(
                    &asin,
                    &event.fields,
                    name.map(String::as_str),
                    &times,
                    partition,
                    offset,
                );
                let append = match times.rows {
                    Rows::Append(rows) => rows,
                    _ => Vec::new(),
                };
                plan.products.push(ProductWrite { document, append });
            }
            None => plan.product_times.push((
                asin,
                stored_document::times_update(&times, partition, offset),
            )),
        }
    }
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

/// The products of `records` whose stored rows must be read before the
/// plan: those a version comes before the newest stored one of (a late
/// version), which changes the history before it.
pub fn rows_needed(records: &[ProductRecord<'_>], stored: &ByAsin<StoredProduct>) -> Vec<String> {
    let mut asins: Vec<String> = records
        .iter()
        .filter_map(|r| {
            let event = r.event.as_ref().ok()?;
            let at = event.observed_at.or(r.timestamp)?;
            let product = stored.get(&event.asin)?;
            product.history.needs_rows(at).then(|| event.asin.clone())
        })
        .collect();
    asins.sort_unstable();
    asins.dedup();
    asins
}

/// Gives the products in `stored` their rows, read back for
/// [`rows_needed`] (documents of `_id` and `_rows`).
pub fn attach_rows(stored: &mut ByAsin<StoredProduct>, docs: &[RawDocumentBuf]) {
    for d in docs {
        let Some(elements) = bson_bytes::elements(d.as_bytes()) else {
            continue;
        };
        let field = |key: &str| elements.iter().find(|e| e.key == key.as_bytes());
        let Some(asin) = field("_id").and_then(|e| e.as_str()) else {
            continue;
        };
        let Some(product) = stored.get_mut(asin) else {
            continue; // not asked for: the store answered more than the batch's
        };
        let rows = field(stored_document::ROWS)
            .and_then(|e| e.as_array())
            .and_then(|rows| rows.iter().map(|r| r.as_str()).collect::<Option<Vec<_>>>());
        let Some(rows) = rows else {
            tracing::error!(
                asin,
                "a product's stored rows are missing or not texts; the newest version alone decides"
            );
            continue;
        };
        if let Err(e) = product.history.attach_rows(rows) {
            tracing::error!(asin, error = %e, "unreadable stored rows; the newest version alone decides");
        }
    }
}

/// The state of a stored product document, as [`plan`] needs it. A batch
/// reads products without their rows (`_rows`): the newest version is
/// the document itself, and the count, the first time and the price
/// changes are stored beside it. With the rows (a late version's second
/// read, a rebuild), all versions are parsed.
pub fn stored_product(d: &RawDocument) -> Option<(String, StoredProduct)> {
    // One pass over the elements by their sizes, parsing only the values
    // read: a product document has a few dozen fields and is read once per
    // version.
    let (mut asin, mut src, mut rows, mut text) = (None, None, None, None);
    let (mut changes, mut first_seen, mut observed_at) = (None, None, None);
    let elements = bson_bytes::elements(d.as_bytes())?;
    for e in &elements {
        match e.key {
            b"_id" => asin = e.as_str(),
            b"_src" => src = e.as_document(),
            k if k == stored_document::ROWS.as_bytes() => rows = e.as_array(),
            k if k == stored_document::LEGACY_HISTORY.as_bytes() => text = e.as_str(),
            k if k == product_field::PRICE_CHANGE_COUNT.as_bytes() => changes = e.as_i64(),
            k if k == product_field::FIRST_SEEN.as_bytes() => first_seen = e.as_datetime(),
            k if k == product_field::OBSERVED_AT.as_bytes() => observed_at = e.as_datetime(),
            _ => {}
        }
    }
    let asin = asin?.to_owned();
    let src = bson_bytes::elements(src?.as_bytes())?;
    let int = |name: &str| src.iter().find(|e| e.key == name.as_bytes())?.as_i64();
    let partition = i32::try_from(int("partition")?).ok()?;
    let offset = int("offset")?;
    let current = int("current").unwrap_or(offset);
    let history = if let Some(rows) = rows {
        let rows: Vec<&str> = rows.iter().map(|r| r.as_str()).collect::<Option<_>>()?;
        History::from_rows(rows).ok()?
    } else if let Some(text) = text {
        // Only the newest version is parsed, given the stored count of
        // price changes (all of them without it).
        match changes {
            Some(changes) => History::from_text_newest(text, changes).ok()?,
            None => History::from_text(text).ok()?,
        }
    } else {
        // The newest version is the document, read at `_src.current`. (A
        // document written by hand, or before observation times: observed
        // at the epoch then.)
        match crate::product::counted(&elements) {
            (Ok(contribution), list_micros) => {
                let newest = Version {
                    at: observed_at.unwrap_or(0),
                    offset: current,
                    list_micros,
                    contribution,
                };
                let count = int("versions").and_then(|n| usize::try_from(n).ok());
                let first = first_seen.unwrap_or(newest.at);
                History::from_stored_newest(newest, count.unwrap_or(1), first, changes.unwrap_or(0))
            }
            (Err(_), _) => History::default(),
        }
    };
    Some((
        asin,
        StoredProduct {
            partition,
            offset,
            history,
        },
    ))
}

#[cfg(test)]
mod tests;
