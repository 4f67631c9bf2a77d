//! The console's writer thread: request threads hand rendered lines to it through a bounded
//! queue and never wait for the output.
//!
//! - [`ConsoleWriter::send`] never blocks: it `try_send`s into a queue of [`QUEUE_CAPACITY`]
//!   lines; when the queue is full (the output is slower than the spans) the line is dropped and
//!   counted.
//! - The thread writes through a `BufWriter` and flushes whenever the queue runs empty, so lines
//!   show up promptly without a write call per line under load.
//! - [`ConsoleWriter::flush`] queues a flush marker behind every line queued before it and waits
//!   (bounded) for the thread to reach it.
//! - [`ConsoleWriter::shutdown`] flushes, stops the thread and joins it only if it finished within
//!   the timeout; a thread stuck in a stalled write is left detached.
//! - If the thread cannot be spawned, every line is dropped and counted: the console stays
//!   silent rather than making request threads write (and possibly block) themselves.

use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{
    sync_channel, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError,
};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};

/// How many rendered lines may wait for the writer thread before new ones are dropped.
pub(super) const QUEUE_CAPACITY: usize = 4096;

/// The longest [`ConsoleWriter::flush`] waits.
pub(super) const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

enum Msg {
    /// A rendered line, without its newline.
    Line(String),
    /// Flush the output, then signal the sender.
    Flush(SyncSender<()>),
    /// Flush and exit.
    Stop,
}

/// Counters shared with the writer thread.
#[derive(Debug, Default)]
struct Shared {
    /// Lines that were never written: queue full, no writer thread, or discarded at shutdown.
    dropped: AtomicU64,
    /// Lines queued but not yet written or discarded.
    pending: AtomicU64,
    /// Set by shutdown: the thread discards what is still queued and exits.
    stop: AtomicBool,
}

/// The writer thread's handle and a receiver that disconnects when the thread exits.
struct Worker {
    handle: JoinHandle<()>,
    done: Receiver<()>,
}

/// Hands lines to a dedicated writer thread; see the module docs.
pub(super) struct ConsoleWriter {
    /// `None` when the thread could not be spawned: every line is dropped and counted.
    tx: Option<SyncSender<Msg>>,
    shared: Arc<Shared>,
    worker: Mutex<Option<Worker>>,
    shut_down: AtomicBool,
}

impl std::fmt::Debug for ConsoleWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleWriter")
            .field("running", &self.tx.is_some())
            .field("dropped", &self.dropped())
            .field("shut_down", &self.is_shut_down())
            .finish_non_exhaustive()
    }
}

impl ConsoleWriter {
    /// Starts the writer thread for `out`.
    pub(super) fn spawn(out: Box<dyn Write + Send>) -> Self {
        let shared = Arc::new(Shared::default());
        let (tx, rx) = sync_channel(QUEUE_CAPACITY);
        let (done_tx, done) = sync_channel::<()>(1);
        let thread_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("spanfire-console".to_owned())
            .spawn(move || {
                // Dropped when the thread exits, however it exits: `done` then disconnects.
                let _done = done_tx;
                run(rx, out, &thread_shared);
            });
        let (tx, worker) = match spawned {
            Ok(handle) => (Some(tx), Some(Worker { handle, done })),
            Err(_) => (None, None),
        };
        ConsoleWriter {
            tx,
            shared,
            worker: Mutex::new(worker),
            shut_down: AtomicBool::new(false),
        }
    }

