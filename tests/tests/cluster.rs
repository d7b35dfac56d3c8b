//! A three-broker cluster (replication 3, min.insync.replicas 2, the
//! transaction log too) that loses a broker mid-stream: two transform
//! runtimes and two sinks share the work while one broker, the one
//! coordinating the runtimes' group, is killed (-9) and later restarted.
//! Afterwards MongoDB holds exactly what an
//! independent recomputation from the CSV says: nothing lost, nothing
//! counted twice. The gateway may answer 503 while it cannot get its acks;
//! a 200 it gave for a record that was then lost would show as a missing
//! product.

use std::time::Duration;

use shelf_config::{KafkaSettings, Platform};
use shelf_tests::brokers::Cluster;
use shelf_tests::pipeline::{
    check_client_rejects, prepare, wait_for_store, ClientProcess, GatewayProcess,
};
use shelf_tests::sink::{database, SinkProcess};
use shelf_tests::transform::RuntimeProcess;
use shelf_tests::{closed_port, platform, unique};

/// Rows per second the client sends: the stream lasts about 15 s.
const RATE: u64 = 1_000;
/// First plaintext port of the cluster (node i: this + 3(i-1)).
const PORT: u16 = 19092;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_a_broker_mid_stream_loses_nothing_and_counts_nothing_twice() {
    let port = std::env::var("SHELF_TEST_CLUSTER_PORT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PORT);
    let dir = std::env::temp_dir().join(unique("shelf-cluster"));
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(dir, port))
        .await
        .unwrap()
        .unwrap();
    let p = Platform {
        kafka: KafkaSettings::plaintext(cluster.bootstrap()),
        ..platform()
    };
    let (data, want) = prepare(&p, 15_000, 31).await.unwrap();

    let gateway = GatewayProcess::start(&p, closed_port()).await.unwrap();
    let (runtime_group, sink_group) = (unique("rt"), unique("sk"));
    let runtimes = ["0", "1"].map(|i| RuntimeProcess::spawn(&p, &runtime_group, i, 1000));
    for runtime in &runtimes {
        runtime.ready(Duration::from_secs(90)).await.unwrap();
    }
    let mut sinks = Vec::new();
    for i in ["0", "1"] {
        sinks.push(SinkProcess::start(&p, &sink_group, i, 500).await);
    }
    let client = ClientProcess::start(&data, &gateway.url(), 200, RATE).unwrap();

    tokio::time::sleep(Duration::from_secs(4)).await;
    // The broker coordinating the runtimes' group: their transactions add
    // the consumed offsets through it, the step librdkafka once waited on
    // for ever when its broker died (docs/platform.md).
    let node = cluster.group_coordinator(&runtime_group).unwrap();
    cluster.kill_9(node).unwrap();
    eprintln!("broker {node} killed (it coordinated group {runtime_group})");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let cluster = tokio::task::spawn_blocking(move || cluster.restart_missing().map(|()| cluster))
        .await
        .unwrap()
        .unwrap();
    eprintln!("broker {node} restarted");

    let status = client.wait(Duration::from_secs(240)).await.unwrap();
    assert!(status.success(), "shelf stream: {status}");
    check_client_rejects(&data, &want).unwrap();
    let stored = wait_for_store(&database(&p).await, &want, Duration::from_secs(300)).await;
    if let Err(e) = stored {
        // Which stage stopped: each process's counters and lag.
        let listens = runtimes.iter().map(|r| ("runtime", &r.listen));
        for (stage, listen) in listens.chain(sinks.iter().map(|s| ("sink", &s.listen))) {
            eprintln!("{stage} at {listen}:\n{}", progress(listen).await);
        }
        panic!("{e:?}");
    }
    eprintln!(
        "gateway answers 503: {:.0}",
        unavailable_answers(&gateway).await.abs()
    );

    for runtime in runtimes {
        runtime.terminate().unwrap();
    }
    for sink in sinks {
        assert!(sink.terminate().success(), "sink on SIGTERM");
    }
    drop(cluster);
    let _ = std::fs::remove_dir_all(&data);
}

/// Requests the gateway answered with 503 (no acks in time).
async fn unavailable_answers(gateway: &GatewayProcess) -> f64 {
    let text = reqwest::get(format!("{}/metrics", gateway.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("shelf_ingest_requests_total") && l.contains("status=\"503\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The lines of a process's `/metrics` that say how far it got.
async fn progress(listen: &str) -> String {
    let text = match reqwest::get(format!("http://{listen}/metrics")).await {
        Ok(answer) => answer.text().await.unwrap_or_default(),
        Err(e) => return format!("no metrics: {e}"),
    };
    let wanted = [
        "records",
        "lag",
        "transactions",
        "batches",
        "rebalance",
        "restarts",
    ];
    text.lines()
        .filter(|l| !l.starts_with('#') && wanted.iter().any(|w| l.contains(w)))
        .collect::<Vec<_>>()
        .join("\n")
}
