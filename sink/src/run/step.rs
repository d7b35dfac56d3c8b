//! One batch: its records read, its products' stored states loaded, the
//! plan ([`crate::plan`]) made and written in order (partials, products,
//! rejects), then its offsets committed.

use shelf_contract::wire::{kafka_headers, Redrive};
use shelf_kafka::header_text;

use super::*;

/// What became of a batch's records.
struct Counts {
    applied: u64,
    skipped: u64,
    dead_letters: u64,
}

/// A batch's records, read.
struct Read<'a> {
    products: Vec<ProductRecord<'a>>,
    /// Rejects of the dead-letter topic.
    rejects: Vec<Document>,
}

impl Sink {
    /// Stores one batch (and any category records and pending loads), then
    /// commits its offsets.
    pub(super) fn step(&mut self, batch: &[OwnedMessage]) -> Result<(), SinkError> {
        let started = Instant::now();
        self.store_categories()?;
        let Read {
            products,
            mut rejects,
        } = self.read(batch);
        let dead_letters = rejects.len() as u64;
        for r in &products {
            if !self.loaded.contains(&r.partition) {
                self.to_load.insert(r.partition);
            }
        }
        self.load_partials()?;
        // Runs even without records: a category that just arrived may need
        // its name put on stored products.
        let stored_docs = self.stored_documents(&products)?;
        let mut stored = stored_docs
            .values()
            .filter_map(|d| plan::stored_product(d))
            .collect();
        self.read_rows(&products, &mut stored)?;
        let plan = plan::plan(
            &self.partials,
            &self.daily,
            products,
            &stored,
            &self.names,
            &self.platform.topics.product_clean,
        );
        rejects.extend(plan.rejects);
        let mut sweeps = self.sweeps.clone();
        for r in &plan.renames {
            crate::rename::restart(&mut sweeps, r.partition, r.products);
        }
        let touched: HashSet<i32> = plan.partials.iter().map(|p| p.partition).collect();
        let states = self.partition_states(&plan.partials, touched, &sweeps);
        let days = self.daily_states(&plan.daily);
        let written = Written {
            states: &states,
            days: &days,
            price_changes: plan.price_changes,
            products: plan.products,
            product_times: plan.product_times,
            stored_docs: &stored_docs,
            stored: &stored,
            rejects,
        };
        self.block_on(written.write(&self.store, &self.stored_seq, &self.daily_seq))?;

        if plan.applied > 0 || !plan.partials.is_empty() {
            self.current_merge.dirty = true;
        }
        if plan.applied > 0 || !plan.daily.is_empty() {
            self.daily_merge.dirty = true;
        }
        self.adopt(
            states,
            plan.partials,
            days,
            plan.daily,
            sweeps,
            &plan.renames,
        );
        let counts = Counts {
            applied: plan.applied,
            skipped: plan.skipped,
            dead_letters,
        };
        self.commit_and_count(batch, counts, started)
    }

    /// The batch is stored: what this instance holds follows it.
    fn adopt(
        &mut self,
        states: Vec<merge::StateWrite<i32>>,
        changed: Vec<Partial>,
        days: Vec<merge::StateWrite<DayKey>>,
        changed_days: Vec<(DayKey, DailyPartial)>,
        sweeps: HashMap<i32, Sweep>,
        renames: &[plan::RenameStart],
    ) {
        for s in &states {
            self.stored_seq.insert(s.key, s.seq);
        }
        for p in changed {
            self.partials.insert((p.partition, p.category_id), p);
        }
        for day in &days {
            self.daily_seq.insert(day.key, day.seq);
        }
        for (key, entry) in changed_days {
            self.daily
                .entry(key)
                .or_default()
                .insert(entry.category_id, entry);
        }
        if !renames.is_empty() {
            self.sweeps = sweeps;
            self.sweeps_saved = Instant::now();
            self.metrics.renames_pending.set(self.renames_pending());
            tracing::info!(partitions = ?renames.iter().map(|r| r.partition).collect::<Vec<_>>(),
                products = self.renames_pending(), "renaming stored products of categories whose name changed");
        }
    }

    /// Commits the batch's offsets and counts its records, and the
    /// categories stored with it.
    fn commit_and_count(
        &mut self,
        batch: &[OwnedMessage],
        counts: Counts,
        started: Instant,
    ) -> Result<(), SinkError> {
        let categories = std::mem::take(&mut self.pending_categories).len() as u64;
        let topics = &self.platform.topics;
        self.metrics
            .count(&topics.ingest_category, "stored", categories);
        if batch.is_empty() {
            return Ok(());
        }
        self.commit(batch)?;
        let Counts {
            applied,
            skipped,
            dead_letters,
        } = counts;
        let refused = batch.len() as u64 - dead_letters - applied - skipped;
        let m = &self.metrics;
        m.count(&topics.product_clean, "stored", applied);
        m.count(&topics.product_clean, "skipped", skipped);
        m.count(&topics.product_clean, "rejected", refused);
        m.count(&topics.product_dlq, "stored", dead_letters);
        m.batch_seconds.observe(started.elapsed().as_secs_f64());
        tracing::debug!(records = batch.len(), applied, skipped, "batch stored");
        Ok(())
    }

