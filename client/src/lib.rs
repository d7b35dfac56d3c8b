//! `shelf stream`: CSV files to the ingest gateway.
//!
//! - [`rows`]: the CSV read as a stream of rows with line numbers;
//!   unparseable rows become reasons, not errors.
//! - [`convert`]: cells to typed JSON.
//! - [`send`]: gzip NDJSON batches, retries, 400s mapped back to lines.
//! - [`checkpoint`]: where an interrupted run resumes.
//! - [`order`]: every version of a record reaches the topic in file order.
//!
//! Categories are streamed first, then products. Several batches are in
//! flight at once; they are acknowledged in order, and the checkpoint moves
//! past a batch only when it and all before it are acknowledged. A resumed
//! run therefore sends again at most the batches that were in flight.

pub mod checkpoint;
pub mod convert;
pub mod order;
mod queue;
mod raw_row;
pub mod rejects_list;
mod report;
pub mod rows;
pub mod send;

pub use report::{Report, Resumption};

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use checkpoint::{Checkpoint, Counts};
use queue::{Queue, Settled};
use rows::Rows;
use send::{Batch, Sender};

pub use send::Compression;
pub use shelf_contract::columns::{CATEGORIES as CATEGORY_COLUMNS, PRODUCTS as PRODUCT_COLUMNS};
use shelf_contract::fields::product as field;
use shelf_contract::wire::RecordKind;

/// Flags of `shelf stream`.
#[derive(Debug, Clone, Args)]
pub struct StreamArgs {
    /// Products CSV.
    #[arg(long)]
    pub products: PathBuf,
    /// Categories CSV (sent first).
    #[arg(long)]
    pub categories: Option<PathBuf>,
    /// Base URL of the ingest gateway.
    #[arg(long, env = "SHELF_GATEWAY", default_value = "http://127.0.0.1:8080")]
    pub gateway: String,
    /// Bearer token for the gateway.
    #[arg(long, env = "SHELF_TOKEN")]
    pub token: Option<String>,
    /// Records per request.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Attempts per request before giving up (429, 503, network errors).
    #[arg(long, default_value_t = 12)]
    pub max_attempts: u32,
    /// Send at most this many rows per second (0: as fast as the gateway
    /// takes them), to share a gateway or to replay a file at a steady pace.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Stop at the first row that cannot be parsed instead of skipping it.
    #[arg(long)]
    pub strict: bool,
    /// Where the checkpoint and the rejects file live.
    #[arg(long, env = "SHELF_STREAM_STATE", default_value = ".local/stream")]
    pub state_dir: PathBuf,
    /// Ignore an earlier run's checkpoint and stream everything again.
    #[arg(long)]
    pub restart: bool,
    /// The observation time of every row of a products file without an
    /// `observed_at` (or `date`) column: a date (`2023-09-01`, a daily
    /// snapshot) or a date-time with an offset. Without it and without
    /// such a column, a row's time is when the gateway received it.
    #[arg(long, env = "SHELF_STREAM_OBSERVED_AT")]
    pub observed_at: Option<String>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Request bodies gzip-compressed (level 1), sent as they are, or
    /// `auto`: as they are to a gateway on this machine (127.0.0.1,
    /// localhost, ::1), where compressing only costs both ends CPU, and
    /// gzip to any other.
    #[arg(long, env = "SHELF_STREAM_COMPRESSION", value_enum, default_value_t = Compression::Auto)]
    pub compression: Compression,
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("{file}: {message}")]
    Input { file: String, message: String },
    #[error("{file} line {line}: {reason} (--strict)")]
    Strict {
        file: String,
        line: u64,
        reason: String,
    },
    #[error("{file}: batch of lines {first}-{last}: {error}")]
    Send {
        file: String,
        first: u64,
        last: u64,
        error: send::SendError,
    },
    #[error("{0}")]
    State(String),
}

