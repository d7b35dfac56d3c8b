//! The batches on their way to the gateway, between the read loop and the
//! ledger of what was settled.

use futures::StreamExt;

use crate::send::{self, Batch, Sender};
use crate::{order, sending_stopped, Kind, Ledger, Span, StreamError};

/// The batches on their way: a task sends them, `concurrency` at once, and
/// reports them back in the order they were queued.
pub(crate) struct Queue {
    batches: Option<tokio::sync::mpsc::Sender<Batch>>,
    settled: tokio::sync::mpsc::UnboundedReceiver<Settled>,
    in_flight: order::InFlight,
    task: tokio::task::JoinHandle<()>,
}

pub(crate) type Settled = (Span, Result<send::Outcome, send::SendError>);

impl Queue {
    pub(crate) fn start(sender: Sender, concurrency: usize) -> Self {
        let (batches, queued) = tokio::sync::mpsc::channel::<Batch>(concurrency);
        let (settled_tx, settled) = tokio::sync::mpsc::unbounded_channel();
        let sender = std::sync::Arc::new(sender);
        let task = tokio::spawn(async move {
            let mut sent = Box::pin(
                futures::stream::unfold(
                    queued,
                    |mut q| async move { q.recv().await.map(|b| (b, q)) },
                )
                .map(|batch| {
                    let sender = sender.clone();
                    async move {
                        let span = Span {
                            first: batch.lines.first().copied().unwrap_or(0),
                            last: batch.lines.last().copied().unwrap_or(0),
                            bytes: batch.bytes,
                            read_through: batch.read_through,
                            unparseable_through: batch.unparseable_through,
                        };
                        (span, sender.send(batch).await)
                    }
                })
                .buffered(concurrency),
            );
            while let Some(done) = sent.next().await {
                if settled_tx.send(done).is_err() {
                    break;
                }
            }
        });
        Self {
            batches: Some(batches),
            settled,
            in_flight: order::InFlight::default(),
            task,
        }
    }

    /// Queues `batch` (waiting while `concurrency` batches are queued) and
    /// records every batch settled meanwhile. A batch holding a key that an
    /// unsettled batch holds too first waits for all before it (see
    /// [`order`]).
    pub(crate) async fn push(
        &mut self,
        batch: Batch,
        kind: Kind,
        ledger: &mut Ledger<'_>,
    ) -> Result<(), StreamError> {
        let keys: Vec<String> = batch
            .records
            .iter()
            .filter_map(|r| order::record_key(r, kind))
            .collect();
        if self.in_flight.holds_any(&keys) {
            tracing::debug!(
                first_line = batch.lines.first().copied().unwrap_or(0),
                "a key of this batch is still in flight; waiting for the batches before it"
            );
            while !self.in_flight.is_empty() {
                let done = self.settled.recv().await.ok_or_else(sending_stopped)?;
                self.settle(done, ledger)?;
            }
        }
        self.in_flight.queued(keys);
        let batches = self.batches.as_ref().ok_or_else(sending_stopped)?;
        if batches.send(batch).await.is_err() {
            return Err(sending_stopped());
        }
        while let Ok(done) = self.settled.try_recv() {
            self.settle(done, ledger)?;
        }
        Ok(())
    }

    /// Waits until every queued batch is settled.
    pub(crate) async fn finish(&mut self, ledger: &mut Ledger<'_>) -> Result<(), StreamError> {
        self.batches = None;
        while let Some(done) = self.settled.recv().await {
            self.settle(done, ledger)?;
        }
        if !self.in_flight.is_empty() {
            return Err(sending_stopped());
        }
        Ok(())
    }

    fn settle(&mut self, done: Settled, ledger: &mut Ledger<'_>) -> Result<(), StreamError> {
        self.in_flight.settled();
        ledger.settle(done)
    }
}

impl Drop for Queue {
    /// On an error the batches still in flight are abandoned; the
    /// checkpoint never claimed them, so a resumed run sends them again.
    fn drop(&mut self) {
        self.task.abort();
    }
}
