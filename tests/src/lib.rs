//! Helpers for tests that run against the real platform (`make up`).
//!
//! Every test works on its own topics and database, named with a random
//! suffix, so tests can run in parallel against one broker and one store and
//! leave nothing behind that another test could trip over.

pub mod brokers;
pub mod chaos;
pub mod contract;
pub mod kafka;
pub mod pipeline;
pub mod runtime;
pub mod sink;
pub mod transform;
pub mod trends;

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use shelf_config::{Platform, Topics};

pub use kafka::{
    create_topics, distinct_keys, kafka, produce_all, produce_with, producer, read_topic, Record,
};

/// The platform the tests run against: `SHELF_*` variables or the local
/// defaults, with topics of its own under a unique prefix. The first call
/// of a test process checks that the broker and the store listen, so that
/// a platform that is not up fails every test at once with the fix,
/// instead of each timing out on its own.
pub fn platform() -> Platform {
    let mut p = Platform::default();
    if let Ok(v) = std::env::var("SHELF_KAFKA") {
        p.kafka.bootstrap = v;
    }
    if let Ok(v) = std::env::var("SHELF_MONGO") {
        p.mongo = v;
    }
    static CHECKED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    if let Err(missing) = CHECKED.get_or_init(|| platform_listens(&p)) {
        panic!("platform not up ({missing}): run make up");
    }
    let prefix = unique("t");
    p.database = format!("shelf_{}", prefix.replace('-', "_"));
    p.topics = Topics::prefixed(&format!("{prefix}-"));
    p
}

/// The environment that points a `shelf` process at `p`: its Kafka
/// settings, store and topics.
pub fn platform_env(p: &Platform) -> Vec<(&'static str, String)> {
    p.to_env()
}

/// Whether the first broker of `kafka` and the host of `mongo` accept a
/// TCP connection; names the one that does not.
fn platform_listens(p: &Platform) -> Result<(), String> {
    use std::net::{TcpStream, ToSocketAddrs};
    let mongo = p
        .mongo
        .trim_start_matches("mongodb://")
        .split(['/', ',', '?'])
        .next()
        .unwrap_or_default()
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_owned();
    let kafka = p
        .kafka
        .bootstrap
        .split(',')
        .next()
        .unwrap_or_default()
        .to_owned();
    for (what, address, port) in [("Kafka", kafka, 9092), ("MongoDB", mongo, 27017)] {
        let address = if address.rsplit(']').next().unwrap_or_default().contains(':') {
            address
        } else {
            format!("{address}:{port}")
        };
        let listens = address
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
        if !listens {
            return Err(format!("{what} at {address} does not answer"));
        }
    }
    Ok(())
}

