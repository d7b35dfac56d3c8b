//! FerretDB stopped and restarted under the sink mid-stream: the sink
//! reports not ready, waits, and resumes without loss or double counting.
//! (A file of its own: stopping the store would disturb other tests.)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use shelf_tests::sink::{
    category_name, category_records, create_sink_topics, database, product_events, wait_for_all,
    SinkProcess,
};
use shelf_tests::{platform, platform_ctl, produce_all, unique};

/// Puts FerretDB back even when the test fails half-way.
struct RestartOnDrop;

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        platform_ctl("up", "ferretdb");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_going_away_mid_stream_loses_nothing() {
    let p = platform();
    let t = &p.topics;
    create_sink_topics(&p).await;
    let db = database(&p).await;
    produce_all(&p.kafka, &t.ingest_category, &category_records(1..=8))
        .await
        .unwrap();
    let names: HashMap<i64, String> = (1..=8).map(|id| (id, category_name(id))).collect();
    let (first, mut last) = product_events(7, "F", 600, 3, 8);
    produce_all(&p.kafka, &t.product_clean, &first)
        .await
        .unwrap();

    let sink = SinkProcess::start(&p, &unique("g"), "0", 100).await;
    // Stop the store while the sink is writing.
    let started = Instant::now();
    while db
        .collection::<mongodb::bson::Document>("products")
        .estimated_document_count()
        .await
        .unwrap_or(0)
        < 200
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "sink never wrote"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _restart = RestartOnDrop;
    platform_ctl("down", "ferretdb");
    // More data arrives while the store is away.
    let (second, states) = product_events(8, "F", 600, 2, 8);
    produce_all(&p.kafka, &t.product_clean, &second)
        .await
        .unwrap();
    last.extend(states);
    let down = Instant::now();
    let mut saw_unready = false;
    while down.elapsed() < Duration::from_secs(15) && !saw_unready {
        saw_unready = sink.readyz().await == Some(503);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    platform_ctl("up", "ferretdb");
    assert!(
        saw_unready,
        "/readyz kept saying ready while the store was down"
    );

    // Generous: on a loaded CI machine the store comes back slowly.
    wait_for_all(&db, &last, &names, Duration::from_secs(240))
        .await
        .unwrap();
    assert_eq!(sink.readyz().await, Some(200));
    assert!(
        sink.metric("shelf_sink_store_errors_total")
            .await
            .unwrap_or(0.0)
            >= 1.0
    );
}
