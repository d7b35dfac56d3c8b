//! Two sink instances for the whole stream while one of them is killed
//! with kill -9 again and again: the partitions move between them and
//! back, a killed instance's last commands may land after its successor
//! started, and still, once drained, every figure equals an independent
//! recomputation (nothing counted twice, nothing lost).

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use shelf_tests::sink::{product_events, wait_for_all, with_categories, SinkProcess};
use shelf_tests::{platform, produce_with, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_with_one_killed_repeatedly_keep_every_figure_exact() {
    let p = platform();
    let t = &p.topics;
    let categories = 30;
    let (db, kafka, names) = with_categories(&p, categories).await;

    let group = unique("g");
    let steady = SinkProcess::start(&p, &group, "steady", 250).await;
    let mut victim = SinkProcess::start(&p, &group, "victim", 250).await;
    // Both in the group before the data arrives.
    tokio::time::sleep(Duration::from_secs(4)).await;

    // The same 2000 products in every round, each round changing some of
    // them again (prices, categories, ratings), produced in slices so the
    // stream is still running at every kill.
    let mut last = BTreeMap::new();
    let mut rng = rand::rng();
    for round in 0..6u64 {
        let (events, states) = product_events(700 + round, "V", 2000, 2, categories);
        for slice in events.chunks(events.len() / 3 + 1) {
            produce_with(&kafka, &t.product_clean, slice).await.unwrap();
            tokio::time::sleep(Duration::from_millis(rng.random_range(50..400))).await;
        }
        last.extend(states);
        victim.kill_9();
        // Sometimes back at once (it takes its partitions back as the same
        // static member), sometimes after the group has moved them.
        if round % 2 == 1 {
            tokio::time::sleep(Duration::from_secs(12)).await;
        }
        victim = SinkProcess::start(&p, &group, "victim", 250).await;
    }
    wait_for_all(&db, &last, &names, Duration::from_secs(180))
        .await
        .unwrap_or_else(|e| panic!("after the last restart: {e:#}"));

    let stored = format!(
        "shelf_sink_records_total{{topic=\"{}\",result=\"stored\"}}",
        t.product_clean
    );
    assert!(
        steady.metric(&stored).await.unwrap_or(0.0) > 0.0,
        "the steady instance stored records too"
    );
    // And they stay right once both have merged and verified again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    shelf_tests::sink::check_all(&db, &last, &names)
        .await
        .unwrap();
}
