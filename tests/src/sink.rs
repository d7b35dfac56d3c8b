//! Helpers for the sink's tests: a sink process, generated product events
//! with their expected end state, and checks of the figures in MongoDB
//! against an independent recomputation (written here, not by calling the
//! sink's code).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shelf_config::Platform;

mod process;

pub use crate::platform_env;
pub use process::SinkProcess;

/// Keyed records, in production order.
pub type Records = Vec<(String, Vec<u8>)>;

/// Figures per category, and (lower bound, products) per price bucket.
pub type Expected = (BTreeMap<i64, Figures>, BTreeMap<String, (Option<i64>, i64)>);

/// Creates the topics the sink reads (6 partitions each).
pub async fn create_sink_topics(p: &Platform) {
    let t = &p.topics;
    crate::create_topics(
        &p.kafka,
        &[&t.product_clean, &t.ingest_category, &t.product_dlq],
        6,
    )
    .await
    .expect("create the sink's topics");
}

/// A product's state as the test knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub category_id: i64,
    pub price: Option<f64>,
    pub stars: Option<f64>,
    pub best_seller: bool,
    pub bought: i64,
}

impl State {
    /// The contract's bucket (width 5, cap 300), computed on whole cents.
    pub fn bucket(&self) -> (String, Option<i64>) {
        match self.price {
            None => ("unpriced".into(), None),
            Some(p) if p >= 300.0 => ("300+".into(), Some(300)),
            Some(p) => {
                let cents = (p * 100.0).round() as i64;
                let lo = cents / 500 * 5;
                (format!("{lo}-{}", lo + 5), Some(lo))
            }
        }
    }

    /// The cleaned record, as the transform runtime would write it.
    pub fn to_clean_json(&self, asin: &str) -> Vec<u8> {
        let (bucket, lo) = self.bucket();
        serde_json::json!({
            "asin": asin,
            "title": format!("Product {asin}, \"quoted\" & more"),
            "imgUrl": format!("https://images.example.com/{asin}.jpg"),
            "productURL": null,
            "stars": self.stars,
            "reviews": 3,
            "price": self.price,
            "listPrice": null,
            "category_id": self.category_id,
            "isBestSeller": self.best_seller,
            "boughtInLastMonth": self.bought,
            "discount_pct": null,
            "price_bucket": bucket,
            "price_bucket_lo": lo,
        })
        .to_string()
        .into_bytes()
    }
}

/// Events for `asins` products, each seen `1..=max_versions` times with a
/// changing price, category, rating, flag and sales. Returns the records
/// (key, cleaned value) in production order and each product's last state.
pub fn product_events(
    seed: u64,
    prefix: &str,
    asins: usize,
    max_versions: usize,
    categories: i64,
) -> (Records, BTreeMap<String, State>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut records = Vec::new();
    let mut last = BTreeMap::new();
    let mut pending: Vec<(String, usize)> = (0..asins)
        .map(|i| {
            let asin = format!("{prefix}{i:0>width$}", width = 10 - prefix.len());
            (asin, rng.random_range(1..=max_versions))
        })
        .collect();
    // Interleave versions of different products, as a stream would.
    while !pending.is_empty() {
        let i = rng.random_range(0..pending.len());
        let state = State {
            category_id: rng.random_range(1..=categories),
            price: match rng.random_range(0..10) {
                0 => None,
                1 => Some((rng.random_range(30_000..200_000) as f64) / 100.0),
                _ => Some((rng.random_range(1..30_000) as f64) / 100.0),
            },
            stars: if rng.random_bool(0.2) {
                None
            } else {
                Some(f64::from(rng.random_range(10..=50)) / 10.0)
            },
            best_seller: rng.random_bool(0.1),
            bought: [0, 0, 50, 100, 1000][rng.random_range(0..5)],
        };
        let asin = pending[i].0.clone();
        records.push((asin.clone(), state.to_clean_json(&asin)));
        last.insert(asin, state);
        pending[i].1 -= 1;
        if pending[i].1 == 0 {
            pending.swap_remove(i);
        }
    }
    (records, last)
}

/// Category records `{"id", "category_name"}` for `ids`.
pub fn category_records(ids: impl IntoIterator<Item = i64>) -> Records {
    ids.into_iter()
        .map(|id| {
            let value = serde_json::json!({"id": id, "category_name": category_name(id)});
            (id.to_string(), value.to_string().into_bytes())
        })
        .collect()
}

pub fn category_name(id: i64) -> String {
    format!("Category {id}, \"Home\" & Kitchen")
}