/// The value of the first line of `/metrics` at `listen` (host:port) that
/// starts with `line_start` (`name` or `name{labels}`), if it answers.
pub async fn metric_at(listen: &str, line_start: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://{listen}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Waits until `url` answers with a 2xx status; `what` names the service
/// in the error.
pub async fn wait_http_ok(url: &str, what: &str, within: Duration) -> Result<()> {
    let started = Instant::now();
    while !reqwest::get(url)
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        if started.elapsed() > within {
            bail!("{what} not ready in {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Runs `check` every `pause` until it passes; after `within`, fails with
/// its last complaint.
pub async fn retry_check<F, Fut>(within: Duration, pause: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(()) => return Ok(()),
            Err(e) if started.elapsed() > within => {
                bail!("not reached in {within:?}; last difference: {e:#}")
            }
            Err(_) => tokio::time::sleep(pause).await,
        }
    }
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

/// A child process that is killed (-9) when dropped, so a failing test
/// leaves no service running behind it.
pub struct ChildGuard(pub std::process::Child);

impl ChildGuard {
    /// kill -9 and reap.
    pub fn kill_9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for ChildGuard {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill_9();
    }
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

/// The project's Python (`.local/venv`, or under `SHELF_HOME`), made by
/// infra/setup.sh for the notebook and the dashboard; fails the test
/// naming the fix when it is missing.
pub fn venv_python() -> std::path::PathBuf {
    let python = platform_home().join("venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run infra/setup.sh",
        python.display()
    );
    python
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

/// The state directory of the local platform (`SHELF_HOME`, else `.local`
/// of this checkout).
fn platform_home() -> std::path::PathBuf {
    std::env::var_os("SHELF_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.local"))
}

/// Sends `signal` (`KILL`, `STOP`, `CONT`, …) to a service of the local
/// platform (`kafka`, `ferretdb`), found by its pid file; fails the test
/// if it is not running.
pub fn platform_signal(service: &str, signal: &str) {
    let pid_file = platform_home().join("run").join(format!("{service}.pid"));
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap_or_else(|e| panic!("{service} is not running ({}: {e})", pid_file.display()));
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.trim().to_owned()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {service} failed");
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

/// A raw product record with a defect chosen by `i` (about one in five is
/// bad, covering every reject reason), or a clean one.
pub fn raw_product(i: usize) -> serde_json::Value {
    let asin = format!("B{i:09}");
    let mut p = product_json(&asin, 1.0 + (i % 400) as f64 + 0.99, 1 + (i % 30) as u32);
    p["listPrice"] = serde_json::json!(if i.is_multiple_of(3) {
        2.0 * (i % 400) as f64 + 9.0
    } else {
        0.0
    });
    p["stars"] = serde_json::json!((i % 51) as f64 / 10.0);
    p["isBestSeller"] = serde_json::json!(if i.is_multiple_of(97) {
        "True"
    } else {
        "False"
    });
    match i % 20 {
        1 => p["asin"] = serde_json::json!("TOO-SHORT"),
        2 => p["title"] = serde_json::json!("   "),
        3 => p["price"] = serde_json::json!(-5),
        4 => p["stars"] = serde_json::json!(7),
        5 => p["reviews"] = serde_json::json!(1.5),
        6 => p["isBestSeller"] = serde_json::json!("perhaps"),
        7 => p["category_id"] = serde_json::json!(0),
        8 => p["price"] = serde_json::json!(0.0),
        _ => {}
    }
    p
}

/// The repository's WASM directory (transforms/default-chain.toml).
pub fn wasm_dir() -> std::path::PathBuf {
    let chain = shelf_transform::DefaultChain::builtin().expect("default chain");
    chain.wasm_dir_in(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/.."
    )))
}

/// Path of a module built by `make build-wasm`.
pub fn wasm_path(name: &str) -> std::path::PathBuf {
    let p = wasm_dir().join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "{} is missing: run `make build-wasm`",
        p.display()
    );
    p
}

/// Deploys the default chain (transforms/default-chain.toml, with
/// `params`) from the platform's ingest-product to its product-clean and
/// product-dlq.
pub async fn deploy_standard_chain(p: &Platform, params: &[(&str, &str)]) -> Result<()> {
    use shelf_transform::{registry::Registry, ChainTopics, DefaultChain};
    let registry = Registry::new(&kafka(p), &p.topics.transforms);
    registry.ensure_topic().await?;
    let params: std::collections::BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let topics = p.topics.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        let topics = ChainTopics {
            input: &topics.ingest_product,
            output: &topics.product_clean,
            dlq: &topics.product_dlq,
        };
        DefaultChain::builtin()?.deploy(&registry, &wasm_dir(), &params, topics)?;
        Ok(())
    })
    .await?
}

/// `raw_product(i)` for `range`, keyed by asin, as produced to ingest-product.
pub fn raw_products(range: std::ops::Range<usize>) -> Vec<(String, Vec<u8>)> {
    range
        .map(|i| {
            let v = raw_product(i);
            (
                v["asin"].as_str().unwrap_or("").to_owned(),
                v.to_string().into_bytes(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_platform_that_does_not_listen_is_named() {
        let mut p = Platform {
            kafka: shelf_config::KafkaSettings::plaintext(format!("127.0.0.1:{}", closed_port())),
            ..Platform::default()
        };
        let missing = platform_listens(&p).unwrap_err();
        assert!(missing.starts_with("Kafka at 127.0.0.1:"), "{missing}");
        let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        p.kafka.bootstrap = open.local_addr().unwrap().to_string();
        p.mongo = format!("mongodb://127.0.0.1:{}/", closed_port());
        let missing = platform_listens(&p).unwrap_err();
        assert!(missing.starts_with("MongoDB at 127.0.0.1:"), "{missing}");
    }
}
