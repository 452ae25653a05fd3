//! The `switchboard` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    return_large_allocations_to_the_system();
    switchboard::cli::run()
}

/// glibc serves a large allocation from `mmap` (returned to the system on free) until the first
/// such block is freed; then it raises the threshold to that size and keeps later ones in its
/// heaps. An Argon2 password hash takes 19 MiB, so after the first login the hub kept 19 MiB it
/// would never use again (idle RSS 40 MiB instead of 21). A fixed threshold keeps every block of
/// 1 MiB or more in `mmap` (and fixes the trim threshold too), so hash memory goes back at once;
/// allocations that large are rare on the hot paths (request bodies are capped and streamed).
fn return_large_allocations_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}
