//! The whole pipeline on a generated dirty data set while its processes are
//! killed (-9) one after another mid-stream and restarted: the client, the
//! gateway, the transform runtime and the sink. Afterwards MongoDB holds
//! exactly what an independent recomputation from the CSV says, and the
//! client lists every unparseable and refused line once.
//!
//! A killed client resends the batches that were in flight, and a killed
//! gateway may have written a batch it never acknowledged, so some rows
//! reach the topic twice. Products and figures are keyed by asin, rejects
//! by their input row (file and line), so each still counts once.

use std::time::Duration;

use shelf_tests::pipeline::{check_client_rejects, prepare, ClientProcess, Services};
use shelf_tests::platform;

/// Rows per second the client sends: the stream lasts about 16 s, long
/// enough for every kill to land while rows are still coming in.
const RATE: u64 = 1_500;
const PAUSE: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_each_process_mid_stream_changes_nothing_in_the_result() {
    let p = platform();
    let (dir, want) = prepare(&p, 24_000, 8).await.unwrap();

    let mut services = Services::start(&p).await.unwrap();
    let mut client = ClientProcess::start(&dir, &services.gateway.url(), 200, RATE).unwrap();

    tokio::time::sleep(PAUSE).await;
    assert!(client.is_running(), "the client finished before its kill");
    client.kill_9();
    client = ClientProcess::start(&dir, &services.gateway.url(), 200, RATE).unwrap();

    tokio::time::sleep(PAUSE).await;
    // Down for a second; the client retries with backoff meanwhile.
    services
        .kill_gateway(&p, Duration::from_secs(1))
        .await
        .unwrap();

    tokio::time::sleep(PAUSE).await;
    assert!(
        client.is_running(),
        "the client finished before the runtime's kill"
    );
    services.kill_runtime(&p);

    tokio::time::sleep(PAUSE).await;
    assert!(
        client.is_running(),
        "the client finished before the sink's kill"
    );
    services.kill_sink(&p).await;

    let status = client.wait(Duration::from_secs(180)).await.unwrap();
    assert!(status.success(), "shelf stream: {status}");
    check_client_rejects(&dir, &want).unwrap();

    services
        .drain_and_stop(&p, &want, Duration::from_secs(300))
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
