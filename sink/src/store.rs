//! The sink's MongoDB access: few round trips, nothing FerretDB lacks.
//!
//! Writes go through the `update` command with many statements (FerretDB
//! has no `bulkWrite`, so the driver's `Client::bulk_write` is out), each
//! a full replacement upserted by `_id`: idempotent, and a single-document
//! write on both MongoDB and FerretDB. No transactions, no `$inc`.

use std::future::IntoFuture;
use std::time::Duration;

use bson::{doc, Bson, Document, RawDocumentBuf};
use futures::TryStreamExt;
use mongodb::options::{ClientOptions, FindOptions};
use mongodb::{Client, Database, IndexModel};
use shelf_contract::collections;

use crate::daily::DailyState;
use crate::metrics::StoreUsage;
use crate::partition_state::{self, PartitionState, StateError};

mod command;
mod price_changes;
mod products;
mod slices;

pub use command::Encode;

/// One write command carries at most this many bytes of statements (the
/// limit is 16 MiB) ...
const MAX_COMMAND_BYTES: usize = 8 << 20;
/// ... and at most this many statements (bounding one command's time) ...
const MAX_STATEMENTS: usize = 1_000;
/// ... or inserted documents: on FerretDB with SQLite a command is one
/// transaction, whose commit costs as much as a few hundred inserts, so
/// inserts go in commands as large as the sink's batches
/// (docs/benchmarks.md: 1,000 a command cost the store 1.3 times what
/// 5,000 did).
const MAX_INSERTS: usize = 5_000;
/// The `products` index the sink always makes: a category's products,
/// which the dashboard's drill-down reads (see `ensure_indexes`).
pub const PRODUCTS_INDEX: &str = "category_id";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("MongoDB: {0}")]
    Mongo(#[from] mongodb::error::Error),
    #[error("MongoDB refused write {index} to `{collection}`: {message} (code {code})")]
    Refused {
        collection: String,
        index: i64,
        code: i64,
        message: String,
    },
    #[error("MongoDB did not answer within {0:?}")]
    Timeout(Duration),
    #[error("stopped waiting for MongoDB: the sink is shutting down")]
    Abandoned,
    #[error("a document for `{collection}` cannot be encoded as BSON: {message}")]
    Encode { collection: String, message: String },
    #[error(transparent)]
    State(#[from] StateError),
    #[error(
        "`sink_partials` holds `{id}` in layout {found}, this sink reads layout {wanted}: stop \
         every sink of the group and run `shelf sink rebuild` (same --mongo and --database), \
         which recomputes it from `products`{newer}"
    )]
    PartialsLayout {
        id: String,
        found: i64,
        wanted: i32,
        newer: &'static str,
    },
}

/// Extra filter conditions for the statement on one `_id` (see
/// [`Store::upsert`]).
pub type Guard<'a> = &'a dyn Fn(&str) -> Document;

impl StoreError {
    /// A guarded write found the document changed by another writer.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Refused { code: 11000, .. })
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
    /// Longest wait for one command: a store that hangs counts as down.
    command_timeout: Duration,
    usage: StoreUsage,
}

impl Store {
    /// Connects lazily (the driver dials on first use); fails only on a
    /// malformed connection string.
    /// `usage` counts the commands sent (round trips) and the documents
    /// each kind of command moved.
    pub async fn connect(uri: &str, database: &str, usage: StoreUsage) -> Result<Self, StoreError> {
        let mut options = ClientOptions::parse(uri).await?;
        // Fail a request fast while the store is down; the sink retries.
        options.server_selection_timeout = Some(Duration::from_secs(5));
        options.connect_timeout = Some(Duration::from_secs(5));
        // Round trips are counted in `timed`, not with the driver's command
        // events: to build one, the driver decodes the whole command into
        // a `Document`, every inserted product included (a tenth of the
        // sink's CPU in a profile).
        let client = Client::with_options(options)?;
        Ok(Self {
            db: client.database(database),
            command_timeout: Duration::from_secs(30),
            usage,
        })
    }

