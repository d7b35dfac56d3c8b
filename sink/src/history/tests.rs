use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::figures::Figures;

const DAY: i64 = 86_400_000;

fn version(at: i64, offset: i64, category: i64, price: Option<i64>) -> Version {
    Version {
        at,
        offset,
        contribution: Contribution {
            category_id: category,
            price_micros: price.map(|p| i128::from(p) * 1_000_000),
            stars_micros: None,
            bestseller: false,
            bought_last_month: 0,
            bucket: price.map_or("unpriced".into(), |p| format!("{p}").into()),
            bucket_lo: price,
        },
        list_micros: None,
    }
}

/// A change as the contract names it: the new version's time and offset,
/// and the old and new prices.
type ChangeKey = (i64, i64);
type ChangeSeen = (i64, Option<i128>, Option<i128>);
type DailyFigures = BTreeMap<(i64, i64), Figures>;
type Changes = BTreeMap<ChangeKey, ChangeSeen>;

fn key(c: &Change) -> (ChangeKey, ChangeSeen) {
    (
        (c.new.at, c.new.offset),
        (
            c.prev.at,
            c.prev.contribution.price_micros,
            c.new.contribution.price_micros,
        ),
    )
}

/// Every version in `(at, offset)` order, replayed: each day's end state
/// per category, and the price changes.
fn replayed(versions: &[Version]) -> (DailyFigures, Changes) {
    let mut sorted = versions.to_vec();
    sorted.sort_by_key(|v| (v.at, v.offset));
    let mut changes = BTreeMap::new();
    for w in sorted.windows(2) {
        if price_changed(&w[0], &w[1]) {
            let (k, seen) = key(&Change {
                prev: w[0].clone(),
                new: w[1].clone(),
            });
            changes.insert(k, seen);
        }
    }
    let mut daily = BTreeMap::new();
    for day in 0..6 {
        if let Some(v) = sorted.iter().rev().find(|v| v.day() <= day) {
            let f: &mut Figures = daily.entry((day, v.contribution.category_id)).or_default();
            f.apply(&v.contribution, 1);
        }
    }
    (daily, changes)
}

/// The same, one insertion at a time in arrival order.
fn inserted(versions: &[Version]) -> (DailyFigures, Changes, History) {
    let mut history = History::default();
    let mut deltas: BTreeMap<(i64, i64), Figures> = BTreeMap::new();
    let mut changes = BTreeMap::new();
    for v in versions {
        let fx = history.insert(v.clone());
        for (day, c, sign) in &fx.daily {
            deltas
                .entry((*day, c.category_id))
                .or_default()
                .apply(c, *sign);
        }
        for c in &fx.changes_removed {
            changes.remove(&key(c).0);
        }
        for c in &fx.changes_added {
            let (k, seen) = key(c);
            changes.insert(k, seen);
        }
    }
    // Running sums per category: the end-of-day figures.
    let mut daily = BTreeMap::new();
    let categories: std::collections::BTreeSet<i64> = deltas.keys().map(|k| k.1).collect();
    for c in categories {
        let mut running = Figures::default();
        for day in 0..6 {
            if let Some(d) = deltas.get(&(day, c)) {
                running.add(d);
                running.buckets.retain_nonzero();
            }
            if running.products != 0 {
                daily.insert((day, c), running.clone());
            }
        }
    }
    (daily, changes, history)
}

#[test]
fn a_late_version_between_two_moves_the_change_point() {
    // Day 0 at 10, day 2 at 12; then day 1 at 12 arrives late: the change
    // moves from day 2 to day 1, and day 1's figures take the new price.
    let versions = [
        version(0, 0, 1, Some(10)),
        version(2 * DAY, 1, 1, Some(12)),
        version(DAY, 2, 1, Some(12)),
    ];
    let (daily, changes, history) = inserted(&versions);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes.keys().next(), Some(&(DAY, 2)));
    assert_eq!(daily[&(1, 1)].price_micros, 12_000_000);
    assert_eq!(history.price_change_count(), 1);
    assert_eq!(history.first_seen(), Some(0));
    assert_eq!(history.last_seen(), Some(2 * DAY));
    assert_eq!(history.current().map(|v| v.offset), Some(1));
    assert_eq!(replayed(&versions).0, daily);
}

