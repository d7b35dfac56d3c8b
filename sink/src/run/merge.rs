//! Partials and aggregates: this instance's partials read back when it
//! gains a partition, other instances' partials read for a merge, and
//! `category_stats` / `price_buckets` rewritten from them when due.

use super::*;

impl Sink {
    pub(super) fn load_partials(&mut self) -> Result<(), SinkError> {
        if self.to_load.is_empty() {
            return Ok(());
        }
        let wanted: Vec<i32> = self.to_load.iter().copied().collect();
        let (loaded, daily) = self.block_on(async {
            let states = self.store.partition_states(&wanted).await?;
            Ok((states, self.store.daily_states(&wanted).await?))
        })?;
        for day in daily {
            self.daily_seq.insert((day.partition, day.day), day.seq);
            let entries = self.daily.entry((day.partition, day.day)).or_default();
            for p in day.partials {
                entries.insert(p.category_id, p);
            }
        }
        for state in loaded {
            self.stored_seq.insert(state.partition, state.seq);
            if let Some(sweep) = state.sweep {
                self.sweeps.insert(state.partition, sweep);
            }
            for p in state.partials {
                self.partials.insert((p.partition, p.category_id), p);
            }
        }
        self.loaded.extend(wanted);
        self.to_load.clear();
        Ok(())
    }

    /// The documents of these partitions: each holds every partial of its
    /// partition (the instance's, with `changed` over them: the state after
    /// the batch) and its rename sweep, one `seq` past the stored one.
    /// Written from references: copying every partial of a partition per
    /// batch was a tenth of the sink's CPU.
    pub(super) fn partition_states(
        &self,
        changed: &[Partial],
        partitions: HashSet<i32>,
        sweeps: &HashMap<i32, Sweep>,
    ) -> Vec<StateWrite<i32>> {
        let changed: HashMap<PartialKey, &Partial> = changed
            .iter()
            .map(|p| ((p.partition, p.category_id), p))
            .collect();
        let mut states: Vec<StateWrite<i32>> = partitions
            .into_iter()
            .map(|partition| {
                let mut of_partition: Vec<&Partial> = self
                    .partials
                    .iter()
                    .filter(|(k, _)| k.0 == partition && !changed.contains_key(k))
                    .map(|(_, p)| p)
                    .chain(
                        changed
                            .iter()
                            .filter(|(k, _)| k.0 == partition)
                            .map(|(_, p)| *p),
                    )
                    .collect();
                of_partition.sort_by_key(|p| p.category_id);
                let seq = self.stored_seq.get(&partition).map_or(0, |s| s + 1);
                StateWrite {
                    key: partition,
                    seq,
                    document: PartitionState::document(
                        partition,
                        seq,
                        &of_partition,
                        sweeps.get(&partition),
                    ),
                }
            })
            .collect();
        states.sort_by_key(|s| s.key);
        states
    }

    /// The `sink_daily` documents of the days `changed` touched: each with
    /// every category's entry of its partition and day (`changed` over
    /// the instance's), one `seq` past the stored one.
    pub(super) fn daily_states(
        &self,
        changed: &[(DayKey, DailyPartial)],
    ) -> Vec<StateWrite<DayKey>> {
        let mut days: BTreeMap<DayKey, BTreeMap<i64, &DailyPartial>> = BTreeMap::new();
        for (key, p) in changed {
            days.entry(*key).or_default().insert(p.category_id, p);
        }
        days.into_iter()
            .map(|(key, overlay)| {
                let mut entries: BTreeMap<i64, &DailyPartial> = self
                    .daily
                    .get(&key)
                    .map(|m| m.iter().map(|(c, p)| (*c, p)).collect())
                    .unwrap_or_default();
                entries.extend(overlay);
                let entries: Vec<&DailyPartial> = entries.into_values().collect();
                let seq = self.daily_seq.get(&key).map_or(0, |s| s + 1);
                StateWrite {
                    key,
                    seq,
                    document: DailyState::document(key, seq, &entries),
                }
            })
            .collect()
    }

