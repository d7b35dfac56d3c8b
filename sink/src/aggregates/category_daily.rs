//! `category_daily`: per category and UTC day, from the category's first
//! observation to the latest observed day, the figures `category_stats`
//! would have held at the end of that day had every observation arrived in
//! observation order, and the day's price changes (the contract's
//! [`CategoryDaily`]).
//!
//! Computed from the summed daily entries: each day's figures are the
//! running sum of the days' changes up to it.

use std::collections::BTreeMap;

use bson::{doc, Document};
use shelf_contract::collections;
use shelf_contract::documents::CategoryDaily;
use shelf_contract::time::{format_day, parse_day};

use super::category_stats::bucket_wise;
use super::{to_document, Aggregate, DaySums, Merged, Part, VerifyScope};
use crate::figures::Figures;

#[derive(Debug, Clone, Copy)]
pub struct CategoryDailyAggregate;

impl CategoryDailyAggregate {
    /// The typed documents (what [`Aggregate::documents`] encodes).
    pub fn days(merged: &Merged<'_>) -> Vec<CategoryDaily> {
        Self::days_from(merged, |_| i64::MIN)
    }

    /// The documents of each category from the day `from` gives it on.
    fn days_from(merged: &Merged<'_>, from: impl Fn(i64) -> i64) -> Vec<CategoryDaily> {
        let Some(last) = last_observed(merged) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (&category, days) in &merged.daily {
            let Some(first) = first_observed(days) else {
                continue;
            };
            let from = from(category);
            if from > last {
                continue;
            }
            let mut running = Figures::default();
            for sums in days.range(..first).map(|(_, s)| s) {
                add(&mut running, &sums.figures);
            }
            for day in first..=last {
                let today = days.get(&day);
                if let Some(s) = today {
                    add(&mut running, &s.figures);
                }
                if day >= from {
                    let changes = today.map(|s| s.changes.clone()).unwrap_or_default();
                    out.push(document(merged, category, day, &running, &changes));
                }
            }
        }
        out
    }
}

/// The latest day any category was observed on.
fn last_observed(merged: &Merged<'_>) -> Option<i64> {
    merged.daily.values().filter_map(last_of).max()
}

fn first_observed(days: &BTreeMap<i64, DaySums>) -> Option<i64> {
    days.iter().find(|(_, s)| s.observed > 0).map(|(d, _)| *d)
}

fn last_of(days: &BTreeMap<i64, DaySums>) -> Option<i64> {
    days.iter()
        .rev()
        .find(|(_, s)| s.observed > 0)
        .map(|(d, _)| *d)
}

/// Per category, the first day whose document may differ between
/// `previous` and `merged`: the first day its sums differ (a day's change
/// moves every running sum after it), any day when its name changed, and
/// for every category the days past the older last day when that moved.
fn first_changed(merged: &Merged<'_>, previous: &Merged<'_>) -> BTreeMap<i64, i64> {
    let (last, last_before) = (last_observed(merged), last_observed(previous));
    let extended = match (last, last_before) {
        (Some(a), Some(b)) if a != b => Some(a.min(b) + 1),
        _ => None,
    };
    let empty = BTreeMap::new();
    let mut out = BTreeMap::new();
    let categories = merged.daily.keys().chain(previous.daily.keys());
    for &category in categories {
        let now = merged.daily.get(&category).unwrap_or(&empty);
        let before = previous.daily.get(&category).unwrap_or(&empty);
        let renamed = merged.names.get(&category) != previous.names.get(&category);
        let differs = if renamed || first_observed(now) != first_observed(before) {
            Some(i64::MIN)
        } else {
            first_difference(now, before)
        };
        if let Some(day) = [differs, extended].into_iter().flatten().min() {
            out.insert(category, day);
        }
    }
    out
}

/// An `_id` `{category_id}:{YYYY-MM-DD}` read back.
fn category_and_day(id: &str) -> Option<(i64, i64)> {
    let (category, day) = id.split_once(':')?;
    Some((category.parse().ok()?, parse_day(day)?))
}

/// The first day whose sums differ between the two.
fn first_difference(a: &BTreeMap<i64, DaySums>, b: &BTreeMap<i64, DaySums>) -> Option<i64> {
    let days = a
        .keys()
        .chain(b.keys())
        .copied()
        .collect::<std::collections::BTreeSet<_>>();
    days.into_iter().find(|d| a.get(d) != b.get(d))
}

