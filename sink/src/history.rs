//! A product's versions in observation order, and what one more version
//! changes: pure logic, no I/O.
//!
//! Versions are ordered by `(observed_at, offset)`: the offset in the
//! product topic's partition, which all versions of an asin share, breaks
//! ties in arrival order. A version may arrive late, between two known
//! ones; [`History::insert`] says what that changes, exactly as if every
//! version had arrived in order:
//! - the current state (the greatest version) only when it is the newest;
//! - the daily figures: version v counts for its category at the end of
//!   each day from its own day up to (not including) the day of the next
//!   version, kept as a change `+v` on its day and `-v` on the next one's;
//! - the price changes: each version against the one before it.
//!
//! The history is stored with the product, one row of compact JSON text
//! per version (`_rows`, see `stored_document`). A batch reads the
//! product without its rows: the newest version is the document itself,
//! and a version after it is appended (`$push`). Only a late version
//! needs the rows read, and rewrites them.

use shelf_contract::time::day_number;

use crate::figures::{from_micros, Contribution};

/// One observed version, as much as the history needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// `observed_at`, ms since the epoch.
    pub at: i64,
    /// Offset in the product topic (the tie-break, and its identity).
    pub offset: i64,
    pub contribution: Contribution,
    pub list_micros: Option<i128>,
}

impl Version {
    pub fn day(&self) -> i64 {
        day_number(self.at)
    }

    /// The same observation sent again (a snapshot replayed): nothing the
    /// history keeps differs.
    fn repeats(&self, other: &Version) -> bool {
        self.at == other.at
            && self.contribution == other.contribution
            && self.list_micros == other.list_micros
    }
}

/// Whether `new` is a price change against `old`.
pub fn price_changed(old: &Version, new: &Version) -> bool {
    old.contribution.price_micros != new.contribution.price_micros
        || old.list_micros != new.list_micros
}

/// `100 * (new - old) / old` on whole cents, in tenths of a percent,
/// rounded half away from zero; `None` when either price is unknown.
pub fn change_pct_tenths(old: Option<i128>, new: Option<i128>) -> Option<i64> {
    let (old, new) = (cents(old?), cents(new?));
    if old == 0 {
        return None;
    }
    let q = 1000 * (new - old);
    let rounded = (2 * q.abs() + old) / (2 * old);
    i64::try_from(q.signum() * rounded).ok()
}

/// Whole cents as the transform computes them (`derive::cents`).
fn cents(micros: i128) -> i128 {
    (from_micros(micros) * 100.0).round() as i128
}

/// A price change: a version and the one before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub prev: Version,
    pub new: Version,
}

impl Change {
    pub fn pct_tenths(&self) -> Option<i64> {
        change_pct_tenths(
            self.prev.contribution.price_micros,
            self.new.contribution.price_micros,
        )
    }
}

/// What inserting one version changes.
#[derive(Debug, Default, PartialEq)]
pub struct Effects {
    /// The same observation again: nothing but the watermark changes.
    pub repeated: bool,
    /// The version is the newest: the current state becomes it (the
    /// figures retract `replaces`, the version before, if any).
    pub becomes_current: bool,
    pub replaces: Option<Version>,
    /// Changes of the daily figures: (day, contribution, +1 or -1).
    pub daily: Vec<(i64, Contribution, i64)>,
    /// Price changes that no longer hold, then those that now do.
    pub changes_removed: Vec<Change>,
    pub changes_added: Vec<Change>,
}

/// A product's versions, oldest first.
///
/// Read back from its stored form, only the newest version need be known
/// ([`History::from_stored_newest`]): a new version usually comes after
/// it, and what it changes depends on that one alone. The earlier ones are
/// read (or parsed) only when a late version needs them, so a product's
/// work per version does not grow with its history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// The versions parsed: all of them, or the newest (see `earlier`).
    pub versions: Vec<Version>,
    earlier: Option<Earlier>,
    /// How many of `versions` (after the earlier ones) the store holds as
    /// rows, in this order: later ones are appended to them. `None` when
    /// it holds no rows to append to (a product seen once, a history
    /// stored as text, or a version inserted before stored ones): then
    /// all rows are written.
    stored_rows: Option<usize>,
}

/// The stored versions before `versions`, not parsed.
#[derive(Debug, Clone, PartialEq)]
struct Earlier {
    /// Their rows, comma-separated, when read: a history stored as text,
    /// or rows read back for a late version ([`History::needs_rows`]).
    text: Option<String>,
    count: usize,
    first_at: i64,
    /// The price changes among them and into the first parsed version.
    changes: i64,
}

/// The versions the store lacks, as rows to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rows {
    /// None: the store's rows are complete, or a product seen once has
    /// none (its one version is the document).
    Keep,
    /// These rows come after the stored ones.
    Append(Vec<String>),
    /// The stored rows (if any) are replaced by these, all of them.
    Replace(Vec<String>),
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("stored history: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the stored rows of a history were needed but not read")]
    NotRead,
}

impl History {
    /// Versions none of which the store holds as rows.
    pub fn of(versions: Vec<Version>) -> Self {
        Self {
            versions,
            earlier: None,
            stored_rows: None,
        }
    }

