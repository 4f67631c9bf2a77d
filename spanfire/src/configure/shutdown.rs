//! Bounded shutdown: one deadline for the whole pipeline.
//!
//! [`shutdown`] shuts the tracer provider (whose [`Pipeline`](super::pipeline::Pipeline) shuts
//! its processors down in parallel) and the meter provider down at the same time, each on a
//! thread of its own, and waits for both until the deadline. Shortly before the deadline
//! (`timeout / 10`, at most 250 ms) it aborts the [`Gate`] every exporter wrapper checks:
//!
//! - gRPC exports (futures on spanfire's runtime) are cancelled at once, and later exports fail
//!   without touching the network, so the SDK's worker threads finish their shutdown promptly
//!   and exit: nothing is left running after `shutdown()` returns.
//! - OTLP/HTTP exports use a blocking client whose in-flight request cannot be interrupted: the
//!   SDK worker thread blocked in it (at most one per destination and signal) stays blocked
//!   until the request ends (at most the OTLP export timeout, `OTEL_EXPORTER_OTLP_TIMEOUT`,
//!   10 s by default), then fails every span still queued without sending it and exits. With
//!   it, the helper thread that waited for that provider's shutdown exits too. Nothing else
//!   remains.

use std::future::Future;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// Default deadline of [`Telemetry::shutdown`](crate::Telemetry::shutdown).
pub(crate) const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Aborted once the shutdown deadline is near: exports then stop (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Gate {
    state: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    aborted: bool,
    next: u64,
    wakers: Vec<(u64, Waker)>,
}

/// The error of an export abandoned at the shutdown deadline.
pub(crate) fn abandoned() -> OTelSdkError {
    OTelSdkError::InternalFailure("export abandoned at the shutdown deadline".into())
}

impl Gate {
    pub(crate) fn aborted(&self) -> bool {
        self.lock().aborted
    }

    pub(crate) fn abort(&self) {
        let wakers = {
            let mut state = self.lock();
            state.aborted = true;
            std::mem::take(&mut state.wakers)
        };
        for (_, waker) in wakers {
            waker.wake();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `future` until it completes or the gate is aborted (then the future is dropped and
    /// the result is an "abandoned" error).
    pub(crate) async fn race<F: Future<Output = OTelSdkResult>>(&self, future: F) -> OTelSdkResult {
        let id = {
            let mut state = self.lock();
            state.next += 1;
            state.next
        };
        let _unregister = Unregister { gate: self, id };
        let mut future = std::pin::pin!(future);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = future.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
            let mut state = self.lock();
            if state.aborted {
                return Poll::Ready(Err(abandoned()));
            }
            match state.wakers.iter_mut().find(|(i, _)| *i == id) {
                Some((_, waker)) => waker.clone_from(cx.waker()),
                None => state.wakers.push((id, cx.waker().clone())),
            }
            Poll::Pending
        })
        .await
    }
}

struct Unregister<'a> {
    gate: &'a Gate,
    id: u64,
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        self.gate.lock().wakers.retain(|(i, _)| *i != self.id);
    }
}

/// A provider's shutdown, run on a thread of its own.
type Task = Box<dyn FnOnce() -> OTelSdkResult + Send>;

/// Shuts both providers down in parallel within `timeout` (see the module docs); `None` for a
/// provider that did not finish in time.
pub(crate) fn shutdown(
    tracer: &SdkTracerProvider,
    meter: &SdkMeterProvider,
    gate: &Arc<Gate>,
    timeout: Duration,
) -> [Option<OTelSdkResult>; 2] {
    let start = Instant::now();
    let deadline = start + timeout;
    let abort_at = deadline - (timeout / 10).min(Duration::from_millis(250));
    let (tx, rx) = mpsc::channel::<(usize, OTelSdkResult)>();
    let mut results: [Option<OTelSdkResult>; 2] = [None, None];
    let mut handles = Vec::new();
    let tasks: [(&str, Task); 2] = [
        ("spanfire-shutdown-traces", {
            let tracer = tracer.clone();
            Box::new(move || tracer.shutdown_with_timeout(timeout))
        }),
        ("spanfire-shutdown-metrics", {
            let meter = meter.clone();
            Box::new(move || meter.shutdown_with_timeout(timeout))
        }),
    ];
    for (i, (name, task)) in tasks.into_iter().enumerate() {
        let tx = tx.clone();
        // The task is shared so it can still run inline if the thread cannot be spawned.
        let task = Arc::new(Mutex::new(Some(task)));
        let run = {
            let task = Arc::clone(&task);
            move || {
                let task = task.lock().ok().and_then(|mut t| t.take());
                if let Some(task) = task {
                    let _ = tx.send((i, task()));
                }
            }
        };
        match std::thread::Builder::new().name(name.into()).spawn(run) {
            Ok(handle) => handles.push((i, handle)),
            Err(_) => {
                let task = task.lock().ok().and_then(|mut t| t.take());
                results[i] = task.map(|t| t());
            }
        }
    }
    drop(tx);
    let mut aborted = false;
    while results.iter().any(Option::is_none) {
        let until = if aborted { deadline } else { abort_at };
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok((i, result)) => results[i] = Some(result),
            Err(mpsc::RecvTimeoutError::Timeout) if !aborted => {
                gate.abort();
                aborted = true;
            }
            Err(_) => break,
        }
    }
    // Exports that start from now on fail at once (e.g. a metric export after a late flush).
    gate.abort();
    for (i, handle) in handles {
        if results[i].is_some() {
            // It sent its result: it is exiting.
            let _ = handle.join();
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn race_is_cancelled_by_abort() {
        let gate = Arc::new(Gate::default());
        let g = Arc::clone(&gate);
        let aborter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            g.abort();
        });
        let started = Instant::now();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let result = rt.block_on(gate.race(std::future::pending()));
        assert!(result.is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
        aborter.join().unwrap();
        assert!(gate.lock().wakers.is_empty(), "no waker left behind");
        let done = rt.block_on(gate.race(async { Ok(()) }));
        assert!(done.is_ok(), "a ready future still completes");
    }
}
