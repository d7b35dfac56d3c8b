//! The aggregate figures: what one product contributes, the per-partition
//! partial sums the sink maintains, and the merged documents analysts read.
//!
//! Sums are kept as integers (millionths of a dollar or of a star) so that
//! adding and later retracting the same product gives back exactly the
//! previous figure; floating-point sums would drift with every retraction.

mod buckets;
mod stored;

use serde::{Deserialize, Serialize};

pub use buckets::{Bucket, Buckets, Label};
pub(crate) use stored::Text as AmountText;

/// Millionths per unit: sums are exact to a millionth of a dollar.
const MICROS: f64 = 1e6;

/// Amounts over this (in units) cannot be summed exactly as micros in an
/// `i128` over any realistic number of products, so the sink refuses them.
pub const MAX_AMOUNT: f64 = 1e20;

/// What one product adds to its category's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    pub category_id: i64,
    pub price_micros: Option<i128>,
    pub stars_micros: Option<i128>,
    pub bestseller: bool,
    pub bought_last_month: i128,
    pub bucket: Label,
    pub bucket_lo: Option<i64>,
}

/// An amount in millionths, rounded; `None` beyond [`MAX_AMOUNT`].
pub fn to_micros(x: f64) -> Option<i128> {
    (x.is_finite() && x.abs() <= MAX_AMOUNT).then(|| (x * MICROS).round() as i128)
}

/// Millionths back to units.
pub(crate) fn from_micros(x: i128) -> f64 {
    x as f64 / MICROS
}

/// Sums of the contributions of a set of products.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    pub products: i64,
    pub priced: i64,
    pub price_micros: i128,
    pub bestsellers: i64,
    pub rated: i64,
    pub stars_micros: i128,
    pub bought_last_month: i128,
    /// Products per price bucket label (labels with none are left out).
    pub buckets: Buckets,
}

impl Figures {
    /// Adds (`sign` 1) or retracts (`sign` -1) one product.
    pub fn apply(&mut self, c: &Contribution, sign: i64) {
        let wide = i128::from(sign);
        self.products += sign;
        if let Some(p) = c.price_micros {
            self.priced += sign;
            self.price_micros += wide * p;
        }
        if let Some(s) = c.stars_micros {
            self.rated += sign;
            self.stars_micros += wide * s;
        }
        if c.bestseller {
            self.bestsellers += sign;
        }
        self.bought_last_month += wide * c.bought_last_month;
        self.buckets.apply(&c.bucket, c.bucket_lo, sign);
    }

    /// The figures analysts read: sums in units and the averages
    /// (`None` when nothing is priced or rated).
    pub fn readable(&self) -> Readable {
        let price_sum = from_micros(self.price_micros);
        let stars_sum = from_micros(self.stars_micros);
        Readable {
            price_sum,
            avg_price: (self.priced > 0).then(|| price_sum / self.priced as f64),
            stars_sum,
            avg_stars: (self.rated > 0).then(|| stars_sum / self.rated as f64),
            bought_last_month: i64::try_from(self.bought_last_month).unwrap_or(i64::MAX),
        }
    }

    /// Adds another set's sums to these.
    pub(crate) fn add(&mut self, other: &Figures) {
        self.products += other.products;
        self.priced += other.priced;
        self.price_micros += other.price_micros;
        self.bestsellers += other.bestsellers;
        self.rated += other.rated;
        self.stars_micros += other.stars_micros;
        self.bought_last_month += other.bought_last_month;
        self.buckets.add(&other.buckets);
    }
}

/// [`Figures`] as `category_stats` and `category_daily` show them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Readable {
    pub price_sum: f64,
    pub avg_price: Option<f64>,
    pub stars_sum: f64,
    pub avg_stars: Option<f64>,
    pub bought_last_month: i64,
}

/// One category's figures within one partition of the product topic: the
/// unit of single-writer state. Only the instance that owns the partition
/// writes it, as part of its partition's document
/// ([`crate::partition_state`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    pub partition: i32,
    pub category_id: i64,
    pub figures: Figures,
    /// The category name every product counted here carries (`None`: none
    /// known yet). When the known name differs, the products get it.
    pub named: Option<String>,
    /// The last product-topic offset of this partition whose effect on
    /// these figures is included (-1: none). A replayed record at or below
    /// it is not applied again.
    pub applied_offset: i64,
}

impl Partial {
    pub fn new(partition: i32, category_id: i64, named: Option<String>) -> Self {
        Self {
            partition,
            category_id,
            figures: Figures::default(),
            named,
            applied_offset: -1,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn product(category_id: i64, price: Option<f64>, bucket: &str) -> Contribution {
        Contribution {
            category_id,
            price_micros: price.and_then(to_micros),
            stars_micros: Some(4_500_000),
            bestseller: category_id == 1,
            bought_last_month: 50,
            bucket: bucket.into(),
            bucket_lo: bucket.split('-').next().and_then(|x| x.parse().ok()),
        }
    }

    #[test]
    fn retracting_gives_back_exactly_the_previous_figures() {
        let mut f = Figures::default();
        let kept = product(1, Some(0.1), "0-5");
        f.apply(&kept, 1);
        let before = f.clone();
        for price in [0.2, 0.3, 1234.57, 19.99] {
            let c = product(1, Some(price), "0-5");
            f.apply(&c, 1);
            f.apply(&c, -1);
        }
        assert_eq!(f, before);
        f.apply(&kept, -1);
        assert_eq!(
            f,
            Figures::default(),
            "an emptied partial has no bucket left"
        );
    }
}