    /// Brings `category_stats` and `price_buckets` up to the merge of all
    /// partials (this instance's from memory, the other partitions' read
    /// from the store), and `category_daily` up to the merge of all daily
    /// entries, each on its own [`Schedule`]: after a change, at most every
    /// merge interval (`category_daily`'s is longer while records keep
    /// coming: `idle` says none came); on every verify interval, when the
    /// stored documents are also read back; and when stopping. The
    /// intervals stretch to the "behind" ones while batches come full.
    pub(super) fn merge_if_due(&mut self, stopping: bool, idle: bool) -> Result<(), SinkError> {
        let current = self
            .current_merge
            .due(stopping, self.args.merge_intervals(self.behind));
        let daily = self.daily_merge.due(
            stopping || (idle && self.daily_merge.dirty),
            self.args.daily_merge_intervals(self.behind),
        );
        if current.is_none() && daily.is_none() {
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
        let (store, names) = (&self.store, &self.names);
        if let Some(verify) = current {
            let own = &self.partials;
            let schedule = &mut self.current_merge;
            let changes = block_on_until(&self.handle, &self.shutdown, async {
                let others = store.partition_states(&others).await?;
                let merged = Merged::of(
                    own.values()
                        .chain(others.iter().flat_map(|s| s.partials.iter())),
                    names,
                );
                schedule.aggregates.sync(store, &merged, verify).await
            });
            self.current_merge.merged(changes, verify, &self.metrics)?;
        }
        if let Some(verify) = daily {
            let own = &self.daily;
            let schedule = &mut self.daily_merge;
            let changes = block_on_until(&self.handle, &self.shutdown, async {
                let others = store.daily_states(&others).await?;
                let merged = Merged::of(std::iter::empty(), names).with_daily(
                    own.iter()
                        .flat_map(|((_, day), m)| m.values().map(move |p| (*day, p)))
                        .chain(
                            others
                                .iter()
                                .flat_map(|s| s.partials.iter().map(move |p| (s.day, p))),
                        ),
                );
                schedule.aggregates.sync(store, &merged, verify).await
            });
            self.daily_merge.merged(changes, verify, &self.metrics)?;
        }
        Ok(())
    }
}

/// Aggregates merged on a schedule of their own: `category_stats` and
/// `price_buckets` follow the partials within a second, `category_daily`
/// (whose documents cost the store as much, and describe days) less often.
pub(super) struct Schedule {
    pub aggregates: Aggregates,
    /// The partials changed since the last merge.
    pub dirty: bool,
    last_merge: Instant,
    last_verify: Instant,
}

impl Schedule {
    pub fn new(aggregates: Aggregates) -> Self {
        Self {
            aggregates,
            dirty: true,
            last_merge: Instant::now(),
            last_verify: Instant::now(),
        }
    }

    /// Whether a merge is due (`now`, or by the intervals `(merge,
    /// verify)`), and if so whether it verifies.
    fn due(&self, now: bool, (merge, verify): (Duration, Duration)) -> Option<bool> {
        let verifies = self.last_verify.elapsed() >= verify;
        let due = now || verifies || (self.dirty && self.last_merge.elapsed() >= merge);
        due.then_some(verifies)
    }

    /// After a merge: on failure what the store holds is no longer known.
    fn merged(
        &mut self,
        changes: Result<usize, StoreError>,
        verified: bool,
        metrics: &Metrics,
    ) -> Result<(), SinkError> {
        let changes = changes.inspect_err(|_| self.aggregates.forget())?;
        if changes > 0 {
            metrics.merges.inc();
            tracing::debug!(changes, "aggregates merged");
        }
        self.dirty = false;
        self.last_merge = Instant::now();
        if verified {
            self.last_verify = self.last_merge;
        }
        Ok(())
    }

    /// Another instance joined or left, or a batch failed: what the store
    /// holds is read again at the next merge.
    pub fn forget(&mut self) {
        self.aggregates.forget();
        self.dirty = true;
    }
}

/// A state document to write (a partition's or a partition's day), and
/// the `seq` it carries.
pub(super) struct StateWrite<K> {
    pub key: K,
    pub seq: i64,
    pub document: Document,
}

/// Writes partition documents, each guarded by the `seq` its writer last
/// read or wrote (`stored_seq`; absent: no document yet), so a writer that
/// lost the partition collides instead of overwriting.
pub(super) async fn write_states(
    store: &Store,
    stored_seq: &HashMap<i32, i64>,
    states: &[StateWrite<i32>],
) -> Result<(), StoreError> {
    let guard = |id: &str| match partition_state::partition_of(id).and_then(|p| stored_seq.get(&p))
    {
        Some(seq) => doc! { "seq": seq },
        None => doc! { "seq": { "$exists": false } },
    };
    let documents = states.iter().map(|s| s.document.clone()).collect();
    store
        .upsert(collections::SINK_PARTIALS, documents, Some(&guard))
        .await
}

/// Writes day documents, each guarded by its `seq` as [`write_states`].
pub(super) async fn write_daily(
    store: &Store,
    daily_seq: &HashMap<DayKey, i64>,
    states: &[StateWrite<DayKey>],
) -> Result<(), StoreError> {
    let guard = |id: &str| match daily::key_of(id).and_then(|k| daily_seq.get(&k)) {
        Some(seq) => doc! { "seq": seq },
        None => doc! { "seq": { "$exists": false } },
    };
    let documents = states.iter().map(|s| s.document.clone()).collect();
    store
        .upsert(collections::SINK_DAILY, documents, Some(&guard))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_is_due_when_asked_for_when_checked_or_when_a_change_waited_long_enough() {
        let ms = Duration::from_millis;
        let mut s = Schedule::new(Aggregates::of(Vec::new()));
        s.dirty = false;
        assert_eq!(s.due(false, (ms(0), ms(60_000))), None);
        assert_eq!(s.due(true, (ms(60_000), ms(60_000))), Some(false));
        assert_eq!(s.due(false, (ms(60_000), ms(0))), Some(true));
        s.dirty = true;
        assert_eq!(s.due(false, (ms(60_000), ms(60_000))), None);
        assert_eq!(s.due(false, (ms(0), ms(60_000))), Some(false));
    }
}