    /// A stored history known by its newest version (the product
    /// document) and what is stored beside it: how many versions, the
    /// first one's time and the count of price changes. Its rows are not
    /// read ([`History::attach_rows`] adds them when needed).
    pub fn from_stored_newest(newest: Version, count: usize, first_at: i64, changes: i64) -> Self {
        if count <= 1 {
            return Self::of(vec![newest]);
        }
        Self {
            versions: vec![newest],
            earlier: Some(Earlier {
                text: None,
                count: count - 1,
                first_at,
                changes,
            }),
            stored_rows: Some(1),
        }
    }

    /// Whether a version observed at `at` comes before the parsed ones
    /// while the rows before them are not read: the store's rows must be
    /// read first ([`History::attach_rows`]).
    pub fn needs_rows(&self, at: i64) -> bool {
        self.earlier.as_ref().is_some_and(|e| e.text.is_none())
            && self.versions.first().is_none_or(|f| at < f.at)
    }

    /// Takes the stored rows, all of them, as read back.
    pub fn attach_rows<'a>(
        &mut self,
        rows: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), HistoryError> {
        *self = Self::from_rows(rows)?;
        Ok(())
    }

    /// How many versions it holds.
    pub fn len(&self) -> usize {
        self.earlier.as_ref().map_or(0, |e| e.count) + self.versions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parses the versions still held as text.
    pub fn load_all(&mut self) -> Result<(), HistoryError> {
        let Some(e) = &self.earlier else {
            return Ok(());
        };
        let text = e.text.as_ref().ok_or(HistoryError::NotRead)?;
        let mut all = Self::from_text(&format!("[{text}]"))?.versions;
        let count = all.len();
        all.append(&mut self.versions);
        self.versions = all;
        self.earlier = None;
        self.stored_rows = self.stored_rows.map(|k| k + count);
        Ok(())
    }

    /// Inserts `v` (whose offset is past every version's) and says what
    /// that changes.
    pub fn insert(&mut self, v: Version) -> Effects {
        if self.earlier.is_some() && self.versions.first().is_none_or(|f| v.at < f.at) {
            // A late version: the ones before it are needed. (Rows this
            // sink wrote, read before the plan; unreadable, the newest
            // alone decide.)
            if let Err(e) = self.load_all() {
                tracing::error!(error = %e, "stored history left out of a late version");
            }
        }
        let at = self.versions.partition_point(|h| h.at <= v.at);
        let prev = at.checked_sub(1).map(|i| self.versions[i].clone());
        let next = self.versions.get(at).cloned();
        let mut fx = Effects {
            becomes_current: next.is_none(),
            ..Effects::default()
        };
        if prev.as_ref().is_some_and(|p| p.repeats(&v)) {
            fx.repeated = true;
            return fx;
        }
        fx.daily.push((v.day(), v.contribution.clone(), 1));
        if let Some(p) = &prev {
            fx.daily.push((v.day(), p.contribution.clone(), -1));
        }
        if let Some(n) = &next {
            fx.daily.push((n.day(), v.contribution.clone(), -1));
            if let Some(p) = &prev {
                fx.daily.push((n.day(), p.contribution.clone(), 1));
            }
        }
        if let (Some(p), Some(n)) = (&prev, &next) {
            if price_changed(p, n) {
                fx.changes_removed.push(Change {
                    prev: p.clone(),
                    new: n.clone(),
                });
            }
        }
        if let Some(p) = &prev {
            if price_changed(p, &v) {
                fx.changes_added.push(Change {
                    prev: p.clone(),
                    new: v.clone(),
                });
            }
        }
        if let Some(n) = &next {
            if price_changed(&v, n) {
                fx.changes_added.push(Change {
                    prev: v.clone(),
                    new: n.clone(),
                });
            }
        }
        if fx.becomes_current {
            fx.replaces = prev;
        }
        if self.stored_rows.is_some_and(|k| at < k) {
            // Before stored rows: they are written again, all of them.
            self.stored_rows = None;
        }
        self.versions.insert(at, v);
        fx
    }

    /// What the store's rows lack.
    pub fn rows(&self) -> Result<Rows, HistoryError> {
        if self.len() <= 1 {
            return Ok(Rows::Keep);
        }
        Ok(match self.stored_rows {
            Some(k) if k >= self.versions.len() => Rows::Keep,
            Some(k) => Rows::Append(self.versions[k..].iter().map(text::row).collect()),
            None if self.earlier.is_none() => {
                Rows::Replace(self.versions.iter().map(text::row).collect())
            }
            None => {
                let mut all = self.clone();
                all.load_all()?;
                Rows::Replace(all.versions.iter().map(text::row).collect())
            }
        })
    }

    pub fn current(&self) -> Option<&Version> {
        self.versions.last()
    }

    pub fn first_seen(&self) -> Option<i64> {
        match &self.earlier {
            Some(e) => Some(e.first_at),
            None => self.versions.first().map(|v| v.at),
        }
    }

    pub fn last_seen(&self) -> Option<i64> {
        self.versions.last().map(|v| v.at)
    }

    /// Versions whose price or list price differs from the one before.
    pub fn price_change_count(&self) -> i64 {
        let earlier = self.earlier.as_ref().map_or(0, |e| e.changes);
        earlier
            + self
                .versions
                .windows(2)
                .filter(|w| price_changed(&w[0], &w[1]))
                .count() as i64
    }
}

mod text;

#[cfg(test)]
mod tests;
