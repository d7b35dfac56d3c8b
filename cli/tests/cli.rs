//! The `shelf` binary as a user runs it.

use std::net::TcpListener;
use std::process::Command;

fn shelf() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shelf"))
}

#[test]
fn version_and_help() {
    let out = shelf().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("shelf {}", env!("CARGO_PKG_VERSION"))
    );

    let out = shelf().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["doctor", "--kafka", "--mongo", "SHELF_KAFKA"] {
        assert!(help.contains(word), "help lacks {word}:\n{help}");
    }
}

/// The allocator's settings are overridden by the variable the docs name
/// (`_RJEM_MALLOC_CONF`: the jemalloc `shelf` links carries a prefix, and
/// a plain `MALLOC_CONF` is not read).
#[test]
fn the_allocator_reads_the_variable_the_docs_name() {
    let stats = |var: &str| {
        let out = shelf()
            .arg("--version")
            .env(var, "stats_print:true")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).contains("jemalloc statistics")
    };
    assert!(stats("_RJEM_MALLOC_CONF"), "_RJEM_MALLOC_CONF was not read");
    assert!(!stats("MALLOC_CONF"), "MALLOC_CONF is read: fix the docs");
}

/// With nothing listening where the store should be, `shelf doctor` exits
/// non-zero and says which service is missing and how to start it. Needs no
/// platform: both addresses point at closed ports.
#[test]
fn doctor_fails_clearly_when_services_are_missing() {
    let closed = || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let kafka = format!("127.0.0.1:{}", closed());
    let mongo = format!("mongodb://127.0.0.1:{}/", closed());
    let out = shelf()
        .args([
            "doctor",
            "--timeout",
            "2",
            "--kafka",
            &kafka,
            "--mongo",
            &mongo,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "FAIL  kafka  Kafka at {kafka} did not answer within 2s"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("FAIL  mongo  MongoDB at {mongo} does not answer")),
        "{stdout}"
    );
    assert!(stdout.contains("make up"), "{stdout}");
}

fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The config file sets what flags and variables do not; a variable wins
/// over it, and a flag over both. Needs no platform (closed ports).
#[test]
fn the_config_file_fills_in_what_flags_and_variables_leave_open() {
    let dir = std::env::temp_dir().join(format!("shelf-cli-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("shelf.toml");
    let (kafka, mongo_file, mongo_env) = (closed_port(), closed_port(), closed_port());
    std::fs::write(
        &file,
        format!("kafka = \"127.0.0.1:{kafka}\"\nmongo = \"mongodb://127.0.0.1:{mongo_file}/\"\ndatabase = \"from_file\"\n"),
    )
    .unwrap();
    let out = shelf()
        .args(["--config"])
        .arg(&file)
        .args(["doctor", "--timeout", "1"])
        .env_remove("SHELF_KAFKA")
        .env("SHELF_MONGO", format!("mongodb://127.0.0.1:{mongo_env}/"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("Kafka at 127.0.0.1:{kafka} ")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("127.0.0.1:{mongo_env}")),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&format!("127.0.0.1:{mongo_file}")),
        "{stdout}"
    );

    // A flag wins over the file; SHELF_CONFIG names the file too.
    let out = shelf()
        .args(["doctor", "--timeout", "1", "--kafka", "127.0.0.1:1"])
        .env("SHELF_CONFIG", &file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Kafka at 127.0.0.1:1 "), "{stdout}");

    std::fs::write(&file, "kafak = \"x\"\n").unwrap();
    let out = shelf()
        .arg("--config")
        .arg(&file)
        .arg("doctor")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("shelf.toml: unknown setting 'kafak'"),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Settings that cannot work are refused before anything connects, naming
/// the flag, and a password given on the command line is never echoed.
#[test]
fn impossible_kafka_settings_are_refused_by_name() {
    let out = shelf()
        .args([
            "doctor",
            "--kafka-sasl-username",
            "shelf",
            "--kafka-sasl-password",
            "hunter2-secret",
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("--kafka-sasl-username is set, but --kafka-security-protocol is plaintext"),
        "{text}"
    );
    assert!(!text.contains("hunter2-secret"), "{text}");

    let out = shelf()
        .args([
            "doctor",
            "--kafka-security-protocol",
            "sasl_ssl",
            "--kafka-sasl-mechanism",
            "SCRAM-SHA-512",
        ])
        .args([
            "--kafka-sasl-username",
            "shelf",
            "--kafka-sasl-password-file",
            "/nonexistent/password",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("--kafka-sasl-password-file /nonexistent/password"),
        "{text}"
    );
}

/// A platform flag given to a command that does not read it is refused,
/// naming the flag and what the command does use; the same flag where it
/// is read passes this check.
#[test]
fn a_setting_the_command_does_not_use_is_refused() {
    let refused = |args: &[&str], flag: &str, uses: &str| {
        let out = shelf().args(args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
        assert!(text.contains(&format!("does not use {flag}")), "{text}");
        assert!(text.contains(uses), "{text}");
    };
    refused(
        &["stream", "--products", "p.csv", "--kafka", "10.0.0.1:9092"],
        "--kafka",
        "none of the platform's settings",
    );
    refused(
        &["report", "--topic-product-clean", "elsewhere"],
        "--topic-product-clean",
        "--mongo, --database",
    );
    refused(
        &["ingest", "serve", "--mongo", "mongodb://elsewhere/"],
        "--mongo",
        "--topic-ingest-product",
    );
    refused(
        &["sink", "run", "--topic-ingest-product", "elsewhere"],
        "--topic-ingest-product",
        "--topic-product-clean",
    );
    // Where it is read, the flag gets past the check (and fails later, on
    // the closed port).
    let out = shelf()
        .args(["doctor", "--timeout", "1", "--mongo"])
        .arg(format!("mongodb://127.0.0.1:{}/", closed_port()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("does not use"), "{text}");
}

/// The client with no gateway listening says so within 5 s, naming the
/// cause and the service to start, in plain text (no colour codes when
/// stderr is not a terminal).
#[test]
fn the_client_names_a_gateway_that_is_not_running() {
    use std::io::{BufRead, BufReader};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let state = std::env::temp_dir().join(format!("shelf-cli-gw-{}", std::process::id()));
    let started = std::time::Instant::now();
    let mut child = shelf()
        .arg("stream")
        .arg("--gateway")
        .arg(format!("http://127.0.0.1:{}", closed_port()))
        .arg("--products")
        .arg(root.join("dataset/sample/products.csv"))
        .arg("--state-dir")
        .arg(&state)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let line = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("cannot connect to"));
    let elapsed = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&state);
    let line = line.expect("a line about the gateway");
    assert!(
        elapsed < std::time::Duration::from_secs(5),
        "{elapsed:?}: {line}"
    );
    assert!(
        line.contains("onnection refused") && line.contains("is `shelf ingest serve` running?"),
        "{line}"
    );
    assert!(!line.contains('\u{1b}'), "colour codes in {line:?}");
}

/// A products file without a column is refused before anything is sent,
/// naming the column.
#[test]
fn a_missing_column_is_named() {
    let dir = std::env::temp_dir().join(format!("shelf-cli-cols-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let products = dir.join("products.csv");
    std::fs::write(
        &products,
        "asin,title,imgUrl,productURL,stars,reviews,listPrice,category_id,isBestSeller,boughtInLastMonth\n\
         B0ABCDEFGH,t,u,p,4.5,12,0.0,7,True,100\n",
    )
    .unwrap();
    let out = shelf()
        .arg("stream")
        .arg("--gateway")
        .arg(format!("http://127.0.0.1:{}", closed_port()))
        .arg("--products")
        .arg(&products)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("products.csv") && text.contains("line 1: missing column `price`"),
        "{text}"
    );
}

/// `shelf report` against a store that does not answer fails within 5 s,
/// in one line, with a hint.
#[test]
fn report_names_an_unreachable_store_quickly() {
    let started = std::time::Instant::now();
    let out = shelf()
        .arg("report")
        .arg("--mongo")
        .arg(format!("mongodb://127.0.0.1:{}/", closed_port()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{text}"
    );
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert!(
        text.contains("cannot reach MongoDB") && text.contains("make up"),
        "{text}"
    );
}

/// The guide's module (`transforms/modules/examples/upper-title`, built by
/// `make build-wasm`) on the shipped sample, before `clean` and
/// `price-bucket`, as docs/transforms.md runs it: its field passes through
/// both, and the faulty sample rows are rejected with their reasons.
#[test]
fn the_guides_example_runs_on_the_sample_through_transform_test() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let wasm = |name: &str| {
        root.join("target/wasm/wasm32-unknown-unknown/release")
            .join(format!("{name}.wasm"))
    };
    let sample = std::fs::File::open(root.join("dataset/sample/products.ndjson")).unwrap();
    let out = shelf()
        .args(["transform", "test", "--param", "width=10"])
        .arg("--wasm")
        .arg(wasm("upper_title"))
        .arg("--wasm")
        .arg(wasm("shelf_clean"))
        .arg("--wasm")
        .arg(wasm("shelf_price_bucket"))
        .stdin(sample)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 12);
    let outputs: Vec<&serde_json::Value> = lines.iter().filter_map(|l| l.get("output")).collect();
    assert_eq!(outputs.len(), 10);
    for o in outputs {
        let (title, original) = (
            o["title"].as_str().unwrap(),
            o["title_original"].as_str().unwrap(),
        );
        assert_eq!(title, title.to_uppercase(), "{o}");
        assert_eq!(
            title,
            original
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_uppercase()
        );
        assert!(o["price_bucket"].as_str().is_some(), "{o}");
    }
    let reasons: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["reject"]["reason"].as_str())
        .collect();
    assert_eq!(reasons, ["missing_title", "invalid_price"]);
}
