//! `shelf rejects replay`: stored rejects sent again through the current
//! chain, exactly once, with what became of each.
//!
//! 1. [`select`]: the rejects the flags select, unresolved, whose record
//!    was read from the chain's input or output topic, in slices by `_id`.
//! 2. Each slice runs through the chain here first ([`Outcome::predict`]):
//!    a record the chain still rejects for the same reason is `unchanged`
//!    and not sent, so replaying a selection again changes nothing. A dry
//!    run stops here and prints the predictions.
//! 3. [`send`]: the others go into the chain's input topic with their first
//!    timestamp and input row, marked (`shelf-redrive`, `shelf-replay`
//!    headers) with the reject they redrive. From there the running
//!    pipeline takes them like any record: the runtime passes the mark on,
//!    and the sink marks the reject `resolved` once the product is stored,
//!    or stores the new reject under the same `_id`.
//! 4. [`settle`]: the replay waits for those marks and prints each outcome.
//!
//! Exactly once: a redriven version has the observation time and content
//! of the version first rejected, so a second copy of it (a replay killed
//! after sending, and run again) is a repeat the sink stores as no change.

mod error;
pub mod outcome;
pub mod select;
mod send;
mod settle;

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bson::{doc, Document};
use clap::Args;
use futures::TryStreamExt;
use shelf_config::Platform;
use shelf_contract::{collections, RejectReason, Stage};
use shelf_engine::{Engine, EngineConfig};
use shelf_kafka::KafkaClients;
use shelf_transform::registry::Registry;
use shelf_transform::LoadedChain;

pub use error::RedriveError;
pub use outcome::{Outcome, Summary};
pub use select::{Selection, StoredReject};

/// Flags of `shelf rejects replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// Only rejects with this reason (repeatable): invalid_category, …
    #[arg(long = "reason", value_name = "REASON", value_parser = parse_reason)]
    pub reasons: Vec<RejectReason>,
    /// Only rejects of this stage: transform or sink.
    #[arg(long, value_parser = parse_stage)]
    pub stage: Option<Stage>,
    /// Only rejects of rows of this input file (the absolute path, as in
    /// the rejects' `origin.file`).
    #[arg(long)]
    pub file: Option<String>,
    /// Only rejects whose record has this `category_id`.
    #[arg(long)]
    pub category: Option<i64>,
    /// Only rejects of records received at or after this time: 2023-09-01
    /// or 2023-09-01T06:30:00Z.
    #[arg(long)]
    pub since: Option<String>,
    /// Only rejects of records received before this time.
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many rejects.
    #[arg(long)]
    pub limit: Option<u64>,
    /// The deployed chain to replay through (`shelf transform run --chain`).
    #[arg(long, default_value = "default")]
    pub chain: String,
    /// Run the rejects through the chain here and print what would become
    /// of each; send and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Records sent per second at most, to spare the live traffic (0: no
    /// limit).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// How long to wait for the pipeline to store or reject what was sent
    /// (seconds; 0: send and return).
    #[arg(long, default_value_t = 300)]
    pub wait_secs: u64,
    /// Rejects read, run and sent at a time.
    #[arg(long, default_value_t = 500)]
    pub slice: usize,
}

fn parse_reason(text: &str) -> Result<RejectReason, String> {
    RejectReason::from_name(text).ok_or_else(|| {
        let names: Vec<&str> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
        format!("not a reject reason; one of {}", names.join(", "))
    })
}

fn parse_stage(text: &str) -> Result<Stage, String> {
    match text {
        "transform" => Ok(Stage::Transform),
        "sink" => Ok(Stage::Sink),
        _ => Err("one of transform, sink".into()),
    }
}

impl ReplayArgs {
    fn selection(&self) -> Result<Selection, RedriveError> {
        let time = |flag: &'static str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| {
                    shelf_contract::time::parse_observed_at(v).map_err(|e| RedriveError::Time {
                        flag,
                        value: v.to_owned(),
                        reason: e.to_string(),
                    })
                })
                .transpose()
        };
        Ok(Selection {
            reasons: self.reasons.clone(),
            stage: self.stage,
            file: self.file.clone(),
            category: self.category,
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
        })
    }
}

