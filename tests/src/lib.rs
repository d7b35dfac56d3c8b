//! Helpers for tests that run against the real platform (`make up`).
//!
//! Every test works on its own topics and database, named with a random
//! suffix, so tests can run in parallel against one broker and one store and
//! leave nothing behind that another test could trip over.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::ClientConfig;
use shelf_config::{Platform, Topics};

/// The platform the tests run against: `SHELF_*` variables or the local
/// defaults, with topics of its own under a unique prefix.
pub fn platform() -> Platform {
    let mut p = Platform::default();
    if let Ok(v) = std::env::var("SHELF_KAFKA") {
        p.kafka = v;
    }
    if let Ok(v) = std::env::var("SHELF_MONGO") {
        p.mongo = v;
    }
    let prefix = unique("t");
    p.database = format!("shelf_{}", prefix.replace('-', "_"));
    p.topics = Topics::prefixed(&format!("{prefix}-"));
    p
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

/// Creates topics (or does nothing if they exist).
pub async fn create_topics(bootstrap: &str, names: &[&str], partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("creating admin client")?;
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(1)))
        .collect();
    let results = admin
        .create_topics(
            &topics,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .context("create_topics")?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, e)) => bail!("creating topic {name}: {e}"),
        }
    }
    Ok(())
}

/// A record read back from a topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
}

impl Record {
    pub fn key_str(&self) -> &str {
        self.key
            .as_deref()
            .map(|k| std::str::from_utf8(k).unwrap_or("<binary>"))
            .unwrap_or("")
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.value).unwrap_or(serde_json::Value::Null)
    }
}

/// Reads a topic from the beginning with `read_committed` isolation until
/// `expected` records have arrived, then goes on for `settle` to catch any
/// extra (duplicate) ones. Fails if fewer than `expected` arrive in `timeout`.
pub async fn read_topic(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
    settle: Duration,
) -> Result<Vec<Record>> {
    let bootstrap = bootstrap.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        read_topic_blocking(&bootstrap, &topic, expected, timeout, settle)
    })
    .await?
}

fn read_topic_blocking(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
    settle: Duration,
) -> Result<Vec<Record>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set_log_level(RDKafkaLogLevel::Warning)
        .create()?;
    consumer.subscribe(&[topic])?;
    let deadline = Instant::now() + timeout;
    let mut settle_until: Option<Instant> = None;
    let mut out = Vec::new();
    loop {
        let now = Instant::now();
        if let Some(until) = settle_until {
            if now >= until {
                break;
            }
        } else if out.len() >= expected {
            settle_until = Some(now + settle);
        } else if now >= deadline {
            bail!(
                "read {} of {expected} records from {topic} within {timeout:?}",
                out.len()
            );
        }
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m?;
            out.push(Record {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().unwrap_or_default().to_vec(),
            });
        }
    }
    Ok(out)
}

/// A local TCP port with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// The `shelf` binary that `cargo test --workspace` builds beside the test
/// executables (`SHELF_BIN` overrides).
pub fn shelf_bin() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("SHELF_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> -> target/<profile>/shelf
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("shelf"))
        .expect("test executable has a target directory");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p shelf` (make test does)",
        bin.display()
    );
    bin
}

/// `infra/platform.sh` of this checkout, for tests that stop and start a
/// service.
pub fn platform_script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/platform.sh")
}

/// Runs `infra/platform.sh <action> <service>` and fails the test if it fails.
pub fn platform_ctl(action: &str, service: &str) {
    let status = std::process::Command::new("bash")
        .arg(platform_script())
        .args([action, service])
        .status()
        .expect("run infra/platform.sh");
    assert!(
        status.success(),
        "infra/platform.sh {action} {service} failed"
    );
}

/// Gzip-compresses a body.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("write to memory");
    enc.finish().expect("finish gzip in memory")
}

/// A realistic product record as the client would send it.
pub fn product_json(asin: &str, price: f64, category_id: u32) -> serde_json::Value {
    serde_json::json!({
        "asin": asin,
        "title": format!("Stainless Steel Kettle, 1.7L \"{asin}\" — cordless"),
        "imgUrl": format!("https://images.example.com/{asin}.jpg"),
        "productURL": format!("https://www.example.com/dp/{asin}"),
        "stars": 4.5,
        "reviews": 0,
        "price": price,
        "listPrice": 0.0,
        "category_id": category_id,
        "isBestSeller": false,
        "boughtInLastMonth": 50
    })
}

/// `n` products with distinct asins, as NDJSON, with their asins.
pub fn ndjson_products(prefix: &str, start: usize, n: usize) -> (String, Vec<String>) {
    let mut body = String::new();
    let mut asins = Vec::with_capacity(n);
    for i in start..start + n {
        let asin = format!("{prefix}{i:0>width$}", width = 10 - prefix.len());
        body.push_str(&product_json(&asin, 10.0 + i as f64, 1 + (i % 7) as u32).to_string());
        body.push('\n');
        asins.push(asin);
    }
    (body, asins)
}
