//! The HTTP client metrics, read back from an in-memory metric exporter.

use std::collections::BTreeMap;
use std::time::Duration;

use http::Method;
use opentelemetry::Value;

use crate::support::counting_meter::CountingMeterProvider;
use crate::support::front::{Base, Client, ClientOptions, Front, Req};
use crate::support::*;

const DURATION: &str = "http.client.request.duration";

fn start_attrs(server: &TestServer, method: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([
        (
            "http.request.method".to_owned(),
            Value::from(method.to_owned()),
        ),
        ("server.address".to_owned(), Value::from("127.0.0.1")),
        ("server.port".to_owned(), Value::I64(server.port())),
        ("url.scheme".to_owned(), Value::from("http")),
    ])
}

fn response_attrs(server: &TestServer, method: &str, status: i64) -> BTreeMap<String, Value> {
    let mut attrs = start_attrs(server, method);
    attrs.insert("http.response.status_code".into(), Value::I64(status));
    attrs.insert("network.protocol.version".into(), Value::from("1.1"));
    if status >= 400 {
        attrs.insert("error.type".into(), Value::from(status.to_string()));
    }
    attrs
}

fn client(front: Front, t: &Telemetry) -> Client {
    Client::new(front, t.instrumentation(), ClientOptions::default())
}

async fn duration_has_unit_buckets_attributes_and_equals_the_span(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    client(front, &t)
        .get(&server.url("/get"))
        .await
        .unwrap()
        .bytes()
        .await;
    let points = t.histogram(DURATION);
    assert_eq!(points.len(), 1, "{points:?}");
    let p = &points[0];
    assert_eq!(p.unit, "s");
    assert_eq!(p.bounds, spanfire::DURATION_BUCKETS);
    assert_eq!(p.count, 1);
    assert_eq!(p.attrs, response_attrs(&server, "GET", 200));
    let span = t.single();
    let span_seconds = span
        .end_time
        .duration_since(span.start_time)
        .unwrap()
        .as_secs_f64();
    assert!(
        (p.sum - span_seconds).abs() < 0.001,
        "metric {} vs span {span_seconds}",
        p.sum
    );
}

async fn status_errors_carry_error_type(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = client(front, &t);
    for _ in 0..3 {
        client
            .get(&server.url("/status/404"))
            .await
            .unwrap()
            .bytes()
            .await;
    }
    let points = t.histogram(DURATION);
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].count, 3);
    assert_eq!(points[0].attrs, response_attrs(&server, "GET", 404));
}

async fn transport_errors_record_their_kind(front: Front) {
    let port = closed_port();
    let t = Telemetry::new();
    let client = client(front, &t);
    let _ = client.get(&format!("http://127.0.0.1:{port}/")).await;
    let points = t.histogram(DURATION);
    let want = BTreeMap::from([
        ("http.request.method".to_owned(), Value::from("GET")),
        ("server.address".to_owned(), Value::from("127.0.0.1")),
        ("server.port".to_owned(), Value::I64(i64::from(port))),
        ("url.scheme".to_owned(), Value::from("http")),
        ("error.type".to_owned(), Value::from("connect")),
    ]);
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].attrs, want);
}

async fn cancelled_requests_record_a_duration_without_error(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = client(front, &t);
    let url = server.url("/delay/2000");
    let send = client.get(&url);
    assert!(tokio::time::timeout(Duration::from_millis(50), send)
        .await
        .is_err());
    let points = t.histogram(DURATION);
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].attrs, start_attrs(&server, "GET"));
}

async fn excluded_and_suppressed_requests_record_nothing(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = Client::new(
        front,
        t.instrumentation()
            .opt_in_metrics(true)
            .excluded_urls(spanfire::ExcludedUrls::new(["/status/"]).unwrap()),
        ClientOptions::default(),
    );
    client.get(&server.url("/status/200")).await.unwrap();
    spanfire::suppressed(client.get(&server.url("/get")))
        .await
        .unwrap();
    assert!(t.histogram(DURATION).is_empty());
    assert!(t.up_down("http.client.active_requests").is_empty());
}

