//! Two versions of one product in batches that are in flight together: the
//! later row must be accepted last even when the earlier one's request is
//! slow and refused once (a 503 the client retries).
//!
//! The gateway here is a stand-in that records the order in which it accepts
//! records; what the real gateway does with them is tested in `tests/`.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use serde_json::Value;

#[derive(Clone, Default)]
struct StandIn {
    accepted: Arc<Mutex<Vec<Value>>>,
    refused_once: Arc<Mutex<bool>>,
}

/// Accepts NDJSON batches, except that the first request holding a record
/// priced 1 is answered 503 after a pause.
async fn products(State(s): State<StandIn>, body: axum::body::Bytes) -> impl IntoResponse {
    let mut text = String::new();
    if flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .is_err()
    {
        return (StatusCode::BAD_REQUEST, "not gzip".to_owned());
    }
    let records: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let slow = records.iter().any(|r| r["price"] == 1);
    if slow && !std::mem::replace(&mut *s.refused_once.lock().unwrap(), true) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        return (StatusCode::SERVICE_UNAVAILABLE, "busy".to_owned());
    }
    let n = records.len();
    s.accepted.lock().unwrap().extend(records);
    (StatusCode::OK, format!(r#"{{"accepted":{n}}}"#))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_version_is_accepted_after_an_earlier_one_that_was_retried() {
    let standin = StandIn::default();
    let app = Router::new()
        .route("/v1/products", post(products))
        .with_state(standin.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = std::env::temp_dir().join(format!("shelf-client-order-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("products.csv");
    let row = |asin: &str, price: u32| format!("{asin},Title,,,4.5,10,{price},0.0,7,False,0\n");
    let mut text = shelf_client::PRODUCT_COLUMNS.join(",") + "\n";
    // Version 1 of the product, another product, then version 2 (in
    // lower case: the gateway keys by the upper-cased asin).
    text += &row("B000000001", 1);
    text += &row("B000000002", 5);
    text += &row("b000000001", 2);
    std::fs::write(&csv, text).unwrap();

    let report = shelf_client::stream(&shelf_client::StreamArgs {
        products: csv,
        categories: None,
        gateway: url,
        token: None,
        batch_size: 1,
        concurrency: 4,
        max_attempts: 5,
        rate: 0,
        strict: false,
        state_dir: dir.join("state"),
        restart: true,
        quiet: true,
        observed_at: None,
        compression: shelf_client::Compression::Gzip,
    })
    .await
    .unwrap();
    assert_eq!(report.counts[0].1.acknowledged, 3);
    assert!(
        *standin.refused_once.lock().unwrap(),
        "the stand-in refused once"
    );

    let accepted = standin.accepted.lock().unwrap().clone();
    let prices: Vec<_> = accepted
        .iter()
        .filter(|r| {
            r["asin"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case("B000000001")
        })
        .map(|r| r["price"].clone())
        .collect();
    assert_eq!(prices, [1, 2], "versions in file order: {accepted:?}");
    // The other product did not wait for the retry.
    let first = accepted[0]["asin"].as_str().unwrap();
    assert_eq!(first, "B000000002", "{accepted:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
