//! Restarting a service's loop in-process, as a supervisor would, without
//! losing the process: the state is read again from the store or the
//! broker, the records from the committed offsets.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Exponential backoff, doubling from `first` up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Default for Backoff {
    /// From 100 ms to 5 s.
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(5))
    }
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Self { next: first, max }
    }

    /// The next wait.
    pub fn next_wait(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(self.max);
        now
    }
}

/// Sleeps `wait`, or less when `shutdown` is set.
pub fn sleep_unless_stopping(shutdown: &AtomicBool, wait: Duration) {
    let until = Instant::now() + wait;
    while !shutdown.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// Runs `attempt` until it ends without a restartable error (as
/// `restartable` decides) or `shutdown` is set; between attempts, `ready`
/// is false and the wait grows ([`Backoff`]). `what` names the loop in the
/// log. On the calling (blocking) thread.
///
/// A stop requested while the loop fails for a passing reason (a lost
/// broker, a fenced consumer) is a clean stop: what the failed attempt had
/// not committed is read again by whoever takes over, so nothing is lost,
/// and a supervisor that sent SIGTERM should not see a failure. The error
/// is logged.
pub fn supervise<E: std::error::Error + 'static>(
    what: &str,
    shutdown: &AtomicBool,
    ready: &AtomicBool,
    restartable: impl Fn(&E) -> bool,
    mut attempt: impl FnMut() -> Result<(), E>,
) -> Result<(), E> {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
    loop {
        match attempt() {
            Err(e) if restartable(&e) => {
                ready.store(false, Ordering::Relaxed);
                if shutdown.load(Ordering::Relaxed) {
                    tracing::warn!(error = %crate::error_chain(&e), "{what} stopped as asked; its last attempt had failed, and what it had not committed is read again");
                    return Ok(());
                }
                let wait = backoff.next_wait();
                tracing::warn!(error = %crate::error_chain(&e), retry_in = ?wait, "{what} restarting");
                sleep_unless_stopping(shutdown, wait);
                // Not another attempt (which may wait a minute on a lost
                // broker) when the stop came during the wait.
                if shutdown.load(Ordering::Relaxed) {
                    return Ok(());
                }
            }
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Failed(&'static str);

    #[test]
    fn restartable_errors_are_retried_and_others_end_it() {
        let (stop, ready) = (AtomicBool::new(false), AtomicBool::new(true));
        let mut attempts = 0;
        let result = supervise(
            "test loop",
            &stop,
            &ready,
            |e: &Failed| e.0 == "lost",
            || {
                attempts += 1;
                match attempts {
                    1 => Err(Failed("lost")),
                    _ => Err(Failed("broken")),
                }
            },
        );
        assert_eq!(attempts, 2);
        assert_eq!(result.unwrap_err().0, "broken");
        assert!(!ready.load(Ordering::Relaxed));
    }

    #[test]
    fn a_shutdown_ends_the_retries_as_a_clean_stop() {
        let (stop, ready) = (AtomicBool::new(true), AtomicBool::new(true));
        let mut attempts = 0;
        let result = supervise(
            "test loop",
            &stop,
            &ready,
            |_: &Failed| true,
            || {
                attempts += 1;
                Err(Failed("lost"))
            },
        );
        assert!(result.is_ok());
        assert_eq!(attempts, 1);
        assert!(!ready.load(Ordering::Relaxed));
    }

    #[test]
    fn a_shutdown_still_reports_an_error_that_is_not_passing() {
        let (stop, ready) = (AtomicBool::new(true), AtomicBool::new(true));
        let result = supervise(
            "test loop",
            &stop,
            &ready,
            |e: &Failed| e.0 == "lost",
            || Err(Failed("broken")),
        );
        assert_eq!(result.unwrap_err().0, "broken");
    }

    #[test]
    fn a_shutdown_during_the_wait_makes_no_further_attempt() {
        let (stop, ready) = (AtomicBool::new(false), AtomicBool::new(true));
        let mut attempts = 0;
        let result = std::thread::scope(|s| {
            // As SIGTERM would, 100 ms into the first wait (500 ms).
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(100));
                stop.store(true, Ordering::Relaxed);
            });
            supervise(
                "test loop",
                &stop,
                &ready,
                |_: &Failed| true,
                || {
                    attempts += 1;
                    Err(Failed("lost"))
                },
            )
        });
        assert!(result.is_ok());
        assert_eq!(attempts, 1);
    }

    #[test]
    fn backoff_doubles_up_to_its_max() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(300));
        let waits: Vec<u128> = (0..4).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, [100, 200, 300, 300]);
    }
}