/// One category's expected figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub products: i64,
    pub priced: i64,
    pub price_sum: f64,
    pub bestsellers: i64,
    pub rated: i64,
    pub stars_sum: f64,
    pub bought_last_month: i64,
    pub buckets: BTreeMap<String, i64>,
}

/// Category figures and bucket counts recomputed from product states.
pub fn recompute<'a>(states: impl IntoIterator<Item = &'a State>) -> Expected {
    let mut cats: BTreeMap<i64, Figures> = BTreeMap::new();
    let mut buckets: BTreeMap<String, (Option<i64>, i64)> = BTreeMap::new();
    for s in states {
        let f = cats.entry(s.category_id).or_default();
        f.products += 1;
        if let Some(p) = s.price {
            f.priced += 1;
            f.price_sum += p;
        }
        if let Some(st) = s.stars {
            f.rated += 1;
            f.stars_sum += st;
        }
        f.bestsellers += i64::from(s.best_seller);
        f.bought_last_month += s.bought;
        let (label, lo) = s.bucket();
        *f.buckets.entry(label.clone()).or_default() += 1;
        let b = buckets.entry(label).or_insert((lo, 0));
        b.1 += 1;
    }
    (cats, buckets)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

/// A whole-number field, stored as any BSON number type.
pub fn int(d: &Document, k: &str) -> Result<i64> {
    match d.get(k) {
        Some(Bson::Int32(i)) => Ok(i64::from(*i)),
        Some(Bson::Int64(i)) => Ok(*i),
        Some(Bson::Double(x)) if x.fract() == 0.0 => Ok(*x as i64),
        other => bail!("field {k}: {other:?}"),
    }
}

/// A number field (double or integer); `None` when missing or null, an
/// error for any other type.
pub fn float(d: &Document, k: &str) -> Result<Option<f64>> {
    Ok(match d.get(k) {
        None | Some(Bson::Null) => None,
        Some(Bson::Double(x)) => Some(*x),
        Some(Bson::Int32(i)) => Some(f64::from(*i)),
        Some(Bson::Int64(i)) => Some(*i as f64),
        other => bail!("field {k}: {other:?}"),
    })
}

/// Every document of `coll`.
pub async fn all(db: &mongodb::Database, coll: &str) -> Result<Vec<Document>> {
    Ok(db
        .collection::<Document>(coll)
        .find(doc! {})
        .await?
        .try_collect()
        .await?)
}

/// Compares `category_stats` and `price_buckets` with `expected` figures
/// (and `names` for the category names), every count exactly and sums
/// within 1e-6 relative. The error says what differs.
pub async fn check_figures(
    db: &mongodb::Database,
    expected: &Expected,
    names: &HashMap<i64, String>,
) -> Result<()> {
    let (cats, buckets) = expected;
    let stats = all(db, "category_stats").await?;
    ensure!(
        stats.len() == cats.len(),
        "{} category_stats documents, expected {}",
        stats.len(),
        cats.len()
    );
    for d in &stats {
        let id = int(d, "_id")?;
        let f = cats
            .get(&id)
            .with_context(|| format!("unexpected category {id}"))?;
        let got = (
            int(d, "products")?,
            int(d, "priced")?,
            int(d, "bestsellers")?,
            int(d, "rated")?,
            int(d, "bought_last_month")?,
        );
        let want = (
            f.products,
            f.priced,
            f.bestsellers,
            f.rated,
            f.bought_last_month,
        );
        ensure!(
            got == want,
            "category {id}: counts {got:?}, expected {want:?}"
        );
        let price_sum = float(d, "price_sum")?.unwrap_or(0.0);
        let stars_sum = float(d, "stars_sum")?.unwrap_or(0.0);
        ensure!(
            close(price_sum, f.price_sum) && close(stars_sum, f.stars_sum),
            "category {id}: sums {price_sum}/{stars_sum}, expected {}/{}",
            f.price_sum,
            f.stars_sum
        );
        let avg = float(d, "avg_price")?;
        let want_avg = (f.priced > 0).then(|| f.price_sum / f.priced as f64);
        ensure!(
            match (avg, want_avg) {
                (Some(a), Some(b)) => close(a, b),
                (a, b) => a == b,
            },
            "category {id}: avg_price {avg:?}, expected {want_avg:?}"
        );
        let avg_stars = float(d, "avg_stars")?;
        let want_stars = (f.rated > 0).then(|| f.stars_sum / f.rated as f64);
        ensure!(
            match (avg_stars, want_stars) {
                (Some(a), Some(b)) => close(a, b),
                (a, b) => a == b,
            },
            "category {id}: avg_stars {avg_stars:?}, expected {want_stars:?}"
        );
        let got_buckets: BTreeMap<String, i64> = d
            .get_document("buckets")?
            .iter()
            .map(|(k, v)| Ok((k.clone(), int(&doc! {"v": v.clone()}, "v")?)))
            .collect::<Result<_>>()?;
        ensure!(
            got_buckets == f.buckets,
            "category {id}: buckets {got_buckets:?}, expected {:?}",
            f.buckets
        );
        let name = d.get_str("category_name").ok();
        ensure!(
            name == names.get(&id).map(String::as_str),
            "category {id}: name {name:?}, expected {:?}",
            names.get(&id)
        );
    }
    let got: BTreeMap<String, (Option<i64>, i64)> = all(db, "price_buckets")
        .await?
        .iter()
        .map(|d| {
            let lo = match d.get("lo") {
                None | Some(Bson::Null) => None,
                _ => Some(int(d, "lo")?),
            };
            Ok((d.get_str("_id")?.to_owned(), (lo, int(d, "products")?)))
        })
        .collect::<Result<_>>()?;
    ensure!(
        &got == buckets,
        "price_buckets {got:?}, expected {buckets:?}"
    );
    Ok(())
}

/// The products collection as states, with each product's category name.
pub async fn stored_products(
    db: &mongodb::Database,
) -> Result<BTreeMap<String, (State, Option<String>)>> {
    all(db, "products")
        .await?
        .iter()
        .map(|d| {
            let state = State {
                category_id: int(d, "category_id")?,
                price: float(d, "price")?,
                stars: float(d, "stars")?,
                best_seller: d.get_bool("isBestSeller")?,
                bought: int(d, "boughtInLastMonth")?,
            };
            let name = d.get_str("category_name").ok().map(str::to_owned);
            Ok((d.get_str("_id")?.to_owned(), (state, name)))
        })
        .collect()
}

/// The data contract's invariant: the aggregates equal a recomputation
/// from the `products` collection.
pub async fn check_invariant(db: &mongodb::Database, names: &HashMap<i64, String>) -> Result<()> {
    let products = stored_products(db).await?;
    let expected = recompute(products.values().map(|(s, _)| s));
    check_figures(db, &expected, names).await
}

/// The whole expected end state: products equal to `last`, each named
/// when its category is known, and the figures recomputed from `last`.
pub async fn check_all(
    db: &mongodb::Database,
    last: &BTreeMap<String, State>,
    names: &HashMap<i64, String>,
) -> Result<()> {
    let stored = stored_products(db).await?;
    ensure!(
        stored.len() == last.len(),
        "{} products stored, expected {}",
        stored.len(),
        last.len()
    );
    for (asin, want) in last {
        let (got, name) = stored
            .get(asin)
            .with_context(|| format!("product {asin} missing"))?;
        ensure!(got == want, "product {asin}: {got:?}, expected {want:?}");
        let want_name = names.get(&want.category_id);
        ensure!(
            name.as_ref() == want_name,
            "product {asin}: category_name {name:?}, expected {want_name:?}"
        );
    }
    check_figures(db, &recompute(last.values()), names).await?;
    check_invariant(db, names).await
}

/// Waits until [`check_all`] passes; fails with its last complaint.
pub async fn wait_for_all(
    db: &mongodb::Database,
    last: &BTreeMap<String, State>,
    names: &HashMap<i64, String>,
    timeout: Duration,
) -> Result<()> {
    // Each check reads everything; not too often on a busy store.
    crate::retry_check(timeout, Duration::from_millis(700), || {
        check_all(db, last, names)
    })
    .await
}

/// The start of a sink test: the sink's topics, the test's database, a
/// producer, and `categories` named categories (ids from 1) in the
/// categories topic, with their names.
pub async fn with_categories(
    p: &Platform,
    categories: i64,
) -> (
    mongodb::Database,
    rdkafka::producer::FutureProducer,
    HashMap<i64, String>,
) {
    create_sink_topics(p).await;
    let db = database(p).await;
    let kafka = crate::producer(&p.kafka).expect("Kafka producer");
    crate::produce_with(
        &kafka,
        &p.topics.ingest_category,
        &category_records(1..=categories),
    )
    .await
    .expect("produce the categories");
    let names = (1..=categories).map(|id| (id, category_name(id))).collect();
    (db, kafka, names)
}

/// The test's database.
pub async fn database(p: &Platform) -> mongodb::Database {
    mongodb::Client::with_uri_str(&p.mongo)
        .await
        .expect("MongoDB client")
        .database(&p.database)
}
