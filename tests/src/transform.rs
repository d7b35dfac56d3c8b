//! Helpers for tests of the transform runtime as a separate process.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use shelf_config::Platform;
use shelf_contract::dead_letter::DeadLetter;

use crate::{read_topic, shelf_bin, ChildGuard};

/// `shelf transform run` as a child process.
pub struct RuntimeProcess {
    pub child: ChildGuard,
    pub listen: String,
}

impl RuntimeProcess {
    pub fn spawn(p: &Platform, group: &str, instance: &str, batch_size: usize) -> Self {
        let listen = format!("127.0.0.1:{}", crate::closed_port());
        let child = Command::new(shelf_bin())
            .args(["transform", "run", "--metrics-listen", &listen])
            .args(["--batch-size", &batch_size.to_string()])
            .args(["--group", group, "--instance", instance])
            .envs(crate::sink::platform_env(p))
            // Warnings say why a runtime restarted or failed to stop.
            .env(
                "RUST_LOG",
                std::env::var("SHELF_TEST_RUNTIME_LOG").unwrap_or_else(|_| "warn".into()),
            )
            // librdkafka's own debug contexts, say.
            .envs(
                std::env::var("SHELF_TEST_RUNTIME_KAFKA_OPTIONS")
                    .map(|v| ("SHELF_KAFKA_OPTIONS", v)),
            )
            .stdout(Stdio::null())
            .spawn()
            .expect("start shelf transform run");
        Self {
            child: ChildGuard(child),
            listen,
        }
    }

    /// Waits until `/readyz` answers 200 (modules compiled, transactions
    /// initialised).
    pub async fn ready(&self, within: Duration) -> Result<()> {
        let url = format!("http://{}/readyz", self.listen);
        crate::wait_http_ok(&url, "runtime", within).await
    }

    /// Input records this instance has committed so far.
    pub async fn records_in(&self) -> Result<f64> {
        crate::metric_at(&self.listen, "shelf_transform_records_in_total ")
            .await
            .context("no shelf_transform_records_in_total on /metrics")
    }

    pub fn kill_9(&mut self) {
        self.child.kill_9();
    }

    /// SIGTERM; Ok if the runtime exited cleanly.
    pub fn terminate(mut self) -> Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        let status = self.child.wait()?;
        ensure!(status.success(), "SIGTERM: exit {status}");
        Ok(())
    }
}

/// Reads the output and dead-letter topics until every input is accounted
/// for, then checks each is there exactly once: outputs by key, dead
/// letters by source offset.
pub async fn check_exactly_once(
    p: &Platform,
    inputs: &[(String, Vec<u8>)],
    within: Duration,
) -> Result<()> {
    let want: HashSet<&str> = inputs
        .iter()
        .filter(|(_, v)| shelf_rules::clean_bytes(v).is_ok())
        .map(|(k, _)| k.as_str())
        .collect();
    let rejected = inputs.len() - want.len();
    let settle = Duration::from_secs(3);
    let outputs = read_topic(
        &p.kafka,
        &p.topics.product_clean,
        want.len(),
        within,
        settle,
    )
    .await?;
    let dlq = read_topic(&p.kafka, &p.topics.product_dlq, rejected, within, settle).await?;

    ensure!(
        outputs.len() == want.len(),
        "outputs: {} for {} valid inputs (lost or doubled)",
        outputs.len(),
        want.len()
    );
    let keys: HashSet<&str> = outputs.iter().map(|r| r.key_str()).collect();
    ensure!(keys.len() == want.len(), "outputs: a key twice");
    ensure!(
        keys.iter().all(|k| want.contains(k)),
        "an unknown output key"
    );

    ensure!(
        dlq.len() == rejected,
        "dead letters: {} for {rejected} invalid inputs",
        dlq.len()
    );
    let mut sources = HashSet::new();
    for r in &dlq {
        let d: DeadLetter = serde_json::from_slice(&r.value)?;
        sources.insert((d.read_at.partition, d.read_at.offset));
    }
    ensure!(sources.len() == rejected, "dead letters: a source twice");
    Ok(())
}