/// Replays the selected rejects; one JSON line per reject goes to `out`,
/// progress to `progress`.
pub async fn replay(
    platform: &Platform,
    args: &ReplayArgs,
    out: &mut (dyn Write + Send),
    progress: &(dyn Fn(String) + Sync),
) -> Result<Summary, RedriveError> {
    let selection = args.selection()?;
    let kafka = KafkaClients::new(&platform.kafka)?;
    let (engine, chain) = load_chain(&kafka, &platform.topics.transforms, &args.chain).await?;
    let replay = replay_id();
    progress(format!(
        "replaying through chain {} ({} -> {})",
        chain.label, chain.spec.input, chain.spec.output
    ));
    let client = mongodb::Client::with_uri_str(&platform.mongo).await?;
    let rejects = client
        .database(&platform.database)
        .collection::<Document>(collections::REJECTS);
    let mut sender = match args.dry_run {
        true => None,
        false => Some(send::Sender::new(
            &kafka,
            &chain.spec.input,
            &replay,
            args.rate,
        )?),
    };
    let mut summary = Summary {
        dry_run: args.dry_run,
        replay: replay.clone(),
        ..Default::default()
    };
    let filter = selection.filter(&[&chain.spec.input, &chain.spec.output]);
    let mut sent: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    let mut left = args.limit.unwrap_or(u64::MAX);
    while left > 0 {
        let page = next_slice(&rejects, &filter, after.as_deref(), args.slice.max(1)).await?;
        let Some(last) = page.last().and_then(|d| d.get_str("_id").ok()) else {
            break;
        };
        after = Some(last.to_owned());
        let taken: Vec<StoredReject> = page
            .iter()
            .filter_map(StoredReject::from_document)
            .filter(|r| selection.takes_payload(&r.payload))
            .take(usize::try_from(left).unwrap_or(usize::MAX))
            .collect();
        left -= taken.len() as u64;
        summary.selected += taken.len() as u64;
        let predicted = predict(&engine, &chain, &taken);
        let mut to_send = Vec::new();
        for (r, outcome) in taken.iter().zip(predicted) {
            if sender.is_some() && outcome.is_sent() {
                to_send.push(r);
                continue;
            }
            writeln!(out, "{}", outcome.line(&r.id)).ok();
            summary.count(&outcome);
        }
        if let Some(sender) = sender.as_mut() {
            sender.send(&to_send).await?;
            sent.extend(to_send.iter().map(|r| r.id.clone()));
        }
        progress(format!(
            "{} reject(s) read, {} sent",
            summary.selected,
            sent.len()
        ));
    }
    if sender.is_some() && !sent.is_empty() {
        let total = sent.len();
        progress(format!(
            "waiting up to {} s for the pipeline to store or reject {total} redrive(s)",
            args.wait_secs
        ));
        let settled = settle::settle(
            &rejects,
            &replay,
            sent,
            Duration::from_secs(args.wait_secs),
            |done, total| progress(format!("{done} of {total} settled")),
        )
        .await?;
        for (id, outcome) in settled {
            writeln!(out, "{}", outcome.line(&id)).ok();
            summary.count(&outcome);
        }
    }
    Ok(summary)
}

/// The chain as deployed now, loaded into an engine of its own.
async fn load_chain(
    kafka: &KafkaClients,
    registry_topic: &str,
    name: &str,
) -> Result<(Engine, LoadedChain), RedriveError> {
    let registry = Registry::new(kafka, registry_topic);
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut reader = registry.reader()?;
        reader.catch_up(Duration::from_secs(30))?;
        let engine = Engine::new(EngineConfig::default()).map_err(|error| {
            shelf_transform::RuntimeError::Load {
                module: "-".into(),
                version: 0,
                error,
            }
        })?;
        let chain = LoadedChain::load(&engine, &reader.state, &name)?;
        Ok((engine, chain))
    })
    .await?
}

async fn next_slice(
    rejects: &mongodb::Collection<Document>,
    filter: &Document,
    after: Option<&str>,
    slice: usize,
) -> Result<Vec<Document>, RedriveError> {
    let mut f = filter.clone();
    if let Some(after) = after {
        f.insert("_id", doc! { "$gt": after });
    }
    Ok(rejects
        .find(f)
        .sort(doc! { "_id": 1 })
        .limit(i64::try_from(slice).unwrap_or(i64::MAX))
        .await?
        .try_collect()
        .await?)
}

/// What the chain does with each reject's payload now.
fn predict(engine: &Engine, chain: &LoadedChain, rejects: &[StoredReject]) -> Vec<Outcome> {
    let keys: Vec<Option<String>> = rejects.iter().map(StoredReject::key).collect();
    let batch: Vec<(Option<&[u8]>, &[u8])> = rejects
        .iter()
        .zip(&keys)
        .map(|(r, k)| (k.as_deref().map(str::as_bytes), r.payload.as_bytes()))
        .collect();
    let mut first: Vec<Option<shelf_engine::Outcome>> = vec![None; rejects.len()];
    for outcome in chain.chain.run(engine, &batch) {
        let slot = &mut first[outcome.input()];
        if slot.is_none() {
            *slot = Some(outcome);
        }
    }
    rejects
        .iter()
        .zip(first)
        .map(|(r, outcome)| match r.truncated {
            true => Outcome::NotRedrivable {
                why: "its payload was cut when it was stored (over 1 MiB)".into(),
            },
            false => Outcome::predict(r.reason, outcome.as_ref(), &chain.label),
        })
        .collect()
}

/// A replay's id: when it started, and the process.
fn replay_id() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    format!(
        "{}/{}",
        shelf_contract::time::format_utc(ms),
        std::process::id()
    )
}