async fn opt_in_metrics_record_sizes_and_active_requests(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = Client::new(
        front,
        t.instrumentation().opt_in_metrics(true),
        ClientOptions::default(),
    );
    let slow = tokio::spawn({
        let client = client.clone();
        let url = server.url("/delay/500");
        async move { client.get(&url).await.unwrap().bytes().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let in_flight = t.up_down("http.client.active_requests");
    assert_eq!(
        in_flight,
        vec![(start_attrs(&server, "GET"), 1)],
        "one request in flight"
    );
    slow.await.unwrap();
    let mut post = Req::new(Method::POST, &server.url("/post")).body(b"0123456789");
    if front == Front::Ureq {
        // ureq does not tell a middleware a body's length (it frames the body below every
        // middleware): only a declared Content-Length gives the size without capture
        post = post.header("content-length", "10");
    }
    let res = client.send(post).await.unwrap();
    assert_eq!(res.bytes().await.len(), 10);
    let request = t.histogram("http.client.request.body.size");
    let post = request
        .iter()
        .find(|p| p.attrs["http.request.method"] == Value::from("POST"));
    let post = post.expect("request size of the POST");
    assert_eq!((post.count, post.sum, post.unit.as_str()), (1, 10.0, "By"));
    let response = t.histogram("http.client.response.body.size");
    let sizes: Vec<f64> = response.iter().map(|p| p.sum).collect();
    assert_eq!(response.len(), 2, "{response:?}");
    assert!(
        sizes.contains(&4.0) && sizes.contains(&10.0),
        "late = 4 bytes, echo = 10: {sizes:?}"
    );
    let settled: Vec<i64> = t
        .up_down("http.client.active_requests")
        .iter()
        .map(|p| p.1)
        .collect();
    assert!(settled.iter().all(|v| *v == 0), "{settled:?}");
}

async fn opt_in_metrics_are_off_by_default(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    client(front, &t)
        .send(Req::new(Method::POST, &server.url("/post")).body(b"x"))
        .await
        .unwrap()
        .bytes()
        .await;
    assert_eq!(t.histogram(DURATION).len(), 1);
    assert!(t.histogram("http.client.request.body.size").is_empty());
    assert!(t.up_down("http.client.active_requests").is_empty());
}

fn ten_thousand_clients_from_one_instrumentation_create_no_new_instruments(front: Front) {
    let provider = CountingMeterProvider::default();
    let instrumentation =
        spanfire::HttpClientInstrumentation::new().meter_provider(provider.clone());
    let created = provider.created();
    assert_eq!(created, 4, "duration, two sizes, active requests");
    // Building a client is slow (reqwest's builds a connector): clones are the same client type.
    let base = Base::new(front, ClientOptions::default());
    for _ in 0..10_000 {
        drop(base.instrument(&instrumentation));
    }
    assert_eq!(provider.created(), created);
}

/// One test for both front ends: it sets the global meter provider, which a second test could
/// replace while this one runs.
#[test]
fn ten_thousand_default_clients_share_the_global_providers_instruments() {
    let provider = CountingMeterProvider::default();
    opentelemetry::global::set_meter_provider(provider.clone());
    let base = reqwest::Client::new();
    for _ in 0..10_000 {
        drop(spanfire::instrument_reqwest_client(base.clone()));
    }
    assert_eq!(provider.created(), 4, "created once, for the first client");
    let tower = Base::new(Front::Tower, ClientOptions::default());
    for _ in 0..10_000 {
        drop(tower.instrument(&spanfire::HttpClientInstrumentation::new()));
    }
    assert_eq!(
        provider.created(),
        4,
        "the tower front end's default clients share them too"
    );
}

each_front_end!(
    duration_has_unit_buckets_attributes_and_equals_the_span,
    status_errors_carry_error_type,
    transport_errors_record_their_kind,
    excluded_and_suppressed_requests_record_nothing,
    opt_in_metrics_are_off_by_default,
    opt_in_metrics_record_sizes_and_active_requests;
    // a blocking call has no future to drop half way
    not_on_ureq: cancelled_requests_record_a_duration_without_error;
    sync: ten_thousand_clients_from_one_instrumentation_create_no_new_instruments,
);
