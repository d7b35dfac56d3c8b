//! `category_stats`: one document per category with products (the
//! contract's [`CategoryStats`]).

use std::collections::HashSet;

use bson::{doc, Document};
use shelf_contract::collections;
use shelf_contract::documents::CategoryStats;

use super::{set_all, to_document, Aggregate, Merged};

#[derive(Debug, Clone, Copy)]
pub struct CategoryStatsAggregate;

impl CategoryStatsAggregate {
    /// The typed documents (what [`Aggregate::documents`] encodes).
    pub fn stats(merged: &Merged<'_>) -> Vec<CategoryStats> {
        merged
            .categories
            .iter()
            .map(|(&id, f)| {
                let r = f.readable();
                CategoryStats {
                    id,
                    category_name: merged.names.get(&id).cloned(),
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
                }
            })
            .collect()
    }
}

impl Aggregate for CategoryStatsAggregate {
    fn collection(&self) -> &'static str {
        collections::CATEGORY_STATS
    }

    fn documents(&self, merged: &Merged<'_>) -> Vec<Document> {
        Self::stats(merged).iter().map(to_document).collect()
    }

    fn update(&self, new: &Document, old: Option<&Document>) -> Document {
        bucket_wise(new, old)
    }
}

/// The update of a document with a `buckets` map, entry by entry: FerretDB
/// v1 would skip a `$set` of the whole map when only its keys changed (one
/// product moving from "5-10" to "10-15").
pub(super) fn bucket_wise(new: &Document, old: Option<&Document>) -> Document {
    {
        let (Some(old), Ok(new_buckets)) = (old, new.get_document("buckets")) else {
            return set_all(new);
        };
        let old_buckets = old.get_document("buckets").ok();
        let mut fields = new.clone();
        fields.remove("_id");
        fields.remove("buckets");
        for (label, n) in new_buckets {
            if old_buckets.and_then(|b| b.get(label)) != Some(n) {
                fields.insert(format!("buckets.{label}"), n.clone());
            }
        }
        let kept: HashSet<&String> = new_buckets.keys().collect();
        let unset: Document = old_buckets
            .into_iter()
            .flat_map(|b| b.keys())
            .filter(|l| !kept.contains(l))
            .map(|l| (format!("buckets.{l}"), bson::Bson::String(String::new())))
            .collect();
        let mut update = doc! { "$set": fields };
        if !unset.is_empty() {
            update.insert("$unset", unset);
        }
        update
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::figures::tests::product;
    use crate::figures::Partial;

    #[test]
    fn partials_are_summed_per_category_with_averages() {
        let mut a = Partial::new(0, 7, None);
        let mut b = Partial::new(1, 7, None);
        a.figures.apply(&product(7, Some(10.0), "10-15"), 1);
        b.figures.apply(&product(7, Some(12.5), "10-15"), 1);
        b.figures.apply(&product(7, None, "unpriced"), 1);
        let mut empty = Partial::new(2, 9, None);
        empty.figures.apply(&product(9, Some(1.0), "0-5"), 1);
        empty.figures.apply(&product(9, Some(1.0), "0-5"), -1);
        let names = HashMap::from([(7, "Kettles".to_owned())]);
        let stats = CategoryStatsAggregate::stats(&Merged::of([&a, &b, &empty], &names));
        assert_eq!(
            stats.len(),
            1,
            "a category without products has no document"
        );
        let s = &stats[0];
        assert_eq!(
            (s.id, s.category_name.as_deref(), s.products, s.priced),
            (7, Some("Kettles"), 3, 2)
        );
        assert_eq!(s.price_sum, 22.5);
        assert_eq!(s.avg_price, Some(11.25));
        assert_eq!(s.avg_stars, Some(4.5));
        assert_eq!(s.bought_last_month, 150);
    }

    fn stats(buckets: &[(&str, i64)]) -> Document {
        to_document(&CategoryStats {
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
        })
    }

    #[test]
    fn bucket_maps_are_updated_entry_by_entry() {
        let old = stats(&[("5-10", 1), ("10-15", 1)]);
        let new = stats(&[("10-15", 1), ("15-20", 1)]);
        let update = CategoryStatsAggregate.update(&new, Some(&old));
        let set = update.get_document("$set").unwrap();
        assert_eq!(set.get_i64("buckets.15-20").unwrap(), 1);
        assert!(!set.contains_key("buckets") && !set.contains_key("buckets.10-15"));
        assert!(update
            .get_document("$unset")
            .unwrap()
            .contains_key("buckets.5-10"));
        // A new document is set whole.
        let fresh = CategoryStatsAggregate.update(&new, None);
        assert!(fresh.get_document("$set").unwrap().contains_key("buckets"));
    }
}
