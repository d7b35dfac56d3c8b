//! The transactional half of the runtime, on a thread of its own.
//!
//! A Kafka transaction costs about 100 ms of waiting on this machine,
//! whatever its size (the broker finishes the previous transaction's
//! markers before the next one may add partitions). The loop therefore
//! runs the chain over batch N+1 while batch N commits. Order is kept:
//! batches are committed one at a time, in the order they were prepared.
//!
//! After a failed transaction every batch prepared before the failure was
//! computed from records that will be read again, so the committer drops
//! them: each batch carries the [`Committer::generation`] it was prepared
//! in, and a failure starts a new generation, which the loop notices,
//! rewinding its consumer to the committed offsets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::Message;
use shelf_contract::dead_letter::DeadLetter;
use shelf_contract::wire::{kafka_headers, InputRow, Redrive};
use shelf_contract::Position;
use shelf_engine::Outcome;
use shelf_kafka::{header_text, next_offsets};
use shelf_service::memory::PeriodicRelease;

use crate::error::RuntimeError;
use crate::metrics::{Metrics, ReasonLabels, ResultLabels};

/// How often the committer gives freed heap pages back (those of glibc's
/// malloc, which librdkafka uses). After every batch, the pages faulted in
/// again at the next batch cost the runtime 0.7 CPU-s per million rows at
/// full size (11.3 against 10.6).
const RELEASE_EVERY: Duration = Duration::from_secs(1);

/// A batch run through the chain, ready to be committed.
pub struct Prepared {
    pub generation: u64,
    pub batch: Vec<OwnedMessage>,
    pub outcomes: Vec<Outcome>,
    pub output: String,
    pub dlq: String,
    /// The chain's label, put on the outputs of redriven records.
    pub chain: Arc<str>,
    /// The consumer's group metadata when the batch was read: a rebalance
    /// since then fences the offset commit, and the batch is read again.
    pub group: ConsumerGroupMetadata,
    pub collected_at: Instant,
}

pub struct Committer {
    sender: Option<SyncSender<Prepared>>,
    thread: Option<JoinHandle<Result<(), RuntimeError>>>,
    generation: Arc<AtomicU64>,
}

impl Committer {
    pub fn spawn(
        producer: ThreadedProducer<DefaultProducerContext>,
        metrics: Arc<Metrics>,
        timeout: Duration,
    ) -> Result<Self, RuntimeError> {
        // Rendezvous: at most one batch committing and one waiting in the
        // loop, so memory stays at two batches.
        let (sender, receiver) = sync_channel(0);
        let generation = Arc::new(AtomicU64::new(0));
        let thread = {
            let generation = generation.clone();
            std::thread::Builder::new()
                .name("shelf-commit".into())
                .spawn(move || commit_loop(&producer, &receiver, &metrics, &generation, timeout))
                .map_err(RuntimeError::CommitThread)?
        };
        Ok(Self {
            sender: Some(sender),
            thread: Some(thread),
            generation,
        })
    }

    /// The generation batches are prepared in now; it changes after a
    /// failed transaction.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Hands a batch over, waiting while the previous one commits. An error
    /// means the committer has stopped on a fatal producer error.
    pub fn submit(&mut self, prepared: Prepared) -> Result<(), RuntimeError> {
        let sent = match &self.sender {
            Some(sender) => sender.send(prepared).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            self.finish().and(Err(RuntimeError::Committer("stopped")))
        }
    }

    /// Commits what was handed over and stops the thread.
    pub fn finish(&mut self) -> Result<(), RuntimeError> {
        self.sender = None;
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| RuntimeError::Committer("panicked"))?,
            None => Ok(()),
        }
    }
}

/// A loop that ends on an error (a fenced consumer, say) drops its
/// committer: the thread must be gone, its transaction committed or
/// failed, before the restarted loop's producer takes the same
/// transactional id, or the two fence each other.
impl Drop for Committer {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::warn!(error = %shelf_service::error_chain(&e), "committer of the ended loop stopped with an error");
        }
    }
}

