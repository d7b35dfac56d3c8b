//! Progress lines at INFO while a service is busy: records done since the
//! last line, the rate, and the lag when the service has one. Nothing is
//! logged while idle, so a quiet log means a quiet pipeline.

use std::time::{Duration, Instant};

/// What a service has done so far, read at each tick.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Done {
    /// Records handled since the start (a counter).
    pub records: u64,
    /// Records still to read, when the service consumes a topic.
    pub lag: Option<i64>,
}

/// How often the progress line is written: `SHELF_PROGRESS_SECS` (10–30 s,
/// default 15).
pub fn interval() -> Duration {
    let secs = std::env::var("SHELF_PROGRESS_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(15)
        .clamp(10, 30);
    Duration::from_secs(secs)
}

/// Logs `what`'s progress every [`interval`] on a thread of its own while
/// `source` (usually the service's metrics) lives and `sample` shows
/// records done.
pub fn spawn<S: Send + Sync + 'static>(
    what: &'static str,
    source: &std::sync::Arc<S>,
    sample: fn(&S) -> Done,
) {
    let every = interval();
    // Weak: a service that stops (tests run many in one process) ends
    // its progress thread at the next tick instead of being kept alive.
    let source = std::sync::Arc::downgrade(source);
    let read = move || source.upgrade().map(|s| sample(&s));
    let spawned = std::thread::Builder::new()
        .name("shelf-progress".into())
        .spawn(move || {
            let Some(first) = read() else { return };
            let mut last = (first, Instant::now());
            loop {
                std::thread::sleep(every);
                let Some(done) = read() else { return };
                let now = (done, Instant::now());
                if let Some(line) = line(last, now) {
                    match line.lag {
                        Some(lag) => tracing::info!(records = line.records, rate = %format_rate(line.rate), lag, total = now.0.records, "{what} progress"),
                        None => tracing::info!(records = line.records, rate = %format_rate(line.rate), total = now.0.records, "{what} progress"),
                    }
                }
                last = now;
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no progress lines: cannot start their thread");
    }
}

struct Line {
    records: u64,
    rate: f64,
    lag: Option<i64>,
}

/// The line for the tick from `before` to `now`, if there was work.
fn line(before: (Done, Instant), now: (Done, Instant)) -> Option<Line> {
    let records = now.0.records.checked_sub(before.0.records)?;
    if records == 0 {
        return None;
    }
    let secs = now.1.duration_since(before.1).as_secs_f64().max(1e-3);
    Some(Line {
        records,
        rate: records as f64 / secs,
        lag: now.0.lag,
    })
}

fn format_rate(rate: f64) -> String {
    format!("{rate:.0}/s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_only_when_records_were_done() {
        let t = Instant::now();
        let done = |records, lag| Done { records, lag };
        let idle = line(
            (done(5, Some(0)), t),
            (done(5, Some(0)), t + Duration::from_secs(15)),
        );
        assert!(idle.is_none());
        let busy = line(
            (done(5, None), t),
            (done(3005, Some(12)), t + Duration::from_secs(15)),
        )
        .unwrap();
        assert_eq!((busy.records, busy.lag), (3000, Some(12)));
        assert_eq!(format_rate(busy.rate), "200/s");
    }
}