pub async fn stream(args: &StreamArgs) -> Result<Report, StreamError> {
    let started = Instant::now();
    let state =
        |e: std::io::Error| StreamError::State(format!("{}: {e}", args.state_dir.display()));
    std::fs::create_dir_all(&args.state_dir).map_err(state)?;
    let mut inputs: Vec<&Path> = args.categories.iter().map(PathBuf::as_path).collect();
    inputs.push(&args.products);
    if let Some(at) = &args.observed_at {
        shelf_contract::time::parse_observed_at(at).map_err(|e| StreamError::Input {
            file: args.products.display().to_string(),
            message: format!("--observed-at `{at}` {e}"),
        })?;
    }
    // The same file stamped with another time is another stream.
    let name = match &args.observed_at {
        Some(at) => checkpoint::name_for(&inputs, &format!("{}#{at}", args.gateway)),
        None => checkpoint::name_for(&inputs, &args.gateway),
    };
    let checkpoint_path = args.state_dir.join(format!("{name}.json"));
    let rejects_file = args.state_dir.join(format!("{name}.rejects.tsv"));
    let mut checkpoint = if args.restart {
        let _ = std::fs::remove_file(&rejects_file);
        Checkpoint::default()
    } else {
        Checkpoint::load(&checkpoint_path).map_err(StreamError::State)?
    };
    // A resumed run reads again every row after the checkpoint, and lists
    // again those it cannot parse; the earlier run's lines for them go.
    let files: Vec<(&Path, Kind)> = args
        .categories
        .iter()
        .map(|c| (c.as_path(), Kind::Category))
        .chain([(args.products.as_path(), Kind::Product)])
        .collect();
    for (path, kind) in &files {
        let key = kind.path();
        if !checkpoint.finished.get(key).copied().unwrap_or(false) {
            let after = checkpoint.done_through.get(key).copied().unwrap_or(0);
            rejects_list::forget_after(&rejects_file, &path.display().to_string(), after)
                .map_err(state)?;
        }
    }
    let mut rejects = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&rejects_file)
        .map_err(state)?;

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| StreamError::State(e.to_string()))?;
    let base = args.gateway.trim_end_matches('/');
    let mut report = Vec::new();
    let mut runs = Vec::new();
    for (path, kind) in files {
        let sender = Sender {
            http: http.clone(),
            url: format!("{base}{}", kind.path()),
            token: args.token.clone(),
            max_attempts: args.max_attempts,
            source: send::source_header(path),
            gzip: args.compression.gzip_for(&args.gateway),
            progress: indicatif::ProgressBar::hidden(),
        };
        let (counts, run) = stream_file(
            args,
            path,
            kind,
            sender,
            &mut checkpoint,
            &checkpoint_path,
            &mut rejects,
        )
        .await?;
        report.push((path.display().to_string(), counts));
        runs.push(run);
    }
    Ok(Report {
        counts: report,
        runs,
        rejects_file,
        elapsed: started.elapsed(),
    })
}

/// A kind of record, and so its gateway path, its columns and its key.
pub(crate) type Kind = RecordKind;

