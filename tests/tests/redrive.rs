//! `shelf rejects replay` against the real broker and store (issue 24):
//! rows of a category the pipeline does not know yet are rejected; once the
//! category is deployed, a replay stores them exactly once, also when a
//! replay is killed midway and run again. A dry run writes nothing, and a
//! second replay of the same selection changes nothing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mongodb::bson::{doc, Document};
use serde_json::Value;
use shelf_config::Platform;
use shelf_rules::BucketParams;
use shelf_tests::runtime::{deploy_into_default_chain, native, Runtime};
use shelf_tests::sink::{create_sink_topics, database, SinkProcess};
use shelf_tests::{
    deploy_standard_chain, platform, platform_env, produce_all, raw_products, shelf_bin, unique,
    ChildGuard,
};

const WAIT: Duration = Duration::from_secs(120);
/// `raw_products` spreads products over categories 1–30.
const NEW_CATEGORY: i64 = 31;

fn shelf(p: &Platform, args: &[&str]) -> Command {
    let mut c = Command::new(shelf_bin());
    c.args(args).envs(platform_env(p)).env("NO_COLOR", "1");
    c
}

/// `shelf rejects replay ARGS`, run to its end.
fn replay(p: &Platform, args: &[&str]) -> Output {
    let mut argv = vec!["rejects", "replay", "--reason", "invalid_category"];
    argv.extend_from_slice(args);
    shelf(p, &argv).output().expect("shelf runs")
}

/// The outcome of each reject a replay printed.
fn outcomes(out: &Output) -> HashMap<String, Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            (v["reject"].as_str().unwrap().to_owned(), v)
        })
        .collect()
}

fn all_outcomes_are(out: &HashMap<String, Value>, outcome: &str) -> bool {
    out.values().all(|v| v["outcome"] == outcome)
}

