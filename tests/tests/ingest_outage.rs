//! The broker goes away under load: the gateway answers 503 and never 200
//! for records the topic does not hold; once the broker is back, the same
//! requests succeed.
//!
//! This stops and restarts the platform's Kafka, so it is the only test in
//! its binary (cargo runs test binaries one after another).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use shelf_ingest::{Gateway, ServeArgs};
use shelf_tests::{ndjson_products, platform, platform_ctl, read_topic};

/// Puts Kafka back even when the test fails half-way.
struct RestartOnDrop;

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        platform_ctl("up", "kafka");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_gives_503_then_recovers_without_loss() {
    let p = platform();
    let args = ServeArgs::from_flags(["--listen", "127.0.0.1:0", "--delivery-timeout-ms", "4000"])
        .unwrap();
    let gw = Gateway::start(&p, args).await.unwrap();
    let url = format!("http://{}/v1/products", gw.local_addr());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let post = |body: String| {
        let client = client.clone();
        let url = url.clone();
        async move {
            client
                .post(&url)
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .await
                .map(|r| r.status())
        }
    };

    let batches: Vec<(String, Vec<String>)> = (0..40)
        .map(|i| ndjson_products("B0OUT", i * 50, 50))
        .collect();
    let mut accepted: Vec<String> = Vec::new();
    let mut refused: Vec<usize> = Vec::new();

    // Load before the outage.
    for (i, (body, asins)) in batches.iter().enumerate().take(10) {
        match post(body.clone()).await {
            Ok(StatusCode::OK) => accepted.extend(asins.iter().cloned()),
            other => panic!("batch {i} before the outage: {other:?}"),
        }
    }

    let guard = RestartOnDrop;
    tokio::task::spawn_blocking(|| platform_ctl("down", "kafka"))
        .await
        .unwrap();
    let mut saw_503 = false;
    for (i, (body, asins)) in batches.iter().enumerate().skip(10).take(4) {
        match post(body.clone()).await {
            Ok(StatusCode::OK) => accepted.extend(asins.iter().cloned()),
            Ok(StatusCode::SERVICE_UNAVAILABLE) => {
                saw_503 = true;
                refused.push(i);
            }
            other => panic!("batch {i} during the outage: {other:?}"),
        }
    }
    assert!(saw_503, "requests during the outage must get 503");
    let ready = reqwest::get(format!("http://{}/readyz", gw.local_addr()))
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    drop(guard); // Kafka back
                 // The refused requests, retried whole, and the rest of the load.
    let deadline = Instant::now() + Duration::from_secs(90);
    let pending: Vec<usize> = refused.iter().copied().chain(14..40).collect();
    for i in pending {
        let (body, asins) = &batches[i];
        loop {
            match post(body.clone()).await {
                Ok(StatusCode::OK) => {
                    accepted.extend(asins.iter().cloned());
                    break;
                }
                Ok(StatusCode::SERVICE_UNAVAILABLE) | Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                other => panic!("batch {i} after the outage: {other:?}"),
            }
        }
    }

    // Every acknowledged record is in the topic (duplicates from retries of
    // partly written requests are allowed: downstream upserts by key).
    accepted.sort();
    accepted.dedup();
    assert_eq!(accepted.len(), 40 * 50);
    let got = read_topic(
        &p.kafka,
        &p.topics.ingest_product,
        accepted.len(),
        Duration::from_secs(60),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    let keys = shelf_tests::distinct_keys(&got);
    assert_eq!(keys, accepted);
    gw.shutdown().await.unwrap();
}
