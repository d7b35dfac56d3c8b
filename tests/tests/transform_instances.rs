//! Two runtime instances in one consumer group share the input's
//! partitions: one joins mid-stream, the other leaves mid-stream, and every
//! input is still reflected exactly once.

use std::time::{Duration, Instant};

use shelf_tests::transform::{check_exactly_once, RuntimeProcess};
use shelf_tests::{deploy_standard_chain, platform, produce_all, raw_products, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_partitions_exactly_once() {
    let p = platform();
    deploy_standard_chain(&p, &[]).await.unwrap();
    let inputs = raw_products(0..40_000);
    let (first, second) = inputs.split_at(20_000);
    produce_all(&p.kafka, &p.topics.ingest_product, first)
        .await
        .unwrap();

    let group = unique("group");
    let a = RuntimeProcess::spawn(&p, &group, "a", 500);
    a.ready(Duration::from_secs(60)).await.unwrap();
    wait_for_progress(&a, 1.0).await;

    // B joins while A is working: the group rebalances mid-stream.
    let b = RuntimeProcess::spawn(&p, &group, "b", 500);
    b.ready(Duration::from_secs(60)).await.unwrap();
    produce_all(&p.kafka, &p.topics.ingest_product, second)
        .await
        .unwrap();
    wait_for_progress(&b, 1.0).await;

    // A leaves mid-stream; B takes over its partitions.
    let a_done = a.records_in().await.unwrap();
    a.terminate().expect("A: graceful exit on SIGTERM");
    let checked = check_exactly_once(&p, &inputs, Duration::from_secs(180)).await;
    let b_done = b.records_in().await.unwrap_or_default();
    b.terminate().expect("B: graceful exit on SIGTERM");
    checked.unwrap();
    assert!(
        a_done > 0.0 && b_done > 0.0,
        "both instances did work: A {a_done}, B {b_done}"
    );
}

/// Waits until the instance has committed at least `records` records.
async fn wait_for_progress(runtime: &RuntimeProcess, records: f64) {
    let started = Instant::now();
    while runtime.records_in().await.unwrap_or_default() < records {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no progress in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