async fn count(db: &mongodb::Database, coll: &str, filter: Document) -> u64 {
    db.collection::<Document>(coll)
        .count_documents(filter)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_of_a_new_category_are_redriven_exactly_once() {
    let p = platform();
    deploy_standard_chain(&p, &[]).await.unwrap();
    let modules = ["known-categories", "clean-price-bucket"];
    let known = [("ids", "1-30")];
    deploy_into_default_chain(&p, "known-categories", "known_categories", &known, &modules).await;
    create_sink_topics(&p).await;
    let runtime = Runtime::start(&p, &[]);
    let sink = SinkProcess::start(&p, &unique("sink"), "0", 500).await;

    // Valid products; every third one in the category not known yet.
    let inputs: Vec<(String, Vec<u8>)> = raw_products(0..1200)
        .into_iter()
        .filter(|(_, v)| native(v, BucketParams::default()).is_ok())
        .enumerate()
        .map(|(i, (asin, v))| {
            let mut json: Value = serde_json::from_slice(&v).unwrap();
            if i % 3 == 0 {
                json["category_id"] = NEW_CATEGORY.into();
            }
            (asin, serde_json::to_vec(&json).unwrap())
        })
        .collect();
    let new = inputs.len().div_ceil(3) as u64;
    let old = inputs.len() as u64 - new;
    produce_all(&p.kafka, &p.topics.ingest_product, &inputs)
        .await
        .unwrap();
    let db = database(&p).await;
    let unknown = doc! { "reason": "invalid_category", "stage": "transform" };
    shelf_tests::retry_check(WAIT, Duration::from_millis(300), || async {
        let (products, rejects) = (
            count(&db, "products", doc! {}).await,
            count(&db, "rejects", unknown.clone()).await,
        );
        anyhow::ensure!(
            products == old && rejects == new,
            "{products} of {old} products, {rejects} of {new} rejects"
        );
        Ok(())
    })
    .await
    .unwrap();

    // Before the fix: the chain still rejects them, for the same reason.
    let dry = replay(&p, &["--dry-run"]);
    assert!(dry.status.success(), "{dry:?}");
    let predicted = outcomes(&dry);
    assert_eq!(predicted.len() as u64, new);
    assert!(all_outcomes_are(&predicted, "unchanged"), "{predicted:?}");

    // The fix: the module's next version knows the category.
    let wasm = shelf_tests::wasm_path("known_categories");
    let deployed = shelf(
        &p,
        &[
            "transform",
            "deploy",
            "--name",
            "known-categories",
            "--wasm",
        ],
    )
    .arg(&wasm)
    .args(["--param", "ids=1-31"])
    .output()
    .unwrap();
    assert!(deployed.status.success(), "{deployed:?}");

    // A dry run now predicts them stored, and writes nothing.
    let dry = replay(&p, &["--dry-run", "--category", "31"]);
    let predicted = outcomes(&dry);
    assert_eq!(predicted.len() as u64, new, "{dry:?}");
    assert!(all_outcomes_are(&predicted, "stored"), "{predicted:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count(&db, "products", doc! {}).await, old);
    assert_eq!(
        count(&db, "rejects", doc! { "resolved": { "$exists": true } }).await,
        0
    );

    // A replay killed while it sends.
    let mut killed = ChildGuard(
        shelf(
            &p,
            &[
                "rejects",
                "replay",
                "--reason",
                "invalid_category",
                "--rate",
                "100",
                "--slice",
                "20",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let stderr = killed.stderr.take().unwrap();
    let first_sent = tokio::task::spawn_blocking(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains(" sent") && !l.ends_with(" 0 sent"))
    })
    .await
    .unwrap();
    killed.kill_9();
    assert!(first_sent.is_some(), "the replay never sent");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let resolved = doc! { "resolved": { "$exists": true } };
    let halfway = count(&db, "rejects", resolved.clone()).await;
    eprintln!("replay killed: {halfway} of {new} rejects resolved");
    assert!(
        halfway < new,
        "the replay was not killed midway: {halfway} of {new} resolved"
    );

    // Run again: everything stored once.
    let rerun = replay(&p, &["--wait-secs", "120"]);
    assert!(rerun.status.success(), "{rerun:?}");
    let settled = outcomes(&rerun);
    assert_eq!(settled.len() as u64 + halfway, new, "{rerun:?}");
    assert!(all_outcomes_are(&settled, "stored"), "{settled:?}");

    assert_eq!(count(&db, "products", doc! {}).await, old + new);
    assert_eq!(count(&db, "rejects", resolved).await, new);
    // The figures (merged a little after the products) count each once.
    shelf_tests::retry_check(WAIT, Duration::from_millis(500), || async {
        let category = db
            .collection::<Document>("category_stats")
            .find_one(doc! { "_id": NEW_CATEGORY })
            .await?
            .ok_or_else(|| anyhow::anyhow!("no figures for the new category"))?;
        let products = shelf_tests::sink::int(&category, "products")? as u64;
        anyhow::ensure!(products == new, "{products} of {new} products counted");
        shelf_tests::sink::check_invariant(&db, &HashMap::new()).await
    })
    .await
    .unwrap();
    // The redriven versions keep the time they were first received at.
    for r in shelf_tests::sink::all(&db, "rejects").await.unwrap() {
        let payload: Value = serde_json::from_str(r.get_str("payload").unwrap()).unwrap();
        let asin = payload["asin"].as_str().unwrap();
        let product = db
            .collection::<Document>("products")
            .find_one(doc! { "_id": asin })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            product.get_datetime("observed_at").unwrap(),
            r.get_datetime("received_at").unwrap(),
            "{asin}"
        );
        let chain = r
            .get_document("resolved")
            .unwrap()
            .get_str("chain")
            .unwrap();
        assert!(chain.contains("known-categories v2"), "{chain}");
    }

    // The same selection again: nothing left to replay, nothing changes.
    let figures = shelf_tests::sink::all(&db, "category_stats").await.unwrap();
    let again = replay(&p, &[]);
    assert!(again.status.success(), "{again:?}");
    assert!(outcomes(&again).is_empty(), "{again:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        shelf_tests::sink::all(&db, "category_stats").await.unwrap(),
        figures
    );
    runtime.stop();
    drop(sink);
}
