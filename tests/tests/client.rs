//! `shelf stream` against the real gateway and broker: every CSV row ends
//! up acknowledged (in the topic), refused or reported unparseable, and an
//! interrupted run resumes after its last acknowledged batch.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use shelf_client::{Compression, StreamArgs};
use shelf_config::Platform;
use shelf_dataset::{GenerateArgs, Summary};
use shelf_ingest::{Gateway, ServeArgs};
use shelf_tests::{platform, read_topic, unique};

const SETTLE: Duration = Duration::from_secs(2);

async fn gateway(p: &Platform) -> (Gateway, String) {
    let gateway = Gateway::start(
        p,
        ServeArgs::from_flags(["--listen", "127.0.0.1:0"]).unwrap(),
    )
    .await
    .unwrap();
    let url = format!("http://{}", gateway.local_addr());
    (gateway, url)
}

fn dataset(rows: u64, dirty: f64) -> (PathBuf, Summary) {
    let out = std::env::temp_dir().join(unique("shelf-client-data"));
    let summary = shelf_dataset::generate(&GenerateArgs {
        rows,
        out: out.clone(),
        seed: 11,
        dirty,
        updates: 0.0,
    })
    .unwrap();
    (out, summary)
}

fn args(dir: &Path, url: &str) -> StreamArgs {
    StreamArgs {
        products: dir.join("products.csv"),
        categories: Some(dir.join("categories.csv")),
        gateway: url.to_owned(),
        token: None,
        batch_size: 250,
        concurrency: 3,
        max_attempts: 5,
        rate: 0,
        strict: false,
        state_dir: dir.join("state"),
        restart: false,
        quiet: true,
        observed_at: None,
        compression: Compression::Gzip,
    }
}

/// The records in the test's `ingest-product` topic, once `expected` are
/// there and nothing more arrives.
async fn ingested(p: &Platform, expected: usize) -> Vec<shelf_tests::Record> {
    read_topic(
        &p.kafka,
        &p.topics.ingest_product,
        expected,
        Duration::from_secs(60),
        SETTLE,
    )
    .await
    .unwrap()
}

/// Asins of the product rows the test itself can parse.
fn parseable_asins(dir: &Path) -> Vec<String> {
    shelf_tests::contract::product_rows(&dir.join("products.csv"))
        .unwrap()
        .into_iter()
        .filter_map(|(_, cells)| Some(cells?.swap_remove(0)))
        .collect()
}

