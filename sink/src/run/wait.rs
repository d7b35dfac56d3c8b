//! Waiting without hanging: store waits that give up on shutdown, sleeps
//! that end on shutdown, and the retry backoff.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

use super::SHUTDOWN_GRACE;
use crate::store::StoreError;

/// Waits for `f` unless a shutdown is asked for and it is still not done
/// [`SHUTDOWN_GRACE`] later: then it is dropped ([`StoreError::Abandoned`]).
/// The store may still finish the command; every write is guarded or
/// idempotent, so that is harmless.
pub(super) fn block_on_until<T>(
    handle: &Handle,
    shutdown: &AtomicBool,
    f: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    handle.block_on(async {
        let stopped = async {
            while !shutdown.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            result = f => result,
            () = stopped => Err(StoreError::Abandoned),
        }
    })
}

/// Sleeps `wait`, or less when a shutdown is asked for.
pub(super) fn sleep_unless_stopping(shutdown: &AtomicBool, wait: Duration) {
    let until = Instant::now() + wait;
    while !shutdown.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// Exponential backoff from 100 ms to 5 s.
pub(super) struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(Duration::from_millis(100))
    }
}

impl Backoff {
    pub(super) fn next(&mut self) -> Duration {
        let now = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        now
    }
}
