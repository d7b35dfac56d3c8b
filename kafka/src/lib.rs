//! Kafka for every shelfstream service: the one place that configures
//! Kafka clients ([`KafkaClients`]), checks that the cluster accepts them
//! ([`KafkaClients::check`]), creates topics, and consumes in batches
//! ([`collect`], [`rewind_to_committed`]), with a lag that reads 0 when
//! drained ([`partition_lags`]).

mod batch;
mod check;
mod clients;
mod headers;
mod lag;
mod offsets;
mod topics;

pub use batch::{collect, rewind_to_committed, BatchLimits};
pub use check::{ClusterInfo, ConnectError};
pub use clients::{KafkaClients, SettingsError};
pub use headers::header_text;
pub use lag::{partition_lags, LagGauges, PartitionLag};
pub use offsets::next_offsets;
pub use topics::{delete_topics, ensure_topics, TopicError, TopicSpec};
