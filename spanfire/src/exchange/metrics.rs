//! The HTTP client metrics, with instruments created once.
//!
//! - `http.client.request.duration` (histogram, `s`, the advised [`DURATION_BUCKETS`]): always.
//! - `http.client.request.body.size`, `http.client.response.body.size` (histograms, `By`) and
//!   `http.client.active_requests` (up-down counter): opt-in, see
//!   [`HttpClientInstrumentation::opt_in_metrics`](crate::HttpClientInstrumentation::opt_in_metrics).
//! - `http.client.duration` (histogram, `ms`, the old [`OLD_DURATION_BUCKETS_MS`](crate::OLD_DURATION_BUCKETS_MS),
//!   the old attribute names): in `http/dup` mode only, see
//!   [`SemconvStability`](crate::SemconvStability). It is created when the first instrumentation
//!   in that mode is built on a meter provider, then shared like the others.
//!
//! Instruments are created once per meter provider: for the global provider, once per process
//! (cached by the provider's identity, so `instrument_reqwest_client` may be called for every
//! client); for a provider passed explicitly, once per `meter_provider(..)` call, shared by every
//! client built from that instrumentation.

use std::sync::{Arc, Mutex, OnceLock, Weak};

use opentelemetry::metrics::{Histogram, Meter, MeterProvider, UpDownCounter};
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::metric as semmetric;

/// The bucket boundaries the conventions advise for `http.client.request.duration`, in seconds.
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The instruments of one meter provider.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    duration: Histogram<f64>,
    request_size: Histogram<u64>,
    response_size: Histogram<u64>,
    active: UpDownCounter<i64>,
    /// The meter, for instruments created later (the old duration histogram).
    meter: Meter,
    /// The old `http.client.duration` histogram, created once per meter provider (shared by the
    /// clones) when the first instrumentation in `http/dup` mode needs it.
    old_duration_once: Arc<OnceLock<Histogram<f64>>>,
    /// The old duration histogram, when this instrumentation records it (`http/dup`).
    old_duration: Option<Histogram<f64>>,
}

type GlobalProvider = dyn MeterProvider + Send + Sync;

/// Instruments made on global meter providers, keyed by the provider's address.
static GLOBAL: Mutex<Vec<(Weak<GlobalProvider>, Metrics)>> = Mutex::new(Vec::new());

impl Metrics {
    pub(crate) fn new(meter: &Meter) -> Self {
        Metrics {
            duration: meter
                .f64_histogram(semmetric::HTTP_CLIENT_REQUEST_DURATION)
                .with_unit("s")
                .with_description("Duration of HTTP client requests.")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            request_size: meter
                .u64_histogram(semmetric::HTTP_CLIENT_REQUEST_BODY_SIZE)
                .with_unit("By")
                .with_description("Size of HTTP client request bodies.")
                .build(),
            response_size: meter
                .u64_histogram(semmetric::HTTP_CLIENT_RESPONSE_BODY_SIZE)
                .with_unit("By")
                .with_description("Size of HTTP client response bodies.")
                .build(),
            active: meter
                .i64_up_down_counter(semmetric::HTTP_CLIENT_ACTIVE_REQUESTS)
                .with_unit("{request}")
                .with_description("Number of active HTTP requests.")
                .build(),
            meter: meter.clone(),
            old_duration_once: Arc::new(OnceLock::new()),
            old_duration: None,
        }
    }

    /// These instruments plus the old `http.client.duration` histogram (`http/dup` mode),
    /// created on first use for this meter provider.
    pub(crate) fn with_old_duration(&self) -> Self {
        let old = self.old_duration_once.get_or_init(|| {
            self.meter
                .f64_histogram(crate::semconv::OLD_DURATION)
                .with_unit("ms")
                .with_description("measures the duration of the outbound HTTP request")
                .with_boundaries(crate::semconv::OLD_DURATION_BUCKETS_MS.to_vec())
                .build()
        });
        Metrics {
            old_duration: Some(old.clone()),
            ..self.clone()
        }
    }

    /// The instruments of the current global meter provider, created on first use.
    pub(crate) fn for_global_provider() -> Self {
        let provider: Arc<GlobalProvider> = opentelemetry::global::meter_provider();
        let Ok(mut cache) = GLOBAL.lock() else {
            return Metrics::new(&provider.meter_with_scope(crate::exchange::scope()));
        };
        cache.retain(|(weak, _)| weak.strong_count() > 0);
        let same =
            |weak: &Weak<GlobalProvider>| std::ptr::addr_eq(weak.as_ptr(), Arc::as_ptr(&provider));
        if let Some((_, metrics)) = cache.iter().find(|(weak, _)| same(weak)) {
            return metrics.clone();
        }
        let metrics = Metrics::new(&provider.meter_with_scope(crate::exchange::scope()));
        cache.push((Arc::downgrade(&provider), metrics.clone()));
        metrics
    }

    /// The meter the instruments came from.
    #[cfg(feature = "tower")]
    pub(crate) fn meter(&self) -> &Meter {
        &self.meter
    }

    pub(crate) fn record_duration(&self, seconds: f64, attrs: &[KeyValue]) {
        self.duration.record(seconds, attrs);
    }

    /// Records the old `http.client.duration` (ms) with the old attribute names, in `http/dup`
    /// mode only; otherwise does nothing.
    pub(crate) fn record_old_duration(&self, seconds: f64, stable_attrs: &[KeyValue]) {
        if let Some(old) = &self.old_duration {
            let attrs = crate::semconv::old_metric_attributes(stable_attrs);
            old.record(seconds * 1000.0, &attrs);
        }
    }

    pub(crate) fn record_request_size(&self, bytes: u64, attrs: &[KeyValue]) {
        self.request_size.record(bytes, attrs);
    }

    pub(crate) fn record_response_size(&self, bytes: u64, attrs: &[KeyValue]) {
        self.response_size.record(bytes, attrs);
    }

    pub(crate) fn add_active(&self, delta: i64, attrs: &[KeyValue]) {
        self.active.add(delta, attrs);
    }
}
