//! `shelf transform run`: the exactly-once loop.
//!
//! Per batch: poll up to `--batch-size` records (read_committed), run the
//! chain over them, then in one Kafka transaction produce the outputs, the
//! dead letters and the consumed offsets (on the [`crate::committer`]'s
//! thread, while the next batch runs through the chain). A crash at any point leaves
//! either the whole batch committed or none of it; the restarted runtime
//! (same transactional id) aborts what was open and resumes from the last
//! committed offsets. Registry changes are applied between batches, so a
//! new module version takes effect at a transaction boundary.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::Message;
use shelf_config::Platform;
use shelf_engine::{Engine, EngineConfig, Outcome};
use shelf_kafka::{ensure_topics, BatchLimits, KafkaClients, TopicSpec};

use crate::committer::{Committer, Prepared};
use crate::error::RuntimeError;
use crate::loaded::LoadedChain;
use crate::metrics::{LagStats, Metrics};
use crate::registry::{ChainSpec, Registry, RegistryReader};

/// Flags of `shelf transform run` (each also a `SHELF_TRANSFORM_*` variable).
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Deployed chain to run.
    #[arg(long, env = "SHELF_TRANSFORM_CHAIN", default_value = "default")]
    pub chain: String,
    /// This instance's id: part of the transactional id, so a restarted
    /// instance fences its former self. Give each concurrent instance its own.
    #[arg(long, env = "SHELF_TRANSFORM_INSTANCE", default_value = "0")]
    pub instance: String,
    /// Consumer group, which names the pipeline: the transactional id is
    /// `<group>-<instance>` (default `shelf-transform-<chain>`, and
    /// `shelf-transform-<chain>-<input topic>` when the chain reads another
    /// topic than the default `ingest-product`).
    #[arg(long, env = "SHELF_TRANSFORM_GROUP")]
    pub group: Option<String>,
    /// Records per transaction at most. A transaction costs about 100 ms of
    /// broker round trips whatever its size, so large batches pay off.
    #[arg(long, env = "SHELF_TRANSFORM_BATCH_SIZE", default_value_t = 20_000)]
    pub batch_size: usize,
    /// How long to wait for a batch to fill once it has a record (ms).
    #[arg(long, env = "SHELF_TRANSFORM_BATCH_WAIT_MS", default_value_t = 50)]
    pub batch_wait_ms: u64,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(
        long,
        env = "SHELF_TRANSFORM_METRICS_LISTEN",
        default_value = "127.0.0.1:9101"
    )]
    pub metrics_listen: SocketAddr,
    /// Time limit of one module call over one batch (ms).
    #[arg(long, env = "SHELF_TRANSFORM_CALL_TIMEOUT_MS", default_value_t = 2000)]
    pub call_timeout_ms: u64,
    /// Memory limit of one module instance (MiB).
    #[arg(long, env = "SHELF_TRANSFORM_MEMORY_LIMIT_MB", default_value_t = 256)]
    pub memory_limit_mb: usize,
    /// Kafka transaction timeout (ms): how long a crashed instance's open
    /// transaction can hold back read_committed readers.
    #[arg(
        long,
        env = "SHELF_TRANSFORM_TRANSACTION_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub transaction_timeout_ms: u64,
    /// Threads a batch is split over when it runs through the chain
    /// (default: the cores available, at most 4).
    #[arg(long, env = "SHELF_TRANSFORM_THREADS")]
    pub threads: Option<usize>,
    /// Partitions of the input, output and dead-letter topics when created here.
    #[arg(long, env = "SHELF_TRANSFORM_PARTITIONS", default_value_t = 6)]
    pub partitions: i32,
}

/// The consumer group of a chain run without `--group`: two pipelines
/// running a chain of the same name (each team's `default`) on other
/// topics get their own groups, and so their own transactional ids. The
/// standard pipeline keeps the name it always had (its committed offsets).
fn default_group(chain: &str, input: &str) -> String {
    if input == shelf_contract::topics::INGEST_PRODUCT {
        format!("shelf-transform-{chain}")
    } else {
        format!("shelf-transform-{chain}-{input}")
    }
}

