//! The rename sweeps' side of the loop ([`crate::rename`] has the why):
//! slices read and renamed between batches, their progress written with
//! the partition's state, metrics and log lines while they last.

use super::*;
use crate::rename;

/// How often a running sweep's progress is written to the store (a restart
/// resumes from there) and logged.
const SAVE_EVERY: Duration = Duration::from_secs(2);
const LOG_EVERY: Duration = Duration::from_secs(10);

impl Sink {
    /// Rename slices for up to `budget`: at least one while a sweep runs,
    /// more while time is left.
    pub(super) fn rename_for(&mut self, budget: Duration) -> Result<(), SinkError> {
        let started = Instant::now();
        while !self.sweeps.is_empty() && !self.stopping() {
            self.rename_slice()?;
            if started.elapsed() >= budget {
                break;
            }
        }
        self.metrics.renames_pending.set(self.renames_pending());
        Ok(())
    }

    /// Reads one slice of `products` from where the sweeps stand and
    /// renames what it holds of theirs.
    fn rename_slice(&mut self) -> Result<(), SinkError> {
        let Some(from) = rename::next_from(&self.sweeps).map(str::to_owned) else {
            return Ok(());
        };
        let limit = self.args.rename_slice as usize;
        let slice = self.block_on(self.store.products_after(
            &from,
            limit,
            crate::rename::projection(),
        ))?;
        let todo = rename::renames(&slice, &self.sweeps, &self.names);
        if !todo.is_empty() {
            self.block_on(self.store.rename(&todo))?;
        }
        let last = slice.last().and_then(|d| d.get_str("_id").ok());
        // Ahead of what is stored until saved; a failure reads it back.
        let done = rename::advance(&mut self.sweeps, &todo, last, slice.len() < limit);
        self.metrics.renamed.inc_by(todo.len() as u64);
        self.metrics.rename_read.inc_by(slice.len() as u64);
        if !done.is_empty() || self.sweeps_saved.elapsed() >= SAVE_EVERY {
            let partitions = self.sweeps.keys().chain(&done).copied().collect();
            self.save_sweeps(partitions)?;
        }
        if !done.is_empty() {
            tracing::info!(partitions = ?done, "renamed every stored product of categories whose name changed");
        } else if self.sweeps_logged.elapsed() >= LOG_EVERY {
            tracing::info!(pending = self.renames_pending(), after = %from, "renaming stored products");
            self.sweeps_logged = Instant::now();
        }
        Ok(())
    }

    /// Writes the state of these partitions with their sweeps' progress.
    fn save_sweeps(&mut self, partitions: HashSet<i32>) -> Result<(), SinkError> {
        let states = self.partition_states(&[], partitions, &self.sweeps);
        self.block_on(merge::write_states(&self.store, &self.stored_seq, &states))?;
        for s in &states {
            self.stored_seq.insert(s.key, s.seq);
        }
        self.sweeps_saved = Instant::now();
        Ok(())
    }

    /// Saves where the running sweeps stand (when stopping).
    pub(super) fn save_sweeps_on_stop(&mut self) -> Result<(), SinkError> {
        if self.sweeps.is_empty() {
            return Ok(());
        }
        let partitions = self.sweeps.keys().copied().collect();
        self.save_sweeps(partitions)
    }

    /// Products still to rename in the owned partitions, at most.
    pub(super) fn renames_pending(&self) -> i64 {
        self.sweeps.values().map(|s| s.pending).sum()
    }
}
