//! The data contract's time rules restated from the CSV side: daily
//! snapshot files (clean rows with an `observed_at` column) replayed in
//! observation order, and what `products`, `price_changes` and
//! `category_daily` must then hold. Written from the contract's text; it
//! shares no code with the sink.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{ensure, Context, Result};
use mongodb::bson::{Bson, Document};

use crate::sink::{all, float, int};

const DAY_MS: i64 = 86_400_000;

/// One accepted observation.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    asin: String,
    at: i64,
    day: i64,
    price_cents: Option<i64>,
    list_cents: Option<i64>,
    category: i64,
    bestseller: bool,
}

impl Seen {
    fn bucket(&self) -> String {
        match self.price_cents {
            None => "unpriced".into(),
            Some(c) if c >= 30_000 => "300+".into(),
            Some(c) => {
                let lo = c / 500 * 5;
                format!("{lo}-{}", lo + 5)
            }
        }
    }
}

/// Milliseconds since the epoch of `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`.
fn at_of(text: &str) -> Result<i64> {
    let (date, clock) = text.split_once('T').unwrap_or((text, "00:00:00Z"));
    let hms: Vec<i64> = clock
        .trim_end_matches('Z')
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("time {text}"))?;
    let [h, m, s] = hms[..] else {
        anyhow::bail!("time {text}");
    };
    Ok(day_of(date)? * DAY_MS + ((h * 60 + m) * 60 + s) * 1000)
}

/// Days since the epoch of `YYYY-MM-DD`.
fn day_of(text: &str) -> Result<i64> {
    let parts: Vec<i64> = text
        .split('-')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("day {text}"))?;
    let [y, m, d] = parts[..] else {
        anyhow::bail!("day {text}");
    };
    // Days from civil (proleptic Gregorian), written out for the tests.
    let (y, m) = if m <= 2 { (y - 1, m + 12) } else { (y, m) };
    let days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * (m - 3) + 2) / 5 + d - 1;
    Ok(days - 719_468)
}

fn cents(cell: &str) -> Result<Option<i64>> {
    let x: f64 = cell.parse().with_context(|| format!("price {cell}"))?;
    Ok((x > 0.0).then(|| (x * 100.0).round() as i64))
}

/// Price changes: (asin, observed_at) → (prev price, price, prev list,
/// list, change_pct), in cents.
type Changes = BTreeMap<
    (String, i64),
    (
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<f64>,
    ),
>;

/// A platform of its own (topics, database) with the four topics and the
/// standard chain deployed: ready for a pipeline's processes.
pub async fn pipeline_platform() -> Result<shelf_config::Platform> {
    let p = crate::platform();
    let t = &p.topics;
    let topics = [
        &t.ingest_product,
        &t.ingest_category,
        &t.product_clean,
        &t.product_dlq,
    ]
    .map(String::as_str);
    crate::create_topics(&p.kafka, &topics, 3).await?;
    crate::deploy_standard_chain(&p, &[]).await?;
    Ok(p)
}

/// What the store must hold after every file was streamed, in any order.
#[derive(Debug, Default)]
pub struct Trends {
    /// asin → its observations in `(observed_at, order)` order.
    versions: BTreeMap<String, Vec<Seen>>,
}

impl Trends {
    /// Reads daily snapshot files (`shelf dataset generate --days`); the
    /// order given is the topic order among equal times.
    pub fn from_files(files: &[impl AsRef<Path>]) -> Result<Self> {
        let mut all: Vec<Seen> = Vec::new();
        for file in files {
            let mut reader = csv::Reader::from_path(file.as_ref())?;
            let header: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
            let col = |name: &str| {
                header
                    .iter()
                    .position(|h| h == name)
                    .context(name.to_owned())
            };
            let (asin, price, list, category, best, at) = (
                col("asin")?,
                col("price")?,
                col("listPrice")?,
                col("category_id")?,
                col("isBestSeller")?,
                col("observed_at")?,
            );
            for row in reader.records() {
                let row = row?;
                let ms = at_of(&row[at])?;
                all.push(Seen {
                    asin: row[asin].to_owned(),
                    at: ms,
                    day: ms.div_euclid(DAY_MS),
                    price_cents: cents(&row[price])?,
                    list_cents: cents(&row[list])?,
                    category: row[category].parse()?,
                    bestseller: &row[best] == "True",
                });
            }
        }
        // Stable: equal times keep the order given.
        all.sort_by_key(|s| s.at);
        let mut versions: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
        for s in all {
            versions.entry(s.asin.clone()).or_default().push(s);
        }
        Ok(Self { versions })
    }

