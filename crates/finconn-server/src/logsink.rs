//! Where log lines go: appended to one in-memory buffer by the thread that logs, written to stderr by one
//! thread of their own. That thread is woken once per batch, not once per line: when a line lands in an
//! empty buffer it is woken, waits [`LINGER`] for more lines to arrive, then writes everything in one
//! system call. Under load a request's line costs a memory copy under an uncontended lock; a quiet server
//! still writes each line within [`LINGER`].
//!
//! Nothing is dropped: a logging thread that finds [`MAX_PENDING`] bytes waiting blocks until the writer
//! has caught up. [`Guard`] (held by `main` until the server has stopped) writes what is left when dropped.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the writer gathers lines after the first one of a batch arrived.
pub const LINGER: Duration = Duration::from_millis(10);
/// Pending bytes above which a logging thread wakes the writer at once instead of leaving it to linger.
const WAKE_AT: usize = 256 * 1024;
/// Pending bytes above which a logging thread waits for the writer (backpressure, never loss).
const MAX_PENDING: usize = 8 * 1024 * 1024;

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    stopping: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// Signalled when lines arrive in an empty buffer (or a lot of them), and at stop.
    arrived: Condvar,
    /// Signalled when the writer took the buffer (for threads held back by `MAX_PENDING`).
    drained: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The `MakeWriter` for the fmt layer. Cheap to clone.
#[derive(Clone)]
pub struct Sink(Arc<Shared>);

/// Stops the writer thread when dropped, after it has written every line logged so far.
pub struct Guard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the writer thread (`finconn-log`) writing to `out`. When no thread can be started, lines are
/// written to stderr by the thread that logs them.
pub fn start(out: impl Write + Send + 'static) -> (Sink, Guard) {
    let shared = Arc::new(Shared::default());
    let for_thread = shared.clone();
    let thread = std::thread::Builder::new().name("finconn-log".into()).spawn(move || run(&for_thread, out)).ok();
    if thread.is_none() {
        shared.lock().stopping = true;
    }
    (Sink(shared.clone()), Guard { shared, thread })
}

fn run(shared: &Shared, mut out: impl Write) {
    let mut spare = Vec::new();
    loop {
        let mut pending = shared.lock();
        while pending.bytes.is_empty() && !pending.stopping {
            pending = shared.arrived.wait(pending).unwrap_or_else(|p| p.into_inner());
        }
        if !pending.stopping && pending.bytes.len() < WAKE_AT {
            // Let the rest of the batch arrive (woken early by a full buffer or stop).
            pending = shared.arrived.wait_timeout(pending, LINGER).unwrap_or_else(|p| p.into_inner()).0;
        }
        let stopping = pending.stopping;
        std::mem::swap(&mut pending.bytes, &mut spare);
        drop(pending);
        shared.drained.notify_all();
        if !spare.is_empty() {
            // Nowhere to report a failed write to stderr: the line is lost, as with any logger.
            let _ = out.write_all(&spare);
            let _ = out.flush();
            spare.clear();
            if spare.capacity() > 4 * WAKE_AT {
                spare.shrink_to(WAKE_AT);
            }
        }
        if stopping && shared.lock().bytes.is_empty() {
            return;
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.arrived.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Write for &Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let shared = &self.0;
        let mut pending = shared.lock();
        while pending.bytes.len() >= MAX_PENDING && !pending.stopping {
            pending = shared.drained.wait(pending).unwrap_or_else(|p| p.into_inner());
        }
        if pending.stopping {
            // After the guard was dropped (the last lines of shutdown): write through.
            drop(pending);
            let mut err = std::io::stderr().lock();
            err.write_all(buf)?;
            return Ok(buf.len());
        }
        let was_empty = pending.bytes.is_empty();
        pending.bytes.extend_from_slice(buf);
        let wake = was_empty || pending.bytes.len() >= WAKE_AT;
        drop(pending);
        if wake {
            shared.arrived.notify_one();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Sink {
    type Writer = &'a Sink;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Collect {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut c = self.0.lock().unwrap();
            c.0.extend_from_slice(buf);
            c.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_arrives_in_order_and_batched() {
        let out = Collect::default();
        let (sink, guard) = start(out.clone());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    for i in 0..5000 {
                        (&sink).write_all(format!("t{t} line {i}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let (bytes, writes) = out.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        for t in 0..4 {
            let mine: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("t{t} line ")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(mine, (0..5000).collect::<Vec<_>>(), "thread {t}'s lines, each once, in order");
        }
        assert!(writes < 20_000 / 10, "20,000 lines in {writes} writes: not batched");
    }

    #[test]
    fn a_lone_line_is_written_without_waiting_for_more() {
        let out = Collect::default();
        let (sink, _guard) = start(out.clone());
        (&sink).write_all(b"hello\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while out.0.lock().unwrap().0.is_empty() {
            assert!(std::time::Instant::now() < deadline, "the line was never written");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(out.0.lock().unwrap().0, b"hello\n");
    }
}
