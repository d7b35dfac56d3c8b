//! The store's own limit: the documents the sink stores, inserted plainly
//! (`insert` commands of `batch` documents, `_id` = asin, the same
//! `category_id` index), into a database of their own. The sink is held
//! against this rate and this FerretDB CPU.

use std::time::Instant;

use anyhow::{Context, Result};
use mongodb::bson::{doc, Document};
use mongodb::IndexModel;

/// What a plain insert of the documents cost.
pub struct PlainInsert {
    pub docs_per_s: f64,
    /// FerretDB CPU-seconds per million documents (None: not local).
    pub store_cpu_per_m: Option<f64>,
}

/// Inserts `data` (asin, cleaned JSON) as the sink would store each
/// product's last version: `_id`, the fields, `category_name`, the
/// observation times (`observed_at`, `day`, `first_seen`, `last_seen`,
/// `price_change_count`), `_src`.
pub async fn run(
    mongo: &str,
    database: &str,
    data: &[(String, Vec<u8>)],
    batch: usize,
) -> Result<PlainInsert> {
    let mut last = std::collections::HashMap::new();
    for (i, (asin, value)) in data.iter().enumerate() {
        last.insert(asin.as_str(), (i, value));
    }
    let mut docs: Vec<Document> = Vec::with_capacity(last.len());
    for (asin, (offset, value)) in last {
        let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(value)?;
        let mut d = doc! { "_id": asin };
        d.extend(mongodb::bson::to_document(&fields).context("product to BSON")?);
        d.insert(
            "category_name",
            format!("Category {}", d.get_i64("category_id").unwrap_or(0)),
        );
        let now = mongodb::bson::DateTime::now();
        d.insert("observed_at", now);
        d.insert(
            "day",
            now.try_to_rfc3339_string()?.get(..10).unwrap_or_default(),
        );
        d.insert("first_seen", now);
        d.insert("last_seen", now);
        d.insert("price_change_count", 0_i64);
        d.insert("_src", doc! { "partition": 0, "offset": offset as i64 });
        docs.push(d);
    }
    // The order the sink's batches come in: by partition and offset, not by
    // `_id`; shuffled the same way every run.
    docs.sort_by_key(|d| {
        d.get_document("_src")
            .and_then(|s| s.get_i64("offset"))
            .unwrap_or(0)
    });

    let db = mongodb::Client::with_uri_str(mongo)
        .await?
        .database(database);
    let products = db.collection::<Document>("products");
    products
        .create_index(
            IndexModel::builder()
                .keys(doc! { "category_id": 1 })
                .build(),
        )
        .await?;
    let ferretdb = shelf_benches::platform_pid("ferretdb");
    let cpu_before = ferretdb.and_then(|pid| shelf_benches::cpu_seconds(pid).ok());
    let started = Instant::now();
    for chunk in docs.chunks(batch) {
        products.insert_many(chunk).await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let store_cpu_per_m = match (ferretdb, cpu_before) {
        (Some(pid), Some(before)) => {
            Some((shelf_benches::cpu_seconds(pid)? - before) / (docs.len() as f64 / 1e6))
        }
        _ => None,
    };
    let docs_per_s = docs.len() as f64 / secs;
    println!("\nplain insert (the sink's documents, {batch} per command, same indexes):");
    println!(
        "  {} documents in {secs:.1}s: {docs_per_s:.0} documents/s",
        docs.len()
    );
    if let Some(cpu) = store_cpu_per_m {
        println!("  FerretDB meanwhile: {cpu:.1} CPU-s per million documents");
    }
    db.drop().await?;
    Ok(PlainInsert {
        docs_per_s,
        store_cpu_per_m,
    })
}
