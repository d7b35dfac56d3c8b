//! The sink's outputs beyond `products`, `categories` and `rejects`: the
//! aggregate collections, each computed from the merged partials.
//!
//! Each aggregate is one module implementing [`Aggregate`]: which
//! collection it keeps, which documents it must hold given the merged
//! figures, and (when a plain `$set` will not do) how a stored document is
//! updated. [`all`] lists them; the merge ([`sync::Aggregates`]) writes each
//! one's documents against what it last wrote, and `shelf sink rebuild`
//! writes them from scratch. Adding an aggregate is one new module here
//! plus a line in [`all`].

mod category_daily;
mod category_stats;
mod price_buckets;
mod sync;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use bson::{doc, Document};

pub use category_daily::CategoryDailyAggregate;
pub use category_stats::CategoryStatsAggregate;
pub use price_buckets::PriceBucketsAggregate;
pub use sync::Aggregates;

use crate::daily::{DailyPartial, DayChanges};
use crate::figures::{Figures, Partial};

/// One aggregate collection, a pure function of the merged figures: any
/// instance can compute it, and rewriting it is idempotent.
pub trait Aggregate: Send + Sync + std::fmt::Debug {
    /// The collection it keeps.
    fn collection(&self) -> &'static str;

    /// Every document the collection must hold, each with its `_id`.
    fn documents(&self, merged: &Merged<'_>) -> Vec<Document>;

    /// What a periodic verify reads back: every document (`None`, the
    /// default), or those a filter selects, with the same test in Rust.
    /// An aggregate whose documents grow with time verifies a bounded
    /// recent part; the rest is read whole when the instance starts.
    fn verify_scope(&self, merged: &Merged<'_>) -> Option<VerifyScope> {
        let _ = merged;
        None
    }

    /// The part of the collection that may differ from what `previous`
    /// gave, and with `verify` also [`Aggregate::verify_scope`]'s part:
    /// its documents and the test that tells a document inside it. `None`
    /// (the default): the whole collection. An aggregate whose documents
    /// grow with time recomputes a bounded part per merge this way.
    fn changed(&self, merged: &Merged<'_>, previous: &Merged<'_>, verify: bool) -> Option<Part> {
        let _ = (merged, previous, verify);
        None
    }

    /// The update operators that turn the stored `old` (if any) into
    /// `new`. A `$set` of every field by default.
    fn update(&self, new: &Document, old: Option<&Document>) -> Document {
        let _ = old;
        set_all(new)
    }
}

/// The documents a periodic verify reads back ([`Aggregate::verify_scope`]).
pub struct VerifyScope {
    pub filter: Document,
    pub holds: Box<dyn Fn(&Document) -> bool + Send>,
}

/// A part of an aggregate's collection ([`Aggregate::changed`]).
pub struct Part {
    pub documents: Vec<Document>,
    pub holds: Box<dyn Fn(&Document) -> bool + Send>,
}

/// Every aggregate the sink keeps, in the order they are written.
pub fn all() -> Vec<Box<dyn Aggregate>> {
    let mut list = current();
    list.extend(daily());
    list
}

/// The aggregates of the current figures (computed from
/// [`Merged::categories`] alone), which follow a change within a second.
pub fn current() -> Vec<Box<dyn Aggregate>> {
    vec![
        Box::new(CategoryStatsAggregate),
        Box::new(PriceBucketsAggregate),
    ]
}

/// The aggregates of days (computed from [`Merged::daily`] alone), which
/// the sink merges less often.
pub fn daily() -> Vec<Box<dyn Aggregate>> {
    vec![Box::new(CategoryDailyAggregate)]
}

/// The figures of every partition, summed per category, and the known
/// category names: what every aggregate is computed from.
#[derive(Debug, Clone)]
pub struct Merged<'a> {
    /// Categories with at least one product, by id.
    pub categories: BTreeMap<i64, Figures>,
    pub names: Cow<'a, HashMap<i64, String>>,
    /// Per category and day, the daily entries of every partition summed.
    pub daily: BTreeMap<i64, BTreeMap<i64, DaySums>>,
}

/// A category's day, summed over the partitions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DaySums {
    /// How the end-of-day figures differ from the day before's.
    pub figures: Figures,
    pub observed: i64,
    pub changes: DayChanges,
}

impl<'a> Merged<'a> {
    /// Sums the partials of every partition.
    pub fn of<'p>(
        partials: impl IntoIterator<Item = &'p Partial>,
        names: &'a HashMap<i64, String>,
    ) -> Self {
        let mut categories: BTreeMap<i64, Figures> = BTreeMap::new();
        for p in partials {
            categories.entry(p.category_id).or_default().add(&p.figures);
        }
        categories.retain(|_, f| f.products != 0);
        Self {
            categories,
            names: Cow::Borrowed(names),
            daily: BTreeMap::new(),
        }
    }

    /// The same figures, owning the names: what a sync keeps to compare
    /// the next merge with.
    pub fn owned(&self) -> Merged<'static> {
        Merged {
            categories: self.categories.clone(),
            names: Cow::Owned(self.names.as_ref().clone()),
            daily: self.daily.clone(),
        }
    }

    /// Adds the daily entries of every partition, each with its day.
    pub fn with_daily<'p>(
        mut self,
        entries: impl IntoIterator<Item = (i64, &'p DailyPartial)>,
    ) -> Self {
        for (day, p) in entries {
            let sums = self
                .daily
                .entry(p.category_id)
                .or_default()
                .entry(day)
                .or_default();
            sums.figures.add(&p.figures);
            sums.observed += p.observed;
            sums.changes.add(&p.changes);
        }
        self
    }
}

/// `$set` of every field but `_id`.
pub fn set_all(document: &Document) -> Document {
    let mut fields = document.clone();
    fields.remove("_id");
    doc! { "$set": fields }
}

/// A document as BSON (the aggregates' types always serialise).
fn to_document<T: serde::Serialize>(value: &T) -> Document {
    bson::to_document(value).unwrap_or_default()
}