/// Runs until SIGTERM or Ctrl-C; serves metrics meanwhile.
pub async fn run(platform: &Platform, args: RunArgs) -> Result<(), RuntimeError> {
    run_until(platform, args, shelf_service::shutdown_flag()).await
}

/// Runs until `shutdown` is set, then finishes the batch in hand and
/// commits it (what a process embedding the runtime, like `shelf demo`,
/// uses to stop it).
pub async fn run_until(
    platform: &Platform,
    args: RunArgs,
    shutdown: Arc<AtomicBool>,
) -> Result<(), RuntimeError> {
    let metrics = Arc::new(Metrics::default());
    let ready =
        shelf_service::serve_status(args.metrics_listen, metrics.clone(), Metrics::render).await?;
    shelf_service::progress::spawn("transform runtime", &metrics, Metrics::progress);
    let kafka = KafkaClients::new(&platform.kafka)?;
    let registry = Registry::new(&kafka, &platform.topics.transforms);
    registry.ensure_topic().await?;
    let platform = platform.clone();
    tokio::task::spawn_blocking(move || {
        shelf_service::supervise(
            "transform runtime",
            &shutdown,
            &ready,
            RuntimeError::is_restartable,
            || run_blocking(&platform, &args, metrics.clone(), &ready, &shutdown),
        )
    })
    .await?
}

/// The loop itself, on the calling thread, until `shutdown` is set.
pub fn run_blocking(
    platform: &Platform,
    args: &RunArgs,
    metrics: Arc<Metrics>,
    ready: &AtomicBool,
    shutdown: &AtomicBool,
) -> Result<(), RuntimeError> {
    let (mut runtime, producer) = Runtime::start(platform, args, metrics)?;
    ready.store(true, Ordering::Relaxed);
    let timeout = Duration::from_secs(30);
    let mut committer = Committer::spawn(producer, runtime.metrics.clone(), timeout)?;
    let mut generation = committer.generation();
    while !shutdown.load(Ordering::Relaxed) {
        // A failed transaction: what was read after it is read again.
        if committer.generation() != generation {
            generation = committer.generation();
            shelf_kafka::rewind_to_committed(&runtime.consumer, &[&runtime.active.spec.input])?;
        }
        // Registry changes apply here, between transactions.
        runtime.follow_registry(true)?;
        let collecting = Instant::now();
        let batch = shelf_kafka::collect(&runtime.consumer, runtime.limits, shutdown, |_| {});
        runtime.metrics.phase("collect", collecting);
        if let Some((code, reason)) = runtime.consumer.client().fatal_error() {
            ready.store(false, Ordering::Relaxed);
            return Err(RuntimeError::ConsumerFatal {
                code: format!("{code:?}"),
                reason,
            });
        }
        if batch.is_empty() {
            continue;
        }
        // The collect may have waited long (an idle runtime waits for its
        // first record): a chain deployed meanwhile applies to this batch.
        let registry = Instant::now();
        runtime.catch_up_registry();
        runtime.follow_registry(false)?;
        runtime.metrics.phase("registry", registry);
        let prepared = runtime.run_chain(batch, generation, collecting)?;
        // Waits while the committer still commits the batch before.
        let handing = Instant::now();
        committer.submit(prepared)?;
        runtime.metrics.phase("handoff", handing);
    }
    committer.finish()?;
    tracing::info!("transform runtime stopped");
    Ok(())
}

/// What one run of the loop holds: the engine and active chain, the
/// registry it follows, and its consumer and producer.
struct Runtime<'a> {
    args: &'a RunArgs,
    kafka: KafkaClients,
    engine: Engine,
    reader: RegistryReader,
    active: LoadedChain,
    consumer: BaseConsumer<LagStats>,
    limits: BatchLimits,
    metrics: Arc<Metrics>,
}

