//! A multi-day stream in reverse day order, with a late version inside a
//! day and a snapshot streamed twice, while one of two sink instances is
//! killed with kill -9 every few seconds: once drained, `products`,
//! `price_changes` and `category_daily` equal the contract's replay in
//! observation order (nothing counted twice, nothing lost).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use shelf_dataset::days::{generate_days, DaysArgs};
use shelf_dataset::GenerateArgs;
use shelf_tests::pipeline::{ClientProcess, GatewayProcess};
use shelf_tests::sink::SinkProcess;
use shelf_tests::transform::RuntimeProcess;
use shelf_tests::trends::{check_trends, Trends};
use shelf_tests::{closed_port, retry_check, unique};

/// `from`'s first `rows` products observed again at noon of its day, each
/// price a tenth lower: versions that arrive between two known ones.
fn noon_versions(from: &Path, to: &Path, rows: usize) {
    let mut reader = csv::Reader::from_path(from).unwrap();
    let header = reader.headers().unwrap().clone();
    let (price, at) = (
        header.iter().position(|h| h == "price").unwrap(),
        header.iter().position(|h| h == "observed_at").unwrap(),
    );
    let mut writer = csv::Writer::from_path(to).unwrap();
    writer.write_record(&header).unwrap();
    for row in reader.records().take(rows) {
        let mut cells: Vec<String> = row.unwrap().iter().map(str::to_owned).collect();
        let p: f64 = cells[price].parse().unwrap();
        cells[price] = format!("{:.2}", p * 0.9);
        cells[at] = format!("{}T12:00:00Z", cells[at]);
        writer.write_record(&cells).unwrap();
    }
    writer.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sinks_killed_mid_stream_leave_the_history_and_daily_figures_exact() {
    let dir = std::env::temp_dir().join(unique("shelf-trends-kill"));
    let generated = generate_days(
        &GenerateArgs {
            rows: 1500,
            out: dir.clone(),
            seed: 12,
            dirty: 0.0,
            updates: 0.0,
        },
        &DaysArgs {
            days: 8,
            start: "2023-09-01".into(),
        },
    )
    .unwrap();
    let files = generated.files;
    let noon = dir.join("products-2023-09-05-noon.csv");
    noon_versions(&files[4], &noon, 300);
    // Newest first, the noon versions before their day's midnight
    // snapshot, and day 3 twice (a replayed snapshot).
    let mut order: Vec<PathBuf> = files.iter().rev().cloned().collect();
    order.insert(3, noon.clone());
    order.push(files[2].clone());
    let mut all = files.clone();
    all.push(noon);
    let want = Trends::from_files(&all).unwrap();

    let p = shelf_tests::trends::pipeline_platform().await.unwrap();
    let gateway = GatewayProcess::start(&p, closed_port()).await.unwrap();
    let runtime = RuntimeProcess::spawn(&p, &unique("rt"), "0", 1000);
    runtime.ready(Duration::from_secs(60)).await.unwrap();
    let group = unique("sk");
    let steady = SinkProcess::start(&p, &group, "steady", 300).await;
    let mut victim = SinkProcess::start(&p, &group, "victim", 300).await;

    let categories = dir.join("categories.csv");
    let mut kills = 0;
    let mut last_kill = Instant::now();
    for (i, file) in order.iter().enumerate() {
        // Its own state: the replayed day is streamed again, not skipped.
        let state = dir.join(format!("state-{i}"));
        let mut client =
            ClientProcess::stream(file, Some(&categories), &state, &gateway.url(), 300, 800)
                .unwrap();
        while client.is_running() {
            if last_kill.elapsed() > Duration::from_secs(2) {
                victim.kill_9();
                kills += 1;
                victim = SinkProcess::start(&p, &group, "victim", 300).await;
                last_kill = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let status = client.wait(Duration::from_secs(1)).await.unwrap();
        assert!(
            status.success(),
            "shelf stream {}: {status}",
            file.display()
        );
    }
    assert!(kills >= 3, "only {kills} kills during the stream");

    let db = shelf_tests::sink::database(&p).await;
    retry_check(Duration::from_secs(240), Duration::from_secs(2), || {
        check_trends(&db, &want)
    })
    .await
    .unwrap_or_else(|e| panic!("after {kills} kills: {e:#}"));
    // And category_stats still equals the recomputation from products.
    let names: std::collections::HashMap<i64, String> = shelf_tests::sink::all(&db, "categories")
        .await
        .unwrap()
        .iter()
        .map(|d| {
            let id = shelf_tests::sink::int(d, "_id").unwrap();
            (id, d.get_str("name").unwrap().to_owned())
        })
        .collect();
    shelf_tests::sink::check_invariant(&db, &names)
        .await
        .unwrap();
    runtime.terminate().unwrap();
    drop((steady, victim));
    let _ = std::fs::remove_dir_all(&dir);
}