fn asin_of(value: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(value).unwrap();
    v["asin"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_is_acknowledged_refused_or_reported() {
    let p = platform();
    let (gw, url) = gateway(&p).await;
    let (dir, summary) = dataset(3000, 0.05);
    let report = shelf_client::stream(&args(&dir, &url)).await.unwrap();
    let (_, products) = &report.counts[1];
    let (_, categories) = &report.counts[0];

    assert_eq!(categories.acknowledged, summary.categories);
    assert_eq!(products.read, 3000);
    assert_eq!(products.unparseable, summary.unparseable);
    assert_eq!(
        products.acknowledged + products.refused_total(),
        products.read - products.unparseable,
        "every parseable row acknowledged or refused: {products:?}"
    );
    let rejects = std::fs::read_to_string(&report.rejects_file).unwrap();
    assert_eq!(
        rejects.lines().count() as u64,
        products.unparseable + products.refused_total(),
        "each unparseable or refused row is listed with its line"
    );

    let stored = ingested(&p, products.acknowledged as usize).await;
    assert_eq!(stored.len() as u64, products.acknowledged, "each row once");
    let sent: HashSet<String> = stored.iter().map(|r| asin_of(&r.value)).collect();
    let csv: HashSet<String> = parseable_asins(&dir).into_iter().collect();
    assert!(sent.is_subset(&csv), "only rows of the file");

    // The same arguments again: the checkpoint says all is done.
    let again = shelf_client::stream(&args(&dir, &url)).await.unwrap();
    assert_eq!(again.counts[1].1, *products);
    assert!(
        matches!(
            &again.runs[1],
            shelf_client::Resumption::Skipped {
                finished_at: Some(_)
            }
        ),
        "{:?}",
        again.runs
    );
    let summary = again.to_string();
    assert!(
        summary.contains("already streamed on ")
            && summary.contains("0 sent now")
            && summary.contains("--restart"),
        "{summary}"
    );
    assert_eq!(report.runs[1], shelf_client::Resumption::Fresh);
    let after = ingested(&p, products.acknowledged as usize).await;
    assert_eq!(after.len(), stored.len(), "nothing sent twice");
    gw.shutdown().await.unwrap();
}

/// Writes `from` with its columns in reverse order.
fn reversed_columns(from: &Path, to: &Path) {
    let mut reader = csv::Reader::from_path(from).unwrap();
    let mut writer = csv::Writer::from_path(to).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .rev()
        .map(String::from)
        .collect();
    writer.write_record(&header).unwrap();
    for record in reader.records() {
        writer.write_record(record.unwrap().iter().rev()).unwrap();
    }
    writer.flush().unwrap();
}

/// Files whose columns come in another order are read by column name:
/// each record arrives with the cells of its own columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_in_another_order_are_read_by_name() {
    let p = platform();
    let (gw, url) = gateway(&p).await;
    let (dir, summary) = dataset(400, 0.0);
    let reordered = dir.join("reordered");
    std::fs::create_dir_all(&reordered).unwrap();
    for file in ["products.csv", "categories.csv"] {
        reversed_columns(&dir.join(file), &reordered.join(file));
    }
    let report = shelf_client::stream(&args(&reordered, &url)).await.unwrap();
    let (_, products) = &report.counts[1];
    assert_eq!(report.counts[0].1.acknowledged, summary.categories);
    assert_eq!(products.acknowledged, 400, "{products:?}");

    let stored = ingested(&p, 400).await;
    let rows: std::collections::HashMap<String, Vec<String>> =
        shelf_tests::contract::product_rows(&dir.join("products.csv"))
            .unwrap()
            .into_iter()
            .filter_map(|(_, cells)| cells)
            .map(|cells| (cells[0].clone(), cells))
            .collect();
    for record in &stored {
        let v: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
        let row = &rows[v["asin"].as_str().unwrap()];
        assert_eq!(v["title"], row[1].as_str(), "{v}");
        assert_eq!(v["category_id"].to_string(), row[8], "{v}");
        assert_eq!(v["boughtInLastMonth"].to_string(), row[10], "{v}");
    }
    let categories = read_topic(
        &p.kafka,
        &p.topics.ingest_category,
        summary.categories as usize,
        Duration::from_secs(60),
        SETTLE,
    )
    .await
    .unwrap();
    for record in &categories {
        let v: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
        assert!(v["id"].is_u64() && v["category_name"].is_string(), "{v}");
    }
    gw.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_sent_uncompressed_arrive_the_same() {
    let p = platform();
    let (gw, url) = gateway(&p).await;
    let (dir, summary) = dataset(600, 0.05);
    let report = shelf_client::stream(&StreamArgs {
        observed_at: None,
        compression: Compression::None,
        ..args(&dir, &url)
    })
    .await
    .unwrap();
    let (_, products) = &report.counts[1];
    assert_eq!(products.unparseable, summary.unparseable);
    assert!(products.acknowledged > 500, "{products:?}");
    assert_eq!(
        products.acknowledged + products.refused_total(),
        products.read - products.unparseable
    );
    let stored = ingested(&p, products.acknowledged as usize).await;
    assert_eq!(stored.len() as u64, products.acknowledged);
    gw.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_resumes_after_its_last_acknowledged_batch() {
    let p = platform();
    let (gw, url) = gateway(&p).await;
    let (dir, _) = dataset(6000, 0.0);
    let a = args(&dir, &url);

    // Interrupt once the checkpoint has moved past some batches.
    let first = tokio::spawn({
        let a = a.clone();
        async move { shelf_client::stream(&a).await }
    });
    let state = a.state_dir.clone();
    let moved = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let progressed = std::fs::read_dir(&state)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .any(|t| t.contains("/v1/products"));
            if progressed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    first.abort();
    let _ = first.await;
    moved.expect("the checkpoint moved");

    let report = shelf_client::stream(&a).await.unwrap();
    let (_, products) = &report.counts[1];
    assert_eq!(products.read, 6000, "rows counted once over both runs");
    let shelf_client::Resumption::Resumed { after_line } = report.runs[1] else {
        panic!("not resumed: {:?}", report.runs)
    };
    assert!(
        report
            .to_string()
            .contains(&format!("resumed at line {}", after_line + 1)),
        "{report}"
    );
    assert_eq!(products.acknowledged, 6000);

    let stored = ingested(&p, 6000).await;
    let distinct: HashSet<String> = stored.iter().map(|r| asin_of(&r.value)).collect();
    assert_eq!(distinct.len(), 6000, "every row arrived");
    // At most the batches in flight at the interruption arrive twice.
    let twice = stored.len() - distinct.len();
    assert!(twice <= 2 * 3 * 250, "{twice} rows sent twice");
    assert!(stored.len() < 2 * 6000, "resumed, not started over");
    gw.shutdown().await.unwrap();
}