    /// Sets the longest wait for one command (default 30 s).
    pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// `command`, given at most the command timeout.
    async fn timed<T>(
        &self,
        command: impl std::future::Future<Output = Result<T, mongodb::error::Error>>,
    ) -> Result<T, StoreError> {
        self.usage.round_trips.inc();
        match tokio::time::timeout(self.command_timeout, command).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(StoreError::Timeout(self.command_timeout)),
        }
    }

    /// [`Self::timed`] for one of the sink's commands of a kind: the wait,
    /// answered or not, goes to the store usage metrics.
    async fn timed_as<T>(
        &self,
        command: &'static str,
        collection: &str,
        future: impl std::future::Future<Output = Result<T, mongodb::error::Error>>,
    ) -> Result<T, StoreError> {
        let started = std::time::Instant::now();
        let result = self.timed(future).await;
        let elapsed = started.elapsed();
        self.usage.waited(command, collection, elapsed);
        tracing::debug!(command, collection, ?elapsed, "store command");
        result
    }

    /// Checks the store answers and creates the `products` indexes: the
    /// sink's own (`category_id`) and the `extra` ones analysts asked for.
    pub async fn prepare(&self, extra: &[String]) -> Result<(), StoreError> {
        let info = self.db.run_command(doc! { "buildInfo": 1 }).await?;
        let server = match info.get_str("ferretdbVersion") {
            Ok(v) => format!("FerretDB {v}"),
            Err(_) => format!("MongoDB {}", info.get_str("version").unwrap_or("?")),
        };
        tracing::info!(%server, "store ready");
        self.ensure_indexes(extra).await
    }

    /// Fails when `sink_partials` holds a document of another layout
    /// ([`partition_state::LAYOUT`]), which this sink would misread: an
    /// older one as empty, counting every product again.
    pub async fn check_partials_layout(&self) -> Result<(), StoreError> {
        let partials = self.db.collection::<Document>(collections::SINK_PARTIALS);
        let first_layout = doc! { "category_id": { "$exists": true } };
        let other = doc! { "layout": { "$exists": true, "$nin": partition_state::READS.to_vec() } };
        for (filter, implied) in [(first_layout, Some(1)), (other, None)] {
            let found = self.timed(partials.find_one(filter).into_future()).await?;
            let Some(d) = found else { continue };
            let layout = implied.unwrap_or_else(|| match d.get("layout") {
                Some(Bson::Int32(n)) => i64::from(*n),
                Some(Bson::Int64(n)) => *n,
                _ => 0,
            });
            return Err(StoreError::PartialsLayout {
                id: d.get("_id").map(id_key).unwrap_or_default(),
                found: layout,
                wanted: partition_state::LAYOUT,
                newer: if layout > i64::from(partition_state::LAYOUT) {
                    " (or run the newer sink that wrote it)"
                } else {
                    ""
                },
            });
        }
        Ok(())
    }

    /// `products` indexed on `category_id` (a category drill-down) and on
    /// each of `extra`; the time collections on their days. Only missing ones are created: FerretDB v1.24 drops
    /// the connection when asked to create indexes that exist. Each index costs every insert: on FerretDB
    /// with SQLite, three more (price, price_bucket, isBestSeller) took a
    /// fifth of the pipeline's throughput, so they are the user's choice.
    async fn ensure_indexes(&self, extra: &[String]) -> Result<(), StoreError> {
        // The day's movers and a product's history are one indexed query
        // each; the daily figures of a day too.
        let time = [
            (collections::PRICE_CHANGES, "day"),
            (collections::PRICE_CHANGES, "asin"),
            (collections::CATEGORY_DAILY, "day"),
            (collections::SINK_DAILY, "partition"),
        ];
        let wanted = std::iter::once(PRODUCTS_INDEX)
            .chain(extra.iter().map(String::as_str))
            .map(|field| (collections::PRODUCTS, field))
            .chain(time);
        for (collection, field) in wanted {
            let c = self.db.collection::<Document>(collection);
            let existing = match c.list_index_names().await {
                Ok(names) => names,
                // No collection yet, so no index.
                Err(e) if matches!(*e.kind, mongodb::error::ErrorKind::Command(ref c) if c.code == 26) => {
                    Vec::new()
                }
                Err(e) => return Err(e.into()),
            };
            if !existing.iter().any(|n| n == &format!("{field}_1")) {
                c.create_index(IndexModel::builder().keys(doc! { field: 1 }).build())
                    .await?;
            }
        }
        Ok(())
    }

    async fn find(&self, collection: &str, filter: Document) -> Result<Vec<Document>, StoreError> {
        // Large cursor batches: one round trip where the default would take
        // one per 101 documents.
        let options = FindOptions::builder().batch_size(10_000).build();
        self.find_with(collection, filter, options).await
    }

    async fn find_with(
        &self,
        collection: &str,
        filter: Document,
        options: FindOptions,
    ) -> Result<Vec<Document>, StoreError> {
        let coll = self.db.collection::<Document>(collection);
        let docs: Vec<Document> = self
            .timed_as("find", collection, async {
                coll.find(filter)
                    .with_options(options)
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
        self.usage.record("find", collection, docs.len());
        tracing::debug!(collection, documents = docs.len(), "find");
        Ok(docs)
    }

    /// The stored partials of these partitions (those that have any).
    pub async fn partition_states(
        &self,
        partitions: &[i32],
    ) -> Result<Vec<PartitionState>, StoreError> {
        if partitions.is_empty() {
            return Ok(Vec::new());
        }
        // By `_id`, which the local FerretDB build looks up by index.
        let ids: Vec<String> = partitions.iter().map(|p| partition_state::id(*p)).collect();
        let docs: Vec<Document> = self
            .find(collections::SINK_PARTIALS, doc! { "_id": { "$in": ids } })
            .await?;
        Ok(docs
            .iter()
            .map(PartitionState::from_document)
            .collect::<Result<_, _>>()?)
    }

    /// The stored daily entries of these partitions, every day.
    pub async fn daily_states(&self, partitions: &[i32]) -> Result<Vec<DailyState>, StoreError> {
        if partitions.is_empty() {
            return Ok(Vec::new());
        }
        let docs: Vec<Document> = self
            .find(
                collections::SINK_DAILY,
                doc! { "partition": { "$in": partitions } },
            )
            .await?;
        Ok(docs
            .iter()
            .map(DailyState::from_document)
            .collect::<Result<_, _>>()?)
    }

    /// Every document of a (small) collection, such as an aggregate's.
    pub async fn all(&self, collection: &str) -> Result<Vec<Document>, StoreError> {
        self.find(collection, doc! {}).await
    }

    /// The documents of a collection that `filter` selects.
    pub async fn find_where(
        &self,
        collection: &str,
        filter: Document,
    ) -> Result<Vec<Document>, StoreError> {
        self.find(collection, filter).await
    }

    /// Replaces (or inserts) each document by its `_id`.
    ///
    /// Each is a `$set` of every field with
    /// `multi: true`, though it matches one document by `_id`, not a
    /// replacement: FerretDB v1 keeps a statement's query open until the
    /// whole command ends unless it read it to the end, which only a multi
    /// update does, and a few dozen open queries on one database deadlock
    /// it. (FerretDB's `$set` also skips an embedded document whose values
    /// equal the stored one's under other keys; callers keep such maps out
    /// of `$set` or set their entries by path, see `figures`.)
    pub async fn upsert(
        &self,
        collection: &str,
        docs: Vec<Document>,
        guard: Option<Guard<'_>>,
    ) -> Result<(), StoreError> {
        let updates = docs.into_iter().map(|mut d| {
            let id = d.remove("_id").unwrap_or(Bson::Null);
            (id, doc! { "$set": d })
        });
        self.update_by_id(collection, updates, guard).await
    }

    /// Applies each update (operators) to the document with that `_id`,
    /// inserting it if missing. `guard` adds conditions on the stored
    /// document (for example "still at the offset I read"). A document that
    /// fails them makes the upsert collide on `_id`: the command stops with
    /// a [`StoreError::is_conflict`] error and the caller reads again. That
    /// fences off a writer that lost its partition, or a killed instance's
    /// last command that the store finishes after its successor started.
    pub async fn update_by_id(
        &self,
        collection: &str,
        updates: impl IntoIterator<Item = (Bson, Document)>,
        guard: Option<Guard<'_>>,
    ) -> Result<(), StoreError> {
        let statements = updates.into_iter().map(|(id, update)| {
            let mut filter = doc! { "_id": id.clone() };
            if let Some(guard) = guard {
                filter.extend(guard(&id_key(&id)));
            }
            doc! { "q": filter, "u": update, "upsert": true, "multi": true }
        });
        self.update(collection, statements).await
    }

    /// Deletes every document of a collection.
    pub async fn drop_all(&self, collection: &str) -> Result<(), StoreError> {
        self.delete_where(collection, doc! {}).await
    }

    pub async fn delete_ids(&self, collection: &str, ids: Vec<Bson>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.usage.record("delete", collection, ids.len());
        self.delete_where(collection, doc! { "_id": { "$in": ids } })
            .await
    }

    /// Deletes each document with that `_id` that also meets its
    /// conditions (see [`Store::update_by_id`]'s guard); one that does not
    /// is left as it is, without an error: it is someone else's to write.
    pub async fn delete_by_id(
        &self,
        collection: &str,
        deletes: impl IntoIterator<Item = (Bson, Document)>,
    ) -> Result<(), StoreError> {
        let statements = deletes.into_iter().map(|(id, condition)| {
            let mut filter = doc! { "_id": id };
            filter.extend(condition);
            doc! { "q": filter, "limit": 1 }
        });
        self.send_chunked(collection, "delete", "deletes", statements, MAX_STATEMENTS)
            .await
    }

    async fn delete_where(&self, collection: &str, filter: Document) -> Result<(), StoreError> {
        let command = doc! {
            "delete": collection,
            "deletes": [ { "q": filter, "limit": 0 } ],
        };
        let reply = self
            .timed_as(
                "delete",
                collection,
                self.db.run_command(command).into_future(),
            )
            .await?;
        refused(collection, &reply)
    }

    /// Runs `update` commands over the statements, as few as the size
    /// limits allow. Ordered: the first refused statement stops its command.
    async fn update(
        &self,
        collection: &str,
        statements: impl IntoIterator<Item = impl Encode>,
    ) -> Result<(), StoreError> {
        self.send_chunked(collection, "update", "updates", statements, MAX_STATEMENTS)
            .await
    }

    /// Inserts documents that must be new: one already stored under an
    /// `_id` stops the command with a [`StoreError::is_conflict`] error.
    /// On FerretDB an insert is one SQLite transaction for a whole command,
    /// several times cheaper than the same documents as upserts.
    pub async fn insert_new(
        &self,
        collection: &str,
        docs: Vec<impl Encode>,
    ) -> Result<(), StoreError> {
        self.send_chunked(collection, "insert", "documents", docs, MAX_INSERTS)
            .await
    }

    /// Sends `items` as few `command`s as the statement and size limits
    /// allow, in order, stopping at the first refusal. Each item is encoded
    /// once, here: its size decides the chunk, and the command is put
    /// together from the encoded bytes.
    async fn send_chunked(
        &self,
        collection: &str,
        command: &'static str,
        field: &str,
        items: impl IntoIterator<Item = impl Encode>,
        max_statements: usize,
    ) -> Result<(), StoreError> {
        let mut chunk = Vec::new();
        let mut bytes = 0;
        for item in items {
            let raw = item.encode().map_err(|e| StoreError::Encode {
                collection: collection.to_owned(),
                message: e.to_string(),
            })?;
            let size = raw.as_bytes().len();
            if !chunk.is_empty()
                && (bytes + size > MAX_COMMAND_BYTES || chunk.len() == max_statements)
            {
                let full = std::mem::take(&mut chunk);
                self.send(collection, command, field, full).await?;
                bytes = 0;
            }
            bytes += size;
            chunk.push(raw);
        }
        if !chunk.is_empty() {
            self.send(collection, command, field, chunk).await?;
        }
        Ok(())
    }

    async fn send(
        &self,
        collection: &str,
        command: &'static str,
        field: &str,
        items: Vec<RawDocumentBuf>,
    ) -> Result<(), StoreError> {
        let statements = items.len();
        self.usage.record(command, collection, statements);
        let body = command::body(command, collection, field, &items);
        drop(items);
        let reply = self
            .timed_as(
                command,
                collection,
                self.db.run_raw_command(body).into_future(),
            )
            .await?;
        tracing::debug!(command, collection, statements, "write");
        refused(collection, &reply)
    }
}

/// An `_id` as the text a [`Guard`] is given.
pub fn id_key(id: &Bson) -> String {
    match id {
        Bson::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The first write error of a write command's reply.
fn refused(collection: &str, reply: &Document) -> Result<(), StoreError> {
    let Ok(errors) = reply.get_array("writeErrors") else {
        return Ok(());
    };
    let Some(Bson::Document(e)) = errors.first() else {
        return Ok(());
    };
    let int = |k: &str| match e.get(k) {
        Some(Bson::Int32(i)) => i64::from(*i),
        Some(Bson::Int64(i)) => *i,
        _ => -1,
    };
    Err(StoreError::Refused {
        collection: collection.to_owned(),
        index: int("index"),
        code: int("code"),
        message: e.get_str("errmsg").unwrap_or("no message").to_owned(),
    })
}
