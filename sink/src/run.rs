//! `shelf sink run`: the consume → plan → write → commit loop.
//!
//! Per batch: read the stored state of the batch's products, plan the
//! writes ([`crate::plan`]), make them in order (name fills, partials,
//! products, rejects), then commit the consumed offsets. Any store error
//! drops the batch and the cached partials, rewinds the consumer to the
//! committed offsets and tries again after a backoff: the replay is
//! harmless by construction. Aggregates are merged from the partials a
//! moment later ([`crate::figures::merge`], written by
//! [`crate::aggregates`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bson::{doc, Document};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, ClientContext, Message, Offset, TopicPartitionList};
use shelf_config::{collections, Platform};
use shelf_kafka::{ensure_topics, TopicError, TopicSpec};
use tokio::runtime::Handle;

use crate::aggregates::Aggregates;
use crate::categories::{CategoryReader, CategoryRecord};
use crate::config::SinkArgs;
use crate::figures::{merge, Partial};
use crate::metrics::{Metrics, PartitionLabels};
use crate::partition_state::{self, PartitionState};
use crate::plan::{self, PartialKey, ProductRecord};
use crate::product;
use crate::reject::{self, Origin};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Topics(#[from] TopicError),
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot serve metrics on {addr}: {error}")]
    Metrics {
        addr: std::net::SocketAddr,
        error: std::io::Error,
    },
    #[error("the sink loop stopped unexpectedly: {0}")]
    Join(String),
}

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
    let ready = Arc::new(AtomicBool::new(false));
    {
        let metrics = metrics.clone();
        shelf_service::spawn_status_server(
            args.metrics_listen,
            move || metrics.render(),
            ready.clone(),
        )
        .await
        .map_err(|error| SinkError::Metrics {
            addr: args.metrics_listen,
            error,
        })?;
    }
    let t = &platform.topics;
    let specs = [&t.product_clean, &t.ingest_category, &t.product_dlq]
        .map(|name| TopicSpec::new(name, args.partitions, 1));
    ensure_topics(&platform.kafka, &specs, Duration::from_secs(30)).await?;

    let store = Store::connect(&platform.mongo, &platform.database, metrics.store.clone())
        .await?
        .with_command_timeout(args.store_timeout());
    let mut backoff = Backoff::default();
    while let Err(e) = store.prepare(&args.products_indexes).await {
        tracing::warn!(error = %e, "MongoDB not ready; retrying");
        if shutdown.load(Ordering::Relaxed) {
            return Ok(());
        }
        tokio::time::sleep(backoff.next()).await;
    }
    store.check_partials_layout().await?;
    let platform = platform.clone();
    let handle = Handle::current();
    tokio::task::spawn_blocking(move || {
        Sink::new(platform, args, store, handle, metrics, ready)?.run(&shutdown)
    })
    .await
    .map_err(|e| SinkError::Join(e.to_string()))?
}

/// Partition changes, recorded by the consumer's rebalance callbacks
/// (which run inside `poll`, on the loop's thread), and the lag from its
/// statistics.
struct GroupEvents {
    revoked: Mutex<Vec<(String, i32)>>,
    assigned: Mutex<Vec<(String, i32)>>,
    metrics: Arc<Metrics>,
}

