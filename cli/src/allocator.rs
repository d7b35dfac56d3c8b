//! The allocator: jemalloc, not glibc's malloc. The sink and the runtime
//! allocate and free parts of every record, and glibc's malloc and free
//! took a fifth to a quarter of their CPU, its per-thread arenas holding
//! freed batches resident (docs/benchmarks.md).
//!
//! jemalloc's background thread gives freed pages back after a second
//! (`dirty_decay_ms`), so a service's resident memory follows what it
//! holds; the sink keeps them longer ([`SINK_DECAY`]). `_RJEM_MALLOC_CONF`
//! overrides these settings (the crate's jemalloc is prefixed: a plain
//! `MALLOC_CONF` is not read), the sink's included.

use std::time::Duration;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// How long the sink's freed pages stay before they are given back. Its
/// batches take seconds when the store is busy (daily snapshots update
/// every product), and pages given back between two batches faulted in
/// again at the next: with 10 s instead of 1 s the sink took a third fewer
/// page faults over 30 daily snapshots and about 7 % less CPU, its peak
/// 5-15 MiB higher (docs/benchmarks.md).
pub const SINK_DECAY: Duration = Duration::from_secs(10);

/// Keeps freed pages this long, in every arena and in those made later,
/// unless `_RJEM_MALLOC_CONF` says otherwise. A failure costs speed only:
/// logged, not returned.
pub fn hold_freed_pages(decay: Duration) {
    if std::env::var_os("_RJEM_MALLOC_CONF").is_some() {
        return;
    }
    let ms = isize::try_from(decay.as_millis()).unwrap_or(isize::MAX);
    // SAFETY: the key holds an `unsigned`.
    let arenas = unsafe { tikv_jemalloc_ctl::raw::read::<u32>(b"arenas.narenas\0") }.unwrap_or(0);
    // SAFETY (both writes): the decay keys hold an `ssize_t`, which `isize`
    // is. Arenas not in use yet refuse the write, and take the default.
    for arena in 0..arenas {
        let key = format!("arena.{arena}.dirty_decay_ms\0");
        let _ = unsafe { tikv_jemalloc_ctl::raw::write(key.as_bytes(), ms) };
    }
    if let Err(e) = unsafe { tikv_jemalloc_ctl::raw::write(b"arenas.dirty_decay_ms\0", ms) } {
        tracing::warn!(error = %e, "could not set how long freed pages stay");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_pages_stay_as_long_as_asked_in_old_and_new_arenas() {
        if std::env::var_os("_RJEM_MALLOC_CONF").is_some() {
            return;
        }
        let read = |key: &[u8]| -> isize {
            // SAFETY: the decay keys hold an `ssize_t`.
            unsafe { tikv_jemalloc_ctl::raw::read(key) }.unwrap()
        };
        assert_eq!(
            read(b"arenas.dirty_decay_ms\0"),
            1000,
            "the built-in default"
        );
        hold_freed_pages(Duration::from_millis(7_500));
        assert_eq!(read(b"arenas.dirty_decay_ms\0"), 7_500);
        assert_eq!(read(b"arena.0.dirty_decay_ms\0"), 7_500);
        // SAFETY: `arenas.create` gives the new arena's index, an `unsigned`.
        let made: u32 = unsafe { tikv_jemalloc_ctl::raw::read(b"arenas.create\0") }.unwrap();
        let key = format!("arena.{made}.dirty_decay_ms\0");
        assert_eq!(read(key.as_bytes()), 7_500, "an arena made later");
    }
}
