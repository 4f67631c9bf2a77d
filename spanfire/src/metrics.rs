//! The HTTP client metrics, created once per instrumentation.

use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::metric as semmetric;

/// The bucket boundaries the conventions advise for `http.client.request.duration`, in seconds.
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The instruments of one instrumentation.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    duration: Histogram<f64>,
}

impl Metrics {
    pub(crate) fn new(meter: &Meter) -> Self {
        Metrics {
            duration: meter
                .f64_histogram(semmetric::HTTP_CLIENT_REQUEST_DURATION)
                .with_unit("s")
                .with_description("Duration of HTTP client requests.")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
        }
    }

    pub(crate) fn record_duration(&self, seconds: f64, attrs: &[KeyValue]) {
        self.duration.record(seconds, attrs);
    }
}
