//! The pipeline against a secured broker (the local platform's SASL_SSL
//! listener: TLS with the platform's CA, SCRAM-SHA-512), and what a wrong
//! password or an untrusted CA does to each service: a quick exit with an
//! error naming the setting, never a hang, and never the secret itself.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shelf_config::{Platform, Secret};
use shelf_tests::brokers::{foreign_ca, secured_kafka};
use shelf_tests::pipeline::{check_client_rejects, prepare, ClientProcess, Services};
use shelf_tests::sink::platform_env;
use shelf_tests::{platform, shelf_bin};

fn secured_platform() -> Platform {
    Platform {
        kafka: secured_kafka(),
        ..platform()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_pipeline_runs_over_sasl_ssl() {
    let p = secured_platform();
    // Topics, the transforms' registry and their deployment: all over TLS.
    let (dir, want) = prepare(&p, 3_000, 21).await.unwrap();
    let services = Services::start(&p).await.unwrap();
    let client = ClientProcess::start(&dir, &services.gateway.url(), 200, 0).unwrap();
    let status = client.wait(Duration::from_secs(120)).await.unwrap();
    assert!(status.success(), "shelf stream: {status}");
    check_client_rejects(&dir, &want).unwrap();
    services
        .drain_and_stop(&p, &want, Duration::from_secs(180))
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `shelf <args>` with `p`'s settings; returns its exit status, its
/// stderr and how long it ran. Fails if it runs for more than 60 s.
fn run_shelf(p: &Platform, args: &[&str]) -> (bool, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(shelf_bin())
        .args(args)
        .envs(platform_env(p))
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("shelf {args:?} still runs after 60 s: it hangs on bad Kafka settings");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text, started.elapsed())
}

const SERVICES: [&[&str]; 3] = [
    &["ingest", "serve", "--listen", "127.0.0.1:0"],
    &["transform", "run", "--metrics-listen", "127.0.0.1:0"],
    &["sink", "run", "--metrics-listen", "127.0.0.1:0"],
];

#[test]
fn a_wrong_password_stops_every_service_naming_the_setting() {
    let mut p = secured_platform();
    p.kafka.sasl_password_file = None;
    p.kafka.sasl_password = Some(Secret::new("not-the-password-4711"));
    for args in SERVICES.iter().copied().chain([&["doctor"][..]]) {
        let (ok, text, took) = run_shelf(&p, args);
        assert!(
            !ok,
            "shelf {args:?} succeeded with a wrong password:\n{text}"
        );
        assert!(
            text.contains("refused the SASL login of user 'shelf'")
                && text.contains("--kafka-sasl-password"),
            "shelf {args:?} does not name the setting:\n{text}"
        );
        assert!(
            !text.contains("4711"),
            "shelf {args:?} shows the password:\n{text}"
        );
        eprintln!("shelf {args:?}: stopped after {took:.1?}");
    }
}

#[test]
fn an_untrusted_ca_stops_every_service_naming_the_setting() {
    let mut p = secured_platform();
    let dir = std::env::temp_dir().join(shelf_tests::unique("foreign-ca"));
    p.kafka.ca = Some(foreign_ca(&dir).unwrap());
    for args in SERVICES.iter().copied().chain([&["doctor"][..]]) {
        let (ok, text, took) = run_shelf(&p, args);
        assert!(!ok, "shelf {args:?} trusted a foreign CA:\n{text}");
        assert!(
            text.contains("certificate verify failed") && text.contains("--kafka-ca"),
            "shelf {args:?} does not name the setting:\n{text}"
        );
        eprintln!("shelf {args:?}: stopped after {took:.1?}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
