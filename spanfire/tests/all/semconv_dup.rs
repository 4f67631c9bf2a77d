//! `OTEL_SEMCONV_STABILITY_OPT_IN=http/dup` (the `semconv_stability` option): the old HTTP
//! attribute names beside the stable ones, and the old `http.client.duration` histogram (ms),
//! on both front ends; nothing of it in the default mode.
//!
//! No test sets the env var: the parsing is tested on a closure (unit tests in
//! `src/semconv/stability.rs`), the option end to end here.

use std::collections::BTreeMap;

use http::Method;
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use spanfire::SemconvStability;

use crate::support::counting_meter::CountingMeterProvider;
use crate::support::front::{Client, ClientOptions, Front, Req};
use crate::support::*;

const OLD_DURATION: &str = "http.client.duration";
const DURATION: &str = "http.client.request.duration";

/// Every old attribute name spanfire may emit.
const OLD_NAMES: &[&str] = &[
    "http.method",
    "http.url",
    "http.host",
    "net.peer.name",
    "net.peer.port",
    "http.scheme",
    "http.status_code",
    "http.flavor",
    "net.sock.peer.addr",
    "net.sock.peer.port",
    "http.request_content_length",
    "http.response_content_length",
];

fn client(front: Front, t: &Telemetry, mode: SemconvStability) -> Client {
    let instrumentation = t.instrumentation().semconv_stability(mode);
    Client::new(front, instrumentation, ClientOptions::default())
}

/// The stable attributes of a response, plus their old twins.
fn dup_response_attrs(
    front: Front,
    server: &TestServer,
    url: &str,
    status: i64,
    body_size: i64,
) -> Vec<(&'static str, Want)> {
    let mut want = response_attrs_on(front, server, "GET", url, status, Some(body_size));
    want.extend([
        ("http.method", is("GET")),
        ("http.url", is(url.to_owned())),
        ("http.host", is("127.0.0.1")),
        ("net.peer.name", is("127.0.0.1")),
        ("net.peer.port", is(server.port())),
        ("http.scheme", is("http")),
        ("http.status_code", is(status)),
        ("http.flavor", is("1.1")),
        ("net.sock.peer.addr", is("127.0.0.1")),
        ("net.sock.peer.port", is(server.port())),
        ("http.response_content_length", is(body_size)),
    ]);
    if front == Front::Ureq {
        // no peer address on ureq, so no old twins of it either
        want.retain(|(key, _)| !key.starts_with("net.sock.peer."));
    }
    want
}

/// The old histogram's attributes (Python's `_client_duration_attrs_old`).
fn old_metric_attrs(port: i64, status: Option<i64>) -> BTreeMap<String, Value> {
    let mut want = BTreeMap::from([
        ("http.method".to_owned(), Value::from("GET")),
        ("http.host".to_owned(), Value::from("127.0.0.1")),
        ("net.peer.name".to_owned(), Value::from("127.0.0.1")),
        ("net.peer.port".to_owned(), Value::I64(port)),
        ("http.scheme".to_owned(), Value::from("http")),
    ]);
    if let Some(code) = status {
        want.insert("http.status_code".into(), Value::I64(code));
        want.insert("http.flavor".into(), Value::from("1.1"));
    }
    want
}

fn span_millis(span: &SpanData) -> f64 {
    let d = span.end_time.duration_since(span.start_time).unwrap();
    d.as_secs_f64() * 1000.0
}

/// One `http.client.duration` point in ms, the old buckets, the old attributes, the span's
/// duration; and `http.client.request.duration` still with the stable names only.
fn assert_old_histogram(t: &Telemetry, span: &SpanData, want: BTreeMap<String, Value>) {
    let points = t.histogram(OLD_DURATION);
    assert_eq!(points.len(), 1, "{points:?}");
    let p = &points[0];
    assert_eq!(p.unit, "ms");
    assert_eq!(p.bounds, spanfire::OLD_DURATION_BUCKETS_MS);
    assert_eq!(p.count, 1);
    assert_eq!(p.attrs, want);
    let ms = span_millis(span);
    assert!(
        (p.sum - ms).abs() < 1.0,
        "metric {} ms vs span {ms} ms",
        p.sum
    );
    let stable = t.histogram(DURATION);
    assert_eq!(stable.len(), 1, "{stable:?}");
    assert!(
        (stable[0].sum * 1000.0 - p.sum).abs() < 1e-6,
        "same duration"
    );
    for key in stable[0].attrs.keys() {
        assert!(
            !OLD_NAMES.contains(&key.as_str()),
            "{key} on the stable histogram"
        );
    }
}

fn assert_no_old_names(t: &Telemetry, span: &SpanData) {
    let got = attrs(span);
    for name in OLD_NAMES {
        assert!(!got.contains_key(*name), "{name} in default mode: {got:#?}");
    }
    assert!(t.histogram(OLD_DURATION).is_empty(), "no old histogram");
    assert_eq!(t.histogram(DURATION).len(), 1);
}

async fn dup_get_with_query(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let url = server.url("/get?q=a%20b&user=alice");
    let c = client(front, &t, SemconvStability::Duplicate);
    let body = c.get(&url).await.unwrap().bytes().await;
    let span = t.single();
    assert_client_span(&span, "GET");
    assert_attrs(
        &span,
        &dup_response_attrs(front, &server, &url, 200, body.len() as i64),
    );
    assert_old_histogram(&t, &span, old_metric_attrs(server.port(), Some(200)));
}

