//! The transform runtime against the real broker: outputs equal the native
//! rules, bad modules are contained, a new module version takes over
//! mid-stream with nothing lost or processed twice.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use clap::Parser;
use serde_json::Value;
use shelf_config::Platform;
use shelf_contract::dead_letter::DeadLetter;
use shelf_contract::RejectReason;
use shelf_rules::{clean, derive, BucketParams};
use shelf_tests::{
    deploy_standard_chain, platform, produce_all, raw_products, read_topic, wasm_path,
};
use shelf_transform::{run_blocking, Metrics, RunArgs, RuntimeError};

const WAIT: Duration = Duration::from_secs(90);
const SETTLE: Duration = Duration::from_secs(2);

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    args: RunArgs,
}

struct Runtime {
    shutdown: Arc<AtomicBool>,
    handle: JoinHandle<Result<(), RuntimeError>>,
}

impl Runtime {
    fn start(p: &Platform, flags: &[&str]) -> Self {
        // Tests run in parallel: each runtime gets its own group and
        // transactional id, or they would share partitions and fence each other.
        let group = shelf_tests::unique("group");
        let instance = shelf_tests::unique("instance");
        let mut argv = vec!["run", "--metrics-listen", "127.0.0.1:0"];
        if !flags.contains(&"--batch-wait-ms") {
            argv.extend_from_slice(&["--batch-wait-ms", "20"]);
        }
        argv.extend_from_slice(&["--group", &group, "--instance", &instance]);
        argv.extend_from_slice(flags);
        let args = Flags::parse_from(argv).args;
        let shutdown = Arc::new(AtomicBool::new(false));
        let (p, stop) = (p.clone(), shutdown.clone());
        let handle = std::thread::spawn(move || {
            run_blocking(
                &p,
                &args,
                Arc::new(Metrics::default()),
                &AtomicBool::new(false),
                &stop,
            )
        });
        Self { shutdown, handle }
    }

    /// With the default group and instance (`0`): what a user who sets
    /// neither runs.
    fn start_default(p: &Platform) -> Self {
        let args = Flags::parse_from(["run", "--metrics-listen", "127.0.0.1:0"]).args;
        let shutdown = Arc::new(AtomicBool::new(false));
        let (p, stop) = (p.clone(), shutdown.clone());
        let handle = std::thread::spawn(move || {
            run_blocking(
                &p,
                &args,
                Arc::new(Metrics::default()),
                &AtomicBool::new(false),
                &stop,
            )
        });
        Self { shutdown, handle }
    }

    fn stop(self) {
        self.shutdown.store(true, Ordering::Relaxed);
        self.handle.join().unwrap().unwrap();
    }
}

