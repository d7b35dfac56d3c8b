//! Renaming stored products whose category got a name (a category that
//! arrived after its products) or a new one, in bounded slices: pure
//! logic, no I/O (the loop's side is `run/rename.rs`).
//!
//! The aggregates and every product written from then on carry the new
//! name at once; only the copies on products already stored lag. They are
//! renamed by a *sweep* of the partition: the products are read in `_id`
//! order, a slice of at most `--rename-slice` documents at a time, and the
//! slice's products of the sweeping partitions whose name is not the known
//! one get it, by `_id`. So every store command of a sweep is bounded,
//! whatever the size of the collection or of a category, and the stream
//! goes on between slices.
//!
//! A sweep's progress (the last `_id` checked) is kept in the partition's
//! state document ([`crate::partition_state`]), so a restart or a new owner
//! resumes it. Renaming is idempotent: a replayed slice sets the same names
//! again, and a name that changes during a sweep restarts it.

use std::collections::HashMap;

use bson::Document;

use crate::product::whole;

/// The progress of one partition's rename sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sweep {
    /// Products up to this `_id` (in `_id` order) are checked; `""`: none.
    pub after: String,
    /// Products left to rename, at most: those counted by the partials
    /// whose name changed, less those renamed since.
    pub pending: i64,
}

/// One product to rename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    pub asin: String,
    pub partition: i32,
    pub category_id: i64,
    pub name: String,
}

/// (Re)starts the sweep of `partition` for `products` more products to
/// rename: from the first `_id`, since a name that changed again may be
/// due on products an earlier sweep already passed.
pub fn restart(sweeps: &mut HashMap<i32, Sweep>, partition: i32, products: i64) {
    let pending = sweeps.get(&partition).map_or(0, |s| s.pending) + products;
    sweeps.insert(
        partition,
        Sweep {
            after: String::new(),
            pending,
        },
    );
}

/// The fields a sweep reads of each product.
pub fn projection() -> Document {
    bson::doc! { "_src": 1, "category_id": 1, "category_name": 1 }
}

/// Where the next slice starts: the sweep furthest behind. The others
/// check some products again, which renames nothing twice.
pub fn next_from(sweeps: &HashMap<i32, Sweep>) -> Option<&str> {
    sweeps.values().map(|s| s.after.as_str()).min()
}

/// The renames a slice calls for: its products of a sweeping partition
/// whose category has a known name they do not carry yet.
pub fn renames(
    slice: &[Document],
    sweeps: &HashMap<i32, Sweep>,
    names: &HashMap<i64, String>,
) -> Vec<Rename> {
    slice
        .iter()
        .filter_map(|d| {
            let asin = d.get_str("_id").ok()?;
            let partition = d
                .get_document("_src")
                .ok()
                .and_then(|src| whole(src.get("partition")?))
                .and_then(|p| i32::try_from(p).ok())?;
            if !sweeps.contains_key(&partition) {
                return None;
            }
            let category_id = whole(d.get("category_id")?)?;
            let name = names.get(&category_id)?;
            if d.get_str("category_name").ok() == Some(name.as_str()) {
                return None;
            }
            Some(Rename {
                asin: asin.to_owned(),
                partition,
                category_id,
                name: name.clone(),
            })
        })
        .collect()
}