fn partitions(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

impl ClientContext for GroupEvents {
    fn stats(&self, statistics: rdkafka::Statistics) {
        for (topic, t) in statistics.topics {
            for (partition, p) in t.partitions {
                // -1: not consumed by this instance (or not known yet).
                if partition >= 0 && p.consumer_lag >= 0 {
                    self.metrics
                        .lag
                        .get_or_create(&PartitionLabels {
                            topic: topic.clone(),
                            partition,
                        })
                        .set(p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for GroupEvents {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            if let Ok(mut r) = self.revoked.lock() {
                r.extend(partitions(tpl));
            }
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            if let Ok(mut a) = self.assigned.lock() {
                a.extend(partitions(tpl));
            }
        }
    }
}

struct Sink {
    platform: Platform,
    args: SinkArgs,
    store: Store,
    handle: Handle,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
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
    loaded: HashSet<i32>,
    /// Owned partitions whose partials must be read before the next batch.
    to_load: HashSet<i32>,
    /// Every partition of the product topic (empty: to be looked up).
    topic_partitions: Vec<i32>,
    aggregates: Aggregates,
    /// The last batch came full: the sink has a backlog.
    behind: bool,
    dirty: bool,
    last_merge: Instant,
    last_verify: Instant,
}

impl Sink {
    fn new(
        platform: Platform,
        args: SinkArgs,
        store: Store,
        handle: Handle,
        metrics: Arc<Metrics>,
        ready: Arc<AtomicBool>,
    ) -> Result<Self, SinkError> {
        let t = &platform.topics;
        let mut categories = CategoryReader::new(&platform.kafka, &t.ingest_category)?;
        let pending_categories = categories.catch_up(Duration::from_secs(30))?;
        let consumer: BaseConsumer<GroupEvents> = ClientConfig::new()
            .set("bootstrap.servers", &platform.kafka)
            .set("group.id", &args.group)
            .set(
                "group.instance.id",
                format!("{}-{}", args.group, args.instance),
            )
            .set("session.timeout.ms", "10000")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .set("statistics.interval.ms", "5000")
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
            consumer,
            categories,
            names: HashMap::new(),
            pending_categories,
            partials: HashMap::new(),
            stored_seq: HashMap::new(),
            loaded: HashSet::new(),
            to_load: HashSet::new(),
            topic_partitions: Vec::new(),
            aggregates: Aggregates::default(),
            behind: false,
            dirty: true,
            last_merge: Instant::now(),
            last_verify: Instant::now(),
        })
    }

    fn run(mut self, shutdown: &AtomicBool) -> Result<(), SinkError> {
        let mut backoff = Backoff::default();
        self.ready.store(true, Ordering::Relaxed);
        loop {
            let stopping = shutdown.load(Ordering::Relaxed);
            self.pending_categories.extend(self.categories.poll_now());
            let batch = if stopping {
                Vec::new()
            } else {
                self.collect(shutdown)
            };
            self.behind = batch.len() >= self.args.batch_size;
            match self.step(&batch) {
                Ok(()) => {
                    backoff = Backoff::default();
                    self.store_up(true);
                    if let Err(e) = self.merge_if_due(stopping) {
                        // Another instance writing the same aggregate at once (a
                        // duplicate key on upsert) or a store hiccup: the next merge
                        // repairs it; the batch itself is not affected.
                        tracing::warn!(error = %e, "merge failed; retrying at the next interval");
                    }
                }
                Err(SinkError::Store(e)) if e.is_conflict() => {
                    // Not an outage: someone else wrote what this batch
                    // read. Read again and replay.
                    tracing::warn!(error = %e, "store changed under the batch; re-reading and replaying");
                    self.forget_and_rewind()?;
                    // Give the other writer (often a killed instance's last
                    // command, still running in the store) time to finish.
                    std::thread::sleep(backoff.next());
                    continue;
                }
                Err(e) => {
                    self.metrics.store_errors.inc();
                    self.store_up(false);
                    tracing::warn!(error = %e, records = batch.len(), "batch failed; rewinding to retry");
                    self.forget_and_rewind()?;
                    if stopping {
                        return Ok(());
                    }
                    std::thread::sleep(backoff.next());
                    continue;
                }
            }
            if stopping {
                tracing::info!("sink stopped");
                return Ok(());
            }
        }
    }

    fn store_up(&self, up: bool) {
        self.ready.store(up, Ordering::Relaxed);
        self.metrics.store_up.set(i64::from(up));
    }

    /// Up to `batch_size` records, returning early once the batch has
    /// waited `batch_wait` since its first record.
    /// Group changes are applied after every poll: records polled before a
    /// revocation are dropped then, while those polled after it (the
    /// partition may come straight back) are kept.
    fn collect(&mut self, shutdown: &AtomicBool) -> Vec<OwnedMessage> {
        let mut batch = Vec::new();
        let mut first_at: Option<Instant> = None;
        while batch.len() < self.args.batch_size && !shutdown.load(Ordering::Relaxed) {
            let wait = match first_at {
                None => Duration::from_millis(200),
                Some(t) => match self.args.batch_wait().checked_sub(t.elapsed()) {
                    Some(left) => left,
                    None => break,
                },
            };
            let polled = self.consumer.poll(wait).map(|r| r.map(|m| m.detach()));
            self.apply_group_changes(&mut batch);
            match polled {
                Some(Ok(m)) => {
                    first_at.get_or_insert_with(Instant::now);
                    batch.push(m);
                }
                Some(Err(e)) => tracing::warn!(error = %e, "consumer error"),
                // Nothing for a while: let the caller merge and check.
                None if batch.is_empty() => break,
                None => {}
            }
        }
        batch
    }

    /// Drops the state and records of revoked partitions (their new owner
    /// replays them from the committed offsets) and notes new ones.
    fn apply_group_changes(&mut self, batch: &mut Vec<OwnedMessage>) {
        let ctx = self.consumer.context();
        let revoked: Vec<(String, i32)> = ctx
            .revoked
            .lock()
            .map(|mut r| r.drain(..).collect())
            .unwrap_or_default();
        let assigned: Vec<(String, i32)> = ctx
            .assigned
            .lock()
            .map(|mut a| a.drain(..).collect())
            .unwrap_or_default();
        let products = &self.platform.topics.product_clean;
        if !revoked.is_empty() {
            tracing::info!(?revoked, "partitions revoked");
            batch.retain(|m| {
                !revoked
                    .iter()
                    .any(|(t, p)| t == m.topic() && *p == m.partition())
            });
            for (_, p) in revoked.iter().filter(|(t, _)| t == products) {
                self.loaded.remove(p);
                self.to_load.remove(p);
                self.partials.retain(|k, _| k.0 != *p);
                self.stored_seq.remove(p);
            }
        }
        if !revoked.is_empty() || !assigned.is_empty() {
            // Another instance joined or left: check the aggregates whole
            // at the next merge, and whether partitions were added.
            self.aggregates.forget();
            self.topic_partitions.clear();
            self.dirty = true;
        }
        if !assigned.is_empty() {
            tracing::info!(?assigned, "partitions assigned");
            for (_, p) in assigned.iter().filter(|(t, _)| t == products) {
                if !self.loaded.contains(p) {
                    self.to_load.insert(*p);
                }
            }
        }
    }

    /// Stores one batch (and any category records and pending loads), then
    /// commits its offsets.
    fn step(&mut self, batch: &[OwnedMessage]) -> Result<(), SinkError> {
        let started = Instant::now();
        self.store_categories()?;
        let topics = self.platform.topics.clone();
        let mut products = Vec::new();
        let mut rejects = Vec::new();
        for m in batch {
            let value = m.payload().unwrap_or_default();
            let at = Origin {
                topic: m.topic(),
                partition: m.partition(),
                offset: m.offset(),
            };
            if m.topic() == topics.product_clean {
                products.push(ProductRecord {
                    partition: m.partition(),
                    offset: m.offset(),
                    value,
                    event: product::parse(value),
                });
            } else {
                rejects.push(reject::from_dead_letter(value, at));
            }
        }
        let dead_letters = rejects.len() as u64;
        for r in &products {
            if !self.loaded.contains(&r.partition) {
                self.to_load.insert(r.partition);
            }
        }
        self.load_partials()?;
        // Runs even without records: a category that just arrived may need
        // its name put on stored products.
        let asins: Vec<String> = products
            .iter()
            .filter_map(|r| r.event.as_ref().ok().map(|e| e.asin.clone()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let stored_docs: HashMap<String, Document> = if asins.is_empty() {
            HashMap::new()
        } else {
            self.block_on(self.store.products(&asins))?
                .into_iter()
                .filter_map(|d| Some((d.get_str("_id").ok()?.to_owned(), d)))
                .collect()
        };
        let stored = stored_docs
            .values()
            .filter_map(plan::stored_product)
            .collect();
        let mut partials = self.partials.clone();
        let plan = plan::plan(
            &mut partials,
            products,
            &stored,
            &self.names,
            &topics.product_clean,
        );
        rejects.extend(plan.rejects);
        let states = self.partition_states(&partials, &plan.partials);
        let stored_seq = &self.stored_seq;
        let state_guard =
            |id: &str| match partition_state::partition_of(id).and_then(|p| stored_seq.get(&p)) {
                Some(seq) => doc! { "seq": seq },
                None => doc! { "seq": { "$exists": false } },
            };
        let product_guard = |asin: &str| match stored.get(asin) {
            Some(s) => doc! { "_src.offset": s.offset },
            None => doc! { "_src": { "$exists": false } },
        };
        let store = &self.store;
        self.block_on(async {
            if !plan.fills.is_empty() {
                tracing::info!(
                    fills = plan.fills.len(),
                    "naming products of newly known categories"
                );
                store.fill_names(&plan.fills).await?;
            }
            // Partials before the products whose old state they retract.
            store
                .upsert(
                    collections::SINK_PARTIALS,
                    states.iter().map(PartitionState::to_document).collect(),
                    None,
                    Some(&state_guard),
                )
                .await?;
            // Products not stored before are inserted: an insert is
            // guarded by `_id` uniqueness alone, and much cheaper on FerretDB.
            let (stored_before, new): (Vec<Document>, Vec<Document>) =
                plan.products.into_iter().partition(|d| {
                    d.get_str("_id")
                        .is_ok_and(|asin| stored_docs.contains_key(asin))
                });
            store.insert_new(collections::PRODUCTS, new).await?;
            store
                .upsert(
                    collections::PRODUCTS,
                    stored_before,
                    Some(&stored_docs),
                    Some(&product_guard),
                )
                .await?;
            store
                .upsert(collections::REJECTS, rejects, None, None)
                .await
        })?;
        for s in &states {
            self.stored_seq.insert(s.partition, s.seq);
        }
        self.partials = partials;
        if plan.applied > 0 || !plan.partials.is_empty() {
            self.dirty = true;
        }
        if !batch.is_empty() {
            self.commit(batch)?;
            let refused = batch.len() as u64 - dead_letters - plan.applied - plan.skipped;
            self.metrics
                .count(&topics.product_clean, "stored", plan.applied);
            self.metrics
                .count(&topics.product_clean, "skipped", plan.skipped);
            self.metrics
                .count(&topics.product_clean, "rejected", refused);
            self.metrics
                .count(&topics.product_dlq, "stored", dead_letters);
            self.metrics
                .batch_seconds
                .observe(started.elapsed().as_secs_f64());
            tracing::debug!(
                records = batch.len(),
                applied = plan.applied,
                skipped = plan.skipped,
                "batch stored"
            );
        }
        Ok(())
    }

    /// Waits for store operations (each command bounded by
    /// `--store-timeout-ms` in the store).
    fn block_on<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.handle.block_on(f)
    }

    /// Stores categories read since the last batch and learns their names.
    fn store_categories(&mut self) -> Result<(), SinkError> {
        if self.pending_categories.is_empty() {
            return Ok(());
        }
        let mut docs = Vec::new();
        let mut rejects = Vec::new();
        let mut learned = Vec::new();
        for record in &self.pending_categories {
            match record {
                CategoryRecord::Named { id, name } => {
                    docs.push(doc! { "_id": *id, "name": name });
                    learned.push((*id, name.clone()));
                }
                CategoryRecord::Refused(d) => rejects.push(d.clone()),
            }
        }
        self.block_on(async {
            self.store
                .upsert(collections::CATEGORIES, docs, None, None)
                .await?;
            self.store
                .upsert(collections::REJECTS, rejects, None, None)
                .await
        })?;
        let n = self.pending_categories.len() as u64;
        self.metrics
            .count(&self.platform.topics.ingest_category, "stored", n);
        self.pending_categories.clear();
        for (id, name) in learned {
            if self.names.get(&id) != Some(&name) {
                self.names.insert(id, name);
                self.dirty = true;
            }
        }
        Ok(())
    }

    fn load_partials(&mut self) -> Result<(), SinkError> {
        if self.to_load.is_empty() {
            return Ok(());
        }
        let wanted: Vec<i32> = self.to_load.iter().copied().collect();
        let loaded = self.block_on(self.store.partition_states(&wanted))?;
        for state in loaded {
            self.stored_seq.insert(state.partition, state.seq);
            for p in state.partials {
                self.partials.insert((p.partition, p.category_id), p);
            }
        }
        self.loaded.extend(wanted);
        self.to_load.clear();
        Ok(())
    }

    fn commit(&self, batch: &[OwnedMessage]) -> Result<(), SinkError> {
        let mut next: HashMap<(&str, i32), i64> = HashMap::new();
        for m in batch {
            let e = next.entry((m.topic(), m.partition())).or_insert(0);
            *e = (*e).max(m.offset() + 1);
        }
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            offsets.add_partition_offset(topic, partition, Offset::Offset(offset))?;
        }
        // Asynchronous: a commit lost in a crash only means a replay,
        // which changes nothing.
        self.consumer.commit(&offsets, CommitMode::Async)?;
        Ok(())
    }

    /// The documents of the partitions a batch changed: each holds every
    /// partial of its partition (from `partials`, the state after the
    /// batch), one `seq` past the stored one.
    fn partition_states(
        &self,
        partials: &HashMap<PartialKey, Partial>,
        changed: &[Partial],
    ) -> Vec<PartitionState> {
        let partitions: HashSet<i32> = changed.iter().map(|p| p.partition).collect();
        let mut states: Vec<PartitionState> = partitions
            .into_iter()
            .map(|partition| {
                let mut of_partition: Vec<Partial> = partials
                    .iter()
                    .filter(|(k, _)| k.0 == partition)
                    .map(|(_, p)| p.clone())
                    .collect();
                of_partition.sort_by_key(|p| p.category_id);
                PartitionState {
                    partition,
                    seq: self.stored_seq.get(&partition).map_or(0, |s| s + 1),
                    partials: of_partition,
                }
            })
            .collect();
        states.sort_by_key(|s| s.partition);
        states
    }

    /// Brings `category_stats` and `price_buckets` up to the merge of all
    /// partials (this instance's from memory, the other partitions' read
    /// from the store): after a change, at most every merge interval; on
    /// every verify interval, when it also reads the stored aggregates back
    /// whole; and when stopping. Both intervals stretch to the "behind"
    /// one while batches come full.
    fn merge_if_due(&mut self, stopping: bool) -> Result<(), SinkError> {
        let (merge_every, verify_every) = self.args.merge_intervals(self.behind);
        let verify = self.last_verify.elapsed() >= verify_every;
        let due = stopping || verify || (self.dirty && self.last_merge.elapsed() >= merge_every);
        if !due {
            return Ok(());
        }
        if self.topic_partitions.is_empty() {
            self.topic_partitions = self.product_partitions()?;
        }
        let others: Vec<i32> = self
            .topic_partitions
            .iter()
            .filter(|p| !self.loaded.contains(p))
            .copied()
            .collect();
        let store = &self.store;
        let names = &self.names;
        let own = &self.partials;
        let aggregates = &mut self.aggregates;
        let changes = self.handle.block_on(async {
            let others = store.partition_states(&others).await?;
            let (stats, buckets) = merge(
                own.values()
                    .chain(others.iter().flat_map(|s| s.partials.iter())),
                names,
            );
            aggregates.sync(store, stats, buckets, verify).await
        });
        let changes = match changes {
            Ok(n) => n,
            Err(e) => {
                self.aggregates.forget();
                return Err(e.into());
            }
        };
        if changes > 0 {
            self.metrics.merges.inc();
            tracing::debug!(changes, "aggregates merged");
        }
        self.dirty = false;
        self.last_merge = Instant::now();
        if verify {
            self.last_verify = self.last_merge;
        }
        Ok(())
    }

    /// The partitions of the product topic, from the broker.
    fn product_partitions(&self) -> Result<Vec<i32>, SinkError> {
        let topic = &self.platform.topics.product_clean;
        let metadata = self
            .consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect())
    }

    /// After a failed batch: the cached partials may be ahead of or behind
    /// what got written, so they are read again, and the consumer goes back
    /// to the committed offsets to replay.
    fn forget_and_rewind(&mut self) -> Result<(), SinkError> {
        self.partials.clear();
        self.stored_seq.clear();
        self.aggregates.forget();
        self.to_load.extend(self.loaded.drain());
        self.rewind()
    }

    /// Puts the consumer back at the committed offsets.
    fn rewind(&self) -> Result<(), SinkError> {
        let timeout = Duration::from_secs(10);
        let assignment = self.consumer.assignment()?;
        let committed = match self.consumer.committed_offsets(assignment, timeout) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read committed offsets; rejoining the group");
                return self.resubscribe();
            }
        };
        for e in committed.elements() {
            let to = match e.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            if let Err(err) = self.consumer.seek(e.topic(), e.partition(), to, timeout) {
                // A partition not fetched yet cannot be sought; rejoining
                // restarts every partition from its committed offset.
                tracing::warn!(error = %err, "seek failed; rejoining the group");
                return self.resubscribe();
            }
        }
        Ok(())
    }

    fn resubscribe(&self) -> Result<(), SinkError> {
        let t = &self.platform.topics;
        self.consumer.unsubscribe();
        self.consumer
            .subscribe(&[&t.product_clean, &t.product_dlq])?;
        Ok(())
    }
}

/// Exponential backoff from 100 ms to 5 s.
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(Duration::from_millis(100))
    }
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let now = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        now
    }
}
