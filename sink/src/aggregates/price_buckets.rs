//! `price_buckets`: one document per price bucket label in use, over all
//! categories (the contract's [`PriceBucket`]).

use std::collections::BTreeMap;

use bson::Document;
use shelf_contract::collections;
use shelf_contract::documents::PriceBucket;

use super::{to_document, Aggregate, Merged};

#[derive(Debug, Clone, Copy)]
pub struct PriceBucketsAggregate;

impl PriceBucketsAggregate {
    /// The typed documents (what [`Aggregate::documents`] encodes).
    pub fn buckets(merged: &Merged<'_>) -> Vec<PriceBucket> {
        let mut buckets: BTreeMap<&str, (Option<i64>, i64)> = BTreeMap::new();
        for f in merged.categories.values() {
            for b in f.buckets.iter() {
                let e = buckets.entry(&b.label).or_default();
                e.0 = b.lo;
                e.1 += b.products;
            }
        }
        buckets
            .into_iter()
            .filter(|(_, (_, n))| *n > 0)
            .map(|(label, (lo, products))| PriceBucket {
                label: label.to_owned(),
                lo,
                products,
            })
            .collect()
    }
}

impl Aggregate for PriceBucketsAggregate {
    fn collection(&self) -> &'static str {
        collections::PRICE_BUCKETS
    }

    fn documents(&self, merged: &Merged<'_>) -> Vec<Document> {
        Self::buckets(merged).iter().map(to_document).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::figures::tests::product;
    use crate::figures::Partial;

    #[test]
    fn labels_are_summed_over_categories() {
        let mut a = Partial::new(0, 7, None);
        let mut b = Partial::new(1, 8, None);
        a.figures.apply(&product(7, Some(10.0), "10-15"), 1);
        b.figures.apply(&product(8, Some(12.5), "10-15"), 1);
        b.figures.apply(&product(8, None, "unpriced"), 1);
        let names = HashMap::new();
        assert_eq!(
            PriceBucketsAggregate::buckets(&Merged::of([&a, &b], &names)),
            vec![
                PriceBucket {
                    label: "10-15".into(),
                    lo: Some(10),
                    products: 2
                },
                PriceBucket {
                    label: "unpriced".into(),
                    lo: None,
                    products: 1
                },
            ]
        );
    }
}
