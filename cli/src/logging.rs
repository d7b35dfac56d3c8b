//! Log set-up shared by every subcommand.

use tracing_subscriber::{fmt, EnvFilter};

/// Installs a `tracing` subscriber writing to stderr.
///
/// The level comes from `RUST_LOG` (else `default`); `SHELF_LOG_FORMAT=json`
/// switches to one JSON object per line for log collectors.
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let json = std::env::var("SHELF_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests calling into several commands) is harmless: keep
    // the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
