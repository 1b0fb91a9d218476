//! Giving freed memory back to the system.
//!
//! A reload at 10,000 contexts allocates and frees tens of megabytes (the
//! kubeconfig text, its parse, the translated resources), and so does each
//! `/status` answer listing 10,000 contexts (~9 MB). glibc's malloc keeps
//! freed memory in its arenas for reuse, so the process stays as large as
//! its largest moment: measured in-process, 300 MB resident for ~150 MB in
//! use after three reloads.

/// Set glibc's malloc up for a long-running process with large, short-lived
/// buffers: blocks from 128 KiB up are mapped and unmapped on their own
/// (glibc otherwise raises that threshold to the largest block freed, so a
/// 9 MB buffer's successors stay in the heap), and at most two arenas (one
/// per thread that ever allocated, each keeping its own free memory).
/// Call once, first thing (before other threads start); elsewhere than
/// glibc it does nothing.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt(3) takes two integers and only sets glibc's malloc
    // parameters under malloc's own lock; no pointer crosses the call, and
    // a refused value is reported by its return value (ignored: the
    // defaults stay, which is only less frugal).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Return the heap's free pages to the system (glibc only; elsewhere the
/// allocator's own policy applies).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim(3) takes no pointer and only walks glibc's own
    // arenas under their locks, releasing pages no allocation uses; it is
    // safe from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests;