/// Moves every sweep past a slice that ended at `last` (`None`: nothing
/// was left) and counts its renames off. Returns the partitions whose
/// sweep is done: the slice was the collection's last.
pub fn advance(
    sweeps: &mut HashMap<i32, Sweep>,
    renamed: &[Rename],
    last: Option<&str>,
    finished: bool,
) -> Vec<i32> {
    for r in renamed {
        if let Some(s) = sweeps.get_mut(&r.partition) {
            s.pending = (s.pending - 1).max(0);
        }
    }
    if finished {
        let mut done: Vec<i32> = sweeps.drain().map(|(p, _)| p).collect();
        done.sort_unstable();
        return done;
    }
    if let Some(last) = last {
        for s in sweeps.values_mut() {
            if s.after.as_str() < last {
                s.after = last.to_owned();
            }
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, Bson};

    fn product(asin: &str, partition: i32, category: i64, name: Option<&str>) -> Document {
        doc! {
            "_id": asin,
            "_src": { "partition": partition, "offset": 1_i64 },
            "category_id": category,
            "category_name": name.map_or(Bson::Null, |n| Bson::String(n.into())),
        }
    }

    /// Sweeps `stored` in slices of `limit` the way the loop does, renaming
    /// in place; returns how many slices it took.
    fn sweep(
        stored: &mut [Document],
        sweeps: &mut HashMap<i32, Sweep>,
        names: &HashMap<i64, String>,
        limit: usize,
    ) -> usize {
        stored.sort_by(|a, b| a.get_str("_id").unwrap().cmp(b.get_str("_id").unwrap()));
        let mut slices = 0;
        while let Some(from) = next_from(sweeps).map(str::to_owned) {
            let slice: Vec<Document> = stored
                .iter()
                .filter(|d| d.get_str("_id").unwrap() > from.as_str())
                .take(limit)
                .cloned()
                .collect();
            let todo = renames(&slice, sweeps, names);
            for r in &todo {
                let d = stored
                    .iter_mut()
                    .find(|d| d.get_str("_id").unwrap() == r.asin)
                    .unwrap();
                d.insert("category_name", r.name.clone());
            }
            let last = slice.last().map(|d| d.get_str("_id").unwrap().to_owned());
            advance(sweeps, &todo, last.as_deref(), slice.len() < limit);
            slices += 1;
        }
        slices
    }

    #[test]
    fn a_sweep_names_every_product_of_its_partitions_and_only_those() {
        let mut stored: Vec<Document> = (0..25)
            .map(|i| product(&format!("A{i:09}"), i % 3, 1 + i64::from(i % 2), None))
            .collect();
        stored.push(product("B000000000", 2, 3, Some("Old")));
        let names = HashMap::from([(1, "Kettles".to_owned()), (3, "New".to_owned())]);
        let mut sweeps = HashMap::new();
        restart(&mut sweeps, 0, 10);
        restart(&mut sweeps, 1, 9);
        let slices = sweep(&mut stored, &mut sweeps, &names, 4);
        assert_eq!(slices, 7, "26 products in slices of 4");
        assert!(sweeps.is_empty());
        for d in &stored {
            let partition = d
                .get_document("_src")
                .unwrap()
                .get_i32("partition")
                .unwrap();
            let category = d.get_i64("category_id").unwrap();
            let expected = match (partition, names.get(&category)) {
                (0 | 1, Some(n)) => Some(n.as_str()),
                (_, _) if category == 3 => Some("Old"),
                _ => None,
            };
            assert_eq!(d.get_str("category_name").ok(), expected, "{d}");
        }
    }

    #[test]
    fn a_name_changed_mid_sweep_starts_it_again_and_counts_up() {
        let mut sweeps = HashMap::new();
        restart(&mut sweeps, 2, 5);
        advance(&mut sweeps, &[], Some("M"), false);
        assert_eq!(sweeps[&2].after, "M");
        restart(&mut sweeps, 2, 3);
        assert_eq!(
            sweeps[&2],
            Sweep {
                after: String::new(),
                pending: 8
            }
        );
    }

    #[test]
    fn slices_start_behind_the_slowest_sweep_and_pending_never_goes_negative() {
        let mut sweeps = HashMap::from([
            (
                0,
                Sweep {
                    after: "K".into(),
                    pending: 1,
                },
            ),
            (
                1,
                Sweep {
                    after: "C".into(),
                    pending: 0,
                },
            ),
        ]);
        assert_eq!(next_from(&sweeps), Some("C"));
        let renamed = [0, 0, 1].map(|partition| Rename {
            asin: "D".into(),
            partition,
            category_id: 1,
            name: "n".into(),
        });
        advance(&mut sweeps, &renamed, Some("F"), false);
        assert_eq!((sweeps[&0].after.as_str(), sweeps[&0].pending), ("K", 0));
        assert_eq!((sweeps[&1].after.as_str(), sweeps[&1].pending), ("F", 0));
        assert_eq!(advance(&mut sweeps, &[], None, true), vec![0, 1]);
    }

    #[test]
    fn stored_numbers_of_any_type_are_read() {
        let mut d = product("A", 0, 7, None);
        d.insert("category_id", 7.0);
        d.insert("_src", doc! { "partition": 0_i64 });
        let sweeps = HashMap::from([(
            0,
            Sweep {
                after: String::new(),
                pending: 1,
            },
        )]);
        let names = HashMap::from([(7, "Seven".to_owned())]);
        assert_eq!(renames(&[d], &sweeps, &names).len(), 1);
    }
}
