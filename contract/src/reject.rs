//! Why a record is rejected, and who rejected it. Every reason any stage
//! gives is a variant here; the names are the contract's.

use serde::{Deserialize, Serialize};

/// Why a record is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    // The cleaning rules, in the contract's order.
    InvalidAsin,
    MissingTitle,
    InvalidPrice,
    InvalidStars,
    InvalidCount,
    InvalidFlag,
    InvalidCategory,
    /// `observed_at` (or an older feed's `date`) is not a time the
    /// contract accepts, or its year is outside 1990–2100.
    InvalidObservedAt,
    /// Not a record the stage can read at all: not a JSON object, or (at
    /// the sink) a product the figures cannot count or an unreadable dead
    /// letter or category.
    InvalidRecord,
    /// A module trapped, timed out or returned an error for this record.
    TransformError,
    /// The sink: MongoDB would refuse the document (a key with a dot or a
    /// leading `$`, over 16 MiB).
    UnstorableDocument,
    /// The sink: a product came on another partition than the one it is
    /// stored from (the product topic is not keyed by asin).
    PartitionConflict,
}

impl RejectReason {
    /// Every reason, in the contract's order.
    pub const ALL: [RejectReason; 12] = [
        RejectReason::InvalidAsin,
        RejectReason::MissingTitle,
        RejectReason::InvalidPrice,
        RejectReason::InvalidStars,
        RejectReason::InvalidCount,
        RejectReason::InvalidFlag,
        RejectReason::InvalidCategory,
        RejectReason::InvalidObservedAt,
        RejectReason::InvalidRecord,
        RejectReason::TransformError,
        RejectReason::UnstorableDocument,
        RejectReason::PartitionConflict,
    ];

    /// The reason a contract name (`invalid_price`) stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The contract's name, as stored in `rejects.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidAsin => "invalid_asin",
            RejectReason::MissingTitle => "missing_title",
            RejectReason::InvalidPrice => "invalid_price",
            RejectReason::InvalidStars => "invalid_stars",
            RejectReason::InvalidCount => "invalid_count",
            RejectReason::InvalidFlag => "invalid_flag",
            RejectReason::InvalidCategory => "invalid_category",
            RejectReason::InvalidObservedAt => "invalid_observed_at",
            RejectReason::InvalidRecord => "invalid_record",
            RejectReason::TransformError => "transform_error",
            RejectReason::UnstorableDocument => "unstorable_document",
            RejectReason::PartitionConflict => "partition_conflict",
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected record: the reason and a detail naming the field and value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    pub reason: RejectReason,
    pub detail: String,
}

impl Reject {
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

/// The stage that rejected a record (`rejects.stage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Transform,
    Sink,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Transform => "transform",
            Stage::Sink => "sink",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serialised_form() {
        for reason in RejectReason::ALL {
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
            let back: RejectReason = serde_json::from_str(&json).unwrap();
            assert_eq!(back, reason);
            assert_eq!(RejectReason::from_name(reason.as_str()), Some(reason));
        }
        assert_eq!(
            serde_json::to_string(&Stage::Transform).unwrap(),
            "\"transform\""
        );
    }
}
