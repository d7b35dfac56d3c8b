//! What users of transforms must be able to trust (issue 24), against the
//! real broker and store: the guide's module's field reaches `products`,
//! parameters are checked at deploy, a change applies to the next record,
//! pipelines do not fence each other, and no topic setting is ignored.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use shelf_rules::BucketParams;
use shelf_tests::runtime::{
    deploy_into_default_chain, deploy_next_version, native, width_of, Runtime,
};
use shelf_tests::{deploy_standard_chain, platform, produce_all, raw_products, read_topic};
use shelf_transform::registry::Deployments;

const WAIT: Duration = Duration::from_secs(90);
const SETTLE: Duration = Duration::from_secs(2);

/// Deploys version 2 of the standard chain's module with one parameter,
/// where version 1 has `width=5`, expecting a refusal: its message, and
/// the registry after it.
async fn refused_deploy(name: &str, value: &str) -> (String, Deployments) {
    use shelf_transform::registry::Registry;
    let p = platform();
    deploy_standard_chain(&p, &[("width", "5")]).await.unwrap();
    let err = deploy_next_version(&p, &[(name, value)]).await.unwrap_err();
    let registry = Registry::new(&shelf_tests::kafka(&p), &p.topics.transforms);
    let after = tokio::task::spawn_blocking(move || registry.load().unwrap())
        .await
        .unwrap();
    (err.to_string(), after)
}

/// A module that fails to initialise is refused at deploy with the reason,
/// and the registry keeps the working version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_deploy_replaces_nothing() {
    let (err, after) = refused_deploy("width", "-3").await;
    assert!(err.contains("refused") && err.contains("width"), "{err}");
    let kept = &after.modules["clean-price-bucket"];
    assert_eq!(kept.version, 1);
    assert_eq!(kept.params["width"], "5");
}

/// A module deployed while the runtime waits for records (idle, or with a
/// batch begun) applies to the records it then gets, not to the batch
/// after them: the runtime reads the registry to its end once a batch is
/// in hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_deployed_while_idle_applies_to_the_next_record() {
    let p = platform();
    deploy_standard_chain(&p, &[("width", "5")]).await.unwrap();
    // A batch is collected for up to 8 s after its first record: time to
    // deploy within one.
    let runtime = Runtime::start(&p, &["--batch-wait-ms", "8000"]);
    // Three products with a price in a bucket of their own width.
    let priced: Vec<(String, Vec<u8>)> = raw_products(0..200)
        .into_iter()
        .filter(|(_, v)| {
            native(v, BucketParams::default()).is_ok_and(|out| width_of(&out) == Some(5))
        })
        .take(3)
        .collect();
    assert_eq!(priced.len(), 3);
    let producer = shelf_tests::producer(&p.kafka).unwrap();
    shelf_tests::produce_with(&producer, &p.topics.ingest_product, &priced[..1])
        .await
        .unwrap();
    let first = read_topic(&p.kafka, &p.topics.product_clean, 1, WAIT, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(width_of(&first[0].value), Some(5));

    // Idle; a record opens a batch, v2 (width 10) is deployed, and one
    // more record comes in the same batch.
    tokio::time::sleep(Duration::from_millis(500)).await;
    shelf_tests::produce_with(&producer, &p.topics.ingest_product, &priced[1..2])
        .await
        .unwrap();
    deploy_next_version(&p, &[("width", "10")]).await.unwrap();
    shelf_tests::produce_with(&producer, &p.topics.ingest_product, &priced[2..])
        .await
        .unwrap();
    let outputs = read_topic(&p.kafka, &p.topics.product_clean, 3, WAIT, SETTLE)
        .await
        .unwrap();
    runtime.stop();
    let last = outputs
        .iter()
        .find(|r| r.key_str() == priced[2].0)
        .expect("the last record's output");
    assert_eq!(width_of(&last.value), Some(10), "the new version ran it");
}

