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
            "FAIL  kafka  Kafka broker at {kafka} does not answer"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("FAIL  mongo  MongoDB at {mongo} does not answer")),
        "{stdout}"
    );
    assert!(stdout.contains("make up"), "{stdout}");
}