/// The native verdict on a raw record: output bytes or reject reason.
fn native(raw: &[u8], params: BucketParams) -> Result<Vec<u8>, String> {
    let v: Value = serde_json::from_slice(raw).unwrap();
    clean(&v)
        .map(|p| serde_json::to_vec(&derive(p, params)).unwrap())
        .map_err(|r| r.reason.as_str().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_output_equals_the_native_rules() {
    let p = platform();
    deploy_standard_chain(&p, &[]).await.unwrap();
    let inputs = raw_products(0..3000);
    produce_all(&p.kafka, &p.topics.ingest_product, &inputs)
        .await
        .unwrap();
    let expected: Vec<(String, Result<Vec<u8>, String>)> = inputs
        .iter()
        .map(|(k, v)| (k.clone(), native(v, BucketParams::default())))
        .collect();
    let valid = expected.iter().filter(|(_, e)| e.is_ok()).count();
    assert!(valid > 1500 && valid < 2500, "{valid}");

    let runtime = Runtime::start(&p, &[]);
    let outputs = read_topic(&p.kafka, &p.topics.product_clean, valid, WAIT, SETTLE)
        .await
        .unwrap();
    let dlq = read_topic(&p.kafka, &p.topics.product_dlq, 3000 - valid, WAIT, SETTLE)
        .await
        .unwrap();
    runtime.stop();

    assert_eq!(
        outputs.len(),
        valid,
        "one output per valid input, no duplicates"
    );
    assert_eq!(dlq.len(), 3000 - valid, "one dead letter per invalid input");
    let by_key: HashMap<&str, &[u8]> = outputs
        .iter()
        .map(|r| (r.key_str(), r.value.as_slice()))
        .collect();
    let raw_by_text: HashMap<String, &str> = inputs
        .iter()
        .map(|(k, v)| (String::from_utf8(v.clone()).unwrap(), k.as_str()))
        .collect();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for letter in &dlq {
        let d: DeadLetter = serde_json::from_slice(&letter.value).unwrap();
        assert_eq!(d.read_at.topic, p.topics.ingest_product);
        let key = raw_by_text[&d.payload];
        let (_, want) = expected.iter().find(|(k, _)| k == key).unwrap();
        assert_eq!(Err(d.reason.as_str().to_owned()), *want, "{}", d.detail);
        *reasons.entry(d.reason.as_str().to_owned()).or_default() += 1;
    }
    assert_eq!(
        reasons.len(),
        7,
        "every contract reject reason: {reasons:?}"
    );
    for (key, want) in &expected {
        if let Ok(bytes) = want {
            let asin = key.trim().to_uppercase();
            assert_eq!(
                by_key.get(asin.as_str()).copied(),
                Some(bytes.as_slice()),
                "{asin}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_or_failing_module_costs_only_its_record() {
    use shelf_transform::{deploy, registry::Registry};
    let p = platform();
    let registry = Registry::new(&shelf_tests::kafka(&p), &p.topics.transforms);
    registry.ensure_topic().await.unwrap();
    let topics = p.topics.clone();
    tokio::task::spawn_blocking(move || {
        deploy::deploy(
            &registry,
            "chaos",
            &wasm_path("shelf_chaos"),
            Default::default(),
        )
        .unwrap();
        deploy::chain(
            &registry,
            "default",
            vec!["chaos".into()],
            &topics.ingest_product,
            &topics.product_clean,
            &topics.product_dlq,
        )
        .unwrap();
    })
    .await
    .unwrap();
    let inputs: Vec<(String, Vec<u8>)> = (0..200)
        .map(|i| {
            let body = match i {
                50 => "PANIC".to_owned(),
                120 => "ERR".to_owned(),
                _ => format!("record {i}"),
            };
            (format!("k{i}"), body.into_bytes())
        })
        .collect();
    produce_all(&p.kafka, &p.topics.ingest_product, &inputs)
        .await
        .unwrap();
    let runtime = Runtime::start(&p, &[]);
    let outputs = read_topic(&p.kafka, &p.topics.product_clean, 198, WAIT, SETTLE)
        .await
        .unwrap();
    let dlq = read_topic(&p.kafka, &p.topics.product_dlq, 2, WAIT, SETTLE)
        .await
        .unwrap();
    runtime.stop();
    assert_eq!(outputs.len(), 198);
    assert_eq!(dlq.len(), 2);
    let mut letters: Vec<DeadLetter> = dlq
        .iter()
        .map(|r| serde_json::from_slice(&r.value).unwrap())
        .collect();
    letters.sort_by(|a, b| a.payload.cmp(&b.payload));
    assert_eq!(letters[0].payload, "ERR");
    assert_eq!(letters[1].payload, "PANIC");
    for l in &letters {
        assert_eq!(l.reason, RejectReason::TransformError);
        assert!(l.detail.contains("chaos"), "{}", l.detail);
    }
    assert!(
        letters[0].detail.contains("asked to fail"),
        "{}",
        letters[0].detail
    );
    assert!(
        letters[1].detail.contains("trapped"),
        "{}",
        letters[1].detail
    );
}

/// The bucket width of an output (`lo-hi` labels only).
fn width_of(value: &[u8]) -> Option<u64> {
    let v: Value = serde_json::from_slice(value).ok()?;
    let (lo, hi) = v["price_bucket"].as_str()?.split_once('-')?;
    Some(hi.parse::<u64>().ok()? - lo.parse::<u64>().ok()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_module_version_takes_over_mid_stream() {
    let p = platform();
    deploy_standard_chain(&p, &[("width", "5")]).await.unwrap();
    let runtime = Runtime::start(&p, &["--batch-size", "300"]);

    let total = 6000;
    let mut valid = 0;
    let producer = shelf_tests::producer(&p.kafka).unwrap();
    for chunk in 0..30 {
        let inputs = raw_products(chunk * 200..(chunk + 1) * 200);
        valid += inputs
            .iter()
            .filter(|(_, v)| native(v, BucketParams::default()).is_ok())
            .count();
        shelf_tests::produce_with(&producer, &p.topics.ingest_product, &inputs)
            .await
            .unwrap();
        if chunk == 10 {
            // v1 has demonstrably run on what was produced so far...
            read_topic(
                &p.kafka,
                &p.topics.product_clean,
                valid,
                WAIT,
                Duration::ZERO,
            )
            .await
            .unwrap();
            // ...then v2 of the chain's module, deployed while the rest flows in.
            let registry = shelf_transform::registry::Registry::new(
                &shelf_tests::kafka(&p),
                &p.topics.transforms,
            );
            tokio::task::spawn_blocking(move || {
                shelf_transform::deploy::deploy(
                    &registry,
                    "clean-price-bucket",
                    &wasm_path("shelf_clean_price_bucket"),
                    [("width".to_owned(), "10".to_owned())].into(),
                )
                .unwrap()
            })
            .await
            .unwrap();
        }
        if chunk >= 25 {
            // Give the runtime time to see v2 well before the last chunks.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    let outputs = read_topic(&p.kafka, &p.topics.product_clean, valid, WAIT, SETTLE)
        .await
        .unwrap();
    runtime.stop();

    assert_eq!(
        outputs.len(),
        valid,
        "no output lost or duplicated across the swap"
    );
    let mut keys: Vec<&str> = outputs.iter().map(|r| r.key_str()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), valid);

    // Per partition, in offset order: width 5, then width 10, never back.
    let mut by_partition: BTreeMap<i32, Vec<&shelf_tests::Record>> = BTreeMap::new();
    for r in &outputs {
        by_partition.entry(r.partition).or_default().push(r);
    }
    let (mut fives, mut tens) = (0, 0);
    for records in by_partition.values_mut() {
        records.sort_by_key(|r| r.offset);
        let widths: Vec<u64> = records.iter().filter_map(|r| width_of(&r.value)).collect();
        let switch = widths.iter().position(|&w| w == 10).unwrap_or(widths.len());
        assert!(widths[..switch].iter().all(|&w| w == 5), "{widths:?}");
        assert!(
            widths[switch..].iter().all(|&w| w == 10),
            "switched back: {widths:?}"
        );
        fives += switch;
        tens += widths.len() - switch;
    }
    assert!(fives > 0 && tens > 0, "both versions ran: {fives} / {tens}");
    // The last chunk was produced well after v2 was deployed.
    let last: Vec<(String, Vec<u8>)> = raw_products((total - 200)..total);
    for (key, _) in last {
        if let Some(r) = outputs.iter().find(|r| r.key_str() == key) {
            if let Some(w) = width_of(&r.value) {
                assert_eq!(w, 10, "{key}");
            }
        }
    }
}

/// A module that fails to initialise is refused at deploy with the reason,
/// and the registry keeps the working version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_deploy_replaces_nothing() {
    use shelf_transform::{deploy, registry::Registry};
    let p = platform();
    deploy_standard_chain(&p, &[("width", "5")]).await.unwrap();
    let registry = Registry::new(&shelf_tests::kafka(&p), &p.topics.transforms);
    let (err, after) = tokio::task::spawn_blocking(move || {
        let err = deploy::deploy(
            &registry,
            "clean-price-bucket",
            &wasm_path("shelf_clean_price_bucket"),
            [("width".to_owned(), "-3".to_owned())].into(),
        )
        .unwrap_err();
        (err.to_string(), registry.load().unwrap())
    })
    .await
    .unwrap();
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
    let registry =
        shelf_transform::registry::Registry::new(&shelf_tests::kafka(&p), &p.topics.transforms);
    tokio::task::spawn_blocking(move || {
        shelf_transform::deploy::deploy(
            &registry,
            "clean-price-bucket",
            &wasm_path("shelf_clean_price_bucket"),
            [("width".to_owned(), "10".to_owned())].into(),
        )
        .unwrap()
    })
    .await
    .unwrap();
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
    use shelf_transform::{deploy, registry::Registry};
    let p = platform();
    deploy_standard_chain(&p, &[("width", "5")]).await.unwrap();
    let registry = Registry::new(&shelf_tests::kafka(&p), &p.topics.transforms);
    let (err, after) = tokio::task::spawn_blocking(move || {
        let err = deploy::deploy(
            &registry,
            "clean-price-bucket",
            &wasm_path("shelf_clean_price_bucket"),
            [("widht".to_owned(), "10".to_owned())].into(),
        )
        .unwrap_err();
        (err.to_string(), registry.load().unwrap())
    })
    .await
    .unwrap();
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
    use shelf_transform::{deploy, registry::Registry};
    let p = platform();
    deploy_standard_chain(&p, &[]).await.unwrap();
    let registry = Registry::new(&shelf_tests::kafka(&p), &p.topics.transforms);
    let topics = p.topics.clone();
    tokio::task::spawn_blocking(move || {
        deploy::deploy(
            &registry,
            "upper-title",
            &wasm_path("upper_title"),
            BTreeMap::new(),
        )
        .unwrap();
        let modules = ["upper-title", "clean", "price-bucket"].map(String::from);
        deploy::chain(
            &registry,
            "default",
            modules.to_vec(),
            &topics.ingest_product,
            &topics.product_clean,
            &topics.product_dlq,
        )
        .unwrap();
    })
    .await
    .unwrap();
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
