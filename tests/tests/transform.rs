//! The transform runtime against the real broker: outputs equal the native
//! rules, bad modules are contained, a new module version takes over
//! mid-stream with nothing lost or processed twice. (What users must be
//! able to trust beyond that: `transform_trust.rs`.)

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use shelf_contract::dead_letter::DeadLetter;
use shelf_contract::RejectReason;
use shelf_rules::BucketParams;
use shelf_tests::runtime::{
    deploy_into_default_chain, deploy_next_version, native, width_of, Runtime,
};
use shelf_tests::{deploy_standard_chain, platform, produce_all, raw_products, read_topic};

const WAIT: Duration = Duration::from_secs(90);
const SETTLE: Duration = Duration::from_secs(2);

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
    let p = platform();
    deploy_into_default_chain(&p, "chaos", "shelf_chaos", &[], &["chaos"]).await;
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
            deploy_next_version(&p, &[("width", "10")]).await.unwrap();
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