    pub fn observations(&self) -> usize {
        self.versions.values().map(Vec::len).sum()
    }

    /// (asin, observed_at) → (prev price, price, prev list, list, change_pct).
    fn changes(&self) -> Changes {
        let mut out = BTreeMap::new();
        for (asin, vs) in &self.versions {
            for w in vs.windows(2) {
                let (old, new) = (&w[0], &w[1]);
                if old.price_cents == new.price_cents && old.list_cents == new.list_cents {
                    continue;
                }
                let pct = match (old.price_cents, new.price_cents) {
                    (Some(o), Some(n)) => {
                        let num = 1000 * (n - o);
                        let (quot, rem) = (num / o, num % o);
                        let tenths = if 2 * rem.abs() >= o {
                            quot + num.signum()
                        } else {
                            quot
                        };
                        Some(tenths as f64 / 10.0)
                    }
                    _ => None,
                };
                out.insert(
                    (asin.clone(), new.at),
                    (
                        old.price_cents,
                        new.price_cents,
                        old.list_cents,
                        new.list_cents,
                        pct,
                    ),
                );
            }
        }
        out
    }

    /// (category, day) → (products, priced, price sum in cents,
    /// bestsellers, buckets, drops, rises, avg change).
    #[allow(clippy::type_complexity)]
    fn daily(
        &self,
    ) -> BTreeMap<
        (i64, i64),
        (
            i64,
            i64,
            i64,
            i64,
            BTreeMap<String, i64>,
            i64,
            i64,
            Option<f64>,
        ),
    > {
        let last = self
            .versions
            .values()
            .flatten()
            .map(|s| s.day)
            .max()
            .unwrap_or(0);
        let mut first: HashMap<i64, i64> = HashMap::new();
        for s in self.versions.values().flatten() {
            let f = first.entry(s.category).or_insert(s.day);
            *f = (*f).min(s.day);
        }
        let changes = self.changes();
        let mut out = BTreeMap::new();
        for (&category, &from) in &first {
            for day in from..=last {
                let mut e = (0, 0, 0, 0, BTreeMap::new(), 0, 0, None);
                for vs in self.versions.values() {
                    let Some(s) = vs.iter().rev().find(|s| s.day <= day) else {
                        continue;
                    };
                    if s.category != category {
                        continue;
                    }
                    e.0 += 1;
                    if let Some(c) = s.price_cents {
                        e.1 += 1;
                        e.2 += c;
                    }
                    e.3 += i64::from(s.bestseller);
                    *e.4.entry(s.bucket()).or_insert(0) += 1;
                }
                let todays: Vec<f64> = changes
                    .iter()
                    .filter(|((asin, at), _)| {
                        at.div_euclid(DAY_MS) == day
                            && self.versions[asin]
                                .iter()
                                .any(|s| s.at == *at && s.category == category)
                    })
                    .filter_map(|(_, c)| c.4)
                    .collect();
                e.5 = todays.iter().filter(|p| **p < 0.0).count() as i64;
                e.6 = todays.iter().filter(|p| **p > 0.0).count() as i64;
                e.7 =
                    (!todays.is_empty()).then(|| todays.iter().sum::<f64>() / todays.len() as f64);
                out.insert((category, day), e);
            }
        }
        out
    }
}