async fn stream_file(
    args: &StreamArgs,
    path: &Path,
    kind: Kind,
    sender: Sender,
    checkpoint: &mut Checkpoint,
    checkpoint_path: &Path,
    rejects: &mut std::fs::File,
) -> Result<(Counts, Resumption), StreamError> {
    let file = path.display().to_string();
    let key = kind.path().to_owned();
    let input = |message: String| StreamError::Input {
        file: file.clone(),
        message,
    };
    let mut counts = checkpoint.counts.get(&key).cloned().unwrap_or_default();
    if checkpoint.finished.get(&key).copied().unwrap_or(false) {
        let finished_at = checkpoint.finished_at.get(&key).cloned();
        tracing::info!(
            file,
            finished_at,
            "already streamed (checkpoint); --restart streams it again"
        );
        return Ok((counts, Resumption::Skipped { finished_at }));
    }
    let resume_after = checkpoint.done_through.get(&key).copied().unwrap_or(0);
    let run = match resume_after {
        0 => Resumption::Fresh,
        after_line => {
            tracing::info!(
                file,
                line = after_line + 1,
                "resuming after the last acknowledged batch"
            );
            Resumption::Resumed { after_line }
        }
    };
    let time_columns = [field::OBSERVED_AT, field::DATE];
    let optional: &[&str] = match kind {
        Kind::Product => &time_columns,
        Kind::Category => &[],
    };
    let rows = Rows::open(path, kind.columns(), optional).map_err(&input)?;
    let has_time = rows
        .header
        .iter()
        .any(|h| time_columns.contains(&h.as_str()));
    if has_time && args.observed_at.is_some() {
        return Err(input(
            "has an observed_at or date column; --observed-at stamps files without one".into(),
        ));
    }
    let stamp = args.observed_at.as_deref().filter(|_| !has_time);
    let mut rows = rows;
    let total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let progress = progress_bar(args.quiet, total, &file);

    let sender = Sender {
        progress: progress.clone(),
        ..sender
    };
    let mut queue = Queue::start(sender, args.concurrency.max(1));
    let counts_before_read = counts.read;
    let mut ledger = Ledger {
        file: &file,
        path,
        key: &key,
        counts: &mut counts,
        checkpoint,
        checkpoint_path,
        rejects,
        progress: &progress,
        read_before: counts_before_read,
    };
    let mut batch = Batch::default();
    let mut batch_start = 0u64;
    let pace = Pace::new(args.rate);
    let mut rows_queued = 0u64;
    while let Some(next) = rows.next_row() {
        let row = next.map_err(&input)?;
        let line = match &row {
            Ok(r) => r.line,
            Err(u) => u.line,
        };
        if line <= resume_after {
            continue; // acknowledged in an earlier run
        }
        ledger.counts.read += 1;
        match row {
            Ok(r) => {
                batch.records.push(match kind {
                    Kind::Product => convert::product(&rows.header, &r.cells, stamp),
                    Kind::Category => convert::category(&rows.header, &r.cells),
                });
                batch.lines.push(r.line);
                batch.starts.push(r.start);
            }
            Err(u) if args.strict => {
                return Err(StreamError::Strict {
                    file: file.clone(),
                    line: u.line,
                    reason: u.reason,
                });
            }
            Err(u) => {
                ledger.counts.unparseable += 1;
                let text = u
                    .text_at
                    .map(|t| raw_row::read_at(path, t.start, t.first_line_only));
                ledger.reject(u.line, &format!("unparseable: {}", u.reason), text);
            }
        }
        if batch.records.len() >= args.batch_size {
            seal(&mut batch, rows.bytes - batch_start, &ledger);
            batch_start = rows.bytes;
            pace.wait_for(rows_queued).await;
            rows_queued += batch.records.len() as u64;
            queue
                .push(std::mem::take(&mut batch), kind, &mut ledger)
                .await?;
        }
    }
    if !batch.records.is_empty() {
        seal(&mut batch, rows.bytes - batch_start, &ledger);
        queue.push(batch, kind, &mut ledger).await?;
    }
    queue.finish(&mut ledger).await?;
    progress.finish_and_clear();
    checkpoint.finished.insert(key.clone(), true);
    checkpoint
        .finished_at
        .insert(key.clone(), shelf_contract::time::format_utc(now_ms()));
    checkpoint.counts.insert(key, counts.clone());
    checkpoint
        .save(checkpoint_path)
        .map_err(StreamError::State)?;
    Ok((counts, run))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Closes a batch: its size in the file, and the counts once it is
/// acknowledged (what a checkpoint after it records).
fn seal(batch: &mut Batch, bytes: u64, ledger: &Ledger<'_>) {
    batch.bytes = bytes;
    batch.read_through = ledger.counts.read;
    batch.unparseable_through = ledger.counts.unparseable;
}

/// The sending task ends only when this loop stops listening; a batch it
/// can no longer take must not be dropped silently.
fn sending_stopped() -> StreamError {
    StreamError::State("the task sending batches stopped unexpectedly".into())
}

/// `--rate`: a batch leaves no earlier than its rows allow.
struct Pace {
    started: tokio::time::Instant,
    rows_per_sec: u64,
}

impl Pace {
    fn new(rows_per_sec: u64) -> Self {
        Self {
            started: tokio::time::Instant::now(),
            rows_per_sec,
        }
    }

    async fn wait_for(&self, rows_so_far: u64) {
        if self.rows_per_sec > 0 {
            let due = Duration::from_secs_f64(rows_so_far as f64 / self.rows_per_sec as f64);
            tokio::time::sleep_until(self.started + due).await;
        }
    }
}

/// The CSV lines and bytes behind a batch.
struct Span {
    first: u64,
    last: u64,
    bytes: u64,
    read_through: u64,
    unparseable_through: u64,
}

/// Records settled batches: counts, rejects file, checkpoint, progress.
struct Ledger<'a> {
    file: &'a str,
    path: &'a Path,
    key: &'a str,
    counts: &'a mut Counts,
    checkpoint: &'a mut Checkpoint,
    checkpoint_path: &'a Path,
    rejects: &'a mut std::fs::File,
    progress: &'a ProgressBar,
    /// Rows an earlier run read (a resumed run's rate leaves them out).
    read_before: u64,
}

