//! The tokio runtime a ringcache process runs on.

use tokio::runtime::{Builder, Runtime};

/// A runtime with `threads` worker threads named `thread_name`, I/O and
/// timers enabled: a current-thread runtime for one thread, since the
/// work-stealing scheduler's cross-thread bookkeeping (wake-ups through its
/// injection queue, the idle-worker handshake) costs every request and buys
/// nothing with one worker; a multi-thread runtime otherwise.
///
/// # Errors
///
/// The I/O error tokio reports when its drivers cannot start.
///
/// # Examples
///
/// ```
/// let runtime = ringcache_server::runtime::build(1, "ringcache-example")?;
/// assert_eq!(runtime.block_on(async { 1 + 1 }), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn build(threads: usize, thread_name: &str) -> std::io::Result<Runtime> {
    let mut builder = if threads <= 1 {
        Builder::new_current_thread()
    } else {
        let mut builder = Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.thread_name(thread_name).enable_all().build()
}
