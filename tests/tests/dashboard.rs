//! The dashboard in a real browser: a generated data set streams through
//! the real pipeline, `shelf dashboard` serves the page, and
//! `dashboard/check_in_browser.py` drives Debian's headless Chromium
//! through every view, comparing each figure with MongoDB. Then more
//! products stream in while the page stays open, and it must show them
//! without a reload; then FerretDB stops and starts again, and the page
//! must say so and recover. Screenshots land in `target/dashboard-shots/`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use shelf_tests::pipeline::{prepare, wait_for_store, ClientProcess, Services};
use shelf_tests::sink::{database, platform_env};
use shelf_tests::{closed_port, platform, platform_ctl, shelf_bin, wait_http_ok, ChildGuard};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_what_mongodb_holds_and_follows_the_stream() {
    let p = platform();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = shelf_tests::venv_python();
    let venv = python.parent().and_then(|bin| bin.parent()).unwrap();
    let (first, want) = prepare(&p, 3000, 11).await.unwrap();
    let services = Services::start(&p).await.unwrap();
    let client = ClientProcess::start(&first, &services.gateway.url(), 500, 0).unwrap();
    assert!(client
        .wait(Duration::from_secs(120))
        .await
        .unwrap()
        .success());
    let db = database(&p).await;
    wait_for_store(&db, &want, Duration::from_secs(120))
        .await
        .unwrap();
    // Two daily snapshots from today on, for the Trends tab and the price
    // histories.
    let daily = std::env::temp_dir().join(shelf_tests::unique("shelf-dash-days"));
    let today = shelf_contract::time::format_day(shelf_contract::time::day_number(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    ));
    let days = shelf_dataset::days::generate_days(
        &shelf_dataset::GenerateArgs {
            rows: 1000,
            out: daily.clone(),
            seed: 13,
            dirty: 0.0,
            updates: 0.0,
        },
        &shelf_dataset::days::DaysArgs {
            days: 2,
            start: today,
        },
    )
    .unwrap();
    for (i, file) in days.files.iter().enumerate() {
        let state = daily.join(format!("state-{i}"));
        let client =
            ClientProcess::stream(file, None, &state, &services.gateway.url(), 500, 0).unwrap();
        assert!(client
            .wait(Duration::from_secs(120))
            .await
            .unwrap()
            .success());
    }
    shelf_tests::retry_check(Duration::from_secs(120), Duration::from_secs(1), || async {
        let n = db
            .collection::<mongodb::bson::Document>("price_changes")
            .count_documents(mongodb::bson::doc! {})
            .await?;
        anyhow::ensure!(n > 0, "no price changes stored yet");
        Ok(())
    })
    .await
    .unwrap();

    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let _dashboard = ChildGuard(
        Command::new(shelf_bin())
            .current_dir(&root)
            .args(["dashboard", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--refresh", "2", "--sink-metrics", &services.sink.listen])
            .args(["--runtime-metrics", &services.runtime.listen])
            .args(["--gateway", &format!("127.0.0.1:{}", services.gateway.port)])
            .arg("--venv")
            .arg(venv)
            .envs(platform_env(&p))
            .stdout(Stdio::null())
            .spawn()
            .expect("start shelf dashboard"),
    );
    wait_http_ok(
        &format!("{url}/_stcore/health"),
        "dashboard",
        Duration::from_secs(60),
    )
    .await
    .unwrap();

    let shots = root.join("target/dashboard-shots");
    let mut check = Command::new(&python)
        .current_dir(&root)
        .args(["dashboard/check_in_browser.py", "--url", &url])
        .arg("--shots")
        .arg(&shots)
        .arg("--wait-for-more")
        .envs(platform_env(&p))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run dashboard/check_in_browser.py");
    let mut said = BufReader::new(check.stdout.take().unwrap()).lines();
    let mut out = Vec::new();
    // The first checks, until the script waits for more products.
    for line in said.by_ref() {
        let line = line.unwrap();
        println!("{line}");
        let ready = line == "READY";
        out.push(line);
        if ready {
            break;
        }
    }
    assert!(
        out.iter().any(|l| l == "READY"),
        "the browser checks failed:\n{}\n{:?}",
        out.join("\n"),
        check.wait()
    );

    // More products (another generated set: new asins, the same
    // categories) while the page is open.
    let more = std::env::temp_dir().join(shelf_tests::unique("shelf-dash-more"));
    shelf_dataset::generate(&shelf_dataset::GenerateArgs {
        rows: 1500,
        out: more.clone(),
        seed: 12,
        dirty: 0.0,
        updates: 0.0,
    })
    .unwrap();
    let mut stdin = check.stdin.take().unwrap();
    writeln!(stdin, "streaming").unwrap();
    let client = ClientProcess::start(&more, &services.gateway.url(), 300, 0).unwrap();
    assert!(client
        .wait(Duration::from_secs(120))
        .await
        .unwrap()
        .success());
    // Then the store goes away and comes back while the page is open.
    for line in said {
        let line = line.unwrap();
        println!("{line}");
        let action = match line.as_str() {
            "STOP-STORE" => Some("down"),
            "START-STORE" => Some("up"),
            _ => None,
        };
        out.push(line);
        if let Some(action) = action {
            tokio::task::spawn_blocking(move || platform_ctl(action, "ferretdb"))
                .await
                .unwrap();
            writeln!(stdin, "{action}").unwrap();
        }
    }
    let status = check.wait().unwrap();
    assert!(
        status.success(),
        "the browser checks failed: {status}\n{}",
        out.join("\n")
    );
    assert!(out.iter().any(|l| l.starts_with("live update:")));
    assert!(out.iter().any(|l| l.starts_with("store outage:")));
    for view in [
        "price-levels",
        "categories",
        "trends",
        "price-history",
        "category-drill-down",
        "product",
        "rejects",
        "after-more-products",
        "store-down",
        "renaming",
    ] {
        assert!(
            shots.join(format!("{view}.png")).exists(),
            "no screenshot of {view}"
        );
    }
    services.stop().unwrap();
}