    /// Products parsed, dead letters turned into rejects.
    fn read<'a>(&self, batch: &'a [OwnedMessage]) -> Read<'a> {
        let mut read = Read {
            products: Vec::new(),
            rejects: Vec::new(),
        };
        for m in batch {
            let value = m.payload().unwrap_or_default();
            if m.topic() == self.platform.topics.product_clean {
                read.products.push(ProductRecord {
                    partition: m.partition(),
                    offset: m.offset(),
                    timestamp: m.timestamp().to_millis(),
                    value,
                    event: product::parse(value),
                    redrive: redriven(m),
                });
            } else {
                read.rejects.push(reject::from_dead_letter(value, || {
                    Position::new(m.topic(), m.partition(), m.offset())
                }));
            }
        }
        read
    }

    /// The stored documents of the batch's products, by asin.
    fn stored_documents(
        &self,
        products: &[ProductRecord<'_>],
    ) -> Result<ByAsin<RawDocumentBuf>, SinkError> {
        let mut asins: Vec<String> = products
            .iter()
            .filter_map(|r| r.event.as_ref().ok().map(|e| e.asin.clone()))
            .collect();
        asins.sort_unstable();
        asins.dedup();
        if asins.is_empty() {
            return Ok(ByAsin::default());
        }
        Ok(self
            .block_on(self.store.products(&asins))?
            .into_iter()
            .filter_map(|d| Some((d.get_str("_id").ok()?.to_owned(), d)))
            .collect())
    }

    /// Reads the stored rows of the products a late version needs them of
    /// (a backfill, days out of order): read without them, a product
    /// knows only its newest version.
    fn read_rows(
        &self,
        products: &[ProductRecord<'_>],
        stored: &mut ByAsin<plan::StoredProduct>,
    ) -> Result<(), SinkError> {
        let asins = plan::rows_needed(products, stored);
        if asins.is_empty() {
            return Ok(());
        }
        let docs = self.block_on(self.store.product_rows(&asins))?;
        plan::attach_rows(stored, &docs);
        Ok(())
    }

    /// Stores categories read since the last batch and learns their names.
    /// They stay pending (stored again, idempotently) until the batch that
    /// applies the names is stored, so that the metrics count a category
    /// only once the products' renaming it calls for is under way.
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
                .upsert(collections::CATEGORIES, docs, None)
                .await?;
            self.store.upsert(collections::REJECTS, rejects, None).await
        })?;
        for (id, name) in learned {
            if self.names.get(&id) != Some(&name) {
                self.names.insert(id, name);
                // Both carry the names.
                self.current_merge.dirty = true;
                self.daily_merge.dirty = true;
            }
        }
        Ok(())
    }
}

/// A batch's writes, in the order the plan's rules need.
struct Written<'a> {
    states: &'a [merge::StateWrite<i32>],
    days: &'a [merge::StateWrite<DayKey>],
    price_changes: Vec<plan::PriceChangeWrite>,
    products: Vec<plan::ProductWrite>,
    product_times: Vec<(String, Document)>,
    stored_docs: &'a ByAsin<RawDocumentBuf>,
    stored: &'a ByAsin<plan::StoredProduct>,
    rejects: Vec<Document>,
}

impl Written<'_> {
    async fn write(
        self,
        store: &Store,
        stored_seq: &HashMap<i32, i64>,
        daily_seq: &HashMap<DayKey, i64>,
    ) -> Result<(), StoreError> {
        // Partials, days and price changes before the products whose old
        // state they were computed from: once a product is written, a
        // replay skips its record.
        merge::write_states(store, stored_seq, self.states).await?;
        merge::write_daily(store, daily_seq, self.days).await?;
        store.write_price_changes(&self.price_changes).await?;
        // Products not stored before are inserted: an insert is guarded by
        // `_id` uniqueness alone, and much cheaper on FerretDB.
        let stored_docs = self.stored_docs;
        let (stored_before, new): (Vec<_>, Vec<_>) = self.products.into_iter().partition(|w| {
            w.document
                .get_str("_id")
                .is_ok_and(|asin| stored_docs.contains_key(asin))
        });
        // Not stored before: the rows are all in the document.
        let new = new.into_iter().map(|w| w.document).collect();
        store.insert_new(collections::PRODUCTS, new).await?;
        // Each update expects the product still at the offset read.
        let stored = self.stored;
        let guard = |asin: &str| match stored.get(asin) {
            Some(s) => doc! { "_src.offset": s.offset },
            None => doc! { "_src": { "$exists": false } },
        };
        store
            .update_products(stored_before, stored_docs, &guard)
            .await?;
        // An older version: the current fields stay, the times and history
        // change.
        let times = self
            .product_times
            .into_iter()
            .map(|(asin, update)| (bson::Bson::String(asin), update));
        store
            .update_by_id(collections::PRODUCTS, times, Some(&guard))
            .await?;
        store.upsert(collections::REJECTS, self.rejects, None).await
    }
}

/// The redrive a product record carries, when `shelf rejects replay` sent
/// it and the runtime passed it on.
fn redriven(m: &OwnedMessage) -> Option<reject::Redriven> {
    Some(reject::Redriven {
        redrive: Redrive::from_headers(|name| header_text(m, name))?,
        chain: header_text(m, kafka_headers::CHAIN)
            .unwrap_or_default()
            .to_owned(),
    })
}
