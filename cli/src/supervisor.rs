//! `shelf run`: the gateway, the transform runtime and the sink as child
//! processes under one supervisor, for local use and small deployments.
//!
//! Each child is `shelf` itself (`ingest serve`, `transform run`, `sink
//! run`), so each still runs alone exactly as it does here. The children
//! get the connection settings as `SHELF_*` variables and their own
//! settings from the environment (`SHELF_INGEST_*`, `SHELF_TRANSFORM_*`,
//! `SHELF_SINK_*`). Their log lines go to one stream, prefixed by service.
//! A child that fails (exits non-zero or is killed) is restarted with
//! backoff; SIGTERM (or
//! Ctrl-C) is passed to all three, which finish their batch and stop.

use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use shelf_config::Platform;
use shelf_service::Backoff;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// Flags of `shelf run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Seconds the services get to finish their batch and stop after
    /// SIGTERM, before they are killed.
    #[arg(long, env = "SHELF_RUN_STOP_TIMEOUT_SECS", default_value_t = 60)]
    pub stop_timeout_secs: u64,
}

/// The services, in start order, and the subcommand that runs each.
const SERVICES: [(&str, &[&str]); 3] = [
    ("gateway", &["ingest", "serve"]),
    ("runtime", &["transform", "run"]),
    ("sink", &["sink", "run"]),
];

/// A child that ran this long before it exited starts again without the
/// backoff its earlier crashes built up.
const STABLE: Duration = Duration::from_secs(60);

/// Runs the three services until SIGTERM or Ctrl-C, then stops them.
/// Fails if a service did not stop cleanly.
pub async fn run(platform: &Platform, args: &RunArgs) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the shelf executable")?;
    let stopping = Arc::new(AtomicBool::new(false));
    let stop_timeout = Duration::from_secs(args.stop_timeout_secs);
    let mut tasks = tokio::task::JoinSet::new();
    for (name, command) in SERVICES {
        let service = Service {
            name,
            exe: exe.clone(),
            command,
            env: platform.to_env(),
        };
        tasks.spawn(service.keep_running(stopping.clone(), stop_timeout));
    }
    tracing::info!(
        "gateway, transform runtime and sink started; SIGTERM or Ctrl-C stops all three"
    );
    shelf_service::shutdown_signal().await;
    stopping.store(true, Ordering::Relaxed);
    let mut unclean = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => unclean.push(format!("{e:#}")),
            Err(e) => unclean.push(e.to_string()),
        }
    }
    if unclean.is_empty() {
        tracing::info!("all services stopped");
        Ok(())
    } else {
        anyhow::bail!("not every service stopped cleanly: {}", unclean.join("; "))
    }
}

struct Service {
    name: &'static str,
    exe: std::path::PathBuf,
    command: &'static [&'static str],
    env: Vec<(&'static str, String)>,
}

impl Service {
    /// Starts the service and restarts it whenever it exits, until
    /// `stopping`; then passes SIGTERM on and waits for it.
    async fn keep_running(self, stopping: Arc<AtomicBool>, stop_timeout: Duration) -> Result<()> {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        loop {
            let started = Instant::now();
            let mut child = match self.spawn() {
                Ok(child) => child,
                Err(e) => {
                    let wait = backoff.next_wait();
                    tracing::error!(service = self.name, error = %format!("{e:#}"), retry_in = ?wait, "cannot start the service");
                    tokio::select! {
                        () = tokio::time::sleep(wait) => continue,
                        () = until(&stopping) => return Ok(()),
                    }
                }
            };
            let pid = child.id().unwrap_or_default();
            tracing::info!(service = self.name, pid, "started");
            let status = tokio::select! {
                status = child.wait() => status?,
                () = until(&stopping) => return self.stop(child, stop_timeout).await,
            };
            if stopping.load(Ordering::Relaxed) {
                return exited_cleanly(self.name, status);
            }
            if status.success() {
                // Stopped by a signal of its own (Ctrl-C reaches the whole
                // process group, and ours follows): not a crash.
                tracing::info!(service = self.name, "stopped; not restarted");
                until(&stopping).await;
                return Ok(());
            }
            if started.elapsed() > STABLE {
                backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
            }
            let wait = backoff.next_wait();
            tracing::warn!(service = self.name, %status, retry_in = ?wait, "service exited; restarting");
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = until(&stopping) => return Ok(()),
            }
        }
    }

    fn spawn(&self) -> Result<Child> {
        let mut command = Command::new(&self.exe);
        command
            .args(self.command)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // The children go with the supervisor, even when it is killed -9.
        #[cfg(target_os = "linux")]
        // SAFETY: prctl only sets a flag of the new process, between fork
        // and exec.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start the {}", self.name))?;
        if let Some(out) = child.stdout.take() {
            tokio::spawn(prefix_lines(self.name, out));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(prefix_lines(self.name, err));
        }
        Ok(child)
    }

    /// SIGTERM, then a kill after `timeout`.
    async fn stop(&self, mut child: Child, timeout: Duration) -> Result<()> {
        if let Some(pid) = child.id() {
            // SAFETY: kill sends a signal to our own child's pid.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        match tokio::time::timeout(timeout, child.wait()).await {
            Ok(status) => exited_cleanly(self.name, status?),
            Err(_) => {
                child.kill().await?;
                anyhow::bail!("{} did not stop within {timeout:?}; killed", self.name)
            }
        }
    }
}

fn exited_cleanly(name: &str, status: ExitStatus) -> Result<()> {
    if status.success() {
        tracing::info!(service = name, "stopped");
        Ok(())
    } else {
        anyhow::bail!("{name} exited with {status}")
    }
}

/// Resolves once `flag` is set (checked every 100 ms).
async fn until(flag: &AtomicBool) {
    while !flag.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Copies a child's output to stderr, each line prefixed by its service.
async fn prefix_lines(name: &'static str, from: impl AsyncRead + Unpin) {
    let mut lines = BufReader::new(from).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        eprintln!("{name:<7} | {line}");
    }
}
