//! `shelf sink rebuild`: the sink's saved state and aggregates recomputed
//! from `products` equal what the stream produced, a sink resumes on them,
//! and a sink that finds an older layout names the command.

use std::collections::{BTreeMap, HashMap};
use std::process::Output;
use std::time::Duration;

use mongodb::bson::{doc, Document};
use shelf_sink::partition_state::PartitionState;
use shelf_tests::sink::{
    all, category_name, category_records, create_sink_topics, database, product_events,
    wait_for_all, SinkProcess, State,
};
use shelf_tests::{platform, produce_all, unique};

const CATEGORIES: i64 = 8;

fn rebuild(p: &shelf_config::Platform, group: &str, wait_ms: u64) -> Output {
    std::process::Command::new(shelf_tests::shelf_bin())
        .args(["sink", "rebuild", "--group", group, "--slice", "700"])
        .args(["--wait-for-group-ms", &wait_ms.to_string()])
        .envs(shelf_tests::sink::platform_env(p))
        .output()
        .expect("run shelf sink rebuild")
}

/// What must not change in a rebuild: the aggregates (`category_daily`
/// too), and each partial's figures and name by (partition, category).
type Snapshot = (
    Vec<Document>,
    Vec<Document>,
    BTreeMap<(i32, i64), String>,
    Vec<Document>,
);

async fn snapshot(db: &mongodb::Database) -> Snapshot {
    let mut partials = BTreeMap::new();
    for d in all(db, "sink_partials").await.unwrap() {
        let state = PartitionState::from_document(&d).unwrap();
        for p in state
            .partials
            .into_iter()
            .filter(|p| p.figures.products != 0)
        {
            partials.insert(
                (p.partition, p.category_id),
                format!("{:?} {:?}", p.figures, p.named),
            );
        }
    }
    let sorted = |mut docs: Vec<Document>| {
        docs.sort_by_key(|d| d.get("_id").map(|v| v.to_string()));
        docs
    };
    (
        sorted(all(db, "category_stats").await.unwrap()),
        sorted(all(db, "price_buckets").await.unwrap()),
        partials,
        sorted(all(db, "category_daily").await.unwrap()),
    )
}

/// A sink's store after a first stream: the categories and up to three
/// versions of `asins` products, stored exactly by a sink still running.
struct Stored {
    p: shelf_config::Platform,
    db: mongodb::Database,
    names: HashMap<i64, String>,
    group: String,
    sink: SinkProcess,
    last: BTreeMap<String, State>,
}

async fn stored(seed: u64, prefix: &str, asins: usize) -> Stored {
    let p = platform();
    create_sink_topics(&p).await;
    let db = database(&p).await;
    let names: HashMap<i64, String> = (1..=CATEGORIES).map(|id| (id, category_name(id))).collect();
    produce_all(
        &p.kafka,
        &p.topics.ingest_category,
        &category_records(1..=CATEGORIES),
    )
    .await
    .unwrap();
    let (events, last) = product_events(seed, prefix, asins, 3, CATEGORIES);
    produce_all(&p.kafka, &p.topics.product_clean, &events)
        .await
        .unwrap();
    let group = unique("g");
    let sink = SinkProcess::start(&p, &group, "0", 400).await;
    wait_for_all(&db, &last, &names, Duration::from_secs(120))
        .await
        .unwrap();
    Stored {
        p,
        db,
        names,
        group,
        sink,
        last,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_rebuilt_from_products_equals_the_streamed_one_and_the_sink_resumes_on_it() {
    let Stored {
        p,
        db,
        names,
        group,
        sink,
        last,
    } = stored(41, "RB", 3000).await;

    // While a sink of the group runs, the rebuild refuses.
    let refused = rebuild(&p, &group, 0);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "rebuilt under a running sink");
    assert!(
        stderr.contains("has members") && stderr.contains(&group),
        "{stderr}"
    );
    assert!(sink.terminate().success());

    let streamed = snapshot(&db).await;
    assert!(!streamed.2.is_empty() && !streamed.0.is_empty() && !streamed.3.is_empty());
    // Lose the saved state and damage the aggregates.
    db.collection::<Document>("sink_partials")
        .delete_many(doc! {})
        .await
        .unwrap();
    db.collection::<Document>("category_stats")
        .update_many(doc! {}, doc! { "$set": { "products": -1 } })
        .await
        .unwrap();
    db.collection::<Document>("price_buckets")
        .insert_one(doc! { "_id": "stale", "lo": 1, "products": 1 })
        .await
        .unwrap();

    let out = rebuild(&p, &group, 30_000);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{} products read", last.len())),
        "{stdout}"
    );
    assert_eq!(snapshot(&db).await, streamed, "the rebuilt store differs");

    // The sink resumes on the rebuilt state: new versions of the same
    // products, and the end state is exact.
    let (more, last) = product_events(42, "RB", 3000, 2, CATEGORIES);
    produce_all(&p.kafka, &p.topics.product_clean, &more)
        .await
        .unwrap();
    let sink = SinkProcess::start(&p, &group, "0", 400).await;
    wait_for_all(&db, &last, &names, Duration::from_secs(120))
        .await
        .unwrap();
    assert!(sink.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partials_of_an_older_layout_stop_the_sink_and_name_the_rebuild() {
    let p = platform();
    create_sink_topics(&p).await;
    let db = database(&p).await;
    // One document per partition and category, as the first sinks wrote them.
    db.collection::<Document>("sink_partials")
        .insert_one(doc! { "_id": "p3/c7", "partition": 3, "category_id": 7, "applied_offset": 9 })
        .await
        .unwrap();
    let group = unique("g");
    let mut child = std::process::Command::new(shelf_tests::shelf_bin())
        .args(["sink", "run", "--group", &group])
        .args([
            "--metrics-listen",
            &format!("127.0.0.1:{}", shelf_tests::closed_port()),
        ])
        .envs(shelf_tests::sink::platform_env(&p))
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the sink kept running on partials it cannot read");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("p3/c7")
            && stderr.contains("layout 1")
            && stderr.contains("shelf sink rebuild"),
        "{stderr}"
    );
    // The command it names makes the store usable again.
    let out = rebuild(&p, &group, 30_000);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all(&db, "sink_partials").await.unwrap().is_empty());
    let sink = SinkProcess::start(&p, &group, "0", 400).await;
    assert!(sink.terminate().success());
}

