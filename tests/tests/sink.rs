//! The sink against real Kafka and FerretDB: exact figures with repeated
//! asins that change price and category, late categories, poison records,
//! dead letters, and two instances at once.

use std::collections::HashMap;
use std::time::Duration;

use mongodb::bson::{doc, Document, RawDocumentBuf};
use shelf_sink::plan::PriceChangeWrite;
use shelf_tests::sink::{
    category_name, category_records, check_all, create_sink_topics, database, product_events,
    wait_for_all, SinkProcess,
};
use shelf_tests::{platform, produce_all, unique};

const CATEGORIES: i64 = 12;

fn names(ids: impl IntoIterator<Item = i64>) -> HashMap<i64, String> {
    ids.into_iter().map(|id| (id, category_name(id))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_are_exact_and_late_categories_name_what_came_before() {
    let p = platform();
    create_sink_topics(&p).await;
    let db = database(&p).await;
    // Half the categories arrive before the products, half after.
    let early = 1..=CATEGORIES / 2;
    let late = CATEGORIES / 2 + 1..=CATEGORIES;
    produce_all(
        &p.kafka,
        &p.topics.ingest_category,
        &category_records(early.clone()),
    )
    .await
    .unwrap();
    let (events, last) = product_events(1, "S", 400, 5, CATEGORIES);
    assert!(events.len() > 800, "versions repeat: {}", events.len());
    produce_all(&p.kafka, &p.topics.product_clean, &events)
        .await
        .unwrap();

    let sink = SinkProcess::start(&p, &unique("g"), "0", 300).await;
    wait_for_all(&db, &last, &names(early.clone()), Duration::from_secs(90))
        .await
        .unwrap();

    produce_all(&p.kafka, &p.topics.ingest_category, &category_records(late))
        .await
        .unwrap();
    wait_for_all(&db, &last, &names(1..=CATEGORIES), Duration::from_secs(60))
        .await
        .unwrap();
    let categories: Vec<Document> = futures::TryStreamExt::try_collect(
        db.collection::<Document>("categories")
            .find(doc! {})
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(categories.len(), CATEGORIES as usize);

    // SIGTERM: a clean exit.
    assert!(sink.terminate().success());
}

/// Categories that arrive after thousands of their products: the stored
/// products are renamed in slices between batches, so new products are
/// stored while the renaming still goes on, instead of waiting behind one
/// command that renames them all (which grew with the store until it
/// timed out for ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_categories_rename_stored_products_in_slices_while_new_ones_keep_coming() {
    const BEFORE: usize = 20_000;
    const AFTER: usize = 1_000;
    let p = platform();
    create_sink_topics(&p).await;
    let db = database(&p).await;
    let (events, mut last) = product_events(21, "L", BEFORE, 1, CATEGORIES);
    produce_all(&p.kafka, &p.topics.product_clean, &events)
        .await
        .unwrap();
    // Small slices: the renaming lasts long enough to watch it.
    let flags = ["--rename-slice", "100", "--rename-budget-ms", "0"];
    let group = unique("g");
    let sink = SinkProcess::start_with(&p, &group, "0", 2000, &flags).await;
    wait_for_all(&db, &last, &HashMap::new(), Duration::from_secs(180))
        .await
        .unwrap();

    produce_all(
        &p.kafka,
        &p.topics.ingest_category,
        &category_records(1..=CATEGORIES),
    )
    .await
    .unwrap();
    // Counted once the batch that starts the renames is stored.
    let categories = format!(
        "shelf_sink_records_total{{topic=\"{}\",result=\"stored\"}}",
        p.topics.ingest_category
    );
    sink.wait_metric(&categories, Duration::from_secs(60), |v| {
        v == Some(CATEGORIES as f64)
    })
    .await
    .unwrap();
    let (more, more_last) = product_events(22, "M", AFTER, 1, CATEGORIES);
    produce_all(&p.kafka, &p.topics.product_clean, &more)
        .await
        .unwrap();
    last.extend(more_last);

    let stored = "shelf_sink_records_total{topic=\"";
    let stored = format!("{stored}{}\",result=\"stored\"}}", p.topics.product_clean);
    let started = std::time::Instant::now();
    let pending_when_stored = loop {
        let pending = sink.metric("shelf_sink_renames_pending").await;
        if sink.metric(&stored).await == Some((BEFORE + AFTER) as f64) {
            break pending.unwrap_or(0.0);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the new products were not stored within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        pending_when_stored > 0.0,
        "the new products were stored only after every old one was renamed"
    );

    // Stopped mid-sweep, the sink saves where it stood; the next one
    // resumes there instead of reading everything again.
    sink.wait_metric("shelf_sink_renamed_total", Duration::from_secs(60), |v| {
        v > Some(0.0)
    })
    .await
    .unwrap();
    assert!(sink.terminate().success());
    let sink = SinkProcess::start_with(&p, &group, "0", 2000, &flags).await;
    wait_for_all(&db, &last, &names(1..=CATEGORIES), Duration::from_secs(180))
        .await
        .unwrap();
    let metric = |name: &'static str| sink.metric(name);
    let renamed_second = metric("shelf_sink_renamed_total").await.unwrap_or(0.0);
    let read_second = metric("shelf_sink_rename_read_total").await.unwrap_or(0.0);
    assert!(
        renamed_second < BEFORE as f64 && read_second < (BEFORE + AFTER) as f64,
        "the second sink renamed {renamed_second} and read {read_second}: it swept from the start"
    );
    sink.wait_metric("shelf_sink_renames_pending", Duration::from_secs(10), |v| {
        v == Some(0.0)
    })
    .await
    .unwrap();
    // The sweep is recorded as done: a restart does not sweep again.
    let states: Vec<Document> = futures::TryStreamExt::try_collect(
        db.collection::<Document>("sink_partials")
            .find(doc! { "rename_after": { "$ne": null } })
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert!(
        states.is_empty(),
        "sweeps left in sink_partials: {states:?}"
    );
    assert!(sink.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_and_dead_letters_end_up_in_rejects() {
    let p = platform();
    create_sink_topics(&p).await;
    let db = database(&p).await;
    let (good, last) = product_events(2, "P", 30, 1, 3);
    let poison: Vec<(String, Vec<u8>)> = [
        (
            r#"{"asin":"P000000001","category_id":1,"price_bucket":"0-5","specs":{"size.cm":3}}"#,
            "unstorable_document",
        ),
        (
            r#"{"asin":"P000000002","category_id":1,"price_bucket":"0-5","$where":"1"}"#,
            "unstorable_document",
        ),
        (r#"{"asin":"P000000003","price":NaN}"#, "invalid_record"),
        (
            r#"{"asin":"P000000004","price_bucket":"0-5"}"#,
            "invalid_record",
        ),
    ]
    .iter()
    .map(|(v, _)| (v[9..19].to_owned(), v.as_bytes().to_vec()))
    .collect();
    // Poison first, so the good records behind it prove nothing stalls.
    produce_all(&p.kafka, &p.topics.product_clean, &poison)
        .await
        .unwrap();
    produce_all(&p.kafka, &p.topics.product_clean, &good)
        .await
        .unwrap();
    let letter = serde_json::json!({"reason": "invalid_price", "detail": "field `price`: -5 is negative",
        "payload": "{\"asin\":\"X\",\"price\":-5}", "source": {"topic": "ingest-product", "partition": 2, "offset": 17}});
    let letters = vec![
        ("X".to_owned(), letter.to_string().into_bytes()),
        ("Y".to_owned(), b"not a dead letter".to_vec()),
    ];
    produce_all(&p.kafka, &p.topics.product_dlq, &letters)
        .await
        .unwrap();

    let _sink = SinkProcess::start(&p, &unique("g"), "0", 100).await;
    wait_for_all(&db, &last, &HashMap::new(), Duration::from_secs(60))
        .await
        .unwrap();
    let rejects = db.collection::<Document>("rejects");
    let started = std::time::Instant::now();
    while rejects.count_documents(doc! {}).await.unwrap() < 6 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "rejects missing"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let count = |filter: Document| {
        let rejects = rejects.clone();
        async move { rejects.count_documents(filter).await.unwrap() }
    };
    assert_eq!(
        count(doc! {"reason": "unstorable_document", "stage": "sink"}).await,
        2
    );
    assert_eq!(
        count(doc! {"reason": "invalid_record", "stage": "sink"}).await,
        3
    );
    let from_transform = rejects
        .find_one(doc! {"_id": "ingest-product/2/17"})
        .await
        .unwrap()
        .expect("the dead letter, keyed by its source");
    assert_eq!(from_transform.get_str("reason").unwrap(), "invalid_price");
    assert_eq!(
        from_transform.get_str("payload").unwrap(),
        r#"{"asin":"X","price":-5}"#
    );
    let dotted = rejects
        .find_one(doc! {"reason": "unstorable_document", "detail": {"$regex": "size.cm"}})
        .await
        .unwrap()
        .expect("the dotted key is named");
    assert!(dotted.get_str("payload").unwrap().contains("size.cm"));
    assert_eq!(count(doc! {}).await, 6, "each reject stored once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_partitions_and_the_figures_stay_exact() {
    let p = platform();
    create_sink_topics(&p).await;
    let db = database(&p).await;
    produce_all(
        &p.kafka,
        &p.topics.ingest_category,
        &category_records(1..=CATEGORIES),
    )
    .await
    .unwrap();
    let group = unique("g");
    let a = SinkProcess::start(&p, &group, "a", 200).await;
    let b = SinkProcess::start(&p, &group, "b", 200).await;
    // Both in the group before the data arrives.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (events, last) = product_events(3, "T", 600, 4, CATEGORIES);
    produce_all(&p.kafka, &p.topics.product_clean, &events)
        .await
        .unwrap();
    wait_for_all(&db, &last, &names(1..=CATEGORIES), Duration::from_secs(120))
        .await
        .unwrap();
    let stored = format!(
        "shelf_sink_records_total{{topic=\"{}\",result=\"stored\"}}",
        p.topics.product_clean
    );
    let (na, nb) = (a.metric(&stored).await, b.metric(&stored).await);
    assert!(
        na.unwrap_or(0.0) > 0.0 && nb.unwrap_or(0.0) > 0.0,
        "both instances stored records: {na:?} {nb:?}"
    );
    assert_eq!(na.unwrap_or(0.0) + nb.unwrap_or(0.0), events.len() as f64);
    // And the aggregates stay right once both have merged again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    check_all(&db, &last, &names(1..=CATEGORIES)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_updates_to_existing_documents_in_one_command_do_not_hang() {
    // FerretDB v1 holds a statement's query open until the command ends
    // unless it was read to the end; single-document updates of existing
    // documents, a few dozen in one command, used to deadlock it.
    let p = platform();
    let store = shelf_sink::store::Store::connect(&p.mongo, &p.database, Default::default())
        .await
        .unwrap();
    store.prepare(&[]).await.unwrap();
    let docs = |v: i32| {
        (0..400)
            .map(move |i| doc! {"_id": i, "v": v, "gone": v})
            .collect::<Vec<_>>()
    };
    for v in 0..2 {
        tokio::time::timeout(Duration::from_secs(30), store.upsert("many", docs(v), None))
            .await
            .expect("the store answers")
            .unwrap();
    }
    // Products are rewritten from their bytes: a field left out of the new
    // version is removed, given the stored one.
    let raw = |d: Document| RawDocumentBuf::from_document(&d).unwrap();
    let id = |i: i32| format!("P{i:04}");
    // Rows (`_rows`) are appended to, not read back.
    let write = |document, append: &[&str]| shelf_sink::plan::ProductWrite {
        document,
        append: append.iter().map(|r| r.to_string()).collect(),
    };
    let old: shelf_sink::ByAsin<RawDocumentBuf> = (0..400)
        .map(|i| {
            (
                id(i),
                raw(doc! {"_id": id(i), "v": 1, "same": "s", "gone": 1}),
            )
        })
        .collect();
    let none = |_: &str| doc! {};
    let first = old
        .values()
        .map(|d| {
            let mut d = d.to_document().unwrap();
            d.insert("_rows", vec!["r0"]);
            write(raw(d), &[])
        })
        .collect();
    store
        .update_products(first, &shelf_sink::ByAsin::default(), &none)
        .await
        .unwrap();
    let new = (0..400)
        .map(|i| write(raw(doc! {"_id": id(i), "v": 2, "same": "s"}), &["r1", "r2"]))
        .collect();
    store.update_products(new, &old, &none).await.unwrap();
    let db = database(&p).await;
    let c = db.collection::<Document>("products");
    assert_eq!(
        c.count_documents(doc! {"v": 2, "same": "s"}).await.unwrap(),
        400
    );
    assert_eq!(
        c.count_documents(doc! {"gone": {"$exists": true}})
            .await
            .unwrap(),
        0
    );
    let one = c.find_one(doc! {"_id": id(7)}).await.unwrap().unwrap();
    let rows: Vec<&str> = one
        .get_array("_rows")
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(rows, ["r0", "r1", "r2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guarded_write_that_finds_the_document_changed_is_a_conflict() {
    let p = platform();
    let store = shelf_sink::store::Store::connect(&p.mongo, &p.database, Default::default())
        .await
        .unwrap();
    store.prepare(&[]).await.unwrap();
    let at = |offset: i64| vec![doc! {"_id": "A", "_src": {"offset": offset}}];
    let expect = |offset: Option<i64>| {
        move |_: &str| match offset {
            Some(o) => doc! {"_src.offset": o},
            None => doc! {"_src": {"$exists": false}},
        }
    };
    store.upsert("g", at(5), Some(&expect(None))).await.unwrap();
    store
        .upsert("g", at(9), Some(&expect(Some(5))))
        .await
        .unwrap();
    // A writer that still believes offset 5 is stored is refused.
    let err = store
        .upsert("g", at(7), Some(&expect(Some(5))))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let err = store
        .upsert("g", at(7), Some(&expect(None)))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let db = database(&p).await;
    let stored = db
        .collection::<Document>("g")
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored
            .get_document("_src")
            .unwrap()
            .get_i64("offset")
            .unwrap(),
        9
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_change_computed_from_an_older_state_is_neither_written_nor_deleted() {
    let p = platform();
    let store = shelf_sink::store::Store::connect(&p.mongo, &p.database, Default::default())
        .await
        .unwrap();
    store.prepare(&[]).await.unwrap();
    let write = |src: i64, price: Option<f64>| PriceChangeWrite {
        id: "A:3".into(),
        src,
        document: price.map(|price| doc! {"_id": "A:3", "asin": "A", "price": price}),
    };
    let stored = || async {
        database(&p)
            .await
            .collection::<Document>("price_changes")
            .find_one(doc! {"_id": "A:3"})
            .await
            .unwrap()
    };
    store
        .write_price_changes(&[write(5, Some(9.0))])
        .await
        .unwrap();
    // A replay of the same batch, then a later one.
    store
        .write_price_changes(&[write(5, Some(9.0))])
        .await
        .unwrap();
    store
        .write_price_changes(&[write(8, Some(8.0))])
        .await
        .unwrap();
    // A sink that computed it at offset 7 (it lost the partition since).
    let err = store
        .write_price_changes(&[write(7, Some(9.5))])
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    store.write_price_changes(&[write(7, None)]).await.unwrap();
    let d = stored().await.expect("still stored");
    assert_eq!((d.get_f64("price"), d.get_i64("_src")), (Ok(8.0), Ok(8)));
    // Its owner deletes it.
    store.write_price_changes(&[write(8, None)]).await.unwrap();
    assert_eq!(stored().await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_get_the_sinks_index_and_only_the_extra_ones_asked_for() {
    let p = platform();
    let store = shelf_sink::store::Store::connect(&p.mongo, &p.database, Default::default())
        .await
        .unwrap();
    let indexes = || async {
        let mut names = database(&p)
            .await
            .collection::<Document>("products")
            .list_index_names()
            .await
            .unwrap();
        names.sort();
        names
    };
    store.prepare(&[]).await.unwrap();
    assert_eq!(indexes().await, ["_id_", "category_id_1"]);
    // Asked again with more: the existing ones are kept, the new ones added.
    let extra = ["price".to_owned(), "details.brand".to_owned()];
    store.prepare(&extra).await.unwrap();
    assert_eq!(
        indexes().await,
        ["_id_", "category_id_1", "details.brand_1", "price_1"]
    );
    store.prepare(&extra).await.unwrap();
}
