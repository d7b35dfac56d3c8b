//! The platform that `make up` starts: the broker and the store do what the
//! later stages rely on.

use std::time::Duration;

use mongodb::bson::{doc, Document};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Message, TopicPartitionList};
use shelf_tests::{create_topics, kafka, platform, read_topic, unique};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn kafka_produce_and_consume_round_trip() {
    let p = platform();
    let topic = unique("roundtrip");
    create_topics(&p.kafka, &[&topic], 3).await.unwrap();

    let producer: FutureProducer = kafka(&p)
        .producer()
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    let delivery = producer
        .send(
            FutureRecord::to(&topic)
                .key("B0TEST0001")
                .payload(r#"{"asin":"B0TEST0001"}"#),
            WAIT,
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();

    let records = read_topic(&p.kafka, &topic, 1, WAIT, Duration::from_millis(500))
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key_str(), "B0TEST0001");
    assert_eq!(records[0].json()["asin"], "B0TEST0001");
    assert_eq!(
        (records[0].partition, records[0].offset),
        (delivery.partition, delivery.offset)
    );
}

/// The exactly-once path the transform runtime uses: a transactional producer
/// that commits consumed offsets in the same transaction. An aborted
/// transaction must stay invisible to read_committed readers.
#[tokio::test]
async fn kafka_transactions_commit_offsets_and_hide_aborts() {
    let p = platform();
    let input = unique("tx-in");
    let output = unique("tx-out");
    let group = unique("tx-group");
    create_topics(&p.kafka, &[&input, &output], 1)
        .await
        .unwrap();

    let plain: FutureProducer = kafka(&p).producer().create().unwrap();
    for i in 0..3 {
        plain
            .send(
                FutureRecord::to(&input)
                    .key(&format!("k{i}"))
                    .payload(&format!("v{i}")),
                WAIT,
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }

    let consumer: StreamConsumer = kafka(&p)
        .consumer(&group)
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&input]).unwrap();

    let tx: FutureProducer = kafka(&p)
        .transactional_producer(&unique("tx-id"))
        .create()
        .unwrap();
    tx.init_transactions(WAIT).unwrap();

    // An aborted transaction first: its record must never be seen.
    tx.begin_transaction().unwrap();
    tx.send(
        FutureRecord::to(&output).key("aborted").payload("aborted"),
        WAIT,
    )
    .await
    .map_err(|(e, _)| e)
    .unwrap();
    tx.abort_transaction(WAIT).unwrap();

    // Then consume the three inputs and commit their outputs with the offsets.
    tx.begin_transaction().unwrap();
    let mut last_offset = -1;
    for _ in 0..3 {
        let m = tokio::time::timeout(WAIT, consumer.recv())
            .await
            .unwrap()
            .unwrap();
        let value = format!("out-{}", String::from_utf8_lossy(m.payload().unwrap()));
        tx.send(
            FutureRecord::to(&output)
                .key(m.key().unwrap())
                .payload(&value),
            WAIT,
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
        last_offset = m.offset();
    }
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(&input, 0, rdkafka::Offset::Offset(last_offset + 1))
        .unwrap();
    tx.send_offsets_to_transaction(&offsets, &consumer.group_metadata().unwrap(), WAIT)
        .unwrap();
    tx.commit_transaction(WAIT).unwrap();

    let out = read_topic(&p.kafka, &output, 3, WAIT, Duration::from_secs(1))
        .await
        .unwrap();
    let values: Vec<String> = out
        .iter()
        .map(|r| String::from_utf8_lossy(&r.value).into_owned())
        .collect();
    assert_eq!(values, ["out-v0", "out-v1", "out-v2"]);

    let committed = consumer.committed(WAIT).unwrap();
    let offset = committed
        .find_partition(&input, 0)
        .map(|e| e.offset())
        .unwrap();
    assert_eq!(offset, rdkafka::Offset::Offset(3));
}

#[tokio::test]
async fn mongo_insert_upsert_and_read() {
    let p = platform();
    let client = mongodb::Client::with_uri_str(&p.mongo).await.unwrap();
    let db = client.database(&p.database);
    let products = db.collection::<Document>("products");

    products
        .insert_one(doc! { "_id": "B0TEST0001", "title": "Kettle", "price": 19.99 })
        .await
        .unwrap();
    // An upsert that updates the existing document and one that creates a new one.
    products
        .update_one(
            doc! { "_id": "B0TEST0001" },
            doc! { "$set": { "price": 17.5 } },
        )
        .upsert(true)
        .await
        .unwrap();
    let created = products
        .update_one(
            doc! { "_id": "B0TEST0002" },
            doc! { "$set": { "title": "Mug", "price": 4.0 } },
        )
        .upsert(true)
        .await
        .unwrap();
    assert!(created.upserted_id.is_some());

    let first = products
        .find_one(doc! { "_id": "B0TEST0001" })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.get_f64("price").unwrap(), 17.5);
    assert_eq!(first.get_str("title").unwrap(), "Kettle");
    assert_eq!(products.count_documents(doc! {}).await.unwrap(), 2);

    db.drop().await.unwrap();
}

