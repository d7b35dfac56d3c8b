//! `pipeline-bench --late-categories SHARE`: the categories file is
//! streamed by a second client only once the sinks have stored that share
//! of the products, so they must rename the products stored before (the
//! sink's rename sweeps). The run is drained when the sinks have stored
//! the categories and renamed every such product.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Result;

use crate::{metric_sum, Service};

pub struct LateCategories {
    /// Products stored before the categories are sent.
    after_products: f64,
    products_csv: PathBuf,
    categories_csv: PathBuf,
    state: PathBuf,
    client: Option<Service>,
    /// When the categories client was started and when it was done.
    pub sent_at: Option<Instant>,
    pub done_at: Option<Instant>,
    /// Category records the gateway wrote (known once the client is done).
    pub categories: f64,
}

impl LateCategories {
    /// Writes a header-only products file beside `data`'s for the
    /// categories client.
    pub fn new(share: f64, rows: u64, data: &Path, state: PathBuf) -> Result<Self> {
        let products_csv = data.join("late-products.csv");
        shelf_dataset::header_only(&data.join("products.csv"), &products_csv)?;
        Ok(Self {
            after_products: share * rows as f64,
            products_csv,
            categories_csv: data.join("categories.csv"),
            state,
            client: None,
            sent_at: None,
            done_at: None,
            categories: 0.0,
        })
    }

    /// Starts the categories client once `stored` products are stored.
    pub fn maybe_send(
        &mut self,
        stored: f64,
        client: impl FnOnce(&Path, &Path, &Path) -> Command,
    ) -> Result<()> {
        if self.sent_at.is_none() && stored >= self.after_products {
            let mut command = client(&self.products_csv, &self.categories_csv, &self.state);
            self.client = Some(Service::spawn("categories client", &mut command)?);
            self.sent_at = Some(Instant::now());
        }
        Ok(())
    }

    /// Whether the categories client is done (an error if it failed).
    pub fn sent(&mut self) -> Result<bool> {
        if self.done_at.is_some() {
            return Ok(true);
        }
        let Some(client) = self.client.as_mut() else {
            return Ok(false);
        };
        match client.try_reap()? {
            Some(usage) if usage.success => {
                self.done_at = Some(Instant::now());
                Ok(true)
            }
            Some(_) => anyhow::bail!("the categories client failed (its errors are above)"),
            None => Ok(false),
        }
    }

    /// Whether `instances` sinks (their metrics in `sink_text`) have all
    /// stored the categories and renamed what was stored before them.
    pub fn renamed(&self, sink_text: &str, topic: &str, instances: usize) -> bool {
        let stored = metric_sum(
            sink_text,
            &format!("shelf_sink_records_total{{topic=\"{topic}\""),
        );
        self.done_at.is_some()
            && stored >= self.categories * instances as f64
            && metric_sum(sink_text, "shelf_sink_renames_pending") == 0.0
    }

    /// The run's late-categories line: when they went, what was renamed.
    pub fn print(&self, sink_text: &str, started: Instant, total: f64) {
        let at = |t: Option<Instant>| t.map_or(f64::NAN, |t| (t - started).as_secs_f64());
        println!(
            "\nlate categories: sent at {:.1} s (done at {:.1} s), {} products renamed \
             ({} read by the sweeps), all renamed and drained at {total:.1} s",
            at(self.sent_at),
            at(self.done_at),
            metric_sum(sink_text, "shelf_sink_renamed_total"),
            metric_sum(sink_text, "shelf_sink_rename_read_total"),
        );
    }
}
