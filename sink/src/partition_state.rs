//! The stored form of the partials: one document per partition of the
//! product topic in `sink_partials`, holding every category's partial of
//! that partition as one JSON text.
//!
//! One document per partition, not per (partition, category): a batch
//! touches most categories of the partitions it reads, and one statement
//! per partition instead of one per category made the sink's writes of its
//! own state a small share of the store's work (FerretDB pays per
//! statement, far more than per byte). As text because FerretDB v1 encodes
//! every nested value with a schema of its own.
//!
//! `seq` counts the writes of the document: each write expects the `seq`
//! its writer read (or no document), so a writer that lost the partition,
//! or a killed instance's last command finished late by the store,
//! collides on `_id` instead of overwriting (see `Store::update_by_id`).
//!
//! `rename_after` and `rename_pending`, when present, are the progress of
//! a sweep renaming the partition's products ([`crate::rename`]): kept
//! here so that a new owner resumes it where it stood.

use bson::{doc, Bson, Document};

/// The layout of `sink_partials` documents this sink writes and reads, in
/// each document's `layout` field. Change it with any change to what the
/// documents hold (the figures, their encoding); a sink that finds another
/// layout stops and names `shelf sink rebuild`, which rewrites the
/// documents from `products`.
///
/// 1: one document per partition and category (`category_id`, no
/// `layout`). 2: one per partition; the documents of the first sinks with
/// it have no `layout` field. 3: observation time: products carry their
/// versions (`_hist`), the daily figures are in `sink_daily`. 4: the
/// figures as arrays (`crate::figures` `stored`), half as long; layout 3
/// documents are still read, and rewritten as 4 at their next write. 5:
/// the partials as in 4, but products keep their versions as rows
/// (`_rows`, appended to), which a sink of layout 4 would overwrite with
/// its one version: it must stop (stored `_hist` texts are still read).
pub const LAYOUT: i32 = 5;

/// The layouts this sink reads.
pub const READS: [i32; 3] = [3, 4, LAYOUT];

use crate::figures::Partial;
use crate::rename::Sweep;

/// One partition's partials as stored, with the write counter.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionState {
    pub partition: i32,
    pub seq: i64,
    pub partials: Vec<Partial>,
    /// A rename of the partition's products in progress.
    pub sweep: Option<Sweep>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("sink_partials document {id}: {what}")]
    Malformed { id: String, what: String },
}

/// The `_id` of a partition's document.
pub fn id(partition: i32) -> String {
    format!("p{partition}")
}

/// The partition whose document has this `_id`.
pub fn partition_of(id: &str) -> Option<i32> {
    id.strip_prefix('p')?.parse().ok()
}

impl PartitionState {
    pub fn to_document(&self) -> Document {
        let partials: Vec<&Partial> = self.partials.iter().collect();
        Self::document(self.partition, self.seq, &partials, self.sweep.as_ref())
    }

    /// The document of a partition's state, from its parts (not copied).
    pub fn document(
        partition: i32,
        seq: i64,
        partials: &[&Partial],
        sweep: Option<&Sweep>,
    ) -> Document {
        // Integers, strings and maps of them always serialise.
        let text = serde_json::to_string(partials).unwrap_or_default();
        let mut d = doc! {
            "_id": id(partition),
            "partition": partition,
            "seq": seq,
            "partials": text,
            "layout": LAYOUT,
        };
        // Null when none: partition documents are written with `$set`,
        // which would leave a finished sweep's fields in place.
        match sweep {
            Some(sweep) => {
                d.insert("rename_after", sweep.after.clone());
                d.insert("rename_pending", sweep.pending);
            }
            None => {
                d.insert("rename_after", Bson::Null);
                d.insert("rename_pending", 0_i64);
            }
        }
        d
    }

    pub fn from_document(d: &Document) -> Result<Self, StateError> {
        let name = d.get_str("_id").unwrap_or("?").to_owned();
        let malformed = |what: String| StateError::Malformed {
            id: name.clone(),
            what,
        };
        let int = |field: &str| match d.get(field) {
            Some(Bson::Int32(i)) => Ok(i64::from(*i)),
            Some(Bson::Int64(i)) => Ok(*i),
            _ => Err(malformed(format!("`{field}` is not an integer"))),
        };
        let partition = i32::try_from(int("partition")?)
            .map_err(|_| malformed("`partition` out of range".into()))?;
        let seq = int("seq")?;
        let text = d
            .get_str("partials")
            .map_err(|_| malformed("`partials` is not a text".into()))?;
        let partials: Vec<Partial> =
            serde_json::from_str(text).map_err(|e| malformed(format!("`partials`: {e}")))?;
        if let Some(p) = partials.iter().find(|p| p.partition != partition) {
            return Err(malformed(format!(
                "holds a partial of partition {}",
                p.partition
            )));
        }
        let sweep = match d.get("rename_after") {
            None | Some(Bson::Null) => None,
            Some(Bson::String(after)) => Some(Sweep {
                after: after.clone(),
                pending: int("rename_pending").unwrap_or(0),
            }),
            Some(_) => return Err(malformed("`rename_after` is not a text".into())),
        };
        Ok(Self {
            partition,
            seq,
            partials,
            sweep,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::Contribution;

    #[test]
    fn a_partition_state_survives_a_bson_round_trip() {
        let mut p = Partial::new(3, 42, Some("Toys".into()));
        let c = Contribution {
            category_id: 42,
            price_micros: Some(1_000_000_000_000_000_000_000),
            stars_micros: None,
            bestseller: true,
            bought_last_month: 50,
            bucket: "300+".into(),
            bucket_lo: Some(300),
        };
        p.figures.apply(&c, 1);
        p.applied_offset = 99;
        let mut state = PartitionState {
            partition: 3,
            seq: 7,
            partials: vec![p, Partial::new(3, 1, None)],
            sweep: None,
        };
        let doc = state.to_document();
        assert_eq!(doc.get_str("_id").unwrap(), "p3");
        assert_eq!(partition_of("p3"), Some(3));
        assert_eq!(partition_of("p3/c1"), None);
        assert_eq!(PartitionState::from_document(&doc).unwrap(), state);
        assert_eq!(doc.get("rename_after"), Some(&Bson::Null));

        state.sweep = Some(Sweep {
            after: "B00000042X".into(),
            pending: 12,
        });
        let doc = state.to_document();
        assert_eq!(PartitionState::from_document(&doc).unwrap(), state);
    }

    #[test]
    fn a_document_of_another_shape_is_an_error_naming_it() {
        let d = doc! { "_id": "p1", "partition": 1, "seq": 0, "partials": "[{]" };
        let e = PartitionState::from_document(&d).unwrap_err().to_string();
        assert!(e.contains("p1") && e.contains("partials"), "{e}");
        let d = doc! { "_id": "p1/c3", "partition": 1, "category_id": 3 };
        let e = PartitionState::from_document(&d).unwrap_err().to_string();
        assert!(e.contains("seq"), "{e}");
    }
}