fn commit_loop(
    producer: &ThreadedProducer<DefaultProducerContext>,
    receiver: &Receiver<Prepared>,
    metrics: &Metrics,
    generation: &AtomicU64,
    timeout: Duration,
) -> Result<(), RuntimeError> {
    let mut release = PeriodicRelease::new(RELEASE_EVERY);
    for mut prepared in receiver {
        if prepared.generation != generation.load(Ordering::Acquire) {
            continue; // read before a failure; it will be read again
        }
        match transact(producer, &mut prepared, metrics, timeout) {
            Ok(()) => {
                metrics
                    .transactions
                    .get_or_create(&ResultLabels {
                        result: "committed",
                    })
                    .inc();
                metrics
                    .batch_seconds
                    .observe(prepared.collected_at.elapsed().as_secs_f64());
            }
            Err(e) => {
                metrics
                    .transactions
                    .get_or_create(&ResultLabels { result: "aborted" })
                    .inc();
                tracing::warn!(error = %shelf_service::error_chain(&e), records = prepared.batch.len(), "transaction failed; aborting and rewinding");
                if let Err(abort) = producer.abort_transaction(timeout) {
                    tracing::warn!(error = %abort, "abort failed");
                }
                if let Some((code, reason)) = producer.client().fatal_error() {
                    return Err(RuntimeError::FatalProducer {
                        code: format!("{code:?}"),
                        reason,
                    });
                }
                // Only after the abort: the loop rewinds to offsets that
                // no longer move.
                generation.fetch_add(1, Ordering::AcqRel);
            }
        }
        // The batch's records and outputs, allocated on the chain's
        // threads, are freed here; their pages go back every so often.
        let releasing = Instant::now();
        drop(prepared);
        release.maybe_release();
        metrics.phase("release", releasing);
    }
    Ok(())
}

/// Produces outputs and dead letters and commits them with the consumed
/// offsets in one transaction.
fn transact(
    producer: &ThreadedProducer<DefaultProducerContext>,
    prepared: &mut Prepared,
    metrics: &Metrics,
    timeout: Duration,
) -> Result<(), RuntimeError> {
    let producing = Instant::now();
    producer.begin_transaction()?;
    let (mut outputs, mut rejects): (u64, HashMap<&'static str, u64>) = (0, HashMap::new());
    for outcome in &prepared.outcomes {
        match outcome {
            Outcome::Output { input, key, value } => {
                let mut record = BaseRecord::to(&prepared.output).payload(value.as_slice());
                // The input's timestamp (when the gateway received it) goes
                // on: it is the observation time of a record without one,
                // and a replay must give the same.
                if let Some(ms) = prepared.batch[*input].timestamp().to_millis() {
                    record = record.timestamp(ms);
                }
                if let Some(k) = key.as_deref() {
                    record = record.key(k);
                }
                // A redrive goes on marked, for the sink to resolve its reject.
                if let Some(redrive) = redrive_of(&prepared.batch[*input]) {
                    record = record.headers(redrive_headers(&redrive, &prepared.chain));
                }
                send(producer, record)?;
                outputs += 1;
            }
            Outcome::Reject { input, reject } => {
                let m = &prepared.batch[*input];
                let letter = DeadLetter {
                    reason: reject.reason,
                    detail: reject.detail.clone(),
                    payload: String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                    read_at: Position::new(m.topic(), m.partition(), m.offset()),
                    input_row: input_row_of(m),
                    received_at: m.timestamp().to_millis(),
                    redrive: redrive_of(m),
                };
                let value = serde_json::to_vec(&letter)?;
                let mut record = BaseRecord::to(&prepared.dlq).payload(value.as_slice());
                if let Some(k) = m.key() {
                    record = record.key(k);
                }
                send(producer, record)?;
                *rejects.entry(reject.reason.as_str()).or_default() += 1;
            }
        }
    }
    metrics.phase("produce", producing);
    // The producer holds copies now: the outputs go while the commit waits.
    prepared.outcomes = Vec::new();

    let committing = Instant::now();
    producer.send_offsets_to_transaction(
        &next_offsets(&prepared.batch)?,
        &prepared.group,
        timeout,
    )?;
    producer.commit_transaction(timeout)?;
    metrics.phase("commit", committing);

    metrics.records_in.inc_by(prepared.batch.len() as u64);
    metrics.records_out.inc_by(outputs);
    for (reason, n) in rejects {
        metrics
            .rejects
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc_by(n);
    }
    Ok(())
}

/// The input row the gateway recorded for `m`, if any.
fn input_row_of(m: &OwnedMessage) -> Option<InputRow> {
    Some(InputRow {
        file: header_text(m, kafka_headers::FILE)?.to_owned(),
        line: header_text(m, kafka_headers::LINE)?.parse().ok()?,
    })
}

/// The reject `m` redrives, when `shelf rejects replay` sent it.
fn redrive_of(m: &OwnedMessage) -> Option<Redrive> {
    Redrive::from_headers(|name| header_text(m, name))
}

fn redrive_headers(redrive: &Redrive, chain: &str) -> OwnedHeaders {
    OwnedHeaders::new_with_capacity(3)
        .insert(Header {
            key: kafka_headers::REDRIVE,
            value: Some(redrive.reject.as_str()),
        })
        .insert(Header {
            key: kafka_headers::REPLAY,
            value: Some(redrive.replay.as_str()),
        })
        .insert(Header {
            key: kafka_headers::CHAIN,
            value: Some(chain),
        })
}

fn send(
    producer: &ThreadedProducer<DefaultProducerContext>,
    mut record: BaseRecord<'_, [u8], [u8]>,
) -> Result<(), RuntimeError> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}
