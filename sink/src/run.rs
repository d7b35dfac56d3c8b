//! `shelf sink run`: the consume → plan → write → commit loop.
//!
//! Per batch: read the stored state of the batch's products, plan the
//! writes ([`crate::plan`]), make them in order (partials, products,
//! rejects), then commit the consumed offsets. Between batches, products
//! stored before their category's name was known are renamed in bounded
//! slices (`rename`, [`crate::rename`]). Any store error
//! drops the batch and the cached partials, rewinds the consumer to the
//! committed offsets and tries again after a backoff: the replay is
//! harmless by construction. Aggregates are merged from the partials a
//! moment later ([`crate::aggregates`]).
//!
//! The loop and a batch's writes are here; the consumer group's side
//! (polling, partitions, offsets) is in `consumer`, the partials and the
//! merge in `merge`, the rename sweeps in `rename`.
//!
//! Every wait on the store gives up soon after a shutdown is asked for
//! ([`SHUTDOWN_GRACE`]), so SIGTERM is obeyed within seconds even while
//! the store hangs; an abandoned batch's offsets are not committed.

mod consumer;
mod error;
mod merge;
mod rename;
mod step;
mod wait;

pub use error::SinkError;

use consumer::GroupEvents;
use shelf_service::memory::PeriodicRelease;
use shelf_service::{sleep_unless_stopping, Backoff};
use wait::block_on_until;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bson::{doc, Document, RawDocumentBuf};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientContext, Message, TopicPartitionList};
use shelf_config::Platform;
use shelf_contract::{collections, Position};
use shelf_kafka::{ensure_topics, KafkaClients, TopicSpec};
use tokio::runtime::Handle;

use crate::aggregates::{self, Aggregates, Merged};
use crate::categories::{CategoryReader, CategoryRecord};
use crate::config::SinkArgs;
use crate::daily::{self, DailyPartial, DailyState, DayKey};
use crate::figures::Partial;
use crate::metrics::Metrics;
use crate::partition_state::{self, PartitionState};
use crate::plan::{self, DailyPartials, PartialKey, ProductRecord};
use crate::product;
use crate::reject;
use crate::rename::Sweep;
use crate::store::{Store, StoreError};
use crate::ByAsin;

/// How long a store command may still run once a shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Runs until SIGTERM or Ctrl-C, then finishes the current batch, merges
/// and commits.
pub async fn run(platform: &Platform, args: SinkArgs) -> Result<(), SinkError> {
    run_until(platform, args, shelf_service::shutdown_flag()).await
}

/// Runs until `shutdown` is set, then finishes the current batch, merges
/// and commits (what a process embedding the sink, like `shelf demo`, uses
/// to stop it).
pub async fn run_until(
    platform: &Platform,
    args: SinkArgs,
    shutdown: Arc<AtomicBool>,
) -> Result<(), SinkError> {
    let metrics = Arc::new(Metrics::default());
    let ready =
        shelf_service::serve_status(args.metrics_listen, metrics.clone(), Metrics::render).await?;
    shelf_service::progress::spawn("sink", &metrics, Metrics::progress);
    let t = &platform.topics;
    let specs = [&t.product_clean, &t.ingest_category, &t.product_dlq]
        .map(|name| TopicSpec::new(name, args.partitions));
    ensure_topics(
        &KafkaClients::new(&platform.kafka)?,
        &specs,
        Duration::from_secs(30),
    )
    .await?;

    let store = Store::connect(&platform.mongo, &platform.database, metrics.store.clone())
        .await?
        .with_command_timeout(args.store_timeout());
    let mut backoff = Backoff::default();
    while let Err(e) = store.prepare(&args.products_indexes).await {
        tracing::warn!(error = %e, "MongoDB not ready; retrying");
        if shutdown.load(Ordering::Relaxed) {
            return Ok(());
        }
        tokio::time::sleep(backoff.next_wait()).await;
    }
    store.check_partials_layout().await?;
    let platform = platform.clone();
    let handle = Handle::current();
    tokio::task::spawn_blocking(move || {
        shelf_service::supervise("sink", &shutdown, &ready, SinkError::is_restartable, || {
            Sink::new(
                platform.clone(),
                args.clone(),
                store.clone(),
                handle.clone(),
                metrics.clone(),
                ready.clone(),
                shutdown.clone(),
            )
            .and_then(Sink::run)
        })
    })
    .await?
}

