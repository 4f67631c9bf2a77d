//! Exporter wrappers: count what each destination was given and what it exported, and (for
//! gRPC) drive exports on spanfire's own runtime thread.
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
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use opentelemetry_sdk::Resource;

/// Counters of the span export pipeline, shared by every destination.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Spans handed to a destination's batch processor.
    pub(crate) offered: AtomicU64,
    /// Spans an exporter delivered.
    pub(crate) exported: AtomicU64,
    /// Spans in batches whose export failed.
    pub(crate) failed: AtomicU64,
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
    /// (while running this also counts spans still queued).
    pub fn not_exported(&self) -> u64 {
        self.0.not_exported()
    }
}

impl Stats {
    /// Spans offered but not exported: failed exports, and drops from a full queue (exact once
    /// the processors are shut down, since nothing is pending then).
    pub(crate) fn not_exported(&self) -> u64 {
        let offered = self.offered.load(Ordering::Relaxed);
        offered.saturating_sub(self.exported.load(Ordering::Relaxed))
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
    /// Runs `future` with telemetry suppressed, so exporter traffic is never instrumented.
    async fn run<F: std::future::Future<Output = OTelSdkResult>>(
        &self,
        future: F,
    ) -> OTelSdkResult {
        use opentelemetry::context::FutureExt;
        let future = future.with_context(Context::current().with_telemetry_suppressed());
        match self {
            Driver::Inline => future.await,
            #[cfg(feature = "grpc")]
            Driver::Runtime(handle) => handle.block_on(future),
            #[cfg(not(feature = "grpc"))]
            Driver::Runtime(_) => future.await,
        }
    }
}

/// A span exporter that counts its results and runs on a [`Driver`].
#[derive(Debug)]
pub(crate) struct CountingSpanExporter<E> {
    pub(crate) inner: E,
    pub(crate) stats: Arc<Stats>,
    pub(crate) driver: Driver,
}

impl<E: SpanExporter> SpanExporter for CountingSpanExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len() as u64;
        let result = self.driver.run(self.inner.export(batch)).await;
        let counter = if result.is_ok() {
            &self.stats.exported
        } else {
            &self.stats.failed
        };
        counter.fetch_add(n, Ordering::Relaxed);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource)
    }
}

/// A metric exporter running on a [`Driver`].
#[derive(Debug)]
pub(crate) struct DrivenMetricExporter<E> {
    pub(crate) inner: E,
    pub(crate) driver: Driver,
}

impl<E: PushMetricExporter> PushMetricExporter for DrivenMetricExporter<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        self.driver.run(self.inner.export(metrics)).await
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

/// Counts the spans handed to a destination's processor.
#[derive(Debug)]
pub(crate) struct CountingProcessor<P> {
    pub(crate) inner: P,
    pub(crate) stats: Arc<Stats>,
}

impl<P: SpanProcessor> SpanProcessor for CountingProcessor<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx)
    }

    fn on_end(&self, span: SpanData) {
        self.stats.offered.fetch_add(1, Ordering::Relaxed);
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
