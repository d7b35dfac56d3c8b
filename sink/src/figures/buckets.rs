//! Products per price bucket, as [`super::Figures`] keep them.
//!
//! A category uses a handful of labels, and a batch copies and writes
//! every partial it touches (hundreds per batch): as two `BTreeMap`s of
//! `String`s, copying, writing and freeing them took about a sixth of the
//! sink's CPU at full size. One sorted vector with shared labels copies in
//! a single allocation.

use std::collections::BTreeMap;
use std::sync::Arc;

/// A bucket's label, shared rather than copied.
pub type Label = Arc<str>;

/// One label's count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub label: Label,
    pub products: i64,
    /// The label's lower bound (`None` for "unpriced").
    pub lo: Option<i64>,
}

/// The buckets of a set of products, sorted by label, one entry per label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Buckets(Vec<Bucket>);

impl Buckets {
    fn find(&self, label: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|b| (*b.label).cmp(label))
    }

    /// The index of `label`'s entry, made (empty) if there is none.
    fn entry(&mut self, label: &Label) -> usize {
        self.find(label).unwrap_or_else(|i| {
            let bucket = Bucket {
                label: Arc::clone(label),
                products: 0,
                lo: None,
            };
            self.0.insert(i, bucket);
            i
        })
    }

    /// Adds `n` products to `label` (lower bound `lo`); a label whose
    /// count comes to 0 is removed.
    pub fn apply(&mut self, label: &Label, lo: Option<i64>, n: i64) {
        let i = self.entry(label);
        let bucket = &mut self.0[i];
        bucket.products += n;
        if bucket.products == 0 {
            self.0.remove(i);
        } else {
            bucket.lo = lo;
        }
    }

    /// Adds another set's counts, label by label; the other's lower bounds
    /// win. Labels that come to 0 stay (see [`Buckets::retain_nonzero`]).
    pub fn add(&mut self, other: &Buckets) {
        for b in &other.0 {
            let i = self.entry(&b.label);
            let mine = &mut self.0[i];
            mine.products += b.products;
            mine.lo = b.lo;
        }
    }

    /// Drops the labels without products.
    pub fn retain_nonzero(&mut self) {
        self.0.retain(|b| b.products != 0);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Bucket> {
        self.0.iter()
    }

    /// The count of `label`, if it has an entry.
    pub fn get(&self, label: &str) -> Option<i64> {
        self.find(label).ok().map(|i| self.0[i].products)
    }

    /// The counts by label, as the stored documents show them.
    pub fn counts(&self) -> BTreeMap<String, i64> {
        self.0
            .iter()
            .map(|b| (b.label.to_string(), b.products))
            .collect()
    }

    /// Layout 3's two maps (label to count, label to lower bound) read
    /// back. A lower bound without a count is dropped: no label has
    /// one without the other, and a bound alone counts nothing.
    pub(super) fn from_maps(
        counts: BTreeMap<String, i64>,
        mut lo: BTreeMap<String, Option<i64>>,
    ) -> Self {
        Self(
            counts
                .into_iter()
                .map(|(label, products)| Bucket {
                    lo: lo.remove(&label).flatten(),
                    label: label.into(),
                    products,
                })
                .collect(),
        )
    }

    /// Buckets read back, sorted by label and one per label.
    pub(super) fn from_rows(rows: impl IntoIterator<Item = Bucket>) -> Self {
        Self(rows.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(s: &str) -> Label {
        s.into()
    }

    #[test]
    fn stays_sorted_and_drops_a_label_that_empties() {
        let mut b = Buckets::default();
        b.apply(&label("5-10"), Some(5), 1);
        b.apply(&label("0-5"), Some(0), 1);
        b.apply(&label("unpriced"), None, 1);
        b.apply(&label("0-5"), Some(0), 1);
        let labels: Vec<&str> = b.iter().map(|b| &*b.label).collect();
        assert_eq!(labels, ["0-5", "5-10", "unpriced"]);
        assert_eq!(b.get("0-5"), Some(2));
        b.apply(&label("5-10"), Some(5), -1);
        assert_eq!(b.get("5-10"), None);
        assert_eq!(b.iter().count(), 2);
    }

    #[test]
    fn adding_keeps_zero_counts_until_retained() {
        let mut a = Buckets::default();
        a.apply(&label("0-5"), Some(0), 2);
        let mut minus = Buckets::default();
        minus.apply(&label("0-5"), Some(0), -2);
        minus.apply(&label("5-10"), Some(5), 1);
        a.add(&minus);
        assert_eq!(a.get("0-5"), Some(0));
        a.retain_nonzero();
        assert_eq!(a.counts(), BTreeMap::from([("5-10".to_string(), 1)]));
    }
}
