//! What every long-running shelfstream service shares: `/metrics`,
//! `/healthz` and `/readyz` on a status port, waiting for SIGTERM, and
//! restarting its loop with backoff ([`supervise`]), progress lines while
//! busy ([`progress`]) and the last error on `/metrics` ([`last_error`]).

pub mod last_error;
pub mod memory;
pub mod progress;
mod supervise;

pub use supervise::{sleep_unless_stopping, supervise, Backoff};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

/// An error and its sources, `: `-separated, for a log line (`%e` shows
/// only the outermost message).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// The Prometheus text (OpenMetrics) exposition of `registry`.
pub fn render_metrics(registry: &prometheus_client::registry::Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

/// Content type of the Prometheus text (OpenMetrics) exposition.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The status port could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics on {addr}")]
pub struct StatusError {
    pub addr: SocketAddr,
    #[source]
    pub error: std::io::Error,
}

/// A service's status port for its `metrics` (shown by `render`): starts
/// [`spawn_status_server`] and returns the readiness flag it serves, unset
/// until the service says it is ready.
pub async fn serve_status<M: Send + Sync + 'static>(
    addr: SocketAddr,
    metrics: Arc<M>,
    render: fn(&M) -> String,
) -> Result<Arc<AtomicBool>, StatusError> {
    let ready = Arc::new(AtomicBool::new(false));
    spawn_status_server(addr, move || render(&metrics), ready.clone()).await?;
    Ok(ready)
}

/// Serves `/metrics` (rendered by `render`), `/healthz` (always ok while
/// the process runs) and `/readyz` (200 while `ready` is set, else 503) on
/// `addr`, in the background. Fails only if the address cannot be bound.
pub async fn spawn_status_server(
    addr: SocketAddr,
    render: impl Fn() -> String + Send + Sync + 'static,
    ready: Arc<AtomicBool>,
) -> Result<SocketAddr, StatusError> {
    let bound = async {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        Ok::<_, std::io::Error>((listener, local))
    };
    let (listener, local) = bound.await.map_err(|error| StatusError { addr, error })?;
    let render = Arc::new(render);
    let router = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let render = render.clone();
                async move {
                    let page = last_error::append_to(render());
                    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], page)
                }
            }),
        )
        .route("/healthz", axum::routing::get(|| async { "ok\n" }))
        .route(
            "/readyz",
            axum::routing::get(move || async move {
                if ready.load(Ordering::Relaxed) {
                    (StatusCode::OK, "ready\n").into_response()
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
                }
            }),
        );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "status server stopped");
        }
    });
    Ok(local)
}

/// A flag set on SIGTERM or Ctrl-C, for a loop that finishes its current
/// unit of work (a batch) and then stops.
pub fn shutdown_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping after the current batch");
        set.store(true, Ordering::Relaxed);
    });
    flag
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = ctrl_c => tracing::info!("interrupt received"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; stopping on Ctrl-C only");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
