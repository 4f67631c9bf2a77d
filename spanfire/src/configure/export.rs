//! Exporter wrappers: count what each destination was given and what it exported, split
//! batches into requests the collector accepts (see `split.rs`), and (for gRPC) drive exports
//! on spanfire's own runtime thread.
//!
//! The SDK's batch span processor and periodic metric reader run on their own threads and call
//! `export` outside any async runtime. HTTP exports use a blocking client and need nothing more.
//! gRPC (tonic) needs a tokio reactor: its exports run through the [`tokio::runtime::Handle`] of
//! a small runtime owned by [`Telemetry`](crate::Telemetry), so there is never a "no reactor
//! running" panic, whatever runtime (if any) the application uses.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use opentelemetry_sdk::Resource;

use super::budget::{Admission, Budget};
use super::shutdown::{abandoned, Gate};
use super::split::RequestLimit;

/// Counters of the span export pipeline, shared by every destination.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Spans handed to a destination's batch processor.
    pub(crate) offered: AtomicU64,
    /// Spans an exporter delivered.
    pub(crate) exported: AtomicU64,
    /// Spans in batches whose export failed.
    pub(crate) failed: AtomicU64,
    /// Spans not exported: not handed to the batch processor (its queue was full, or they
    /// were over the export memory budget even without their bodies), or too large for an
    /// export request even with their bodies cut (`too_large`).
    pub(crate) dropped: AtomicU64,
    /// Spans handed over without their body attributes, to stay within the memory budget.
    pub(crate) bodies_dropped: AtomicU64,
    /// Spans exported with their body attributes cut, to fit in one export request.
    pub(crate) bodies_truncated: AtomicU64,
    /// Spans dropped at export: too large for one export request even with their bodies cut
    /// (also counted in `dropped`).
    pub(crate) too_large: AtomicU64,
}

/// A live view of the span export counters of a [`Telemetry`](crate::Telemetry); stays valid
/// after shutdown (then exact: nothing is pending).
#[derive(Debug, Clone)]
pub struct ExportStats(pub(crate) Arc<Stats>);

impl ExportStats {
    /// Spans handed to OTLP exporters (one per destination).
    pub fn offered(&self) -> u64 {
        self.0.offered.load(Ordering::Relaxed)
    }
    /// Spans delivered.
    pub fn exported(&self) -> u64 {
        self.0.exported.load(Ordering::Relaxed)
    }
    /// Spans in exports that failed (collector down, rejected, timed out).
    pub fn failed(&self) -> u64 {
        self.0.failed.load(Ordering::Relaxed)
    }
    /// Spans offered but not delivered: failed, or dropped because an export queue was full
    /// or the export memory limit was reached (while running this also counts spans still
    /// queued).
    pub fn not_exported(&self) -> u64 {
        self.0.not_exported()
    }
    /// Spans dropped before export: the export queue was full (`OTEL_BSP_MAX_QUEUE_SIZE`
    /// spans waiting), the span did not fit in the export memory limit even without its
    /// bodies, or it was larger than the export request limit even with its bodies cut
    /// ([`too_large`](Self::too_large)).
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }
    /// Spans exported without their body attributes (`http.request.body.text`,
    /// `http.response.body.text`, `http.request.body.form`) because the export memory limit
    /// was reached; they carry `spanfire.export.body_dropped = true` and are also counted in
    /// [`exported`](Self::exported) / [`failed`](Self::failed) / [`pending`](Self::pending).
    pub fn bodies_dropped(&self) -> u64 {
        self.0.bodies_dropped.load(Ordering::Relaxed)
    }
    /// Spans exported with their body attributes cut (a prefix kept, ending with
    /// [`TRUNCATION_MARKER`](crate::TRUNCATION_MARKER)) because the span alone was larger than
    /// the [export request limit](crate::ConfigureBuilder::export_request_limit); they carry
    /// `spanfire.export.body_truncated = true` and are also counted in
    /// [`exported`](Self::exported) / [`failed`](Self::failed) / [`pending`](Self::pending).
    pub fn bodies_truncated(&self) -> u64 {
        self.0.bodies_truncated.load(Ordering::Relaxed)
    }
    /// Spans dropped because they were larger than the
    /// [export request limit](crate::ConfigureBuilder::export_request_limit) even with their
    /// bodies cut (large attributes that are not bodies); also counted in
    /// [`dropped`](Self::dropped).
    pub fn too_large(&self) -> u64 {
        self.0.too_large.load(Ordering::Relaxed)
    }
    /// Spans handed to an exporter whose export has not finished:
    /// `offered − exported − failed − dropped`. 0 once everything is exported; after a
    /// shutdown that hit its deadline with an OTLP/HTTP collector hanging, the spans of the
    /// request still in flight and those queued behind it, until that request times out
    /// (then they count as failed).
    pub fn pending(&self) -> u64 {
        self.0.pending()
    }
}

impl Stats {
    /// Spans offered but not exported: failed exports, and drops from a full queue (exact once
    /// the processors are shut down, since nothing is pending then).
    pub(crate) fn not_exported(&self) -> u64 {
        let offered = self.offered.load(Ordering::Relaxed);
        offered.saturating_sub(self.exported.load(Ordering::Relaxed))
    }

