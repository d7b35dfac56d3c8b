//! Log set-up shared by every subcommand.

use shelf_service::last_error::LastErrorLayer;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
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
    let format = fmt::layer().with_writer(std::io::stderr).with_ansi(colour);
    // The last warning or error also goes to the services' /metrics.
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(TransientNoise)
        .with(LastErrorLayer);
    // A second init (tests calling into several commands) is harmless: keep
    // the first subscriber.
    let _ = if json {
        registry.with(format.json()).try_init()
    } else {
        registry.with(format).try_init()
    };
}

/// Drops librdkafka's warnings about a broker still loading its state after
/// a start ("Failed to acquire idempotence PID … Coordinator load in
/// progress: retrying"): librdkafka retries by itself, and a first run
/// printed them among the demo's lines as if something were wrong. A
/// failure that lasts still ends in an error of its own.
struct TransientNoise;

/// Messages of librdkafka that only say it is retrying a broker that is
/// still starting.
const TRANSIENT: [&str; 1] = ["Coordinator load in progress"];

impl<S: Subscriber> Layer<S> for TransientNoise {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        if *event.metadata().level() != Level::WARN {
            return true;
        }
        let mut message = Message::default();
        event.record(&mut message);
        // librdkafka's lines come through the `log` crate: their target is
        // a field (`log.target`), not the metadata's.
        let target = message
            .target
            .as_deref()
            .unwrap_or(event.metadata().target());
        !(target.starts_with("librdkafka") && is_transient(&message.text))
    }
}

fn is_transient(message: &str) -> bool {
    TRANSIENT.iter().any(|t| message.contains(t))
}

#[derive(Default)]
struct Message {
    text: String,
    target: Option<String>,
}

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.text = format!("{value:?}"),
            "log.target" => self.target = Some(format!("{value:?}")),
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.text = value.to_owned(),
            "log.target" => self.target = Some(value.to_owned()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_broker_still_loading_is_not_worth_a_warning() {
        assert!(super::is_transient(
            "librdkafka: GETPID [thrd:main]: Failed to acquire idempotence PID from broker \
             127.0.0.1:9092/1: Broker: Coordinator load in progress: retrying"
        ));
        assert!(!super::is_transient(
            "librdkafka: FAIL [thrd:127.0.0.1:9092/1]: Connect to ipv4#127.0.0.1:9092 failed"
        ));
    }
}