#[test]
fn an_old_snapshot_after_a_new_one_does_not_become_current() {
    let mut history = History::default();
    let fx = history.insert(version(2 * DAY, 0, 1, Some(12)));
    assert!(fx.becomes_current && fx.replaces.is_none());
    let fx = history.insert(version(0, 1, 2, Some(10)));
    assert!(!fx.becomes_current);
    assert_eq!(
        history.current().map(|v| v.contribution.category_id),
        Some(1)
    );
    // A replayed snapshot: nothing changes.
    let fx = history.insert(version(0, 2, 2, Some(10)));
    assert!(fx.repeated && fx.daily.is_empty() && fx.changes_added.is_empty());
    assert_eq!(history.versions.len(), 2);
}

#[test]
fn change_pct_is_exact_on_cents_and_rounds_half_away_from_zero() {
    let m = |dollars: f64| crate::figures::to_micros(dollars);
    // 87.75 against 100.00 is exactly -12.25 %.
    assert_eq!(change_pct_tenths(m(100.0), m(87.75)), Some(-123));
    assert_eq!(change_pct_tenths(m(100.0), m(112.25)), Some(123));
    assert_eq!(change_pct_tenths(m(3.0), m(4.0)), Some(333));
    assert_eq!(change_pct_tenths(m(10.0), None), None);
    assert_eq!(change_pct_tenths(None, m(1.0)), None);
}

#[test]
fn the_stored_form_reads_back() {
    let mut history = History::default();
    history.insert(version(0, 0, 1, Some(10)));
    let mut v = version(DAY, 5, 2, None);
    v.list_micros = Some(1_000_000_000_000_000_000_000);
    v.contribution.stars_micros = Some(4_500_000);
    history.insert(v);
    let back = History::from_text(&history.to_text()).unwrap();
    assert_eq!(back, history);
}

fn arrivals() -> impl Strategy<Value = Vec<Version>> {
    prop::collection::vec(
        (0..5_i64, 0..3_i64, 1..3_i64, prop::option::of(8..11_i64)),
        1..9,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (day, hour, category, price))| {
                version(day * DAY + hour * 3_600_000, i as i64, category, price)
            })
            .collect()
    })
}

/// Stored and read back after each version, the newest only parsed
/// (as the sink reads products): the same effects and the same text as
/// with every version in memory.
fn inserted_through_the_store(versions: &[Version]) -> Result<(), TestCaseError> {
    let (mut whole, mut stored) = (History::default(), String::new());
    for v in versions {
        let mut read = if stored.is_empty() {
            History::default()
        } else {
            History::from_text_newest(&stored, whole.price_change_count()).unwrap()
        };
        prop_assert_eq!(read.len(), whole.len());
        prop_assert_eq!(read.first_seen(), whole.first_seen());
        let (want, got) = (whole.insert(v.clone()), read.insert(v.clone()));
        prop_assert_eq!(got, want);
        prop_assert_eq!(read.price_change_count(), whole.price_change_count());
        prop_assert_eq!(read.current(), whole.current());
        stored = read.to_text();
        prop_assert_eq!(&stored, &whole.to_text());
    }
    Ok(())
}

