//! SIGTERM while the store hangs (FerretDB stopped with SIGSTOP, so its
//! connections stay open and nothing answers): the sink exits within
//! seconds, long before its store timeout, and commits nothing it did not
//! store; a new sink then stores everything exactly once.
//! (A file of its own: stopping the store would disturb other tests.)

use std::time::{Duration, Instant};

use shelf_tests::sink::{product_events, wait_for_all, with_categories, SinkProcess};
use shelf_tests::{platform, platform_signal, produce_with, unique};

/// Lets FerretDB go on even when the test fails half-way.
struct ContinueOnDrop;

impl Drop for ContinueOnDrop {
    fn drop(&mut self) {
        platform_signal("ferretdb", "CONT");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_is_obeyed_within_seconds_while_a_store_command_hangs() {
    let p = platform();
    let (db, kafka, names) = with_categories(&p, 8).await;
    let (first, mut last) = product_events(31, "H", 300, 2, 8);
    produce_with(&kafka, &p.topics.product_clean, &first)
        .await
        .unwrap();
    let group = unique("g");
    // A store timeout far longer than the shutdown may take.
    let flags = ["--store-timeout-ms", "60000"];
    let sink = SinkProcess::start_with(&p, &group, "0", 100, &flags).await;
    wait_for_all(&db, &last, &names, Duration::from_secs(60))
        .await
        .unwrap();

    let _resume = ContinueOnDrop;
    platform_signal("ferretdb", "STOP");
    let (second, states) = product_events(32, "H", 300, 2, 8);
    produce_with(&kafka, &p.topics.product_clean, &second)
        .await
        .unwrap();
    last.extend(states);
    // The sink is now waiting on a store command that will not answer.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let asked = Instant::now();
    let status = sink.terminate();
    let took = asked.elapsed();
    platform_signal("ferretdb", "CONT");
    assert!(status.success(), "sink on SIGTERM: {status}");
    assert!(
        took < Duration::from_secs(10),
        "the sink took {took:?} to obey SIGTERM while the store hung"
    );

    // Nothing of the abandoned batch was committed: a new sink stores it.
    let sink = SinkProcess::start_with(&p, &group, "0", 100, &flags).await;
    wait_for_all(&db, &last, &names, Duration::from_secs(120))
        .await
        .unwrap();
    assert!(sink.terminate().success());
}