    /// Spans handed to an exporter and not yet delivered or failed.
    pub(crate) fn pending(&self) -> u64 {
        self.not_exported()
            .saturating_sub(self.failed.load(Ordering::Relaxed))
            .saturating_sub(self.dropped.load(Ordering::Relaxed))
    }
}

/// Where an export future runs.
#[derive(Debug, Clone, Default)]
pub(crate) enum Driver {
    /// On the SDK's thread (HTTP with a blocking client).
    #[default]
    Inline,
    /// On spanfire's runtime (gRPC).
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    Runtime(TokioHandle),
}

#[cfg(feature = "grpc")]
pub(crate) type TokioHandle = tokio::runtime::Handle;
#[cfg(not(feature = "grpc"))]
#[derive(Debug, Clone)]
pub(crate) struct TokioHandle;

impl Driver {
    /// Runs `future` with telemetry suppressed, so exporter traffic is never instrumented;
    /// fails at once when the shutdown deadline `gate` is aborted (a gRPC export in flight is
    /// cancelled then; an inline, blocking HTTP export cannot be interrupted).
    async fn run<F: std::future::Future<Output = OTelSdkResult>>(
        &self,
        future: F,
        gate: &Gate,
    ) -> OTelSdkResult {
        use opentelemetry::context::FutureExt;
        if gate.aborted() {
            return Err(abandoned());
        }
        let future = future.with_context(Context::current().with_telemetry_suppressed());
        match self {
            Driver::Inline => future.await,
            #[cfg(feature = "grpc")]
            Driver::Runtime(handle) => handle.block_on(gate.race(future)),
            #[cfg(not(feature = "grpc"))]
            Driver::Runtime(_) => gate.race(future).await,
        }
    }
}

/// A span exporter that splits each batch into requests within the destination's
/// [`RequestLimit`] (see `split.rs`), exports them one after another, counts the results,
/// releases its destination's [`Budget`] and runs on a [`Driver`].
#[derive(Debug)]
pub(crate) struct CountingSpanExporter<E> {
    pub(crate) inner: E,
    pub(crate) stats: Arc<Stats>,
    pub(crate) driver: Driver,
    pub(crate) budget: Arc<Budget>,
    pub(crate) gate: Arc<Gate>,
    pub(crate) requests: RequestLimit,
}

impl<E: SpanExporter> SpanExporter for CountingSpanExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        // The batch processor took these spans out of its queue: their slots are free, their
        // bytes are held until the export of their request returns.
        self.budget.release_slots(batch.len() as u64);
        let split = self.requests.split(batch);
        if split.dropped > 0 {
            self.stats
                .dropped
                .fetch_add(split.dropped, Ordering::Relaxed);
            self.stats
                .too_large
                .fetch_add(split.dropped, Ordering::Relaxed);
            self.budget.release_bytes(split.dropped_bytes);
        }
        self.stats
            .bodies_truncated
            .fetch_add(split.truncated, Ordering::Relaxed);
        let total = split.requests.len();
        let (mut failed, mut first_error) = (0, None);
        for request in split.requests {
            let n = request.spans.len() as u64;
            let result = self
                .driver
                .run(self.inner.export(request.spans), &self.gate)
                .await;
            let counter = match result {
                Ok(()) => &self.stats.exported,
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert(e);
                    &self.stats.failed
                }
            };
            counter.fetch_add(n, Ordering::Relaxed);
            self.budget.release_bytes(request.bytes);
        }
        match first_error {
            None => Ok(()),
            Some(e) if total == 1 => Err(e),
            Some(e) => Err(OTelSdkError::InternalFailure(format!(
                "{failed} of {total} export requests failed; the first: {e}"
            ))),
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.requests.set_resource(resource);
        self.inner.set_resource(resource)
    }
}

/// A metric exporter running on a [`Driver`].
#[derive(Debug)]
pub(crate) struct DrivenMetricExporter<E> {
    pub(crate) inner: E,
    pub(crate) driver: Driver,
    pub(crate) gate: Arc<Gate>,
}

impl<E: PushMetricExporter> PushMetricExporter for DrivenMetricExporter<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        self.driver
            .run(self.inner.export(metrics), &self.gate)
            .await
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// Counts the spans offered to a destination and hands them to its batch processor within
/// the destination's [`Budget`] (count and bytes; see `budget.rs`).
#[derive(Debug)]
pub(crate) struct CountingProcessor<P> {
    pub(crate) inner: P,
    pub(crate) stats: Arc<Stats>,
    pub(crate) budget: Arc<Budget>,
}

impl<P: SpanProcessor> SpanProcessor for CountingProcessor<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx)
    }

    fn on_end(&self, mut span: SpanData) {
        self.stats.offered.fetch_add(1, Ordering::Relaxed);
        match self.budget.admit(&mut span) {
            Admission::Whole => {}
            Admission::BodiesDropped => {
                self.stats.bodies_dropped.fetch_add(1, Ordering::Relaxed);
            }
            Admission::QueueFull | Admission::OverBudget => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.inner.on_end(span)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource)
    }
}