impl<'a> Runtime<'a> {
    /// Loads the chain, joins the group and opens the transactional
    /// producer (aborting whatever a former instance with its id left
    /// open), which goes to the committer.
    fn start(
        platform: &Platform,
        args: &'a RunArgs,
        metrics: Arc<Metrics>,
    ) -> Result<(Self, ThreadedProducer<DefaultProducerContext>), RuntimeError> {
        let engine = Engine::new(EngineConfig {
            memory_limit: args.memory_limit_mb << 20,
            call_timeout: Duration::from_millis(args.call_timeout_ms),
            threads: args
                .threads
                .unwrap_or_else(|| EngineConfig::default().threads),
        })
        .map_err(|error| RuntimeError::Load {
            module: "-".into(),
            version: 0,
            error,
        })?;
        let kafka = KafkaClients::new(&platform.kafka)?;
        let registry = Registry::new(&kafka, &platform.topics.transforms);
        let mut reader: RegistryReader = registry.reader()?;
        reader.catch_up(Duration::from_secs(30))?;
        let active = LoadedChain::load(&engine, &reader.state, &args.chain)?;
        crate::topic_check::check(&platform.topics, &active.spec)?;
        metrics.chain_version.set(i64::from(active.spec.version));
        create_topics(&kafka, args, &active.spec)?;

        let group = args
            .group
            .clone()
            .unwrap_or_else(|| default_group(&args.chain, &active.spec.input));
        // The group names the pipeline, so two pipelines on one cluster
        // (other topics, other groups) never fence each other's
        // transactions.
        let member = format!("{group}-{}", args.instance);
        let consumer: BaseConsumer<LagStats> = kafka
            .group_member(&group, &member)
            .set("max.poll.interval.ms", "300000")
            .set("statistics.interval.ms", "2000")
            .create_with_context(LagStats(metrics.clone()))?;
        consumer.subscribe(&[&active.spec.input])?;

        let transactional_id = member;
        let producer: ThreadedProducer<DefaultProducerContext> = kafka
            .transactional_producer(&transactional_id)
            .set(
                "transaction.timeout.ms",
                args.transaction_timeout_ms.to_string(),
            )
            .set("linger.ms", "5")
            .set("retry.backoff.ms", "10")
            .set("compression.type", "lz4")
            .set("queue.buffering.max.messages", "1000000")
            .create()?;
        // Aborts whatever a former instance with this id left open.
        producer.init_transactions(Duration::from_secs(60))?;
        tracing::info!(chain = %active.spec.name, version = active.spec.version, input = %active.spec.input,
            output = %active.spec.output, dead_letters = %active.spec.dlq, %group, %transactional_id,
            "transform runtime started (topics: the chain's own, set when it was deployed)");
        let runtime = Self {
            args,
            kafka,
            engine,
            reader,
            active,
            consumer,
            limits: BatchLimits {
                size: args.batch_size,
                wait: Duration::from_millis(args.batch_wait_ms),
                idle: Duration::from_millis(200),
            },
            metrics,
        };
        Ok((runtime, producer))
    }

    /// Reads the registry to its end: what was deployed before the batch's
    /// records were sent is known when they are run. (A round trip per
    /// batch; a slow broker delays the change to a later batch.)
    fn catch_up_registry(&mut self) {
        if let Err(e) = self.reader.catch_up(Duration::from_secs(2)) {
            tracing::warn!(error = %shelf_service::error_chain(&e), "registry not read to its end; a change deployed just now applies to a later batch");
        }
    }

    /// Switches to a new version of the chain if the registry has one; a
    /// version that does not load is logged and the working one kept.
    /// Without `may_move`, a version that reads another input topic waits
    /// for the next batch (this one was read from the old input).
    fn follow_registry(&mut self, may_move: bool) -> Result<(), RuntimeError> {
        while self.reader.poll(Duration::ZERO)? {}
        if !self.active.changed_in(&self.reader.state) {
            return Ok(());
        }
        match LoadedChain::load(&self.engine, &self.reader.state, &self.args.chain) {
            Ok(next) if !may_move && next.spec.input != self.active.spec.input => {}
            Ok(next) => {
                tracing::info!(version = next.spec.version, modules = ?next.versions, "switching to a new chain version");
                if next.spec.input != self.active.spec.input {
                    self.consumer.subscribe(&[&next.spec.input])?;
                }
                create_topics(&self.kafka, self.args, &next.spec)?;
                self.metrics.chain_version.set(i64::from(next.spec.version));
                self.active = next;
            }
            // Refused at deploy too; keep the working chain.
            Err(e) => {
                tracing::error!(error = %shelf_service::error_chain(&e), "cannot load the new chain version; keeping the current one")
            }
        }
        Ok(())
    }

