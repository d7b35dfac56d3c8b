//! SIGTERM while clients are posting: the gateway stops accepting, finishes
//! what is in flight and exits 0, and every record of every 200 it answered
//! is in the topic.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use shelf_tests::{closed_port, ndjson_products, platform, read_topic, shelf_bin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_load_loses_no_acknowledged_record() {
    let p = platform();
    let port = closed_port();
    let mut child = Command::new(shelf_bin())
        .args(["ingest", "serve", "--listen", &format!("127.0.0.1:{port}")])
        .envs(shelf_tests::sink::platform_env(&p))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "gateway did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Four concurrent posters, each posting batches until the gateway is gone.
    let stop = Arc::new(AtomicBool::new(false));
    let mut posters = Vec::new();
    for w in 0..4 {
        let (client, url, stop) = (client.clone(), format!("{base}/v1/products"), stop.clone());
        posters.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            for b in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let (body, asins) = ndjson_products(&format!("B0T{w}"), b * 200, 200);
                match client
                    .post(&url)
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == StatusCode::OK => accepted.extend(asins),
                    Ok(_) => {}
                    Err(_) => break, // connection refused: the gateway has stopped listening
                }
            }
            accepted
        }));
    }

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    assert_eq!(exit.code(), Some(0), "graceful shutdown exits 0");

    let mut accepted = Vec::new();
    for p in posters {
        accepted.extend(p.await.unwrap());
    }
    assert!(
        accepted.len() >= 200,
        "some load was acknowledged before SIGTERM"
    );
    accepted.sort();
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
    // Every acknowledged record is there; records of requests that were cut
    // off may be there too (never answered 200, so the client would retry).
    let missing: Vec<&String> = accepted
        .iter()
        .filter(|a| keys.binary_search(a).is_err())
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged records missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}