struct Sink {
    platform: Platform,
    args: SinkArgs,
    store: Store,
    handle: Handle,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    shutdown: Arc<AtomicBool>,
    consumer: BaseConsumer<GroupEvents>,
    categories: CategoryReader,
    names: HashMap<i64, String>,
    /// Category records read but not yet stored.
    pending_categories: Vec<CategoryRecord>,
    /// Partials of the owned partitions of the product topic.
    partials: HashMap<PartialKey, Partial>,
    /// The `seq` of each owned partition's document as last read from or
    /// written to the store (absent: no document): a write expects to find
    /// it there still.
    stored_seq: HashMap<i32, i64>,
    /// The daily entries of the owned partitions, and each day document's
    /// `seq` as `stored_seq`.
    daily: DailyPartials,
    daily_seq: HashMap<DayKey, i64>,
    loaded: HashSet<i32>,
    /// Owned partitions whose partials must be read before the next batch.
    to_load: HashSet<i32>,
    /// Every partition of the product topic (empty: to be looked up).
    topic_partitions: Vec<i32>,
    /// `category_stats` and `price_buckets`.
    current_merge: merge::Schedule,
    /// `category_daily`.
    daily_merge: merge::Schedule,
    /// Rename sweeps of owned partitions, as last read or written.
    sweeps: HashMap<i32, Sweep>,
    /// When the sweeps' progress was last written to the store.
    sweeps_saved: Instant,
    /// When the sweeps' progress was last logged.
    sweeps_logged: Instant,
    /// The last batch came full: the sink has a backlog.
    behind: bool,
    /// Freed glibc pages (librdkafka's: a batch's fetched records) go back
    /// to the OS, not only an arena's top.
    release: PeriodicRelease,
}

/// How often freed heap pages are given back while the sink works.
const RELEASE_EVERY: Duration = Duration::from_secs(5);

impl Sink {
    fn new(
        platform: Platform,
        args: SinkArgs,
        store: Store,
        handle: Handle,
        metrics: Arc<Metrics>,
        ready: Arc<AtomicBool>,
        shutdown: Arc<AtomicBool>,
    ) -> Result<Self, SinkError> {
        let t = &platform.topics;
        let kafka = KafkaClients::new(&platform.kafka)?;
        let mut categories = CategoryReader::new(&kafka, &t.ingest_category)?;
        let pending_categories = categories.catch_up(Duration::from_secs(30))?;
        let consumer: BaseConsumer<GroupEvents> = kafka
            .group_member(&args.group, &format!("{}-{}", args.group, args.instance))
            .set("statistics.interval.ms", "2000")
            .create_with_context(GroupEvents {
                revoked: Mutex::default(),
                assigned: Mutex::default(),
                metrics: metrics.clone(),
            })?;
        consumer.subscribe(&[&t.product_clean, &t.product_dlq])?;
        tracing::info!(group = %args.group, instance = %args.instance, products = %t.product_clean,
            dead_letters = %t.product_dlq, categories = %t.ingest_category, "sink started");
        Ok(Self {
            platform,
            args,
            store,
            handle,
            metrics,
            ready,
            shutdown,
            consumer,
            categories,
            names: HashMap::new(),
            pending_categories,
            partials: HashMap::new(),
            stored_seq: HashMap::new(),
            daily: HashMap::new(),
            daily_seq: HashMap::new(),
            loaded: HashSet::new(),
            to_load: HashSet::new(),
            topic_partitions: Vec::new(),
            current_merge: merge::Schedule::new(Aggregates::of(aggregates::current())),
            daily_merge: merge::Schedule::new(Aggregates::of(aggregates::daily())),
            sweeps: HashMap::new(),
            sweeps_saved: Instant::now(),
            sweeps_logged: Instant::now(),
            behind: false,
            release: PeriodicRelease::new(RELEASE_EVERY),
        })
    }

