//! Log set-up shared by every subcommand.

use tracing_subscriber::{fmt, EnvFilter};

/// Installs a `tracing` subscriber writing to stderr.
///
/// The level comes from `RUST_LOG` (else `default`); `SHELF_LOG_FORMAT=json`
/// switches to one JSON object per line for log collectors. Colours only
/// on a terminal (and never with `NO_COLOR`): a log file gets plain text.
pub fn init(default: &str) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let json = std::env::var("SHELF_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    // A second init (tests calling into several commands) is harmless: keep
    // the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