    /// Runs the chain over a batch: the transaction to commit.
    fn run_chain(
        &self,
        batch: Vec<OwnedMessage>,
        generation: u64,
        collected_at: Instant,
    ) -> Result<Prepared, RuntimeError> {
        let group = self
            .consumer
            .group_metadata()
            .ok_or(RuntimeError::NoGroupMetadata)?;
        let chaining = Instant::now();
        let outcomes = {
            let inputs: Vec<(Option<&[u8]>, &[u8])> = batch
                .iter()
                .map(|m| (m.key(), m.payload().unwrap_or_default()))
                .collect();
            self.active.chain.run(&self.engine, &inputs)
        };
        self.metrics.phase("chain", chaining);
        let batch = drop_payloads_not_rejected(batch, &outcomes);
        Ok(Prepared {
            generation,
            batch,
            outcomes,
            output: self.active.spec.output.clone(),
            dlq: self.active.spec.dlq.clone(),
            chain: self.active.label.clone(),
            group,
            collected_at,
        })
    }
}

/// The input payloads only a dead letter still needs (it quotes its
/// input); the others are freed now, so the batch that waits for the
/// committer holds its records' metadata and outputs, not its inputs twice.
fn drop_payloads_not_rejected(batch: Vec<OwnedMessage>, outcomes: &[Outcome]) -> Vec<OwnedMessage> {
    let mut rejected = vec![false; batch.len()];
    for outcome in outcomes {
        if let Outcome::Reject { input, .. } = outcome {
            rejected[*input] = true;
        }
    }
    batch
        .into_iter()
        .zip(rejected)
        .map(|(m, keep)| if keep { m } else { m.set_payload(None) })
        .collect()
}

fn create_topics(
    kafka: &KafkaClients,
    args: &RunArgs,
    spec: &ChainSpec,
) -> Result<(), RuntimeError> {
    // The input too: a subscription to a missing topic is only noticed at
    // librdkafka's next metadata refresh, minutes later.
    let specs = [&spec.input, &spec.output, &spec.dlq].map(|t| TopicSpec::new(t, args.partitions));
    // The loop runs on a blocking thread; a small runtime of its own waits
    // for the admin request (librdkafka's threads drive it).
    let local = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RuntimeError::LocalRuntime)?;
    local.block_on(ensure_topics(kafka, &specs, Duration::from_secs(30)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::Timestamp;
    use shelf_contract::{Reject, RejectReason};

    fn message(offset: i64) -> OwnedMessage {
        OwnedMessage::new(
            Some(format!("record {offset}").into_bytes()),
            None,
            "in".into(),
            Timestamp::NotAvailable,
            0,
            offset,
            None,
        )
    }

    #[test]
    fn only_rejected_records_keep_their_payload() {
        let batch = (0..3).map(message).collect();
        let outcomes = [
            Outcome::Output {
                input: 0,
                key: None,
                value: b"out".to_vec(),
            },
            Outcome::Reject {
                input: 1,
                reject: Reject::new(RejectReason::InvalidPrice, "price"),
            },
            Outcome::Output {
                input: 2,
                key: None,
                value: b"out".to_vec(),
            },
        ];
        let kept = drop_payloads_not_rejected(batch, &outcomes);
        let payloads: Vec<Option<&[u8]>> = kept.iter().map(|m| m.payload()).collect();
        assert_eq!(payloads, [None, Some(&b"record 1"[..]), None]);
        assert_eq!(
            kept.iter().map(|m| m.offset()).collect::<Vec<_>>(),
            [0, 1, 2]
        );
    }
}