#[tokio::test]
async fn doctor_reports_a_healthy_platform() {
    let p = platform();
    let report = shelf::doctor::check(&p, Duration::from_secs(10)).await;
    assert!(report.healthy(), "{report}");
    let kafka = report.kafka.as_ref().unwrap();
    assert!(!kafka.brokers.is_empty());
    let mongo = report.mongo.as_ref().unwrap();
    assert!(
        mongo.server.starts_with("FerretDB") || mongo.server.starts_with("MongoDB"),
        "{}",
        mongo.server
    );
}

#[tokio::test]
async fn doctor_names_the_store_that_is_down() {
    let mut p = platform();
    p.mongo = format!("mongodb://127.0.0.1:{}/", shelf_tests::closed_port());
    let report = shelf::doctor::check(&p, Duration::from_secs(2)).await;
    assert!(!report.healthy());
    assert!(report.kafka.is_ok(), "the broker is up: {report}");
    let text = report.to_string();
    assert!(text.contains("FAIL  mongo"), "{text}");
    assert!(text.contains(&p.mongo), "names the address: {text}");
    assert!(text.contains("make up"), "says how to start it: {text}");
}

#[tokio::test]
async fn the_stored_products_count_is_exact() {
    // On FerretDB a whole collection's count comes from SQLite's table pages
    // (infra/ferretdb/count-whole-collection.patch): large documents spill
    // into overflow pages and deletes leave pages half empty, and neither
    // may change it.
    let p = platform();
    let client = mongodb::Client::with_uri_str(&p.mongo).await.unwrap();
    let db = client.database(&p.database);
    let count = shelf_report::reconcile::stored_products;
    assert_eq!(count(&db).await.unwrap(), 0, "no collection yet");
    let products = db.collection::<Document>("products");
    let docs = (0..3000).map(|i| {
        let size = if i % 7 == 0 { 9000 } else { 300 };
        doc! { "_id": format!("B{i:09}"), "v": i, "title": "x".repeat(size) }
    });
    products.insert_many(docs).await.unwrap();
    products
        .delete_many(doc! { "v": { "$mod": [3, 0] } })
        .await
        .unwrap();
    assert_eq!(count(&db).await.unwrap(), 2000);
    assert_eq!(products.count_documents(doc! {}).await.unwrap(), 2000);
    // A count with a filter still applies it.
    let some = db
        .run_command(doc! { "count": "products", "query": { "v": { "$lt": 10 } } })
        .await
        .unwrap();
    assert_eq!(some.get_i32("n").unwrap(), 6);
    db.drop().await.unwrap();
}

/// `shelf report` on a database that holds no shelfstream data (a misspelt
/// `--database`) says so and fails, instead of drawing empty charts; on
/// one that does, it draws them.
#[tokio::test]
async fn report_refuses_a_database_without_data() {
    let p = platform();
    let report = |database: &str| {
        std::process::Command::new(shelf_tests::shelf_bin())
            .arg("report")
            .envs(shelf_tests::platform_env(&p))
            .env("SHELF_DB", database)
            .output()
            .unwrap()
    };
    let out = report(&p.database);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "database `{}` holds no shelfstream data",
            p.database
        )) && text.contains("--database"),
        "{text}"
    );
    let client = mongodb::Client::with_uri_str(&p.mongo).await.unwrap();
    let db = client.database(&p.database);
    db.collection::<Document>("products")
        .insert_one(doc! { "_id": "B0REPORT01", "category_id": 1_i64 })
        .await
        .unwrap();
    let out = report(&p.database);
    assert!(out.status.success(), "{out:?}");
    db.drop().await.unwrap();
}
