//! `shelf run` and `shelf status` against the real broker and store: the
//! three services under one supervisor, one log stream prefixed by
//! service, progress lines while busy, a crashed service restarted, lag 0
//! once drained, and one SIGTERM stopping all three cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shelf_tests::pipeline::{prepare, wait_for_store, ClientProcess};
use shelf_tests::sink::database;
use shelf_tests::{closed_port, platform, platform_env, shelf_bin, unique, ChildGuard};

/// `shelf status --json` for the test's ports: one JSON object per stage.
fn status(ports: &[u16; 3]) -> Vec<serde_json::Value> {
    let out = Command::new(shelf_bin())
        .arg("status")
        .arg("--json")
        .args(["--gateway", &format!("127.0.0.1:{}", ports[0])])
        .args(["--runtime-metrics", &format!("127.0.0.1:{}", ports[1])])
        .args(["--sink-metrics", &format!("127.0.0.1:{}", ports[2])])
        .args(["--interval", "0.5"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Polls `status` until `ok` holds for it, or panics after `within`.
fn status_until(
    ports: &[u16; 3],
    within: Duration,
    what: &str,
    ok: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let started = Instant::now();
    loop {
        let stages = status(ports);
        if ok(&stages) {
            return stages;
        }
        assert!(
            started.elapsed() < within,
            "{what} within {within:?}: {stages:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn all_up(stages: &[serde_json::Value]) -> bool {
    stages.len() == 3 && stages.iter().all(|s| s["up"] == true)
}

/// The pid `shelf run` logged for `service`'s latest start.
fn pid_of(lines: &[String], service: &str) -> Option<i32> {
    lines
        .iter()
        .rev()
        .filter(|l| l.contains("started") && l.contains(&format!("service=\"{service}\"")))
        .chain(
            lines
                .iter()
                .rev()
                .filter(|l| l.contains("started") && l.contains(&format!("service={service} "))),
        )
        .find_map(|l| {
            l.split("pid=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shelf_run_supervises_the_three_services_and_status_reads_them() {
    let p = platform();
    let (data, want) = prepare(&p, 2_000, 41).await.unwrap();
    let ports = [closed_port(), closed_port(), closed_port()];
    let mut child = Command::new(shelf_bin())
        .arg("run")
        .envs(platform_env(&p))
        .env("SHELF_INGEST_LISTEN", format!("127.0.0.1:{}", ports[0]))
        .env(
            "SHELF_TRANSFORM_METRICS_LISTEN",
            format!("127.0.0.1:{}", ports[1]),
        )
        .env(
            "SHELF_SINK_METRICS_LISTEN",
            format!("127.0.0.1:{}", ports[2]),
        )
        .env("SHELF_TRANSFORM_GROUP", unique("rt"))
        .env("SHELF_SINK_GROUP", unique("sk"))
        .env("SHELF_PROGRESS_SECS", "10")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let stderr = child.stderr.take().unwrap();
    let collected = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            collected.lock().unwrap().push(line);
        }
    });
    let supervisor = ChildGuard(child);
    let snapshot = || lines.lock().unwrap().clone();

    status_until(&ports, Duration::from_secs(90), "all three up", all_up);

    // About 13 s of streaming: long enough for a progress line.
    let client =
        ClientProcess::start(&data, &format!("http://127.0.0.1:{}", ports[0]), 100, 150).unwrap();
    let db = database(&p).await;
    wait_for_store(&db, &want, Duration::from_secs(120))
        .await
        .unwrap();
    client.wait(Duration::from_secs(30)).await.unwrap();

    // Drained: no lag, though the topics end in transaction markers.
    let stages = status_until(&ports, Duration::from_secs(30), "lag 0 at rest", |s| {
        all_up(s) && s[1]["lag"] == 0 && s[2]["lag"] == 0
    });
    assert!(
        stages[0]["records"].as_u64().unwrap()
            >= want.rows - (want.unparseable.len() + want.refused.len()) as u64,
        "{stages:?}"
    );
    assert!(stages[2]["records"].as_u64().unwrap() > 0, "{stages:?}");

    let log = snapshot();
    for prefix in ["gateway | ", "runtime | ", "sink    | "] {
        assert!(
            log.iter().any(|l| l.starts_with(prefix)),
            "no `{prefix}` lines: {log:#?}"
        );
    }
    assert!(
        log.iter()
            .any(|l| l.contains("sink progress") && l.contains("rate=")),
        "no progress line from the busy sink: {log:#?}"
    );
    assert!(
        log.iter().all(|l| !l.contains('\u{1b}')),
        "colour codes in a piped log"
    );

    // A crashed service is restarted.
    let sink = pid_of(&log, "sink").expect("the sink's pid in the log");
    // SAFETY: kills the test's own grandchild.
    unsafe { libc::kill(sink, libc::SIGKILL) };
    let started = Instant::now();
    let restarted = loop {
        if let Some(pid) = pid_of(&snapshot(), "sink").filter(|&p| p != sink) {
            break pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "sink not restarted"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        snapshot()
            .iter()
            .any(|l| l.contains("service exited; restarting")),
        "the restart is logged"
    );
    status_until(&ports, Duration::from_secs(60), "the sink back up", all_up);

    // One SIGTERM stops all three, cleanly.
    let gateway = pid_of(&snapshot(), "gateway").unwrap();
    let runtime = pid_of(&snapshot(), "runtime").unwrap();
    let mut supervisor = supervisor;
    // SAFETY: signals the test's own child.
    unsafe { libc::kill(supervisor.0.id() as i32, libc::SIGTERM) };
    let started = Instant::now();
    let status = loop {
        if let Some(status) = supervisor.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "shelf run did not stop"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "{status}: {:#?}", snapshot());
    for pid in [gateway, runtime, restarted] {
        assert!(
            !alive(pid),
            "pid {pid} still running after shelf run stopped"
        );
    }
    assert!(snapshot()
        .iter()
        .any(|l| l.contains("all services stopped")));
}
