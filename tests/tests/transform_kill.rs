//! kill -9 of the transform runtime at random points, ten times over, then
//! a run to the end: every input is reflected exactly once in the outputs
//! and dead letters (counted and compared by key and source offset).

use std::time::Duration;

use rand::Rng;
use shelf_tests::transform::{check_exactly_once, RuntimeProcess};
use shelf_tests::{deploy_standard_chain, platform, produce_all, raw_products, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_loses_and_duplicates_nothing() {
    let p = platform();
    deploy_standard_chain(&p, &[]).await.unwrap();
    let inputs = raw_products(0..30_000);
    produce_all(&p.kafka, &p.topics.ingest_product, &inputs)
        .await
        .unwrap();

    // Same group and instance id across restarts: the restarted runtime
    // fences and aborts what its killed predecessor left open. Small
    // batches, so a kill often lands between two transactions in flight.
    let group = unique("group");
    let mut rng = rand::rng();
    for cycle in 0..10 {
        let mut runtime = RuntimeProcess::spawn(&p, &group, "0", 200);
        runtime
            .ready(Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("cycle {cycle}: {e}"));
        tokio::time::sleep(Duration::from_millis(rng.random_range(20..800))).await;
        runtime.kill_9();
    }

    let runtime = RuntimeProcess::spawn(&p, &group, "0", 200);
    let checked = check_exactly_once(&p, &inputs, Duration::from_secs(180)).await;
    runtime.terminate().expect("graceful exit on SIGTERM");
    checked.unwrap();
}
