//! Daily snapshots streamed in day order, in reverse day order, and with
//! the days shuffled across two clients at once, each into a pipeline of
//! its own (gateway, runtime and sink as processes): `products`,
//! `price_changes` and `category_daily` are the same in all three, and
//! equal the contract's replay of every observation in `(observed_at,
//! topic order)` (`shelf_tests::trends`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use shelf_dataset::days::{generate_days, DaysArgs};
use shelf_dataset::GenerateArgs;
use shelf_tests::pipeline::{ClientProcess, Services};
use shelf_tests::trends::{check_trends, Trends};
use shelf_tests::{retry_check, unique};

const DAYS: u32 = 10;

/// Streams `files` one after the other through `gateway`.
async fn stream(files: Vec<PathBuf>, categories: &Path, state: &Path, gateway: &str) {
    for file in files {
        let client =
            ClientProcess::stream(&file, Some(categories), state, gateway, 500, 0).unwrap();
        let status = client.wait(Duration::from_secs(180)).await.unwrap();
        assert!(
            status.success(),
            "shelf stream {}: {status}",
            file.display()
        );
    }
}

/// A pipeline of its own, fed by `feeds` (each a list of files streamed
/// in order, the feeds at once), drained and checked against `want`.
async fn pipeline(feeds: Vec<Vec<PathBuf>>, categories: PathBuf, want: &Trends, what: &str) {
    let p = shelf_tests::trends::pipeline_platform().await.unwrap();
    let services = Services::start(&p).await.unwrap();
    let state = std::env::temp_dir().join(unique("shelf-trends-state"));
    let url = services.gateway.url();
    let clients = feeds.into_iter().enumerate().map(|(i, files)| {
        let (categories, state, url) = (categories.clone(), state.join(i.to_string()), url.clone());
        async move { stream(files, &categories, &state, &url).await }
    });
    futures::future::join_all(clients).await;
    let db = shelf_tests::sink::database(&p).await;
    retry_check(Duration::from_secs(240), Duration::from_secs(2), || {
        check_trends(&db, want)
    })
    .await
    .unwrap_or_else(|e| panic!("{what}: {e:#}"));
    services.stop().unwrap();
    let _ = std::fs::remove_dir_all(&state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_snapshots_in_any_order_give_the_replay_of_observation_order() {
    let dir = std::env::temp_dir().join(unique("shelf-trends"));
    let generated = generate_days(
        &GenerateArgs {
            rows: 1500,
            out: dir.clone(),
            seed: 11,
            dirty: 0.0,
            updates: 0.0,
        },
        &DaysArgs {
            days: DAYS,
            start: "2023-09-01".into(),
        },
    )
    .unwrap();
    let files = generated.files.clone();
    let want = Trends::from_files(&files).unwrap();
    assert!(
        generated.price_changes > 300 && generated.moves > 0,
        "{generated:?}"
    );
    let categories = dir.join("categories.csv");

    let in_order = vec![files.clone()];
    let reversed = vec![files.iter().rev().cloned().collect()];
    let pick = |days: &[usize]| days.iter().map(|&d| files[d].clone()).collect::<Vec<_>>();
    let shuffled = vec![pick(&[7, 2, 9, 0, 5]), pick(&[4, 8, 1, 6, 3])];
    tokio::join!(
        pipeline(in_order, categories.clone(), &want, "in day order"),
        pipeline(reversed, categories.clone(), &want, "in reverse day order"),
        pipeline(
            shuffled,
            categories.clone(),
            &want,
            "shuffled over two clients"
        ),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
