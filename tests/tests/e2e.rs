//! The whole pipeline, each stage its own process, on a generated data set
//! with faulty rows of every kind: every row is accounted for, and what
//! MongoDB holds (every product field, category figures, price buckets,
//! rejects) equals an independent recomputation from the CSV under the
//! data contract (`shelf_tests::contract`).

use std::time::Duration;

use shelf_tests::pipeline::{check_client_rejects, prepare, ClientProcess, Services};
use shelf_tests::{platform, read_topic};

const SETTLE: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dirty_csv_ends_up_in_mongodb_exactly_as_the_contract_says() {
    let p = platform();
    let (dir, want) = prepare(&p, 12_000, 7).await.unwrap();
    // The data set exercises every path: each reject reason, unparseable
    // lines and rows the gateway refuses.
    let reasons: std::collections::BTreeSet<_> = want.rejects.keys().map(|(r, _)| r).collect();
    assert_eq!(reasons.len(), 7, "reasons in the data set: {reasons:?}");
    assert!(!want.unparseable.is_empty() && !want.refused.is_empty());
    assert!(
        want.events > want.products.len() as u64,
        "later versions of some products"
    );

    let services = Services::start(&p).await.unwrap();

    let client = ClientProcess::start(&dir, &services.gateway.url(), 500, 0).unwrap();
    let status = client.wait(Duration::from_secs(120)).await.unwrap();
    assert!(status.success(), "shelf stream: {status}");
    check_client_rejects(&dir, &want).unwrap();

    // Reconciliation: every row read is unparseable, refused, rejected by
    // the transforms or a stored product, and the topics carry exactly
    // the records that passed each stage.
    let t = &p.topics;
    let sent = want.rows as usize - want.unparseable.len() - want.refused.len();
    let ingested = read_topic(
        &p.kafka,
        &t.ingest_product,
        sent,
        Duration::from_secs(60),
        SETTLE,
    )
    .await
    .unwrap();
    assert_eq!(ingested.len(), sent, "records in {}", t.ingest_product);
    let clean = read_topic(
        &p.kafka,
        &t.product_clean,
        want.events as usize,
        Duration::from_secs(120),
        SETTLE,
    )
    .await
    .unwrap();
    assert_eq!(
        clean.len() as u64,
        want.events,
        "records in {}",
        t.product_clean
    );
    assert_eq!(
        want.rows,
        (want.unparseable.len() + want.refused.len()) as u64 + want.events + want.rejected()
    );

    services
        .drain_and_stop(&p, &want, Duration::from_secs(240))
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
