//! `shelf dashboard`: the Streamlit page in `dashboard/`, run with the
//! project's Python (`infra/setup.sh` installs it into `.local/venv`) and
//! this command's platform settings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{bail, Context, Result};
use clap::Args;
use shelf_config::Platform;

#[derive(Debug, Clone, Args)]
pub struct DashboardArgs {
    /// Where the page listens.
    #[arg(long, env = "SHELF_DASHBOARD_LISTEN", default_value = "127.0.0.1:8501")]
    pub listen: SocketAddr,
    /// The Streamlit app.
    #[arg(long, default_value = "dashboard/app.py")]
    pub app: PathBuf,
    /// The Python environment with Streamlit (made by infra/setup.sh).
    #[arg(long, env = "SHELF_VENV")]
    pub venv: Option<PathBuf>,
    /// Seconds between the page's refreshes of its figures.
    #[arg(long, env = "SHELF_DASHBOARD_REFRESH_S", default_value_t = 3.0)]
    pub refresh: f64,
    /// The services' /metrics, for the header's pipeline figures (those
    /// of `shelf status`).
    #[command(flatten)]
    pub services: crate::status::ServiceAddrs,
}

impl DashboardArgs {
    fn streamlit(&self) -> PathBuf {
        let venv = self.venv.clone().unwrap_or_else(|| {
            std::env::var_os("SHELF_HOME")
                .map_or_else(|| PathBuf::from(".local"), PathBuf::from)
                .join("venv")
        });
        venv.join("bin/streamlit")
    }
}

/// Runs the page until it stops or this process gets Ctrl-C / SIGTERM.
pub async fn run(platform: &Platform, args: DashboardArgs) -> Result<()> {
    let streamlit = args.streamlit();
    if !streamlit.exists() {
        bail!(
            "{} is missing: run infra/setup.sh (it installs dashboard/requirements.txt)",
            streamlit.display()
        );
    }
    if !args.app.exists() {
        bail!(
            "{} is missing: run shelf dashboard from the repository's root, or give --app",
            args.app.display()
        );
    }
    println!(
        "dashboard on http://{} (database `{}` at {})",
        args.listen, platform.database, platform.mongo
    );
    let mut command = tokio::process::Command::new(&streamlit);
    command
        .arg("run")
        .arg(&args.app)
        .args(["--server.address", &args.listen.ip().to_string()])
        .args(["--server.port", &args.listen.port().to_string()])
        .args(["--server.headless", "true"])
        .args(["--browser.gatherUsageStats", "false"])
        .args(["--client.toolbarMode", "viewer"])
        .args(["--logger.level", "warning"])
        .env("SHELF_MONGO", &platform.mongo)
        .env("SHELF_DB", &platform.database)
        .env("SHELF_INGEST_LISTEN", &args.services.gateway)
        .env(
            "SHELF_TRANSFORM_METRICS_LISTEN",
            &args.services.runtime_metrics,
        )
        .env("SHELF_SINK_METRICS_LISTEN", &args.services.sink_metrics)
        .env("SHELF_DASHBOARD_REFRESH_S", args.refresh.to_string())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    stop_with_parent(&mut command);
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", streamlit.display()))?;
    tokio::select! {
        status = child.wait() => {
            let status = status?;
            if !status.success() {
                bail!("streamlit stopped: {status}");
            }
        }
        () = shelf_service::shutdown_signal() => {
            child.kill().await.ok();
        }
    }
    Ok(())
}

/// Streamlit gets SIGTERM when this process dies, even by kill -9, which
/// `kill_on_drop` cannot see: no page is left serving without its command.
fn stop_with_parent(command: &mut tokio::process::Command) {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe and only sets this child's
    // parent-death signal, between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
