//! Brokers other than the plaintext one every test uses: the local
//! platform's SASL_SSL listener, and a three-node cluster of a test's own.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};
use shelf_config::{KafkaSettings, SaslMechanism, SecurityProtocol};

/// The platform's state directory (`SHELF_HOME`, default `.local`).
pub fn state_dir() -> PathBuf {
    std::env::var_os("SHELF_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.local"))
}

/// Settings for the local platform's SASL_SSL listener (port 9094, or
/// `SHELF_KAFKA_SECURE`): SCRAM-SHA-512 as the user infra/platform.sh made,
/// TLS checked against the platform's CA. Fails the test naming the fix
/// when `make up` has not made them.
pub fn secured_kafka() -> KafkaSettings {
    let tls = state_dir().join("kafka/tls");
    let (password, ca) = (tls.join("scram-password"), tls.join("ca.pem"));
    assert!(
        password.exists() && ca.exists(),
        "{} has no SCRAM password or CA: run make up",
        tls.display()
    );
    KafkaSettings {
        bootstrap: std::env::var("SHELF_KAFKA_SECURE").unwrap_or_else(|_| "127.0.0.1:9094".into()),
        security_protocol: SecurityProtocol::SaslSsl,
        sasl_mechanism: Some(SaslMechanism::ScramSha512),
        sasl_username: Some("shelf".into()),
        sasl_password_file: Some(password),
        ca: Some(ca),
        ..KafkaSettings::default()
    }
}

/// A CA that signed none of the brokers' certificates, made with openssl in
/// `dir`.
pub fn foreign_ca(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let (key, pem) = (dir.join("foreign-ca.key"), dir.join("foreign-ca.pem"));
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=not the platform's CA", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&pem)
        .stderr(std::process::Stdio::null())
        .status()
        .context("running openssl")?;
    ensure!(status.success(), "openssl req: {status}");
    Ok(pem)
}

/// Three KRaft nodes started by `infra/platform.sh up kafka --brokers 3`
/// on ports of their own, with state under `dir`; stopped and removed when
/// dropped.
pub struct Cluster {
    dir: PathBuf,
    port: u16,
}

impl Cluster {
    /// Starts the three nodes (node i listens on `port + 3(i-1)`).
    pub fn start(dir: PathBuf, port: u16) -> Result<Self> {
        let cluster = Self { dir, port };
        cluster.platform("up")?;
        Ok(cluster)
    }

    /// The bootstrap list of all three nodes.
    pub fn bootstrap(&self) -> String {
        (0..3)
            .map(|i| format!("127.0.0.1:{}", self.port + 3 * i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// kill -9 of node `i` (1-3).
    pub fn kill_9(&self, node: u8) -> Result<()> {
        let pid_file = self.dir.join(format!("run/kafka-node{node}.pid"));
        let pid = std::fs::read_to_string(&pid_file)
            .with_context(|| format!("reading {}", pid_file.display()))?;
        let status = Command::new("kill").args(["-9", pid.trim()]).status()?;
        ensure!(status.success(), "kill -9 {}: {status}", pid.trim());
        Ok(())
    }

    /// Starts the nodes that are not running (a killed one).
    pub fn restart_missing(&self) -> Result<()> {
        self.platform("up")
    }

    fn platform(&self, action: &str) -> Result<()> {
        let status = Command::new("bash")
            .arg(crate::platform_script())
            .args([action, "kafka", "--brokers", "3"])
            .env("SHELF_KAFKA_PORT", self.port.to_string())
            .env("SHELF_KAFKA_CLUSTER_DIR", &self.dir)
            .status()
            .context("running infra/platform.sh")?;
        ensure!(
            status.success(),
            "infra/platform.sh {action} kafka --brokers 3: {status}"
        );
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.platform("down");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