async fn dup_not_found(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let url = server.url("/status/404");
    let c = client(front, &t, SemconvStability::Duplicate);
    let res = c.get(&url).await.unwrap();
    assert_eq!(res.status(), 404);
    res.bytes().await;
    let span = t.single();
    // error.type stays (stable only): the old conventions had none.
    assert_attrs(&span, &dup_response_attrs(front, &server, &url, 404, 0));
    assert!(is_error(&span));
    assert_old_histogram(&t, &span, old_metric_attrs(server.port(), Some(404)));
    let stable = &t.histogram(DURATION)[0];
    assert_eq!(stable.attrs["error.type"], Value::from("404"));
}

async fn dup_connection_refused(front: Front) {
    let port = closed_port();
    let t = Telemetry::new();
    let url = format!("http://127.0.0.1:{port}/get");
    let c = client(front, &t, SemconvStability::Duplicate);
    assert!(c.get(&url).await.is_err());
    let span = t.single();
    let port = i64::from(port);
    let mut want = transport_error_attrs(&url, port as u16, "connect");
    want.extend([
        ("http.method", is("GET")),
        ("http.url", is(url.clone())),
        ("http.host", is("127.0.0.1")),
        ("net.peer.name", is("127.0.0.1")),
        ("net.peer.port", is(port)),
        ("http.scheme", is("http")),
    ]);
    assert_attrs(&span, &want);
    assert!(is_error(&span));
    assert_old_histogram(&t, &span, old_metric_attrs(port, None));
}

async fn dup_request_body_size(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let instrumentation = t
        .instrumentation()
        .semconv_stability(SemconvStability::Duplicate)
        .capture_request_body(true);
    let c = Client::new(front, instrumentation, ClientOptions::default());
    let req = Req::new(Method::POST, &server.url("/post")).body(b"hello");
    c.send(req).await.unwrap().bytes().await;
    let a = attrs(&t.single());
    assert_eq!(a["http.request.body.size"], Value::I64(5));
    assert_eq!(a["http.request_content_length"], Value::I64(5));
    assert_eq!(a["http.response_content_length"], Value::I64(5));
    assert_eq!(a["http.method"], Value::from("POST"));
}

async fn dup_unknown_method_is_other(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = client(front, &t, SemconvStability::Duplicate);
    let method = Method::from_bytes(b"PURGE").unwrap();
    c.send(Req::new(method, &server.url("/get")))
        .await
        .unwrap()
        .bytes()
        .await;
    let span = t.single();
    let a = attrs(&span);
    assert_eq!(a["http.request.method"], Value::from("_OTHER"));
    assert_eq!(a["http.method"], Value::from("_OTHER"), "as Python's");
    assert_eq!(a["http.request.method_original"], Value::from("PURGE"));
    let old = &t.histogram(OLD_DURATION)[0];
    assert_eq!(old.attrs["http.method"], Value::from("_OTHER"));
}

async fn default_mode_get_404_refused_have_no_old_names(front: Front) {
    let server = TestServer::start().await;
    for path in ["/get?q=a%20b&user=alice", "/status/404"] {
        let t = Telemetry::new();
        let url = server.url(path);
        let c = client(front, &t, SemconvStability::Stable);
        c.get(&url).await.unwrap().bytes().await;
        let span = t.single();
        assert_no_old_names(&t, &span);
    }
    let t = Telemetry::new();
    let url = format!("http://127.0.0.1:{}/get", closed_port());
    let c = client(front, &t, SemconvStability::Stable);
    assert!(c.get(&url).await.is_err());
    assert_no_old_names(&t, &t.single());
}

/// Without the option, the mode is what the process's `OTEL_SEMCONV_STABILITY_OPT_IN` says (read,
/// never set, here).
async fn unset_option_follows_the_env(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = Client::new(front, t.instrumentation(), ClientOptions::default());
    c.get(&server.url("/get")).await.unwrap().bytes().await;
    let span = t.single();
    let env = SemconvStability::from_env_with(|k| std::env::var(k).ok());
    if env.duplicate() {
        assert!(attrs(&span).contains_key("http.method"));
        assert_eq!(t.histogram(OLD_DURATION).len(), 1);
    } else {
        assert_no_old_names(&t, &span);
    }
}

each_front_end!(
    dup_get_with_query,
    dup_not_found,
    dup_connection_refused,
    dup_request_body_size,
    dup_unknown_method_is_other,
    default_mode_get_404_refused_have_no_old_names,
    unset_option_follows_the_env,
);

#[test]
fn semconv_old_histogram_is_created_once_per_meter_provider_and_only_in_dup_mode() {
    let provider = CountingMeterProvider::default();
    let base = spanfire::HttpClientInstrumentation::new().meter_provider(provider.clone());
    let created = provider.created();
    let client = reqwest::Client::new();
    let stable = base.clone().semconv_stability(SemconvStability::Stable);
    for _ in 0..100 {
        drop(stable.instrument_reqwest(client.clone()));
    }
    assert_eq!(provider.created(), created, "none in stable mode");
    let dup = base.semconv_stability(SemconvStability::Duplicate);
    for _ in 0..100 {
        drop(dup.instrument_reqwest(client.clone()));
        drop(dup.clone().instrument_reqwest(client.clone()));
    }
    assert_eq!(
        provider.created(),
        created + 1,
        "http.client.duration, once"
    );
}
