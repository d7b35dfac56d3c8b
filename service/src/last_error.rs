//! The last warning or error a service logged, kept for `/metrics` so that
//! `shelf status` and the dashboard can show it without reading logs.
//!
//! A `tracing` layer ([`LastErrorLayer`]) records every WARN or ERROR
//! event; the status server appends it to each `/metrics` page as
//! `shelf_last_error_timestamp_seconds{level,message}`.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

struct LastError {
    level: Level,
    message: String,
    at: f64,
}

static LAST: Mutex<Option<LastError>> = Mutex::new(None);

/// Records WARN and ERROR events (install it beside the log formatter).
pub struct LastErrorLayer;

impl<S: Subscriber> Layer<S> for LastErrorLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let mut text = Text::default();
        event.record(&mut text);
        record(level, text.0);
    }
}

fn record(level: Level, message: String) {
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    if let Ok(mut last) = LAST.lock() {
        *last = Some(LastError { level, message, at });
    }
}

/// The event's message, then its fields as `name=value`.
#[derive(Default)]
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.0);
            self.0 = format!("{value:?}{rest}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

/// The OpenMetrics lines of the last warning or error (none before the
/// first), to go before `# EOF`.
pub fn metric_lines() -> String {
    let mut out = String::from(
        "# HELP shelf_last_error_timestamp_seconds When the service last logged a warning or an error, and what.\n\
         # TYPE shelf_last_error_timestamp_seconds gauge\n",
    );
    if let Ok(last) = LAST.lock() {
        if let Some(e) = last.as_ref() {
            let level = e.level.as_str().to_ascii_lowercase();
            let message = escape(&e.message);
            let _ = writeln!(
                out,
                "shelf_last_error_timestamp_seconds{{level=\"{level}\",message=\"{message}\"}} {:.3}",
                e.at
            );
        }
    }
    out
}

/// A label value: backslash, quote and line break escaped, and cut to a
/// length a status line can show.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(400));
    for c in text.chars().take(400) {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `page` with the last-error lines before its `# EOF`.
pub fn append_to(mut page: String) -> String {
    let lines = metric_lines();
    match page.rfind("# EOF") {
        Some(i) => page.insert_str(i, &lines),
        None => page.push_str(&lines),
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_error_goes_before_eof_escaped() {
        record(Level::ERROR, "cannot \"write\"\nto C:\\x".into());
        let page = append_to("# HELP a b\na 1\n# EOF\n".into());
        let line = page
            .lines()
            .find(|l| l.starts_with("shelf_last_error_timestamp_seconds{"))
            .unwrap();
        assert!(
            line.contains(r#"level="error",message="cannot \"write\"\nto C:\\x"}"#),
            "{line}"
        );
        assert!(page.ends_with("# EOF\n"), "{page}");
    }
}
