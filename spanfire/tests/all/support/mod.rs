//! Shared test support: the loopback server, in-memory telemetry and span assertions.

mod server;

pub use server::TestServer;

use std::collections::BTreeMap;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::Value;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use spanfire::HttpClientInstrumentation;

/// A tracer provider of the test's own, exporting into memory.
pub struct Telemetry {
    pub exporter: InMemorySpanExporter,
    pub provider: SdkTracerProvider,
}

impl Telemetry {
    pub fn new() -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        Telemetry { exporter, provider }
    }

    pub fn instrumentation(&self) -> HttpClientInstrumentation {
        HttpClientInstrumentation::new().tracer_provider(self.provider.clone())
    }

    pub fn spans(&self) -> Vec<SpanData> {
        self.exporter.get_finished_spans().unwrap()
    }

    /// The only span exported so far.
    pub fn single(&self) -> SpanData {
        let spans = self.spans();
        assert_eq!(spans.len(), 1, "expected one span, got {spans:#?}");
        spans.into_iter().next().unwrap()
    }
}

/// An expected attribute value.
#[derive(Debug)]
pub enum Want {
    Is(Value),
}

pub fn is(v: impl Into<Value>) -> Want {
    Want::Is(v.into())
}

pub fn attrs(span: &SpanData) -> BTreeMap<String, Value> {
    span.attributes
        .iter()
        .map(|kv| (kv.key.to_string(), kv.value.clone()))
        .collect()
}

/// Asserts the span's attribute set is exactly `want` (names, types and values).
pub fn assert_attrs(span: &SpanData, want: &[(&str, Want)]) {
    let got = attrs(span);
    let want_keys: Vec<&str> = want.iter().map(|(k, _)| *k).collect();
    let got_keys: Vec<&str> = got.keys().map(String::as_str).collect();
    let mut sorted = want_keys.clone();
    sorted.sort();
    assert_eq!(
        got_keys, sorted,
        "attribute names of {}: {got:#?}",
        span.name
    );
    for (key, expected) in want {
        let value = &got[*key];
        let Want::Is(v) = expected;
        assert!(v == value, "{key}: got {value:?}, want {expected:?}");
    }
}

/// Checks the invariants every request span has: CLIENT kind, our scope, ended after start.
pub fn assert_client_span(span: &SpanData, name: &str) {
    assert_eq!(span.name, name);
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(span.instrumentation_scope.name(), "spanfire");
    assert!(span.end_time >= span.start_time);
}

pub fn event_names(span: &SpanData) -> Vec<String> {
    span.events.iter().map(|e| e.name.to_string()).collect()
}

pub fn is_error(span: &SpanData) -> bool {
    matches!(span.status, Status::Error { .. })
}
