//! `category_daily`: per category and UTC day, from the category's first
//! observation to the latest observed day, the figures `category_stats`
//! would have held at the end of that day had every observation arrived in
//! observation order, and the day's price changes (the contract's
//! [`CategoryDaily`]).
//!
//! Computed from the summed daily entries: each day's figures are the
//! running sum of the days' changes up to it.

use bson::{doc, Document};
use shelf_contract::collections;
use shelf_contract::documents::CategoryDaily;
use shelf_contract::time::format_day;

use super::category_stats::bucket_wise;
use super::{to_document, Aggregate, DaySums, Merged, VerifyScope};
use crate::figures::Figures;

#[derive(Debug, Clone, Copy)]
pub struct CategoryDailyAggregate;

impl CategoryDailyAggregate {
    /// The typed documents (what [`Aggregate::documents`] encodes).
    pub fn days(merged: &Merged<'_>) -> Vec<CategoryDaily> {
        let observed_days = |days: &std::collections::BTreeMap<i64, DaySums>| {
            days.iter()
                .filter(|(_, s)| s.observed > 0)
                .map(|(d, _)| *d)
                .collect::<Vec<_>>()
        };
        let Some(last) = merged
            .daily
            .values()
            .filter_map(|days| observed_days(days).last().copied())
            .max()
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (&category, days) in &merged.daily {
            let Some(&first) = observed_days(days).first() else {
                continue;
            };
            let mut running = Figures::default();
            for sums in days.range(..first).map(|(_, s)| s) {
                add(&mut running, &sums.figures);
            }
            for day in first..=last {
                let today = days.get(&day);
                if let Some(s) = today {
                    add(&mut running, &s.figures);
                }
                let changes = today.map(|s| s.changes.clone()).unwrap_or_default();
                out.push(document(merged, category, day, &running, &changes));
            }
        }
        out
    }
}

/// Adds a day's changes; buckets that empty are left out, as elsewhere.
fn add(running: &mut Figures, day: &Figures) {
    running.add(day);
    running.buckets.retain(|_, n| *n != 0);
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
        buckets: f.buckets.clone(),
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

    /// The last [`VERIFIED_DAYS`] days: the documents grow by a category's
    /// day every day, and a verify must not grow with them. Older days
    /// change only with late observations, written when they do.
    fn verify_scope(&self, merged: &Merged<'_>) -> Option<VerifyScope> {
        let last = merged
            .daily
            .values()
            .filter_map(|days| days.keys().next_back().copied())
            .max()?;
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
}
