//! Shared test support: the loopback server, in-memory telemetry and span assertions.

pub mod collector;
pub mod counting_meter;
pub mod front;
pub mod leak_routes;
mod server;

pub use server::{Serve, TestServer};

/// Runs each `async fn scenario(front: Front)` of the calling module on every front end, as
/// `reqwest_front::scenario`, `tower_front::scenario` and `ureq_front::scenario`.
///
/// - `multi_thread: a, b` runs them on a two-worker runtime (the default: current thread);
/// - `…; not_on_ureq: c, d` runs `c` and `d` on reqwest and tower only: say why at the call
///   site (ureq speaks no HTTP/2, the tests build no TLS into it);
/// - `…; sync: e` adds plain `#[test] fn e()` tests calling `e(front)`.
macro_rules! each_front_end {
    (@parse [$test:meta] $($scenario:ident),* $(,)?
        $(; not_on_ureq: $($not_ureq:ident),* $(,)?)?
        $(; sync: $($sync:ident),* $(,)?)?
    ) => {
        $crate::support::each_front_end!(@module reqwest_front Reqwest [$test]
            [$($scenario)* $($($not_ureq)*)?] [$($($sync)*)?]);
        $crate::support::each_front_end!(@module tower_front Tower [$test]
            [$($scenario)* $($($not_ureq)*)?] [$($($sync)*)?]);
        $crate::support::each_front_end!(@module ureq_front Ureq [$test]
            [$($scenario)*] [$($($sync)*)?]);
    };
    (@module $module:ident $front:ident [$test:meta] [$($scenario:ident)*] [$($sync:ident)*]) => {
        mod $module {
            $(
                #[$test]
                async fn $scenario() {
                    super::$scenario($crate::support::front::Front::$front).await
                }
            )*
            $(
                #[test]
                fn $sync() {
                    super::$sync($crate::support::front::Front::$front)
                }
            )*
        }
    };
    (multi_thread: $($rest:tt)*) => {
        $crate::support::each_front_end!(
            @parse [tokio::test(flavor = "multi_thread", worker_threads = 2)] $($rest)*
        );
    };
    ($($rest:tt)*) => {
        $crate::support::each_front_end!(@parse [tokio::test] $($rest)*);
    };
}
pub(crate) use each_front_end;

use std::collections::BTreeMap;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::KeyValue;
use opentelemetry::Value;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use spanfire::HttpClientInstrumentation;

/// Tracer and meter providers of the test's own, exporting into memory.
pub struct Telemetry {
    pub exporter: InMemorySpanExporter,
    pub provider: SdkTracerProvider,
    pub metrics: InMemoryMetricExporter,
    pub meter_provider: SdkMeterProvider,
}

impl Telemetry {
    pub fn new() -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let metrics = InMemoryMetricExporter::default();
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build();
        Telemetry {
            exporter,
            provider,
            metrics,
            meter_provider,
        }
    }

    pub fn instrumentation(&self) -> HttpClientInstrumentation {
        HttpClientInstrumentation::new()
            .tracer_provider(self.provider.clone())
            .meter_provider(self.meter_provider.clone())
    }

    /// How many values histogram `name` has recorded, over all its data points.
    pub fn records(&self, name: &str) -> u64 {
        self.histogram(name).iter().map(|p| p.count).sum()
    }

    /// The data points of histogram `name` in the latest (cumulative) export, as
    /// (attributes, count, sum, bounds).
    pub fn histogram(&self, name: &str) -> Vec<HistogramPoint> {
        self.meter_provider.force_flush().unwrap();
        let exported = self.metrics.get_finished_metrics().unwrap();
        let Some(last) = exported.last() else {
            return Vec::new();
        };
        let mut points = Vec::new();
        for metric in last
            .scope_metrics()
            .flat_map(|s| s.metrics())
            .filter(|m| m.name() == name)
        {
            let unit = metric.unit().to_owned();
            let mut push = |attrs: Vec<(String, Value)>, count: u64, sum: f64, bounds: Vec<f64>| {
                points.push(HistogramPoint {
                    attrs: attrs.into_iter().collect(),
                    count,
                    sum,
                    bounds,
                    unit: unit.clone(),
                })
            };
            match metric.data() {
                AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                    for p in h.data_points() {
                        push(kv(p.attributes()), p.count(), p.sum(), p.bounds().collect());
                    }
                }
                AggregatedMetrics::U64(MetricData::Histogram(h)) => {
                    for p in h.data_points() {
                        push(
                            kv(p.attributes()),
                            p.count(),
                            p.sum() as f64,
                            p.bounds().collect(),
                        );
                    }
                }
                _ => {}
            }
        }
        points
    }

    /// The value of up-down counter `name` for each attribute set, latest export.
    pub fn up_down(&self, name: &str) -> Vec<(BTreeMap<String, Value>, i64)> {
        self.meter_provider.force_flush().unwrap();
        let exported = self.metrics.get_finished_metrics().unwrap();
        let Some(last) = exported.last() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for metric in last
            .scope_metrics()
            .flat_map(|s| s.metrics())
            .filter(|m| m.name() == name)
        {
            if let AggregatedMetrics::I64(MetricData::Sum(sum)) = metric.data() {
                for p in sum.data_points() {
                    out.push((kv(p.attributes()).into_iter().collect(), p.value()));
                }
            }
        }
        out
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

/// One histogram data point.
#[derive(Debug)]
pub struct HistogramPoint {
    pub attrs: BTreeMap<String, Value>,
    pub count: u64,
    pub sum: f64,
    pub bounds: Vec<f64>,
    pub unit: String,
}

fn kv<'a>(attrs: impl Iterator<Item = &'a KeyValue>) -> Vec<(String, Value)> {
    attrs
        .map(|kv| (kv.key.to_string(), kv.value.clone()))
        .collect()
}

/// The attributes of a completed request that got a response.
pub fn response_attrs(
    server: &TestServer,
    method: &'static str,
    url_full: &str,
    status: i64,
    body_size: Option<i64>,
) -> Vec<(&'static str, Want)> {
    let mut want = vec![
        ("http.request.method", is(method)),
        ("url.full", is(url_full.to_owned())),
        ("server.address", is("127.0.0.1")),
        ("server.port", is(server.port())),
        ("url.scheme", is("http")),
        ("http.response.status_code", is(status)),
        ("network.protocol.version", is("1.1")),
        ("network.peer.address", is("127.0.0.1")),
        ("network.peer.port", is(server.port())),
    ];
    if let Some(size) = body_size {
        want.push(("http.response.body.size", is(size)));
    }
    if status >= 400 {
        want.push(("error.type", is(status.to_string())));
    }
    want
}

/// [`response_attrs`] of `front`: ureq does not expose the peer address (`network.peer.*`).
pub fn response_attrs_on(
    front: front::Front,
    server: &TestServer,
    method: &'static str,
    url_full: &str,
    status: i64,
    body_size: Option<i64>,
) -> Vec<(&'static str, Want)> {
    let mut want = response_attrs(server, method, url_full, status, body_size);
    if front == front::Front::Ureq {
        want.retain(|(key, _)| !key.starts_with("network.peer."));
    }
    want
}

/// The attributes of a request that failed before a response.
pub fn transport_error_attrs(url: &str, port: u16, kind: &str) -> Vec<(&'static str, Want)> {
    vec![
        ("http.request.method", is("GET")),
        ("url.full", is(url.to_owned())),
        ("server.address", is("127.0.0.1")),
        ("server.port", is(i64::from(port))),
        ("url.scheme", is("http")),
        ("error.type", is(kind.to_owned())),
    ]
}

/// A loopback port on which nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
