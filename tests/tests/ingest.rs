//! The ingest gateway against the real broker: what is acknowledged is in
//! the topic, keyed and partitioned by asin; what is refused says why.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use shelf_config::Platform;
use shelf_ingest::{Gateway, ServeArgs};
use shelf_tests::{gzip, ndjson_products, platform, product_json, read_topic};

const WAIT: Duration = Duration::from_secs(30);
const SETTLE: Duration = Duration::from_secs(1);

async fn start(p: &Platform, flags: &[&str]) -> (Gateway, String) {
    let mut all = vec!["--listen", "127.0.0.1:0"];
    all.extend_from_slice(flags);
    let gateway = Gateway::start(p, ServeArgs::from_flags(all).unwrap())
        .await
        .unwrap();
    let url = format!("http://{}", gateway.local_addr());
    (gateway, url)
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post(
    url: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let r = http()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_input_row_of_each_record_travels_as_headers() {
    let p = platform();
    let (gw, url) = start(&p, &[]).await;
    let products = format!("{url}/v1/products");
    let (nd, _) = ndjson_products("B0ORIGIN", 0, 4);
    let send = |lines: &'static str| {
        http()
            .post(&products)
            .header("content-type", "application/x-ndjson")
            .header("x-shelf-source", "/data/new%20products.csv")
            .header("x-shelf-lines", lines)
            .body(nd.clone())
            .send()
    };
    // Three lines for four records: refused, nothing written.
    let r = send("2-3,9").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let why = r.json::<Value>().await.unwrap()["error"].clone();
    assert!(
        why.as_str().unwrap().contains("3 lines for 4 records"),
        "{why}"
    );
    assert_eq!(send("2-3,9-10").await.unwrap().status(), StatusCode::OK);

    let got = read_topic(&p.kafka, &p.topics.ingest_product, 4, WAIT, SETTLE)
        .await
        .unwrap();
    assert_eq!(got.len(), 4, "only the accepted request");
    let mut rows: Vec<(String, &str, &str)> = got
        .iter()
        .map(|r| {
            (
                r.key_str().to_owned(),
                r.header("shelf-source").unwrap_or_default(),
                r.header("shelf-line").unwrap_or_default(),
            )
        })
        .collect();
    rows.sort();
    let source = "/data/new products.csv";
    assert_eq!(
        rows,
        [
            ("B0ORIGIN00".to_owned(), source, "2"),
            ("B0ORIGIN01".to_owned(), source, "3"),
            ("B0ORIGIN02".to_owned(), source, "9"),
            ("B0ORIGIN03".to_owned(), source, "10"),
        ]
    );
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_body_format_round_trips_keyed_by_asin() {
    let p = platform();
    let (gw, url) = start(&p, &[]).await;
    let products = format!("{url}/v1/products");

    // One object, with an asin that needs trimming and upper-casing.
    let single = product_json(" b0single01 ", 19.99, 3);
    let (s, b) = post(&products, "application/json", single.to_string()).await;
    assert_eq!((s, b), (StatusCode::OK, json!({"accepted": 1})));

    // An array, NDJSON, and gzip-compressed NDJSON.
    let array = json!([
        product_json("B0ARRAY001", 1.0, 1),
        product_json("B0ARRAY002", 2.0, 2)
    ]);
    let (s, b) = post(&products, "application/json", array.to_string()).await;
    assert_eq!((s, b["accepted"].clone()), (StatusCode::OK, json!(2)));

    let (nd, _) = ndjson_products("B0ND", 0, 3);
    let (s, b) = post(&products, "application/x-ndjson", nd.clone()).await;
    assert_eq!((s, b["accepted"].clone()), (StatusCode::OK, json!(3)));

    let (gz, _) = ndjson_products("B0GZ", 0, 4);
    let r = http()
        .post(&products)
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "gzip")
        .body(gzip(gz.as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["accepted"], 4);

    // A second version of the single product must follow the first into
    // the same partition.
    let v2 = product_json("B0SINGLE01", 17.5, 3);
    assert_eq!(
        post(&products, "application/json", v2.to_string()).await.0,
        StatusCode::OK
    );

    let cats = json!([{"id": 3, "category_name": "Kitchen & Dining"}, {"id": "12", "category_name": "Toys"}]);
    let (s, b) = post(
        &format!("{url}/v1/categories"),
        "application/json",
        cats.to_string(),
    )
    .await;
    assert_eq!((s, b["accepted"].clone()), (StatusCode::OK, json!(2)));

    let got = read_topic(&p.kafka, &p.topics.ingest_product, 11, WAIT, SETTLE)
        .await
        .unwrap();
    assert_eq!(got.len(), 11, "exactly the acknowledged records, no more");
    let mut by_key: HashMap<String, Vec<&shelf_tests::Record>> = HashMap::new();
    for r in &got {
        by_key.entry(r.key_str().to_owned()).or_default().push(r);
    }
    let single_versions = &by_key["B0SINGLE01"];
    assert_eq!(single_versions.len(), 2);
    assert_eq!(single_versions[0].partition, single_versions[1].partition);
    let mut versions = single_versions.clone();
    versions.sort_by_key(|r| r.offset);
    assert_eq!(
        versions[0].value,
        single.to_string().as_bytes(),
        "value is the record as sent"
    );
    assert_eq!(versions[1].json()["price"], 17.5);
    for key in [
        "B0ARRAY001",
        "B0ARRAY002",
        "B0ND000000",
        "B0ND000002",
        "B0GZ000003",
    ] {
        assert_eq!(by_key[key].len(), 1, "{key}");
        assert_eq!(by_key[key][0].json()["asin"], key);
    }
    // Keys spread over several of the six partitions.
    let partitions: std::collections::HashSet<i32> = got.iter().map(|r| r.partition).collect();
    assert!(partitions.len() > 1, "{partitions:?}");

    let cats = read_topic(&p.kafka, &p.topics.ingest_category, 2, WAIT, SETTLE)
        .await
        .unwrap();
    let mut keys: Vec<&str> = cats.iter().map(|r| r.key_str()).collect();
    keys.sort();
    assert_eq!(keys, ["12", "3"]);

    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn refused_requests_say_why_and_store_nothing() {
    let p = platform();
    let (gw, url) = start(
        &p,
        &["--max-body-bytes", "4096", "--max-record-bytes", "1024"],
    )
    .await;
    let products = format!("{url}/v1/products");

    // 400: every bad NDJSON line named; the good lines are not produced.
    let body = format!(
        "{}\n{{\"title\":\"no asin\"}}\n{{broken\n{}\n",
        product_json("B0GOOD0001", 1.0, 1),
        product_json("B0GOOD0002", 1.0, 1)
    );
    let (s, b) = post(&products, "application/x-ndjson", body).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(b["invalid"], 2);
    assert_eq!(
        b["errors"][0],
        json!({"line": 2, "error": "missing key field `asin`"})
    );
    assert_eq!(b["errors"][1]["line"], 3);
    assert!(b["errors"][1]["error"]
        .as_str()
        .unwrap()
        .starts_with("not valid JSON"));

    // 400 for a JSON array: by index.
    let (s, b) = post(&products, "application/json", r#"[{"asin":"B0X"}, 7]"#).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(b["errors"][0]["index"], 1);

    // 400: not JSON at all.
    let (s, b) = post(&products, "application/json", "asin,title\n").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        b["error"].as_str().unwrap().contains("not valid JSON"),
        "{b}"
    );

    // 413: body over the limit, and one record over the record limit.
    let (s, b) = post(&products, "application/x-ndjson", "x".repeat(5000)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    let big = json!({"asin": "B0BIG00001", "title": "y".repeat(2000)}).to_string();
    let (s, b) = post(&products, "application/json", big).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    assert_eq!(b["at"], json!({"index": 0}));
    // A gzip body that decompresses past the limit.
    let bomb = gzip(&vec![b' '; 100_000]);
    let r = http()
        .post(&products)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // 415: wrong content type or encoding.
    let (s, b) = post(&products, "text/csv", "asin\nB0X\n").await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(b["error"].as_str().unwrap().contains("text/csv"));
    let r = http()
        .post(&products)
        .header("content-type", "application/json")
        .header("content-encoding", "br")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // A marker accepted last: the topic holds it and nothing refused before.
    let marker = product_json("B0MARKER01", 1.0, 1).to_string();
    assert_eq!(
        post(&products, "application/json", marker).await.0,
        StatusCode::OK
    );
    let got = read_topic(&p.kafka, &p.topics.ingest_product, 1, WAIT, SETTLE)
        .await
        .unwrap();
    let keys: Vec<&str> = got.iter().map(|r| r.key_str()).collect();
    assert_eq!(keys, ["B0MARKER01"]);

    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn tokens_are_required_when_configured() {
    let p = platform();
    let (gw, url) = start(&p, &["--tokens", "s3cret,other"]).await;
    let products = format!("{url}/v1/products");
    let record = product_json("B0AUTH0001", 1.0, 1).to_string();

    let (s, b) = post(&products, "application/json", record.clone()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(b["error"].as_str().unwrap().contains("bearer token"));
    let r = http()
        .post(&products)
        .bearer_auth("wrong")
        .header("content-type", "application/json")
        .body(record.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = http()
        .post(&products)
        .bearer_auth("other")
        .header("content-type", "application/json")
        .body(record)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let p = platform();
    // Half a record per second: the first batch of 10 puts the client 9
    // records in debt, about 18 s to recover, however slow the machine is.
    let (gw, url) = start(&p, &["--rate-limit", "0.5"]).await;
    let products = format!("{url}/v1/products");
    let (batch, _) = ndjson_products("B0RATE", 0, 10);
    assert_eq!(
        post(&products, "application/x-ndjson", batch.clone())
            .await
            .0,
        StatusCode::OK
    );
    let r = http()
        .post(&products)
        .header("content-type", "application/x-ndjson")
        .body(batch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((10..=18).contains(&retry), "{retry}");
    gw.shutdown().await.unwrap();
}

/// With a tiny in-flight bound and no queue wait, concurrent requests are
/// turned away with 503 instead of queueing without end; every request that
/// got 200 is in the topic.
#[tokio::test]
async fn full_in_flight_bound_answers_503_and_loses_nothing() {
    let p = platform();
    let (gw, url) = start(
        &p,
        &["--max-in-flight-records", "5", "--queue-wait-ms", "0"],
    )
    .await;
    let products = format!("{url}/v1/products");
    let mut tasks = Vec::new();
    for i in 0..24 {
        let products = products.clone();
        tasks.push(tokio::spawn(async move {
            let (body, asins) = ndjson_products("B0BUSY", i * 5, 5);
            let r = http()
                .post(&products)
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .await
                .unwrap();
            let retry_after = r.headers().get("retry-after").is_some();
            (r.status(), retry_after, asins)
        }));
    }
    let mut accepted = Vec::new();
    let mut busy = 0;
    for t in tasks {
        let (status, retry_after, asins) = t.await.unwrap();
        match status {
            StatusCode::OK => accepted.extend(asins),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(retry_after);
                busy += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        busy > 0,
        "24 concurrent requests against a bound of 5 records"
    );
    assert!(!accepted.is_empty());
    let got = read_topic(
        &p.kafka,
        &p.topics.ingest_product,
        accepted.len(),
        WAIT,
        SETTLE,
    )
    .await
    .unwrap();
    let mut keys: Vec<String> = got.iter().map(|r| r.key_str().to_owned()).collect();
    keys.sort();
    accepted.sort();
    assert_eq!(keys, accepted);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let p = platform();
    let (gw, url) = start(&p, &[]).await;
    let get = |path: &str| http().get(format!("{url}{path}")).send();
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
    assert_eq!(get("/readyz").await.unwrap().status(), StatusCode::OK);
    let (batch, _) = ndjson_products("B0METR", 0, 3);
    post(&format!("{url}/v1/products"), "application/x-ndjson", batch).await;
    post(&format!("{url}/v1/products"), "text/plain", "x").await;
    let text = get("/metrics").await.unwrap().text().await.unwrap();
    for needle in [
        "shelf_ingest_requests_total{route=\"products\",status=\"200\"} 1",
        "shelf_ingest_requests_total{route=\"products\",status=\"415\"} 1",
        &format!(
            "shelf_ingest_records_accepted_total{{topic=\"{}\"}} 3",
            p.topics.ingest_product
        ),
        "shelf_ingest_produce_latency_seconds_count 1",
        "shelf_ingest_in_flight_records 0",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
    gw.shutdown().await.unwrap();
}
