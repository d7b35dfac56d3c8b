//! The whole pipeline on a generated dirty data set while its processes are
//! killed (-9) one after another mid-stream and restarted: the client, the
//! gateway, the transform runtime and the sink. Afterwards MongoDB holds
//! exactly what an independent recomputation from the CSV says, and the
//! client lists every unparseable and refused line once.
//!
//! A killed client resends the batches that were in flight, and a killed
//! gateway may have written a batch it never acknowledged: a faulty row in
//! such a batch can be listed twice in `rejects` (each with its own source
//! offset). Products and figures are keyed by asin and stay exact.

use std::time::Duration;

use shelf_tests::pipeline::{
    check_client_rejects, prepare, wait_for_store, ClientProcess, GatewayProcess,
};
use shelf_tests::sink::{database, SinkProcess};
use shelf_tests::transform::RuntimeProcess;
use shelf_tests::{closed_port, platform, unique};

/// Rows per second the client sends: the stream lasts about 16 s, long
/// enough for every kill to land while rows are still coming in.
const RATE: u64 = 1_500;
const PAUSE: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_each_process_mid_stream_changes_nothing_in_the_result() {
    let p = platform();
    let (dir, want) = prepare(&p, 24_000, 8).await.unwrap();

    let (runtime_group, sink_group) = (unique("rt"), unique("sk"));
    let port = closed_port();
    let mut gateway = GatewayProcess::start(&p, port).await.unwrap();
    let mut runtime = RuntimeProcess::spawn(&p, &runtime_group, "0", 1000);
    runtime.ready(Duration::from_secs(60)).await.unwrap();
    let mut sink = SinkProcess::start(&p, &sink_group, "0", 500).await;
    let mut client = ClientProcess::start(&dir, &gateway.url(), 200, RATE).unwrap();

    tokio::time::sleep(PAUSE).await;
    assert!(client.is_running(), "the client finished before its kill");
    client.kill_9();
    client = ClientProcess::start(&dir, &gateway.url(), 200, RATE).unwrap();

    tokio::time::sleep(PAUSE).await;
    gateway.kill_9();
    // The client retries with backoff meanwhile.
    tokio::time::sleep(Duration::from_secs(1)).await;
    gateway = GatewayProcess::start(&p, port).await.unwrap();

    tokio::time::sleep(PAUSE).await;
    assert!(
        client.is_running(),
        "the client finished before the runtime's kill"
    );
    runtime.kill_9();
    runtime = RuntimeProcess::spawn(&p, &runtime_group, "0", 1000);

    tokio::time::sleep(PAUSE).await;
    assert!(
        client.is_running(),
        "the client finished before the sink's kill"
    );
    sink.kill_9();
    sink = SinkProcess::start(&p, &sink_group, "0", 500).await;

    let status = client.wait(Duration::from_secs(180)).await.unwrap();
    assert!(status.success(), "shelf stream: {status}");
    check_client_rejects(&dir, &want).unwrap();

    let db = database(&p).await;
    wait_for_store(&db, &want, false, Duration::from_secs(300))
        .await
        .unwrap();
    runtime
        .terminate()
        .expect("runtime exits cleanly on SIGTERM");
    assert!(sink.terminate().success(), "sink exits cleanly on SIGTERM");
    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);
}