    fn run(mut self) -> Result<(), SinkError> {
        let mut backoff = Backoff::default();
        self.ready.store(true, Ordering::Relaxed);
        loop {
            let stopping = self.stopping();
            self.pending_categories.extend(self.categories.poll_now());
            let batch = if stopping { Vec::new() } else { self.collect() };
            if let Some((code, reason)) = self.consumer.client().fatal_error() {
                return Err(SinkError::ConsumerFatal {
                    code: format!("{code:?}"),
                    reason,
                });
            }
            self.behind = batch.len() >= self.args.batch_size;
            let step_started = Instant::now();
            let idle = batch.is_empty();
            let stored = self
                .step(&batch)
                .and_then(|()| self.between_batches(stopping, idle, step_started.elapsed()));
            match stored {
                Ok(()) if stopping => {
                    tracing::info!("sink stopped");
                    return Ok(());
                }
                Ok(()) => {
                    backoff = Backoff::default();
                    self.store_up(true);
                }
                Err(_) if self.stopping() => {
                    // Abandoned on shutdown: nothing of it was committed.
                    tracing::info!(
                        "sink stopped; the unfinished batch is replayed at the next start"
                    );
                    return Ok(());
                }
                Err(e) => self.recover(e, &mut backoff, batch.len())?,
            }
            drop(batch);
            self.release.maybe_release();
        }
    }

    /// After a stored batch: the merge when due, then rename slices (or,
    /// when stopping, where the sweeps stand saved).
    fn between_batches(
        &mut self,
        stopping: bool,
        idle: bool,
        step_took: Duration,
    ) -> Result<(), SinkError> {
        if let Err(e) = self.merge_if_due(stopping, idle) {
            // Another instance writing the same aggregate at once (a
            // duplicate key on upsert) or a store hiccup: the next merge
            // repairs it; the batch itself is not affected.
            tracing::warn!(error = %e, "merge failed; retrying at the next interval");
        }
        if stopping {
            // A restart resumes the sweeps from here.
            return self.save_sweeps_on_stop();
        }
        // While behind, as long as the batch took: a sweep that crawled
        // would read every product inserted ahead of it.
        let budget = if self.behind {
            step_took
        } else {
            self.args.rename_budget()
        };
        self.rename_for(budget)
    }

    /// After a failed batch: forget what may be stale, rewind to the
    /// committed offsets and wait before the replay.
    fn recover(
        &mut self,
        error: SinkError,
        backoff: &mut Backoff,
        records: usize,
    ) -> Result<(), SinkError> {
        match &error {
            SinkError::Store(e) if e.is_conflict() => {
                // Not an outage: someone else wrote what this batch read.
                tracing::warn!(error = %e, "store changed under the batch; re-reading and replaying");
            }
            e => {
                self.metrics.store_errors.inc();
                if matches!(e, SinkError::Store(StoreError::Timeout(_))) {
                    self.metrics.store_timeouts.inc();
                }
                self.store_up(false);
                tracing::warn!(error = %e, records, "batch failed; rewinding to retry");
            }
        }
        self.forget_and_rewind()?;
        // For a conflict, this gives the other writer (often a killed
        // instance's last command, still running in the store) time to
        // finish.
        sleep_unless_stopping(&self.shutdown, backoff.next_wait());
        Ok(())
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    fn store_up(&self, up: bool) {
        self.ready.store(up, Ordering::Relaxed);
        self.metrics.store_up.set(i64::from(up));
    }

    /// Waits for store operations (each command bounded by
    /// `--store-timeout-ms` in the store, and all of them by a shutdown).
    fn block_on<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        block_on_until(&self.handle, &self.shutdown, f)
    }
}
