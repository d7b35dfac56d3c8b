//! Giving freed heap memory back to the operating system.

/// Returns the free memory of every malloc arena to the OS.
///
/// glibc gives each busy thread an arena of its own and shrinks an arena
/// only from its top. The transform runtime's chain threads allocate a
/// batch's outputs, its committer frees them, and in between the next
/// batch is allocated: two of its arenas stayed at 64 MiB each, fully
/// resident, and the runtime at 280 MiB at full size. Called after each
/// batch is freed (the runtime) or every few seconds (the sink, where a
/// call per batch cost a fifth more CPU), this releases the free pages
/// inside the arenas too.
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; any
    // thread may call it at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
