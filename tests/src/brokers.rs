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

    /// The node (1-3) coordinating `group` now: the leader of the
    /// `__consumer_offsets` partition its name hashes to, as the brokers
    /// place groups (`abs(String.hashCode) % partitions`).
    pub fn group_coordinator(&self, group: &str) -> Result<u8> {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let client: BaseConsumer =
            shelf_kafka::KafkaClients::new(&KafkaSettings::plaintext(self.bootstrap()))?
                .admin()
                .create()?;
        let metadata = client.fetch_metadata(
            Some("__consumer_offsets"),
            std::time::Duration::from_secs(10),
        )?;
        let partitions = metadata
            .topics()
            .first()
            .map(|t| t.partitions())
            .filter(|p| !p.is_empty())
            .context("no __consumer_offsets partitions in the metadata")?;
        let slot = java_hash_abs(group) as usize % partitions.len();
        let leader = partitions
            .iter()
            .find(|p| p.id() as usize == slot)
            .map(|p| p.leader())
            .context("no leader for the group's partition")?;
        u8::try_from(leader).with_context(|| format!("leader {leader} is not a node of 1-3"))
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

/// Kafka's `Utils.abs(s.hashCode())` of a Java string (UTF-16 units).
fn java_hash_abs(s: &str) -> u32 {
    let hash = s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    if hash == i32::MIN {
        0
    } else {
        hash.unsigned_abs()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.platform("down");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::java_hash_abs;

    #[test]
    fn java_string_hashes() {
        // "hello".hashCode() == 99162322, "polygenelubricants" == MIN_VALUE.
        assert_eq!(java_hash_abs("hello"), 99_162_322);
        assert_eq!(java_hash_abs("polygenelubricants"), 0);
        // "rt-abc".hashCode() is negative: -922678697.
        assert_eq!(java_hash_abs("rt-abc"), 922_678_697);
    }
}
