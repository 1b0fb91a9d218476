//! Giving memory a reload freed back to the system.
//!
//! A reload at 10,000 contexts allocates and frees tens of megabytes (the
//! kubeconfig text, its parse, the translated resources). glibc's malloc
//! keeps freed memory in its arenas for reuse, so the process stays as
//! large as its largest reload: measured, 300 MB resident for ~100 MB in
//! use. `malloc_trim` returns every whole free page of every arena.

/// Return the heap's free pages to the system (glibc only; elsewhere the
/// allocator's own policy applies).
#[allow(unsafe_code)]
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim(3) only walks glibc's own arenas under their
    // locks; it takes no pointer and is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
