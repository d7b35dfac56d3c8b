//! A `shelf sink run` process for a test.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{ensure, Result};
use shelf_config::Platform;

use crate::{closed_port, platform_env, shelf_bin, ChildGuard};

/// A `shelf sink run` process.
pub struct SinkProcess {
    pub child: ChildGuard,
    pub listen: String,
}

impl SinkProcess {
    /// Starts a sink and waits until it reports ready.
    pub async fn start(p: &Platform, group: &str, instance: &str, batch_size: usize) -> Self {
        Self::start_with(p, group, instance, batch_size, &[]).await
    }

    /// [`Self::start`] with more flags of `shelf sink run`.
    pub async fn start_with(
        p: &Platform,
        group: &str,
        instance: &str,
        batch_size: usize,
        flags: &[&str],
    ) -> Self {
        let listen = format!("127.0.0.1:{}", closed_port());
        let child = Command::new(shelf_bin())
            .args(["sink", "run", "--metrics-listen", &listen])
            .args(["--group", group, "--instance", instance])
            .args(["--batch-size", &batch_size.to_string()])
            .args(flags)
            .envs(platform_env(p))
            .env(
                "RUST_LOG",
                std::env::var("SHELF_TEST_SINK_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .spawn()
            .expect("start shelf sink run");
        let sink = Self {
            child: ChildGuard(child),
            listen,
        };
        sink.wait_ready(Duration::from_secs(60)).await;
        sink
    }

    pub async fn wait_ready(&self, timeout: Duration) {
        let url = format!("http://{}/readyz", self.listen);
        if let Err(e) = crate::wait_http_ok(&url, "sink", timeout).await {
            panic!("{e}");
        }
    }

    pub async fn readyz(&self) -> Option<u16> {
        let url = format!("http://{}/readyz", self.listen);
        reqwest::get(&url).await.ok().map(|r| r.status().as_u16())
    }

    /// The value of one metric line (`name{labels}`), if present.
    pub async fn metric(&self, line_start: &str) -> Option<f64> {
        crate::metric_at(&self.listen, line_start).await
    }

    /// Waits until the metric line `line_start` satisfies `ok`; the error
    /// names its last value.
    pub async fn wait_metric(
        &self,
        line_start: &str,
        within: Duration,
        ok: impl Fn(Option<f64>) -> bool,
    ) -> Result<()> {
        crate::retry_check(within, Duration::from_millis(50), || async {
            let value = self.metric(line_start).await;
            ensure!(ok(value), "{line_start}: {value:?}");
            Ok(())
        })
        .await
    }

    pub fn kill_9(&mut self) {
        self.child.kill_9();
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for the sink")
    }
}