/// Stored as rows after each version, read back as the sink reads
/// products (the newest version from the document, the rows only for a
/// late version), and the rows appended or replaced as `rows()` says: the
/// same effects as with every version in memory, and the stored rows are
/// every version's, in order.
fn inserted_through_stored_rows(versions: &[Version]) -> Result<(), TestCaseError> {
    let (mut whole, mut rows) = (History::default(), Vec::<String>::new());
    for v in versions {
        let mut read = match whole.current() {
            None => History::default(),
            Some(newest) => History::from_stored_newest(
                newest.clone(),
                whole.len(),
                whole.first_seen().unwrap(),
                whole.price_change_count(),
            ),
        };
        prop_assert_eq!(read.len(), whole.len());
        if read.needs_rows(v.at) {
            read.attach_rows(rows.iter().map(String::as_str)).unwrap();
        } else {
            // Only the newest is needed: it is known.
            prop_assert!(whole.len() <= 1 || whole.current().is_none_or(|n| v.at >= n.at));
        }
        let (want, got) = (whole.insert(v.clone()), read.insert(v.clone()));
        prop_assert_eq!(got, want);
        prop_assert_eq!(read.price_change_count(), whole.price_change_count());
        prop_assert_eq!(read.first_seen(), whole.first_seen());
        prop_assert_eq!(read.current(), whole.current());
        match read.rows().unwrap() {
            Rows::Keep => {}
            Rows::Append(more) => rows.extend(more),
            Rows::Replace(all) => rows = all,
        }
        let want: Vec<String> = match whole.len() {
            1 => Vec::new(),
            _ => whole.versions.iter().map(text::row).collect(),
        };
        prop_assert_eq!(&rows, &want);
    }
    Ok(())
}

#[test]
fn a_version_after_the_newest_is_appended_one_before_rewrites() {
    let (v1, v2, v3) = (
        version(0, 0, 1, Some(10)),
        version(DAY, 1, 1, Some(11)),
        version(2 * DAY, 2, 1, Some(12)),
    );
    // Seen once: no rows yet; the second version writes both.
    let mut h = History::from_stored_newest(v1.clone(), 1, 0, 0);
    h.insert(v3.clone());
    assert_eq!(
        h.rows().unwrap(),
        Rows::Replace(vec![text::row(&v1), text::row(&v3)])
    );
    // Two stored: the third, after them, is appended alone.
    let mut h = History::from_stored_newest(v2.clone(), 2, 0, 1);
    assert!(!h.needs_rows(v3.at));
    h.insert(v3.clone());
    assert_eq!(h.rows().unwrap(), Rows::Append(vec![text::row(&v3)]));
    assert_eq!(h.len(), 3);
    // A version before the newest needs the rows, and rewrites them.
    let mut h = History::from_stored_newest(v3.clone(), 2, 0, 1);
    assert!(h.needs_rows(v2.at));
    h.attach_rows([text::row(&v1), text::row(&v3)].iter().map(String::as_str))
        .unwrap();
    assert!(!h.needs_rows(v2.at));
    h.insert(v2.clone());
    let all: Vec<String> = [&v1, &v2, &v3].into_iter().map(text::row).collect();
    assert_eq!(h.rows().unwrap(), Rows::Replace(all.clone()));
    // Not read: refused, not written short.
    let mut h = History::from_stored_newest(v3.clone(), 2, 0, 1);
    h.insert(v2.clone());
    assert!(matches!(h.rows(), Err(HistoryError::NotRead)));
    // A history stored as text is written as rows at its next version.
    let text = History::of(vec![v1.clone(), v2.clone()]).to_text();
    let mut h = History::from_text_newest(&text, 1).unwrap();
    h.insert(v3);
    assert_eq!(h.rows().unwrap(), Rows::Replace(all));
}

proptest! {
    #[test]
    fn reading_the_newest_version_only_changes_nothing(versions in arrivals()) {
        inserted_through_the_store(&versions)?;
    }

    #[test]
    fn rows_appended_or_rewritten_are_every_version_in_order(versions in arrivals()) {
        inserted_through_stored_rows(&versions)?;
    }

    /// Whatever the arrival order, inserting one version at a time gives
    /// the daily figures and price changes of replaying them all in
    /// observation order.
    #[test]
    fn any_arrival_order_gives_the_in_order_result(versions in arrivals()) {
        let (daily, changes, history) = inserted(&versions);
        let (want_daily, want_changes) = replayed(&versions);
        prop_assert_eq!(daily, want_daily);
        prop_assert_eq!(&changes, &want_changes);
        prop_assert_eq!(history.price_change_count(), changes.len() as i64);
        let newest = versions.iter().max_by_key(|v| (v.at, v.offset)).unwrap();
        prop_assert_eq!(history.current().map(|v| &v.contribution), Some(&newest.contribution));
    }
}
