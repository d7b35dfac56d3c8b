//! Waiting on the store without hanging: waits that give up on shutdown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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