impl Ledger<'_> {
    fn settle(&mut self, (span, result): Settled) -> Result<(), StreamError> {
        let outcome = result.map_err(|error| StreamError::Send {
            file: self.file.to_owned(),
            first: span.first,
            last: span.last,
            error,
        })?;
        self.counts.acknowledged += outcome.accepted;
        for refused in &outcome.refused {
            *self
                .counts
                .refused
                .entry(refused.reason.clone())
                .or_default() += 1;
            let text = raw_row::read_at(self.path, refused.start, false);
            self.reject(
                refused.line,
                &format!("refused by the gateway: {}", refused.reason),
                Some(text),
            );
        }
        self.checkpoint
            .done_through
            .insert(self.key.to_owned(), span.last);
        // Rows read past this batch are read again on resume, so the
        // checkpoint counts only those up to its last line.
        let mut through = self.counts.clone();
        through.read = span.read_through;
        through.unparseable = span.unparseable_through;
        self.checkpoint.counts.insert(self.key.to_owned(), through);
        self.checkpoint
            .save(self.checkpoint_path)
            .map_err(StreamError::State)?;
        self.progress.inc(span.bytes);
        let rate = self.counts.read.saturating_sub(self.read_before) as f64
            / self.progress.elapsed().as_secs_f64().max(0.001);
        self.progress.set_message(format!(
            "{} rows ({rate:.0} rows/s), {} acknowledged",
            self.counts.read, self.counts.acknowledged
        ));
        Ok(())
    }

    /// One line of the rejects file: `file, line, reason, row` (the row's
    /// text as it is in the file, escaped: [`raw_row::escape`]).
    fn reject(&mut self, line: u64, reason: &str, text: Option<std::io::Result<String>>) {
        let text = match text {
            Some(Ok(text)) => text,
            Some(Err(e)) => {
                tracing::warn!(error = %e, line, "cannot read the rejected row back from the input");
                String::new()
            }
            None => String::new(),
        };
        let (reason, text) = (raw_row::escape(reason), raw_row::escape(&text));
        if let Err(e) = writeln!(self.rejects, "{}\t{line}\t{reason}\t{text}", self.file) {
            tracing::warn!(error = %e, "cannot write the rejects file");
        }
    }
}

fn progress_bar(quiet: bool, total: u64, file: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(file.to_owned());
    bar
}
