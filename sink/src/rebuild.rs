//! `shelf sink rebuild`: the sink's saved state and aggregates recomputed
//! from `products`.
//!
//! The invariant makes `products` the truth: every figure equals the one
//! recomputed from the stored products. So when `sink_partials` is in an
//! older layout, or lost, or suspect, the partials are summed again from
//! the products (read in bounded `_id` slices, each product in the
//! partition and category its `_src` and `category_id` name), written
//! fresh, and the aggregates rewritten from them.
//!
//! The daily entries (`sink_daily`) are rebuilt the same way, by
//! replaying each product's stored versions (`_hist`) in observation order.
//!
//! Rebuilt partials hold no applied offset (`-1`): they count exactly the
//! stored products, so a record replayed later is applied if and only if
//! its product does not hold it yet (the plan's third rule), which is what
//! the rebuilt figures need. Products whose category name is not the known
//! one (a rename that was under way) get a sweep, as after a late category.
//!
//! Run it only while no sink of the group runs: a running sink would keep
//! writing the partials it holds in memory over the rebuilt ones.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bson::{doc, Bson, Document};
use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use shelf_config::Platform;
use shelf_contract::collections;
use shelf_contract::fields::{category, product};
use shelf_kafka::KafkaClients;

use crate::aggregates::{Aggregates, Merged};
use crate::daily::{day_changes, DailyPartial, DailyState};
use crate::figures::Partial;
use crate::history::History;
use crate::metrics::StoreUsage;
use crate::partition_state::PartitionState;
use crate::plan::{stored_product, PartialKey};
use crate::rename::Sweep;
use crate::store::Store;
use crate::SinkError;

/// Flags of `shelf sink rebuild`.
#[derive(Debug, Clone, Args)]
pub struct RebuildArgs {
    /// The sink's consumer group: the rebuild refuses to run while it has
    /// members.
    #[arg(long, env = "SHELF_SINK_GROUP", default_value = "shelf-sink")]
    pub group: String,
    /// How long to wait for the group to empty before refusing (ms): a
    /// sink that just stopped stays a member until its session times out
    /// (10 s).
    #[arg(long, default_value_t = 15_000)]
    pub wait_for_group_ms: u64,
    /// Products read per slice.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub slice: u32,
}

/// What a rebuild did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rebuilt {
    pub products: u64,
    /// Stored products whose fields cannot be counted (left out, as the
    /// sink leaves them out).
    pub uncounted: u64,
    pub partitions: usize,
    pub partials: usize,
    /// Products whose category name a sweep will fix.
    pub to_rename: i64,
    pub aggregate_changes: usize,
}

impl std::fmt::Display for Rebuilt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} products read ({} not countable), {} partials in {} partitions, \
             {} aggregate documents written or deleted, {} products to rename",
            self.products,
            self.uncounted,
            self.partials,
            self.partitions,
            self.aggregate_changes,
            self.to_rename
        )
    }
}