/// A store the sink of layout 3 left (figures as objects, every day's
/// price changes written out, products' versions as one text `_hist`) is
/// read by this sink, which carries on from it: the end state is exact,
/// and equals a rebuild from `products`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_carries_on_from_partials_of_layout_3() {
    let Stored {
        p,
        db,
        names,
        group,
        sink,
        ..
    } = stored(43, "L3", 2000).await;
    assert!(sink.terminate().success());

    let rewritten = [("sink_partials", "partials"), ("sink_daily", "daily")]
        .map(|(collection, field)| (collection, field, db.collection::<Document>(collection)));
    for (collection, field, coll) in &rewritten {
        let docs = all(&db, collection).await.unwrap();
        assert!(!docs.is_empty(), "no {collection} to rewrite");
        for d in docs {
            let text = as_layout_3(d.get_str(field).unwrap());
            coll.update_one(
                doc! { "_id": d.get("_id").unwrap() },
                doc! { "$set": { *field: text, "layout": 3 } },
            )
            .await
            .unwrap();
        }
    }

    let products = db.collection::<Document>("products");
    let mut texts = 0;
    for d in all(&db, "products").await.unwrap() {
        let Ok(rows) = d.get_array("_rows") else {
            continue;
        };
        let rows: Vec<&str> = rows.iter().map(|r| r.as_str().unwrap()).collect();
        products
            .update_one(
                doc! { "_id": d.get("_id").unwrap() },
                doc! {
                    "$set": { "_hist": format!("[{}]", rows.join(",")) },
                    "$unset": { "_rows": "", "_src.versions": "" },
                },
            )
            .await
            .unwrap();
        texts += 1;
    }
    assert!(texts > 0, "no product with versions to rewrite");

    let (more, last) = product_events(44, "L3", 2000, 2, CATEGORIES);
    produce_all(&p.kafka, &p.topics.product_clean, &more)
        .await
        .unwrap();
    let sink = SinkProcess::start(&p, &group, "0", 400).await;
    wait_for_all(&db, &last, &names, Duration::from_secs(120))
        .await
        .unwrap();
    assert!(sink.terminate().success());
    let carried_on = snapshot(&db).await;
    let out = rebuild(&p, &group, 30_000);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        snapshot(&db).await,
        carried_on,
        "the store carried on from layout 3 differs from its rebuild"
    );
    let moved = products
        .count_documents(doc! { "_rows": { "$exists": true }, "_hist": { "$exists": true } })
        .await
        .unwrap();
    assert_eq!(moved, 0, "a product kept both forms of its versions");
}

/// A `partials` or `daily` text of layout 4 as layout 3 wrote it.
fn as_layout_3(text: &str) -> String {
    use serde_json::{json, Map, Value};
    let mut entries: Vec<Value> = serde_json::from_str(text).unwrap();
    for entry in &mut entries {
        let f = entry["figures"].as_array().unwrap().clone();
        let (mut buckets, mut lo) = (Map::new(), Map::new());
        for row in f[7].as_array().unwrap() {
            let label = row[0].as_str().unwrap().to_owned();
            buckets.insert(label.clone(), row[1].clone());
            lo.insert(label, row[2].clone());
        }
        entry["figures"] = json!({
            "products": f[0], "priced": f[1], "price_micros": f[2],
            "bestsellers": f[3], "rated": f[4], "stars_micros": f[5],
            "bought_last_month": f[6], "buckets": buckets, "bucket_lo": lo,
        });
        // Layout 3 wrote a day's changes even when there were none.
        if entry.get("observed").is_some() && entry.get("changes").is_none() {
            entry["changes"] =
                serde_json::to_value(shelf_sink::daily::DayChanges::default()).unwrap();
        }
    }
    serde_json::to_string(&entries).unwrap()
}
