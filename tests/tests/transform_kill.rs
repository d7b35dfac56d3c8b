//! kill -9 of the transform runtime at random points, ten times over, then
//! a run to the end: every input is reflected exactly once in the outputs
//! and dead letters (counted and compared by key and source offset).

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::Rng;
use shelf_rules::dead_letter::DeadLetter;
use shelf_tests::{
    deploy_standard_chain, platform, produce_all, raw_products, read_topic, shelf_bin, unique,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_loses_and_duplicates_nothing() {
    let p = platform();
    deploy_standard_chain(&p, &[]).await.unwrap();
    let n = 30_000;
    let inputs = raw_products(0..n);
    let valid = inputs
        .iter()
        .filter(|(_, v)| shelf_rules::clean_bytes(v).is_ok())
        .count();
    produce_all(&p.kafka, &p.topics.ingest_product, &inputs)
        .await
        .unwrap();

    // Same group and instance id across restarts: the restarted runtime
    // fences and aborts what its killed predecessor left open.
    let group = unique("group");
    let listen = format!("127.0.0.1:{}", shelf_tests::closed_port());
    let spawn = || {
        Command::new(shelf_bin())
            .args([
                "transform",
                "run",
                "--metrics-listen",
                &listen,
                "--batch-size",
                "200",
            ])
            .args(["--group", &group, "--instance", "0"])
            .env("SHELF_KAFKA", &p.kafka)
            .env("SHELF_TOPIC_TRANSFORMS", &p.topics.transforms)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Each kill lands while the runtime is working: after it reports ready
    // (modules compiled, transactions initialised), at a random moment.
    let ready = format!("http://{listen}/readyz");
    let mut rng = rand::rng();
    for cycle in 0..10 {
        let mut child = spawn();
        let started = std::time::Instant::now();
        while !reqwest::get(&ready)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "cycle {cycle}: runtime not ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(20..800))).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }

    let mut child = spawn();
    let outputs = read_topic(
        &p.kafka,
        &p.topics.product_clean,
        valid,
        Duration::from_secs(180),
        Duration::from_secs(3),
    )
    .await;
    let dlq = read_topic(
        &p.kafka,
        &p.topics.product_dlq,
        n - valid,
        Duration::from_secs(60),
        Duration::from_secs(3),
    )
    .await;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let (outputs, dlq) = (outputs.unwrap(), dlq.unwrap());
    assert_eq!(status.code(), Some(0), "SIGTERM: graceful exit");

    assert_eq!(outputs.len(), valid, "outputs: none lost, none twice");
    let keys: HashSet<&str> = outputs.iter().map(|r| r.key_str()).collect();
    assert_eq!(keys.len(), valid);
    let want: HashSet<String> = inputs
        .iter()
        .filter(|(_, v)| shelf_rules::clean_bytes(v).is_ok())
        .map(|(k, _)| k.clone())
        .collect();
    assert!(keys.iter().all(|k| want.contains(*k)));

    assert_eq!(dlq.len(), n - valid, "dead letters: none lost, none twice");
    let sources: HashSet<(i32, i64)> = dlq
        .iter()
        .map(|r| {
            let d: DeadLetter = serde_json::from_slice(&r.value).unwrap();
            (d.source.partition, d.source.offset)
        })
        .collect();
    assert_eq!(sources.len(), n - valid);
}