/// Rebuilds `sink_partials` and the aggregates from `products`.
pub async fn rebuild(platform: &Platform, args: &RebuildArgs) -> Result<Rebuilt, SinkError> {
    let deadline = Instant::now() + Duration::from_millis(args.wait_for_group_ms);
    while let Err(e) = refuse_if_running(platform, &args.group) {
        if Instant::now() >= deadline || !matches!(e, SinkError::GroupRunning { .. }) {
            return Err(e);
        }
        tracing::info!(group = %args.group, "waiting for the sink group to empty");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let store = Store::connect(&platform.mongo, &platform.database, StoreUsage::default()).await?;
    let started = Instant::now();
    let names = category_names(&store).await?;
    let mut sums = Sums::default();
    let mut after = String::new();
    loop {
        let slice = store
            .products_after(&after, args.slice as usize, Sums::projection())
            .await?;
        let Some(last) = slice.last().and_then(|d| d.get_str("_id").ok()) else {
            break;
        };
        after = last.to_owned();
        for d in &slice {
            sums.add(d, &names);
        }
        tracing::debug!(products = sums.rebuilt.products, "rebuild: slice read");
    }
    let (states, days, mut rebuilt) = sums.finish();
    store.drop_all(collections::SINK_PARTIALS).await?;
    let docs: Vec<Document> = states.iter().map(PartitionState::to_document).collect();
    store.insert_new(collections::SINK_PARTIALS, docs).await?;
    store.drop_all(collections::SINK_DAILY).await?;
    let docs: Vec<Document> = days.iter().map(DailyState::to_document).collect();
    store.insert_new(collections::SINK_DAILY, docs).await?;
    let merged = Merged::of(states.iter().flat_map(|s| s.partials.iter()), &names).with_daily(
        days.iter()
            .flat_map(|d| d.partials.iter().map(move |p| (d.day, p))),
    );
    rebuilt.aggregate_changes = Aggregates::default().sync(&store, &merged, true).await?;
    tracing::info!(elapsed = ?started.elapsed(), %rebuilt, "rebuilt");
    Ok(rebuilt)
}

/// Fails when the sink's consumer group has members.
fn refuse_if_running(platform: &Platform, group: &str) -> Result<(), SinkError> {
    let probe: BaseConsumer = KafkaClients::new(&platform.kafka)?
        .consumer(&format!("{group}-rebuild"))
        .create()?;
    let groups = probe.fetch_group_list(Some(group), Duration::from_secs(10))?;
    let members: Vec<String> = groups
        .groups()
        .iter()
        .flat_map(|g| g.members().iter().map(|m| m.client_id().to_owned()))
        .collect();
    if members.is_empty() {
        Ok(())
    } else {
        Err(SinkError::GroupRunning {
            group: group.to_owned(),
            members,
        })
    }
}

async fn category_names(store: &Store) -> Result<HashMap<i64, String>, SinkError> {
    Ok(store
        .all(collections::CATEGORIES)
        .await?
        .iter()
        .filter_map(|d| {
            let id = crate::product::whole(d.get("_id")?)?;
            Some((id, d.get_str(category::NAME).ok()?.to_owned()))
        })
        .collect())
}

/// The partials summed from stored products, as they are read.
#[derive(Debug, Default)]
struct Sums {
    partials: HashMap<PartialKey, Partial>,
    /// By (partition, day), each category's entry.
    daily: HashMap<(i32, i64), BTreeMap<i64, DailyPartial>>,
    /// Per partition: products whose name is not their category's known one.
    misnamed: HashMap<i32, i64>,
    rebuilt: Rebuilt,
}

impl Sums {
    /// The fields a product's figures and name are read from.
    fn projection() -> Document {
        // The history, or for a product seen once what its one version is
        // read from.
        let mut p = doc! {
            "_src": 1, product::CATEGORY_NAME: 1, crate::stored_document::ROWS: 1,
            crate::stored_document::LEGACY_HISTORY: 1, product::FIRST_SEEN: 1,
            product::PRICE_CHANGE_COUNT: 1,
            product::OBSERVED_AT: 1, product::LIST_PRICE: 1,
        };
        for f in crate::product::COUNTED_FIELDS {
            p.insert(f, 1);
        }
        p
    }

    fn add(&mut self, d: &Document, names: &HashMap<i64, String>) {
        self.rebuilt.products += 1;
        let raw = bson::RawDocumentBuf::from_document(d).ok();
        let Some((_, mut stored)) = raw.as_deref().and_then(stored_product) else {
            self.rebuilt.uncounted += 1;
            return;
        };
        let loaded = stored.history.load_all();
        let Some(c) = stored.history.current().map(|v| v.contribution.clone()) else {
            self.rebuilt.uncounted += 1;
            return;
        };
        if loaded.is_err() {
            self.rebuilt.uncounted += 1;
            return;
        }
        let known = names.get(&c.category_id);
        let carried = match d.get(product::CATEGORY_NAME) {
            Some(Bson::String(s)) => Some(s),
            _ => None,
        };
        if known.is_some() && carried != known {
            *self.misnamed.entry(stored.partition).or_default() += 1;
        }
        // The daily entries: the versions replayed in observation order.
        let mut replay = History::default();
        for v in &stored.history.versions {
            let (day, category) = (v.day(), v.contribution.category_id);
            let fx = replay.insert(v.clone());
            for (day, category, change) in day_changes(day, category, &fx) {
                self.daily
                    .entry((stored.partition, day))
                    .or_default()
                    .entry(category)
                    .or_insert_with(|| DailyPartial::new(category))
                    .apply(&change);
            }
        }
        let key = (stored.partition, c.category_id);
        self.partials
            .entry(key)
            .or_insert_with(|| Partial::new(key.0, key.1, known.cloned()))
            .figures
            .apply(&c, 1);
    }

    /// One state document per partition with products, each with a sweep
    /// where names need fixing.
    fn finish(self) -> (Vec<PartitionState>, Vec<DailyState>, Rebuilt) {
        let mut rebuilt = self.rebuilt;
        let mut by_partition: HashMap<i32, Vec<Partial>> = HashMap::new();
        for (_, p) in self.partials {
            by_partition.entry(p.partition).or_default().push(p);
        }
        let mut states: Vec<PartitionState> = by_partition
            .into_iter()
            .map(|(partition, mut partials)| {
                partials.sort_by_key(|p| p.category_id);
                let sweep = self.misnamed.get(&partition).map(|&pending| Sweep {
                    after: String::new(),
                    pending,
                });
                PartitionState {
                    partition,
                    seq: 0,
                    partials,
                    sweep,
                }
            })
            .collect();
        states.sort_by_key(|s| s.partition);
        rebuilt.partitions = states.len();
        rebuilt.partials = states.iter().map(|s| s.partials.len()).sum();
        rebuilt.to_rename = self.misnamed.values().sum();
        let mut days: Vec<DailyState> = self
            .daily
            .into_iter()
            .map(|((partition, day), entries)| DailyState {
                partition,
                day,
                seq: 0,
                partials: entries.into_values().collect(),
            })
            .collect();
        days.sort_by_key(|d| (d.partition, d.day));
        (states, days, rebuilt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(
        asin: &str,
        partition: i32,
        category: i64,
        price: f64,
        name: Option<&str>,
    ) -> Document {
        let lo = (price / 5.0).floor() as i64 * 5;
        doc! {
            "_id": asin, "category_id": category, "price": price,
            "category_name": name.map_or(Bson::Null, |n| Bson::String(n.into())),
            "price_bucket": format!("{lo}-{}", lo + 5), "price_bucket_lo": lo,
            "_src": { "partition": partition, "offset": 7_i64 },
        }
    }

    #[test]
    fn partials_count_the_stored_products_and_misnamed_ones_get_a_sweep() {
        let names = HashMap::from([(1, "Toys".to_owned())]);
        let mut sums = Sums::default();
        sums.add(&stored("A", 0, 1, 10.0, Some("Toys")), &names);
        sums.add(&stored("B", 0, 1, 20.0, None), &names);
        sums.add(&stored("C", 1, 2, 5.0, None), &names);
        sums.add(&doc! { "_id": "D", "category_id": 1 }, &names);
        let (states, _, rebuilt) = sums.finish();
        assert_eq!((rebuilt.products, rebuilt.uncounted), (4, 1));
        assert_eq!(
            (rebuilt.partitions, rebuilt.partials, rebuilt.to_rename),
            (2, 2, 1)
        );
        let p0 = &states[0];
        assert_eq!(p0.partials[0].figures.products, 2);
        assert_eq!(p0.partials[0].figures.price_micros, 30_000_000);
        assert_eq!(p0.partials[0].applied_offset, -1);
        assert_eq!(p0.partials[0].named.as_deref(), Some("Toys"));
        assert_eq!(p0.sweep.as_ref().map(|s| s.pending), Some(1));
        assert_eq!(states[1].sweep, None, "no known name, nothing to rename");
    }

    #[test]
    fn daily_entries_replay_each_products_versions() {
        use crate::figures::tests::product;
        use crate::history::Version;
        let day = 86_400_000;
        let mut history = History::default();
        for (at, offset, price) in [(day, 1, 10.0), (2 * day, 4, 12.0)] {
            let mut contribution = product(1, Some(price), "10-15");
            contribution.bestseller = false;
            history.insert(Version {
                at,
                offset,
                contribution,
                list_micros: None,
            });
        }
        let mut d = stored("A", 0, 1, 12.0, Some("Toys"));
        d.insert("bestseller", false);
        d.insert(crate::stored_document::LEGACY_HISTORY, history.to_text());
        let mut sums = Sums::default();
        sums.add(&d, &HashMap::new());
        let (_, days, _) = sums.finish();
        let got: Vec<(i64, i64, i128, i64, i64)> = days
            .iter()
            .map(|s| {
                let p = &s.partials[0];
                (
                    s.day,
                    p.figures.products,
                    p.figures.price_micros,
                    p.observed,
                    p.changes.rises,
                )
            })
            .collect();
        assert_eq!(got, [(1, 1, 10_000_000, 1, 0), (2, 0, 2_000_000, 1, 1)]);
    }
}