    /// Queues `line` (without newline); never blocks. Drops and counts it when the queue is full
    /// or there is no writer thread.
    pub(super) fn send(&self, line: String) {
        let Some(tx) = &self.tx else {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        self.shared.pending.fetch_add(1, Ordering::Relaxed);
        if tx.try_send(Msg::Line(line)).is_err() {
            self.shared.pending.fetch_sub(1, Ordering::Relaxed);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines dropped so far.
    pub(super) fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub(super) fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Acquire)
    }

    /// Waits until every line queued before this call is written and the output flushed, for at
    /// most `timeout`.
    pub(super) fn flush(&self, timeout: Duration) -> OTelSdkResult {
        if self.is_shut_down() {
            return Ok(());
        }
        self.flush_until(Instant::now() + timeout, timeout)
    }

    fn flush_until(&self, deadline: Instant, timeout: Duration) -> OTelSdkResult {
        let Some(tx) = &self.tx else {
            return Ok(()); // nothing is ever queued
        };
        let (ack_tx, ack_rx) = sync_channel(1);
        send_until(tx, Msg::Flush(ack_tx), deadline).map_err(|e| match e {
            SendUntilError::Timeout => OTelSdkError::Timeout(timeout),
            SendUntilError::Disconnected => writer_gone(),
        })?;
        match ack_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(()) => Ok(()),
            Err(RecvTimeoutError::Timeout) => Err(OTelSdkError::Timeout(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(writer_gone()),
        }
    }

    /// Flushes, stops the writer thread and reports dropped lines on stderr, all within
    /// `timeout`. A thread still stuck in a write is left detached (it exits once the write
    /// returns). Later calls do nothing.
    pub(super) fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let deadline = Instant::now() + timeout;
        let flushed = self.flush_until(deadline, timeout);
        self.shared.stop.store(true, Ordering::Release);
        if let Some(tx) = &self.tx {
            // Wakes an idle thread. If the queue is full the thread is busy and sees `stop`
            // before its next line.
            let _ = tx.try_send(Msg::Stop);
        }
        let worker = self.worker.lock().ok().and_then(|mut w| w.take());
        if let Some(worker) = worker {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match worker.done.recv_timeout(remaining) {
                Err(RecvTimeoutError::Disconnected) | Ok(()) => {
                    let _ = worker.handle.join();
                }
                // Still stuck in a write: leave it detached rather than hang.
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        let lost = self.dropped() + self.shared.pending.load(Ordering::Relaxed);
        if lost > 0 {
            let reason = if self.tx.is_some() {
                "stdout too slow"
            } else {
                "console writer thread could not start"
            };
            tracing::warn!(
                target: "spanfire",
                "console output dropped {lost} lines ({reason})"
            );
        }
        flushed
    }
}

fn writer_gone() -> OTelSdkError {
    OTelSdkError::InternalFailure("spanfire console writer thread stopped".to_owned())
}

enum SendUntilError {
    Timeout,
    Disconnected,
}

/// `try_send` with retries until `deadline` (std's `SyncSender` has no `send_timeout`).
fn send_until(tx: &SyncSender<Msg>, mut msg: Msg, deadline: Instant) -> Result<(), SendUntilError> {
    let mut backoff = Duration::from_micros(100);
    loop {
        match tx.try_send(msg) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Disconnected(_)) => return Err(SendUntilError::Disconnected),
            Err(TrySendError::Full(back)) => msg = back,
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(SendUntilError::Timeout);
        }
        std::thread::sleep(backoff.min(deadline - now));
        backoff = (backoff * 2).min(Duration::from_millis(10));
    }
}

/// The writer thread's loop.
fn run(rx: Receiver<Msg>, out: Box<dyn Write + Send>, shared: &Shared) {
    let mut out = BufWriter::with_capacity(16 * 1024, out);
    loop {
        let msg = match rx.try_recv() {
            Ok(msg) => msg,
            Err(TryRecvError::Empty) => {
                // Idle: make everything written so far visible before waiting.
                let _ = out.flush();
                match rx.recv() {
                    Ok(msg) => msg,
                    Err(_) => break, // the ConsoleWriter is gone and the queue drained
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        if shared.stop.load(Ordering::Acquire) {
            discard(msg, shared);
            break;
        }
        match msg {
            Msg::Line(line) => {
                // Write errors (closed stdout …) are ignored: the console is best effort.
                let _ = out.write_all(line.as_bytes());
                let _ = out.write_all(b"\n");
                shared.pending.fetch_sub(1, Ordering::Relaxed);
            }
            Msg::Flush(ack) => {
                let _ = out.flush();
                let _ = ack.try_send(());
            }
            Msg::Stop => break,
        }
    }
    let _ = out.flush();
    // Anything queued after the stop is never written: count it.
    while let Ok(msg) = rx.try_recv() {
        discard(msg, shared);
    }
}

fn discard(msg: Msg, shared: &Shared) {
    if let Msg::Line(_) = msg {
        shared.pending.fetch_sub(1, Ordering::Relaxed);
        shared.dropped.fetch_add(1, Ordering::Relaxed);
    }
}
