//! kill -9 of the sink at random points, ten times: after each restart and
//! drain the figures equal an independent recomputation and the data
//! contract's invariant holds (nothing counted twice, nothing lost).

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use shelf_tests::sink::{product_events, wait_for_all, with_categories, SinkProcess};
use shelf_tests::{platform, produce_with, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_a_loop_keeps_every_figure_exact() {
    let p = platform();
    let t = &p.topics;
    let categories = 20;
    let (db, kafka, names) = with_categories(&p, categories).await;

    // The same 1500 products in every cycle, each cycle changing some of
    // them again (new prices, categories, ratings): 3000 events, a few
    // seconds of work, so the kill lands mid-stream.
    let group = unique("g");
    let mut last = BTreeMap::new();
    let mut rng = rand::rng();
    let mut sink = SinkProcess::start(&p, &group, "0", 250).await;
    for cycle in 0..10u64 {
        let (events, states) = product_events(100 + cycle, "K", 1500, 2, categories);
        produce_with(&kafka, &t.product_clean, &events)
            .await
            .unwrap();
        last.extend(states);
        // The sink is busy with the new events when it is killed.
        tokio::time::sleep(Duration::from_millis(rng.random_range(10..800))).await;
        sink.kill_9();
        sink = SinkProcess::start(&p, &group, "0", 250).await;
        wait_for_all(&db, &last, &names, Duration::from_secs(120))
            .await
            .unwrap_or_else(|e| panic!("cycle {cycle}: {e:#}"));
    }
}