/// Adds a day's changes; buckets that empty are left out, as elsewhere.
fn add(running: &mut Figures, day: &Figures) {
    running.add(day);
    running.buckets.retain_nonzero();
}

fn document(
    merged: &Merged<'_>,
    category: i64,
    day: i64,
    f: &Figures,
    changes: &crate::daily::DayChanges,
) -> CategoryDaily {
    let day = format_day(day);
    let r = f.readable();
    CategoryDaily {
        id: CategoryDaily::id_of(category, &day),
        category_id: category,
        day,
        category_name: merged.names.get(&category).cloned(),
        products: f.products,
        priced: f.priced,
        price_sum: r.price_sum,
        avg_price: r.avg_price,
        bestsellers: f.bestsellers,
        rated: f.rated,
        stars_sum: r.stars_sum,
        avg_stars: r.avg_stars,
        bought_last_month: r.bought_last_month,
        buckets: f.buckets.counts(),
        changes: changes.changes,
        drops: changes.drops,
        rises: changes.rises,
        avg_change_pct: (changes.pct_n > 0)
            .then(|| changes.pct_tenths as f64 / 10.0 / changes.pct_n as f64),
    }
}

impl Aggregate for CategoryDailyAggregate {
    fn collection(&self) -> &'static str {
        collections::CATEGORY_DAILY
    }

    fn documents(&self, merged: &Merged<'_>) -> Vec<Document> {
        Self::days(merged).iter().map(to_document).collect()
    }

    fn update(&self, new: &Document, old: Option<&Document>) -> Document {
        bucket_wise(new, old)
    }

    /// The days from each category's first changed one on, and with
    /// `verify` the last [`VERIFIED_DAYS`] of every category: a merge
    /// during an in-order stream rewrites the latest day, not the whole
    /// history.
    fn changed(&self, merged: &Merged<'_>, previous: &Merged<'_>, verify: bool) -> Option<Part> {
        let mut from = first_changed(merged, previous);
        if verify {
            if let Some(last) = last_observed(merged) {
                let recent = last - VERIFIED_DAYS + 1;
                for &category in merged.daily.keys() {
                    let day = from.entry(category).or_insert(recent);
                    *day = (*day).min(recent);
                }
            }
        }
        let documents = Self::days_from(merged, |c| from.get(&c).copied().unwrap_or(i64::MAX))
            .iter()
            .map(to_document)
            .collect();
        let holds = move |d: &Document| match d.get_str("_id").ok().and_then(category_and_day) {
            Some((category, day)) => from.get(&category).is_some_and(|from| day >= *from),
            // Not a document this aggregate writes: inside, so that the
            // write removes it, as a whole recomputation would.
            None => true,
        };
        Some(Part {
            documents,
            holds: Box::new(holds),
        })
    }

    /// The last [`VERIFIED_DAYS`] days: the documents grow by a category's
    /// day every day, and a verify must not grow with them. Older days
    /// change only with late observations, written when they do.
    fn verify_scope(&self, merged: &Merged<'_>) -> Option<VerifyScope> {
        let last = last_observed(merged)?;
        let from = format_day(last - VERIFIED_DAYS + 1);
        let holds = {
            let from = from.clone();
            move |d: &Document| d.get_str("day").is_ok_and(|day| day >= from.as_str())
        };
        Some(VerifyScope {
            filter: doc! { "day": { "$gte": from } },
            holds: Box::new(holds),
        })
    }
}

