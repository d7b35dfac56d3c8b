//! The daily figures' single-writer state: per partition, category and UTC
//! day, how that day's end-of-day figures differ from the day before's
//! (see [`crate::history`]), and the day's price changes; stored one
//! document per partition and day in `sink_daily`.
//!
//! Per day, not with the partition's current figures in `sink_partials`:
//! a batch of a daily stream touches one or two days, so a partition's
//! writes stay the size of a day's categories however many days are
//! stored. The same rules as the partials hold: each entry carries the
//! last offset it includes, each document the `seq` its writer read.

use bson::{doc, Bson, Document};
use serde::{Deserialize, Serialize};
use shelf_contract::time::{format_day, parse_day};

use crate::figures::{Contribution, Figures};
use crate::history::Effects;
use crate::partition_state::{StateError, LAYOUT};

/// (partition, day): a `sink_daily` document.
pub type DayKey = (i32, i64);

/// A day's price changes in a category, as sums.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayChanges {
    pub changes: i64,
    pub drops: i64,
    pub rises: i64,
    /// Changes with a `change_pct`, and the sum of those in tenths.
    pub pct_n: i64,
    pub pct_tenths: i64,
}

impl DayChanges {
    pub fn is_none(&self) -> bool {
        *self == DayChanges::default()
    }

    /// Adds (`sign` 1) or retracts (-1) a change of `pct_tenths`.
    pub fn apply(&mut self, pct_tenths: Option<i64>, sign: i64) {
        self.changes += sign;
        if let Some(p) = pct_tenths {
            self.pct_n += sign;
            self.pct_tenths += sign * p;
            if p < 0 {
                self.drops += sign;
            } else if p > 0 {
                self.rises += sign;
            }
        }
    }

    pub fn add(&mut self, other: &DayChanges) {
        self.changes += other.changes;
        self.drops += other.drops;
        self.rises += other.rises;
        self.pct_n += other.pct_n;
        self.pct_tenths += other.pct_tenths;
    }
}

/// One category's day within one partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyPartial {
    pub category_id: i64,
    /// How the end-of-day figures differ from the day before's.
    pub figures: Figures,
    /// Versions observed that day in the category (its days start at the
    /// first).
    pub observed: i64,
    /// Left out of the stored text when there are none (most days of most
    /// categories): every byte of it costs the store at each batch.
    #[serde(default, skip_serializing_if = "DayChanges::is_none")]
    pub changes: DayChanges,
    /// As [`crate::figures::Partial::applied_offset`].
    pub applied_offset: i64,
}

impl DailyPartial {
    pub fn new(category_id: i64) -> Self {
        Self {
            category_id,
            figures: Figures::default(),
            observed: 0,
            changes: DayChanges::default(),
            applied_offset: -1,
        }
    }
}

/// One change a version makes to a category's day.
#[derive(Debug, Clone, PartialEq)]
pub enum DayChange {
    /// A version observed that day in the category.
    Observed,
    /// A product's contribution to the end-of-day figures, added (1) or
    /// retracted (-1) from that day on.
    Figures(Contribution, i64),
    /// A price change of that day in the category (its `change_pct` in
    /// tenths), added or retracted.
    PriceChange(Option<i64>, i64),
}

impl DailyPartial {
    pub fn apply(&mut self, change: &DayChange) {
        match change {
            DayChange::Observed => self.observed += 1,
            DayChange::Figures(c, sign) => self.figures.apply(c, *sign),
            DayChange::PriceChange(pct, sign) => self.changes.apply(*pct, *sign),
        }
    }
}

/// What inserting a version (observed on `day` in `category`) changes in
/// the daily entries, as (day, category, change).
pub fn day_changes(day: i64, category: i64, fx: &Effects) -> Vec<(i64, i64, DayChange)> {
    let mut out = Vec::with_capacity(fx.daily.len() + 3);
    if fx.repeated {
        return out;
    }
    out.push((day, category, DayChange::Observed));
    for (d, c, sign) in &fx.daily {
        out.push((*d, c.category_id, DayChange::Figures(c.clone(), *sign)));
    }
    let removed = fx.changes_removed.iter().map(|c| (c, -1));
    for (change, sign) in removed.chain(fx.changes_added.iter().map(|c| (c, 1))) {
        let new = &change.new;
        out.push((
            new.day(),
            new.contribution.category_id,
            DayChange::PriceChange(change.pct_tenths(), sign),
        ));
    }
    out
}

