//! A chain of modules run over a batch, with failing records isolated.

use std::sync::Arc;

use fluvio_smartmodule::dataplane::record::{Record, RecordData};
use shelf_contract::{envelope, Reject};

use crate::engine::Engine;
use crate::error::CallError;
use crate::module::Module;

/// Below this many records per thread, splitting a batch costs more than
/// it saves.
const MIN_RECORDS_PER_THREAD: usize = 500;
/// Records handed to one module call at most. A guest's linear memory grows
/// to hold its whole input and output, and the pool keeps it resident, so
/// this bounds memory whatever the transaction size.
const MAX_RECORDS_PER_CALL: usize = 2000;

/// What became of an input record. `input` is its index in the batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An output of the last module.
    Output {
        input: usize,
        key: Option<Vec<u8>>,
        value: Vec<u8>,
    },
    /// A module marked the record as rejected, or failed on it.
    Reject { input: usize, reject: Reject },
}

impl Outcome {
    pub fn input(&self) -> usize {
        match self {
            Outcome::Output { input, .. } | Outcome::Reject { input, .. } => *input,
        }
    }
}

/// Modules applied in order; each sees the previous one's outputs, minus
/// the rejects.
#[derive(Debug, Clone)]
pub struct Chain {
    modules: Vec<Arc<Module>>,
}

impl Chain {
    pub fn new(modules: Vec<Arc<Module>>) -> Self {
        Self { modules }
    }

    /// Runs the chain over a batch of `(key, value)` records. Every input
    /// ends up in the result, as outputs (none if filtered out) or as a
    /// reject. Outputs keep the order of their inputs, so the versions of
    /// one key stay in order. A record that makes a module trap, time out or
    /// return an error is found by splitting the batch and becomes a
    /// `transform_error` reject; the rest go on.
    ///
    /// A large batch is split into contiguous parts run on
    /// [`EngineConfig::threads`](crate::EngineConfig) threads, each with
    /// its own instances; the parts' outcomes are joined in input order.
    pub fn run(&self, engine: &Engine, batch: &[(Option<&[u8]>, &[u8])]) -> Vec<Outcome> {
        let threads = engine
            .config
            .threads
            .clamp(1, batch.len().div_ceil(MIN_RECORDS_PER_THREAD).max(1));
        if threads == 1 {
            let mut out = Vec::with_capacity(batch.len());
            self.run_calls(engine, batch, 0, batch.len(), &mut out);
            return out;
        }
        let part = batch.len().div_ceil(threads);
        let parts: Vec<Vec<Outcome>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..batch.len())
                .step_by(part)
                .map(|start| {
                    let end = (start + part).min(batch.len());
                    scope.spawn(move || {
                        let mut out = Vec::with_capacity(end - start);
                        self.run_calls(engine, batch, start, end, &mut out);
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        parts.into_iter().flatten().collect()
    }

    /// `start..end` in calls of at most [`MAX_RECORDS_PER_CALL`] records.
    fn run_calls(
        &self,
        engine: &Engine,
        batch: &[(Option<&[u8]>, &[u8])],
        start: usize,
        end: usize,
        out: &mut Vec<Outcome>,
    ) {
        for from in (start..end).step_by(MAX_RECORDS_PER_CALL) {
            self.run_range(
                engine,
                batch,
                from,
                (from + MAX_RECORDS_PER_CALL).min(end),
                out,
            );
        }
    }

    fn run_range(
        &self,
        engine: &Engine,
        batch: &[(Option<&[u8]>, &[u8])],
        start: usize,
        end: usize,
        out: &mut Vec<Outcome>,
    ) {
        if start == end {
            return;
        }
        match self.try_run(engine, &batch[start..end], start) {
            Ok(outcomes) => out.extend(outcomes),
            Err((module, error)) if end - start == 1 => {
                tracing::warn!(module, %error, input = start, "record isolated as transform_error");
                out.push(Outcome::Reject {
                    input: start,
                    reject: envelope::transform_error(format!("module `{module}`: {error}")),
                });
            }
            Err(_) => {
                let mid = start + (end - start) / 2;
                self.run_range(engine, batch, start, mid, out);
                self.run_range(engine, batch, mid, end, out);
            }
        }
    }

    /// The whole chain over one slice; `base` is the slice's index in the
    /// batch. On failure, says which module failed and how.
    fn try_run(
        &self,
        engine: &Engine,
        slice: &[(Option<&[u8]>, &[u8])],
        base: usize,
    ) -> Result<Vec<Outcome>, (String, CallError)> {
        // The offset delta carries each record's index through the chain:
        // the generated module code mutates the input record into the output.
        let mut records: Vec<Record> = slice
            .iter()
            .enumerate()
            .map(|(i, (key, value))| {
                let mut r = Record::new(RecordData::from(value.to_vec()));
                r.key = key.map(|k| RecordData::from(k.to_vec()));
                r.preamble.set_offset_delta(i as i64);
                r
            })
            .collect();
        let mut outcomes = Vec::new();
        for module in &self.modules {
            let fail = |e: CallError| (module.name().to_owned(), e);
            let outputs = module.call(engine, records).map_err(fail)?;
            records = Vec::with_capacity(outputs.len());
            for r in outputs {
                let index = usize::try_from(r.preamble.offset_delta())
                    .ok()
                    .filter(|&i| i < slice.len())
                    .ok_or_else(|| {
                        fail(CallError::Abi(format!(
                            "output with offset delta {}",
                            r.preamble.offset_delta()
                        )))
                    })?;
                match envelope::decode_reject(r.value.as_ref()) {
                    Some((reject, _payload)) => outcomes.push(Outcome::Reject {
                        input: base + index,
                        reject,
                    }),
                    None => records.push(r),
                }
            }
        }
        outcomes.extend(records.into_iter().map(|r| Outcome::Output {
            input: base + r.preamble.offset_delta() as usize,
            // Without a copy where the buffer is the record's alone.
            key: r.key.map(|k| k.into_vec()),
            value: r.value.into_vec(),
        }));
        Ok(outcomes)
    }
}