fn money(cents: Option<i64>) -> Option<f64> {
    cents.map(|c| c as f64 / 100.0)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

fn date_ms(d: &Document, field: &str) -> Result<i64> {
    Ok(d.get_datetime(field)
        .with_context(|| format!("{field} of {d}"))?
        .timestamp_millis())
}

/// `products`, `price_changes` and `category_daily` equal the replay.
pub async fn check_trends(db: &mongodb::Database, want: &Trends) -> Result<()> {
    let products = all(db, "products").await?;
    ensure!(
        products.len() == want.versions.len(),
        "{} products stored, {} expected",
        products.len(),
        want.versions.len()
    );
    let changes = want.changes();
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for (asin, _) in changes.keys() {
        *counts.entry(asin).or_default() += 1;
    }
    for d in &products {
        let asin = d.get_str("_id")?;
        let vs = &want.versions[asin];
        let (first, last) = (&vs[0], &vs[vs.len() - 1]);
        let current = vs.last().context("no version")?;
        ensure!(
            float(d, "price")? == money(current.price_cents)
                && int(d, "category_id")? == current.category,
            "{asin}: stored price {:?} category {}, expected {:?} {}",
            float(d, "price")?,
            int(d, "category_id")?,
            current.price_cents,
            current.category
        );
        ensure!(
            date_ms(d, "observed_at")? == current.at
                && date_ms(d, "first_seen")? == first.at
                && date_ms(d, "last_seen")? == last.at,
            "{asin}: times {:?} {:?} {:?}, expected {} {} {}",
            d.get("observed_at"),
            d.get("first_seen"),
            d.get("last_seen"),
            current.at,
            first.at,
            last.at
        );
        let count = counts.get(asin).copied().unwrap_or(0);
        ensure!(
            int(d, "price_change_count")? == count,
            "{asin}: {} price changes stored, {count} expected",
            int(d, "price_change_count")?
        );
    }

    let stored = all(db, "price_changes").await?;
    let mut got = BTreeMap::new();
    for d in &stored {
        let at = date_ms(d, "observed_at")?;
        let cents = |f: &str| -> Result<Option<i64>> {
            Ok(float(d, f)?.map(|x| (x * 100.0).round() as i64))
        };
        got.insert(
            (d.get_str("asin")?.to_owned(), at),
            (
                cents("prev_price")?,
                cents("price")?,
                cents("prev_listPrice")?,
                cents("listPrice")?,
                float(d, "change_pct")?,
            ),
        );
    }
    if got != changes {
        let diff: Vec<String> = changes
            .iter()
            .filter(|(k, v)| got.get(*k) != Some(v))
            .map(|(k, v)| format!("{k:?}: expected {v:?}, stored {:?}", got.get(k)))
            .chain(
                got.iter()
                    .filter(|(k, _)| !changes.contains_key(*k))
                    .map(|(k, v)| format!("{k:?}: stored {v:?}, not expected")),
            )
            .take(5)
            .collect();
        anyhow::bail!(
            "price_changes: {} stored, {} expected; first differences: {}",
            got.len(),
            changes.len(),
            diff.join("; ")
        );
    }

    let daily = want.daily();
    let stored = all(db, "category_daily").await?;
    ensure!(
        stored.len() == daily.len(),
        "category_daily: {} documents, {} expected",
        stored.len(),
        daily.len()
    );
    for d in &stored {
        let (category, day) = (int(d, "category_id")?, day_of(d.get_str("day")?)?);
        let e = daily.get(&(category, day)).with_context(|| {
            format!(
                "unexpected category_daily {}",
                d.get_str("_id").unwrap_or("?")
            )
        })?;
        let buckets: BTreeMap<String, i64> = d
            .get_document("buckets")?
            .iter()
            .map(|(k, v)| {
                let n = match v {
                    Bson::Int32(i) => i64::from(*i),
                    Bson::Int64(i) => *i,
                    other => anyhow::bail!("bucket {k}: {other:?}"),
                };
                Ok((k.clone(), n))
            })
            .collect::<Result<_>>()?;
        let same = int(d, "products")? == e.0
            && int(d, "priced")? == e.1
            && close(float(d, "price_sum")?.unwrap_or(0.0), e.2 as f64 / 100.0)
            && int(d, "bestsellers")? == e.3
            && buckets == e.4
            && int(d, "drops")? == e.5
            && int(d, "rises")? == e.6
            && match (float(d, "avg_change_pct")?, e.7) {
                (Some(a), Some(b)) => close(a, b),
                (a, b) => a == b,
            };
        ensure!(
            same,
            "category_daily {}: stored {d}, expected {e:?}",
            d.get_str("_id")?
        );
    }
    ensure!(
        stored
            .iter()
            .all(|d| matches!(d.get("_id"), Some(Bson::String(_)))),
        "category_daily ids are text"
    );
    Ok(())
}
