//! Where a record was read.

use serde::{Deserialize, Serialize};

/// A record's place in Kafka: topic, partition, offset. (Its input row,
/// the file and line it was made from, is a [`crate::wire::InputRow`].)
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

impl Position {
    pub fn new(topic: impl Into<String>, partition: i32, offset: i64) -> Self {
        Self {
            topic: topic.into(),
            partition,
            offset,
        }
    }
}

impl std::fmt::Display for Position {
    /// `topic/partition/offset`, the `_id` of a reject without input row.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.topic, self.partition, self.offset)
    }
}