/// One `sink_daily` document: a partition's day, every category's entry.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyState {
    pub partition: i32,
    pub day: i64,
    pub seq: i64,
    pub partials: Vec<DailyPartial>,
}

pub fn id(partition: i32, day: i64) -> String {
    format!("p{partition}:{}", format_day(day))
}

pub fn key_of(id: &str) -> Option<DayKey> {
    let (p, day) = id.strip_prefix('p')?.split_once(':')?;
    Some((p.parse().ok()?, parse_day(day)?))
}

impl DailyState {
    pub fn to_document(&self) -> Document {
        let partials: Vec<&DailyPartial> = self.partials.iter().collect();
        Self::document((self.partition, self.day), self.seq, &partials)
    }

    /// The document of a partition's day, from its parts (not copied).
    pub fn document(key: DayKey, seq: i64, partials: &[&DailyPartial]) -> Document {
        let text = serde_json::to_string(partials).unwrap_or_default();
        doc! {
            "_id": id(key.0, key.1),
            "partition": key.0,
            "day": format_day(key.1),
            "seq": seq,
            "daily": text,
            "layout": LAYOUT,
        }
    }

    pub fn from_document(d: &Document) -> Result<Self, StateError> {
        let name = d.get_str("_id").unwrap_or("?").to_owned();
        let malformed = |what: &str| StateError::Malformed {
            id: name.clone(),
            what: what.to_owned(),
        };
        let (partition, day) =
            key_of(&name).ok_or_else(|| malformed("`_id` is not p<partition>:<day>"))?;
        let seq = match d.get("seq") {
            Some(Bson::Int32(i)) => i64::from(*i),
            Some(Bson::Int64(i)) => *i,
            _ => return Err(malformed("`seq` is not an integer")),
        };
        let text = d
            .get_str("daily")
            .map_err(|_| malformed("`daily` is not a text"))?;
        let partials =
            serde_json::from_str(text).map_err(|e| malformed(&format!("`daily`: {e}")))?;
        Ok(Self {
            partition,
            day,
            seq,
            partials,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::tests::product;

    #[test]
    fn a_daily_state_survives_a_bson_round_trip() {
        let mut p = DailyPartial::new(7);
        p.figures.apply(&product(7, Some(10.0), "10-15"), 1);
        p.figures.apply(&product(7, Some(20.0), "20-25"), -1);
        p.observed = 3;
        p.changes.apply(Some(-123), 1);
        p.changes.apply(None, 1);
        p.applied_offset = 41;
        let state = DailyState {
            partition: 2,
            day: 19_601,
            seq: 4,
            partials: vec![p],
        };
        let d = state.to_document();
        assert_eq!(d.get_str("_id").unwrap(), "p2:2023-09-01");
        assert_eq!(DailyState::from_document(&d).unwrap(), state);
        assert_eq!(key_of("p2:2023-09-01"), Some((2, 19_601)));
        assert_eq!(key_of("p2"), None);
    }

    #[test]
    fn a_day_without_price_changes_stores_none() {
        let mut p = DailyPartial::new(7);
        p.figures.apply(&product(7, Some(10.0), "10-15"), 1);
        let text = serde_json::to_string(&p).unwrap();
        assert!(!text.contains("changes"), "{text}");
        assert_eq!(serde_json::from_str::<DailyPartial>(&text).unwrap(), p);
    }

    #[test]
    fn changes_count_drops_rises_and_the_mean() {
        let mut c = DayChanges::default();
        for pct in [Some(-123), Some(50), Some(0), None] {
            c.apply(pct, 1);
        }
        assert_eq!(
            (c.changes, c.drops, c.rises, c.pct_n, c.pct_tenths),
            (4, 1, 1, 3, -73)
        );
        c.apply(Some(50), -1);
        assert_eq!((c.changes, c.rises, c.pct_tenths), (3, 0, -123));
    }
}