/// Days a periodic verify of `category_daily` reads back.
const VERIFIED_DAYS: i64 = 7;

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::daily::DailyPartial;
    use crate::figures::tests::product;

    #[test]
    fn every_day_from_the_first_observation_to_the_last_is_a_running_sum() {
        // Category 1: a product seen on day 10 at 10, moved to 12 on day 12
        // in another partition; category 2 first seen on day 11.
        let mut d10 = DailyPartial::new(1);
        d10.figures.apply(&product(1, Some(10.0), "10-15"), 1);
        d10.observed = 1;
        let mut d12 = DailyPartial::new(1);
        d12.figures.apply(&product(1, Some(10.0), "10-15"), -1);
        d12.figures.apply(&product(1, Some(12.0), "10-15"), 1);
        d12.observed = 1;
        d12.changes.apply(Some(200), 1);
        let mut other = DailyPartial::new(2);
        other.figures.apply(&product(2, None, "unpriced"), 1);
        other.observed = 1;
        let names = HashMap::from([(1, "Kettles".to_owned())]);
        let merged = Merged::of([], &names).with_daily([(10, &d10), (12, &d12), (11, &other)]);
        let days = CategoryDailyAggregate::days(&merged);
        let got: Vec<(&str, i64, f64, i64)> = days
            .iter()
            .map(|d| (d.id.as_str(), d.products, d.price_sum, d.rises))
            .collect();
        assert_eq!(
            got,
            [
                ("1:1970-01-11", 1, 10.0, 0),
                ("1:1970-01-12", 1, 10.0, 0),
                ("1:1970-01-13", 1, 12.0, 1),
                ("2:1970-01-12", 1, 0.0, 0),
                ("2:1970-01-13", 1, 0.0, 0),
            ]
        );
        assert_eq!(days[2].avg_change_pct, Some(20.0));
        assert_eq!(days[0].avg_change_pct, None);
        assert_eq!(days[0].category_name.as_deref(), Some("Kettles"));
        assert_eq!(days[1].buckets.get("10-15"), Some(&1));
    }

    #[test]
    fn a_verify_reads_back_the_last_week_only() {
        let mut d = DailyPartial::new(1);
        d.observed = 1;
        let names = HashMap::new();
        let merged = Merged::of([], &names).with_daily((19_600..19_630).map(|day| (day, &d)));
        let scope = CategoryDailyAggregate.verify_scope(&merged).unwrap();
        let from = format_day(19_623);
        assert_eq!(scope.filter, doc! { "day": { "$gte": &from } });
        assert!((scope.holds)(&doc! { "day": &from }));
        assert!(!(scope.holds)(&doc! { "day": format_day(19_622) }));
    }

    #[test]
    fn a_merge_rewrites_what_changed_and_ends_where_a_whole_one_does() {
        let entry = |category: i64, price: f64, observed: i64| {
            let mut p = DailyPartial::new(category);
            p.figures.apply(&product(category, Some(price), "10-15"), 1);
            p.observed = observed;
            p
        };
        let (a, b, c) = (entry(1, 10.0, 1), entry(2, 11.0, 1), entry(1, 12.0, 1));
        let names = HashMap::from([(1, "Kettles".to_owned())]);
        let renamed = HashMap::from([(1, "Kettles".to_owned()), (2, "Toasters".to_owned())]);
        let before = Merged::of([], &names).with_daily([(10, &a), (11, &b), (12, &a)]);
        let cases = [
            // Nothing new; a late day 11 in category 1; a new day; a rename.
            Merged::of([], &names).with_daily([(10, &a), (11, &b), (12, &a)]),
            Merged::of([], &names).with_daily([(10, &a), (11, &b), (11, &c), (12, &a)]),
            Merged::of([], &names).with_daily([(10, &a), (11, &b), (12, &a), (13, &b)]),
            Merged::of([], &renamed).with_daily([(10, &a), (11, &b), (12, &a)]),
            Merged::of([], &names).with_daily([(10, &a), (12, &a)]),
        ];
        let by_id = |docs: Vec<Document>| -> BTreeMap<String, Document> {
            docs.into_iter()
                .map(|d| (d.get_str("_id").unwrap().to_owned(), d))
                .collect()
        };
        let aggregate = CategoryDailyAggregate;
        for (i, after) in cases.iter().enumerate() {
            for verify in [false, true] {
                let held = by_id(aggregate.documents(&before));
                let part = aggregate.changed(after, &before, verify).unwrap();
                let wanted = by_id(part.documents);
                let mut got: BTreeMap<String, Document> =
                    held.into_iter().filter(|(_, d)| !(part.holds)(d)).collect();
                got.extend(wanted.clone());
                assert_eq!(
                    got,
                    by_id(aggregate.documents(after)),
                    "case {i}, verify {verify}"
                );
                if i == 0 && !verify {
                    assert!(wanted.is_empty(), "nothing changed, nothing rewritten");
                }
                if i == 1 && !verify {
                    let ids: Vec<&str> = wanted.keys().map(String::as_str).collect();
                    assert_eq!(ids, ["1:1970-01-12", "1:1970-01-13"]);
                }
            }
        }
    }
}
