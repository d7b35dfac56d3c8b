//! Watching the run until every stage has handled its last record: the
//! client's exit, the runtimes' and the sinks' counters, and the
//! aggregates holding every stored product.

use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use shelf_benches::drain::{bucketed, Watermarks};
use shelf_benches::late::LateCategories;
use shelf_benches::{metric_sum, Service};

use crate::services::{Names, Services};
use crate::Args;

/// One stage's figures, taken when it had handled its last record.
pub struct Done {
    pub after: f64,
    pub records: f64,
    pub cpu: f64,
    pub rss: f64,
}

/// The stages' figures, in pipeline order, and the sinks' last metrics.
pub struct Finished {
    pub stages: Vec<Done>,
    pub sink_metrics: String,
}

pub struct Watch<'a> {
    pub rt: &'a tokio::runtime::Runtime,
    pub args: &'a Args,
    pub names: &'a Names,
    pub services: &'a Services,
    pub db: &'a mongodb::Database,
    pub watermarks: Watermarks,
    pub started: Instant,
    pub client: Service,
    pub late: Option<LateCategories>,
    /// Set when the client is done: the probes stop with the stream, so
    /// the records counted hold them all.
    pub stop_probes: Arc<AtomicBool>,
}

impl Watch<'_> {
    /// Polls until the sinks are done, or the timeout.
    pub fn until_drained(&mut self) -> Result<Finished> {
        let deadline = self.started + Duration::from_secs(self.args.timeout);
        let mut stages: Vec<Done> = Vec::new();
        // Records the gateway wrote, known once the client is done.
        let mut ingested = 0.0;
        loop {
            if Instant::now() > deadline {
                bail!("not drained within {} s", self.args.timeout);
            }
            std::thread::sleep(Duration::from_millis(250));
            let now = Instant::now();
            self.categories_if_due()?;
            match stages.len() {
                0 => {
                    if let Some(done) = self.client_done(now)? {
                        ingested = self.watermarks.total(&self.names.ingest_product)? as f64;
                        stages.extend(done);
                        stages[1].records = ingested;
                    }
                }
                2 => stages.extend(self.runtimes_done(now, ingested)?),
                _ => {
                    if let Some((sinks, sink_metrics)) = self.sinks_done()? {
                        stages.push(sinks);
                        return Ok(Finished {
                            stages,
                            sink_metrics,
                        });
                    }
                }
            }
        }
    }

    fn secs(&self, at: Instant) -> f64 {
        at.duration_since(self.started).as_secs_f64()
    }

    /// With late categories: streams them once enough products are stored,
    /// and counts them once sent.
    fn categories_if_due(&mut self) -> Result<()> {
        let Some(late) = self.late.as_mut() else {
            return Ok(());
        };
        let s = self.services;
        if late.sent_at.is_none() {
            let stored_products = format!(
                "shelf_sink_records_total{{topic=\"{}\",result=\"stored\"",
                self.names.product_clean
            );
            let stored = metric_sum(&s.metrics(self.rt, &s.sink_listens)?, &stored_products);
            let args = self.args;
            late.maybe_send(stored, |p, c, st| s.stream_command(args, p, Some(c), st))?;
        }
        if late.sent()? {
            late.categories = self.watermarks.total(&self.names.ingest_category)? as f64;
        }
        Ok(())
    }

    /// The client's and the gateway's figures once the client exited.
    fn client_done(&mut self, now: Instant) -> Result<Option<[Done; 2]>> {
        let Some(usage) = self.client.try_reap()? else {
            return Ok(None);
        };
        if !usage.success {
            bail!("shelf stream failed (its errors are above)");
        }
        self.stop_probes.store(true, Ordering::Relaxed);
        let gateway = &self.services.gateway;
        Ok(Some([
            Done {
                after: self.secs(now),
                records: self.args.rows as f64,
                cpu: usage.cpu_seconds,
                rss: usage.peak_rss_mib,
            },
            Done {
                after: self.secs(now),
                records: 0.0,
                cpu: gateway.cpu_seconds()?,
                rss: gateway.peak_rss_mib()?,
            },
        ]))
    }

    /// The runtimes' figures once they consumed every ingested record.
    fn runtimes_done(&self, now: Instant, ingested: f64) -> Result<Option<Done>> {
        let s = self.services;
        let text = s.metrics(self.rt, &s.runtime_listens)?;
        if metric_sum(&text, "shelf_transform_records_in_total") < ingested {
            return Ok(None);
        }
        Ok(Some(Done {
            after: self.secs(now),
            records: ingested,
            cpu: total_of(&s.runtimes, Service::cpu_seconds)?,
            rss: total_of(&s.runtimes, Service::peak_rss_mib)?,
        }))
    }

    /// The sinks' figures once they handled every output of the runtimes,
    /// renamed what late categories call for, and the aggregates count
    /// every product.
    fn sinks_done(&self) -> Result<Option<(Done, String)>> {
        let s = self.services;
        let runtime_text = s.metrics(self.rt, &s.runtime_listens)?;
        let products = metric_sum(&runtime_text, "shelf_transform_records_out_total");
        let outputs = products + metric_sum(&runtime_text, "shelf_transform_rejects_total");
        let sink_text = s.metrics(self.rt, &s.sink_listens)?;
        let handled: f64 = [&self.names.product_clean, &self.names.product_dlq]
            .iter()
            .map(|t| {
                metric_sum(
                    &sink_text,
                    &format!("shelf_sink_records_total{{topic=\"{t}\""),
                )
            })
            .sum();
        let renamed = self.late.as_ref().is_none_or(|l| {
            l.renamed(&sink_text, &self.names.ingest_category, self.args.instances)
        });
        if handled < outputs || !renamed {
            return Ok(None);
        }
        // Every product counted: one record per product in a single
        // snapshot; with daily snapshots many records are versions of one
        // product, so the aggregates must count what `products` holds.
        let counted = self.rt.block_on(bucketed(self.db))? as f64;
        let wanted = if self.args.days > 0 {
            self.rt.block_on(
                self.db
                    .collection::<mongodb::bson::Document>("products")
                    .count_documents(mongodb::bson::doc! {})
                    .into_future(),
            )? as f64
        } else {
            products
        };
        if counted < wanted {
            return Ok(None);
        }
        let done = Done {
            after: self.secs(Instant::now()),
            records: outputs,
            cpu: total_of(&s.sinks, Service::cpu_seconds)?,
            rss: total_of(&s.sinks, Service::peak_rss_mib)?,
        };
        Ok(Some((done, sink_text)))
    }
}

/// A figure summed over a stage's instances.
fn total_of(services: &[Service], figure: fn(&Service) -> Result<f64>) -> Result<f64> {
    services.iter().map(figure).sum()
}