/// Two pipelines running the default chain on their own topics, with the
/// default group and instance: each has its own transactional id, so
/// neither fences the other and each writes its outputs exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pipelines_with_the_default_chain_do_not_fence_each_other() {
    let (a, b) = (platform(), platform());
    deploy_standard_chain(&a, &[]).await.unwrap();
    deploy_standard_chain(&b, &[]).await.unwrap();
    let runtimes = [Runtime::start_default(&a), Runtime::start_default(&b)];
    let inputs = raw_products(0..3000);
    let valid = inputs
        .iter()
        .filter(|(_, v)| native(v, BucketParams::default()).is_ok())
        .count();
    let producer = shelf_tests::producer(&a.kafka).unwrap();
    for chunk in inputs.chunks(300) {
        for p in [&a, &b] {
            shelf_tests::produce_with(&producer, &p.topics.ingest_product, chunk)
                .await
                .unwrap();
        }
    }
    for p in [&a, &b] {
        let outputs = read_topic(&p.kafka, &p.topics.product_clean, valid, WAIT, SETTLE)
            .await
            .unwrap();
        assert_eq!(outputs.len(), valid, "{}", p.topics.product_clean);
    }
    for r in runtimes {
        r.stop();
    }
}

/// A parameter name the module does not take (a typo) is refused at
/// deploy with the name, and the working version stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelt_parameter_is_refused_at_deploy() {
    let (err, after) = refused_deploy("widht", "10").await;
    assert!(err.contains("unknown parameter `widht`"), "{err}");
    assert!(err.contains("width, cap"), "names what it takes: {err}");
    let kept = &after.modules["clean-price-bucket"];
    assert_eq!((kept.version, kept.params["width"].as_str()), (1, "5"));
}

/// `transform run` given an output topic its chain does not write to
/// refuses to start, naming both, instead of writing to the chain's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_setting_the_chain_would_ignore_is_refused() {
    let p = platform();
    deploy_standard_chain(&p, &[]).await.unwrap();
    let mut given = p.clone();
    given.topics.product_clean = format!("{}-elsewhere", p.topics.product_clean);
    let runtime = Runtime::start(&given, &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !runtime.handle.is_finished() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let finished = runtime.handle.is_finished();
    runtime.shutdown.store(true, Ordering::Relaxed);
    let result = runtime.handle.join().unwrap();
    assert!(finished, "the runtime started anyway");
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains("--topic-product-clean") && err.contains("-elsewhere`"),
        "{err}"
    );
    assert!(
        err.contains(&format!("`{}`", p.topics.product_clean)),
        "{err}"
    );
}

/// A field a user's module adds before `clean` and `price-bucket` (the
/// guide's `upper-title`) passes through both and reaches `products`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_added_before_the_built_in_modules_reaches_products() {
    use mongodb::bson::{doc, Document};
    let p = platform();
    deploy_standard_chain(&p, &[]).await.unwrap();
    let modules = ["upper-title", "clean", "price-bucket"];
    deploy_into_default_chain(&p, "upper-title", "upper_title", &[], &modules).await;
    shelf_tests::sink::create_sink_topics(&p).await;
    let runtime = Runtime::start(&p, &[]);
    let sink =
        shelf_tests::sink::SinkProcess::start(&p, &shelf_tests::unique("sink"), "0", 500).await;
    let inputs = raw_products(0..300);
    let valid = inputs
        .iter()
        .filter(|(_, v)| native(v, BucketParams::default()).is_ok())
        .count();
    produce_all(&p.kafka, &p.topics.ingest_product, &inputs)
        .await
        .unwrap();
    let db = shelf_tests::sink::database(&p).await;
    let products = db.collection::<Document>("products");
    shelf_tests::retry_check(WAIT, Duration::from_millis(200), || async {
        let n = products.count_documents(doc! {}).await?;
        anyhow::ensure!(n as usize == valid, "{n} of {valid} products stored");
        Ok(())
    })
    .await
    .unwrap();
    runtime.stop();
    drop(sink);
    let raw: HashMap<String, Value> = inputs
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::from_slice(v).unwrap()))
        .collect();
    for d in shelf_tests::sink::all(&db, "products").await.unwrap() {
        let asin = d.get_str("_id").unwrap();
        let original = d
            .get_str("title_original")
            .unwrap_or_else(|_| panic!("{d}"));
        assert_eq!(Some(original), raw[asin]["title"].as_str(), "{asin}");
        let title = d.get_str("title").unwrap();
        assert_eq!(title, title.to_uppercase(), "{asin}");
        assert!(d.get_str("price_bucket").is_ok(), "{asin}");
    }
}
