//! Connection phases (`spanfire.dns`, `spanfire.connect`, `spanfire.tls`,
//! `spanfire.connection.reused`) and connection metrics, on reqwest (`instrument_reqwest_builder`)
//! and hyper-util (the tower layer over `spanfire::connect::InstrumentedConnector`), against
//! real loopback servers.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::dns::GaiResolver;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use spanfire::connect::{
    DnsResolver, InstrumentedConnector, TcpPhase, CONNECTION_REUSED_ATTRIBUTE, CONNECT_EVENT,
    DNS_ADDRESS_COUNT_ATTRIBUTE, DNS_EVENT, PHASE_DURATION_ATTRIBUTE, TLS_EVENT,
};
use spanfire::tower::{RequestBody, SpanfireService};
use spanfire::HttpClientInstrumentation;
use tower::{Service, ServiceExt};

use crate::support::front::https_connector_over;
use crate::support::*;

type Http = HttpConnector<DnsResolver<GaiResolver>>;
type Body = RequestBody<Empty<Bytes>>;
type Plain = SpanfireService<hyper_util::client::legacy::Client<InstrumentedConnector<Http>, Body>>;
type Tls = SpanfireService<
    hyper_util::client::legacy::Client<
        InstrumentedConnector<hyper_rustls::HttpsConnector<TcpPhase<Http>>>,
        Body,
    >,
>;

/// A client of one front end, connecting through spanfire.
enum Conn {
    Reqwest(reqwest_middleware::ClientWithMiddleware),
    Plain(Plain),
    Tls(Tls),
}

#[derive(Debug, Clone, Copy)]
enum Front {
    Reqwest,
    Tower,
}

fn http_connector() -> Http {
    let mut http = HttpConnector::new_with_resolver(DnsResolver::new(GaiResolver::new()));
    http.enforce_http(false);
    http
}

impl Conn {
    fn new(front: Front, instrumentation: HttpClientInstrumentation, trust: Option<&[u8]>) -> Conn {
        match (front, trust) {
            (Front::Reqwest, trust) => {
                let mut builder = reqwest::Client::builder().tls_info(true);
                if let Some(der) = trust {
                    let cert = reqwest::Certificate::from_der(der).unwrap();
                    builder = builder.tls_certs_only([cert]);
                }
                Conn::Reqwest(instrumentation.instrument_reqwest_builder(builder).unwrap())
            }
            (Front::Tower, None) => {
                let instrumentation = instrumentation.connection_phases(true);
                let connector = instrumentation.connector(http_connector());
                let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                    .build(connector);
                Conn::Plain(tower::Layer::layer(&instrumentation.layer(), client))
            }
            (Front::Tower, Some(der)) => {
                let instrumentation = instrumentation.connection_phases(true);
                let tls = https_connector_over(der, TcpPhase::new(http_connector()));
                let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                    .build(instrumentation.connector(tls));
                Conn::Tls(tower::Layer::layer(&instrumentation.layer(), client))
            }
        }
    }

    /// GETs `url` and reads the body to its end: the status, or the error's text.
    async fn get(&mut self, url: &str) -> Result<u16, String> {
        match self {
            Conn::Reqwest(client) => {
                let res = client.get(url).send().await.map_err(|e| e.to_string())?;
                let status = res.status().as_u16();
                res.bytes().await.map_err(|e| e.to_string())?;
                Ok(status)
            }
            Conn::Plain(service) => tower_get(service, url).await,
            Conn::Tls(service) => tower_get(service, url).await,
        }
    }
}

async fn tower_get<S, B>(service: &mut S, url: &str) -> Result<u16, String>
where
    S: Service<http::Request<Empty<Bytes>>, Response = http::Response<B>>,
    S::Error: std::fmt::Display,
    B: http_body::Body,
    B::Error: std::fmt::Display,
{
    let request = http::Request::get(url).body(Empty::new()).unwrap();
    let service = service.ready().await.map_err(|e| e.to_string())?;
    let res = service.call(request).await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    res.into_body().collect().await.map_err(|e| e.to_string())?;
    Ok(status)
}

/// The span's events, by name, with their attributes.
fn events(span: &SpanData) -> Vec<(String, BTreeMap<String, Value>)> {
    span.events
        .iter()
        .map(|e| {
            let attrs = e
                .attributes
                .iter()
                .map(|kv| (kv.key.to_string(), kv.value.clone()))
                .collect();
            (e.name.to_string(), attrs)
        })
        .collect()
}

fn phase_events(span: &SpanData) -> Vec<(String, BTreeMap<String, Value>)> {
    events(span)
        .into_iter()
        .filter(|(name, _)| name.starts_with("spanfire.") && name != "spanfire.hook_panic")
        .collect()
}

fn reused(span: &SpanData) -> Option<Value> {
    attrs(span).get(CONNECTION_REUSED_ATTRIBUTE).cloned()
}

/// The phases are in order, each starting no earlier than the previous, inside the span.
fn assert_phase_times(span: &SpanData) {
    let phases: Vec<_> = span
        .events
        .iter()
        .filter(|e| e.name.starts_with("spanfire."))
        .collect();
    let mut last = span.start_time;
    for event in phases {
        assert!(
            event.timestamp >= last,
            "{} starts before the phase before it",
            event.name
        );
        last = event.timestamp;
    }
    assert!(last <= span.end_time);
}

fn assert_duration(name: &str, attrs: &BTreeMap<String, Value>) {
    match attrs.get(PHASE_DURATION_ATTRIBUTE) {
        Some(Value::F64(seconds)) => {
            assert!(*seconds >= 0.0 && *seconds < 10.0, "{name}: {seconds}")
        }
        other => panic!("{name}: {PHASE_DURATION_ATTRIBUTE} = {other:?}"),
    }
}

fn assert_dns(attrs: &BTreeMap<String, Value>) {
    assert_duration(DNS_EVENT, attrs);
    match attrs.get(DNS_ADDRESS_COUNT_ATTRIBUTE) {
        Some(Value::I64(n)) => assert!(*n >= 1, "localhost resolved to {n} addresses"),
        other => panic!("{DNS_ADDRESS_COUNT_ATTRIBUTE} = {other:?}"),
    }
    assert_eq!(attrs.len(), 2, "{attrs:?}");
}

fn assert_connected(attrs: &BTreeMap<String, Value>, port: i64) {
    assert_duration(CONNECT_EVENT, attrs);
    assert_eq!(
        attrs.get("network.peer.address"),
        Some(&Value::from("127.0.0.1")),
        "{attrs:?}"
    );
    assert_eq!(
        attrs.get("network.peer.port"),
        Some(&Value::I64(port)),
        "{attrs:?}"
    );
    assert!(!attrs.contains_key("error.type"), "{attrs:?}");
}

/// The server listens on 127.0.0.1: `localhost` URLs make the client look the name up.
fn localhost(server: &TestServer, path: &str) -> String {
    format!("http://localhost:{}{path}", server.port())
}

async fn fresh_then_pooled_over_tcp(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let mut client = Conn::new(front, t.instrumentation(), None);
    assert_eq!(client.get(&localhost(&server, "/get")).await, Ok(200));
    assert_eq!(client.get(&localhost(&server, "/get")).await, Ok(200));
    let spans = t.spans();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let (first, second) = (&spans[0], &spans[1]);

    let phases = phase_events(first);
    let names: Vec<&str> = phases.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, [DNS_EVENT, CONNECT_EVENT], "{front:?}");
    assert_dns(&phases[0].1);
    assert_connected(&phases[1].1, server.port());
    assert_eq!(
        phases[1].1.len(),
        3,
        "plain TCP: no TLS attributes: {:?}",
        phases[1].1
    );
    assert_phase_times(first);
    assert_eq!(
        event_names(first).last().map(String::as_str),
        Some(spanfire::RESPONSE_HEAD_EVENT),
        "the phases come before the response head"
    );
    assert_eq!(reused(first), Some(Value::Bool(false)), "{front:?}");

    assert!(
        phase_events(second).is_empty(),
        "{front:?}: {:?}",
        events(second)
    );
    assert_eq!(reused(second), Some(Value::Bool(true)), "{front:?}");
    assert_eq!(server.received().len(), 2);
}

async fn fresh_then_pooled_over_tls(front: Front) {
    let (server, der) = TestServer::start_tls().await;
    let der: &'static [u8] = der.leak();
    let t = Telemetry::new();
    let mut client = Conn::new(front, t.instrumentation(), Some(der));
    assert_eq!(client.get(&server.url("/get")).await, Ok(200));
    assert_eq!(client.get(&server.url("/get")).await, Ok(200));
    let spans = t.spans();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let (first, second) = (&spans[0], &spans[1]);
    let phases = phase_events(first);
    let names: Vec<&str> = phases.iter().map(|(n, _)| n.as_str()).collect();
    let tls_attrs = match front {
        // reqwest: no point between TCP and TLS; the connect event carries the TLS attributes
        Front::Reqwest => {
            assert_eq!(names, [DNS_EVENT, CONNECT_EVENT]);
            phases[1].1.clone()
        }
        Front::Tower => {
            assert_eq!(names, [DNS_EVENT, CONNECT_EVENT, TLS_EVENT]);
            assert_connected(&phases[1].1, server.port());
            assert_eq!(phases[1].1.len(), 3, "{:?}", phases[1].1);
            assert_duration(TLS_EVENT, &phases[2].1);
            phases[2].1.clone()
        }
    };
    assert_dns(&phases[0].1);
    assert_eq!(
        tls_attrs.get("tls.protocol.name"),
        Some(&Value::from("tls")),
        "{front:?}"
    );
    assert_eq!(
        tls_attrs.get("tls.protocol.version"),
        Some(&Value::from("1.3")),
        "{front:?}"
    );
    assert_eq!(
        tls_attrs.get("tls.next_protocol"),
        Some(&Value::from("h2")),
        "{front:?}"
    );
    assert_phase_times(first);
    assert_eq!(reused(first), Some(Value::Bool(false)));
    assert!(
        phase_events(second).is_empty(),
        "{front:?}: {:?}",
        events(second)
    );
    assert_eq!(reused(second), Some(Value::Bool(true)), "{front:?}");
}

async fn a_refused_connect_records_its_failure(front: Front) {
    let t = Telemetry::new();
    let mut client = Conn::new(front, t.instrumentation(), None);
    let port = closed_port();
    let result = client.get(&format!("http://127.0.0.1:{port}/get")).await;
    assert!(result.is_err(), "{result:?}");
    let span = t.single();
    assert!(is_error(&span));
    assert_eq!(
        attrs(&span).get("error.type"),
        Some(&Value::from("connect"))
    );
    let phases = phase_events(&span);
    assert_eq!(
        phases.len(),
        1,
        "an IP address is not looked up: {phases:?}"
    );
    let (name, connect) = &phases[0];
    assert_eq!(name, CONNECT_EVENT);
    assert_duration(CONNECT_EVENT, connect);
    assert_eq!(
        connect.get("error.type"),
        Some(&Value::from("connect")),
        "{connect:?}"
    );
    assert_eq!(reused(&span), Some(Value::Bool(false)));
}

async fn unsampled_requests_record_nothing_and_cost_no_slot(front: Front) {
    let server = TestServer::start().await;
    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff)
        .with_simple_exporter(exporter.clone())
        .build();
    let instrumentation = HttpClientInstrumentation::new().tracer_provider(provider);
    let mut client = Conn::new(front, instrumentation, None);
    assert_eq!(client.get(&localhost(&server, "/get")).await, Ok(200));
    assert!(exporter.get_finished_spans().unwrap().is_empty());
}

macro_rules! on_both {
    ($($scenario:ident),* $(,)?) => {
        mod reqwest_front {
            $(#[tokio::test]
            async fn $scenario() {
                super::$scenario(super::Front::Reqwest).await
            })*
        }
        mod tower_front {
            $(#[tokio::test]
            async fn $scenario() {
                super::$scenario(super::Front::Tower).await
            })*
        }
    };
}

on_both!(
    fresh_then_pooled_over_tcp,
    fresh_then_pooled_over_tls,
    a_refused_connect_records_its_failure,
    unsampled_requests_record_nothing_and_cost_no_slot,
);

#[tokio::test]
async fn phases_are_off_without_the_option() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let instrumentation = t.instrumentation().connection_phases(false);
    let mut client = Conn::new(Front::Reqwest, instrumentation, None);
    assert_eq!(client.get(&localhost(&server, "/get")).await, Ok(200));
    let span = t.single();
    assert!(phase_events(&span).is_empty(), "{:?}", events(&span));
    assert_eq!(reused(&span), None);
}

const OPEN: &str = "http.client.open_connections";
const CONNECTION_DURATION: &str = "http.client.connection.duration";

/// The open-connection counts by state, leaving out zeros.
fn open_by_state(t: &Telemetry) -> BTreeMap<String, i64> {
    t.up_down(OPEN)
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|(attrs, n)| (attrs["http.connection.state"].to_string(), n))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_count_idle_active_and_their_duration_on_close() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let instrumentation = t.instrumentation().opt_in_metrics(true);
    let mut client = Conn::new(Front::Tower, instrumentation, None);
    assert_eq!(client.get(&localhost(&server, "/get")).await, Ok(200));
    assert_eq!(open_by_state(&t), BTreeMap::from([("idle".to_owned(), 1)]));

    // while a request is on it, the connection is active
    let Conn::Plain(service) = &mut client else {
        unreachable!()
    };
    let request = http::Request::get(localhost(&server, "/stream/3/100"))
        .body(Empty::new())
        .unwrap();
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(
        open_by_state(&t),
        BTreeMap::from([("active".to_owned(), 1)])
    );
    response.into_body().collect().await.unwrap();
    assert_eq!(open_by_state(&t), BTreeMap::from([("idle".to_owned(), 1)]));
    assert!(t.histogram(CONNECTION_DURATION).is_empty(), "still open");

    drop(client);
    // the connection's task ends (and drops its IO) once the client is gone
    let mut closed = false;
    for _ in 0..100 {
        if open_by_state(&t).is_empty() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(closed, "{:?}", t.up_down(OPEN));
    let points = t.histogram(CONNECTION_DURATION);
    assert_eq!(points.len(), 1, "{points:?}");
    let p = &points[0];
    assert_eq!(p.count, 1);
    assert_eq!(p.unit, "s");
    assert_eq!(p.bounds, spanfire::connect::CONNECTION_DURATION_BUCKETS);
    let want = BTreeMap::from([
        ("server.address".to_owned(), Value::from("localhost")),
        ("server.port".to_owned(), Value::I64(server.port())),
        ("network.peer.address".to_owned(), Value::from("127.0.0.1")),
    ]);
    assert_eq!(p.attrs, want);
    let every_open: Vec<_> = t.up_down(OPEN).into_iter().map(|(a, _)| a).collect();
    for attrs in every_open {
        let mut without_state = attrs.clone();
        without_state.remove("http.connection.state");
        assert_eq!(without_state, want, "{attrs:?}");
    }
}

#[tokio::test]
async fn tls_connections_record_the_negotiated_protocol_version() {
    let (server, der) = TestServer::start_tls().await;
    let t = Telemetry::new();
    let instrumentation = t.instrumentation().opt_in_metrics(true);
    let mut client = Conn::new(Front::Tower, instrumentation, Some(&der));
    assert_eq!(client.get(&server.url("/get")).await, Ok(200));
    let open = t.up_down(OPEN);
    let (attrs, n) = open
        .iter()
        .find(|(_, n)| *n == 1)
        .expect("one open connection");
    assert_eq!(*n, 1);
    assert_eq!(
        attrs.get("network.protocol.version"),
        Some(&Value::from("2")),
        "{attrs:?}"
    );
    assert_eq!(
        attrs.get("http.connection.state"),
        Some(&Value::from("idle")),
        "{attrs:?}"
    );
}

#[tokio::test]
async fn reqwest_records_no_connection_metrics() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let instrumentation = t.instrumentation().opt_in_metrics(true);
    let mut client = Conn::new(Front::Reqwest, instrumentation, None);
    assert_eq!(client.get(&localhost(&server, "/get")).await, Ok(200));
    assert!(t.up_down(OPEN).is_empty());
    assert!(t.histogram(CONNECTION_DURATION).is_empty());
}

/// A resolver of `localhost` to 127.0.0.1 whose second lookup takes 500 ms.
#[derive(Clone, Default)]
struct SlowSecondLookup(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Service<hyper_util::client::legacy::connect::dns::Name> for SlowSecondLookup {
    type Response = std::vec::IntoIter<std::net::SocketAddr>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper_util::client::legacy::connect::dns::Name) -> Self::Future {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            if n == 1 {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Ok(vec![std::net::SocketAddr::from(([127, 0, 0, 1], 0))].into_iter())
        })
    }
}

/// hyper-util races a new connect against the pool: when a connection comes back first, the
/// request takes it and the connect finishes in the background. That connect is recorded on
/// no span — not on the request that started it, which did not use it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_finished_in_the_background_is_recorded_nowhere() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let instrumentation = t.instrumentation().connection_phases(true);
    let http = HttpConnector::new_with_resolver(DnsResolver::new(SlowSecondLookup::default()));
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build::<_, Body>(instrumentation.connector(http));
    let service = tower::Layer::layer(&instrumentation.layer(), client);

    // B connects (fast lookup) and holds its connection for 200 ms
    let mut b = service.clone();
    let b_url = localhost(&server, "/delay/200");
    let b = tokio::spawn(async move { tower_get(&mut b, &b_url).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A finds no idle connection: it starts a connect (slow lookup) and waits on the pool too;
    // B's connection comes back first, and A's server time (800 ms) outlasts its own connect
    let mut a = service.clone();
    let a_result = tower_get(&mut a, &localhost(&server, "/delay/800")).await;
    assert_eq!(b.await.unwrap(), Ok(200));
    assert_eq!(a_result, Ok(200));

    let spans = t.spans();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let b_span = spans
        .iter()
        .find(|s| attrs(s)["url.full"].as_str().contains("/200"))
        .unwrap();
    let a_span = spans
        .iter()
        .find(|s| attrs(s)["url.full"].as_str().contains("/800"))
        .unwrap();
    assert_eq!(reused(b_span), Some(Value::Bool(false)));
    assert_eq!(phase_events(b_span).len(), 2, "{:?}", events(b_span));
    assert!(phase_events(a_span).is_empty(), "{:?}", events(a_span));
    assert_eq!(reused(a_span), Some(Value::Bool(true)));
    assert_eq!(server.received().len(), 2, "both went over B's connection");
}

/// Resolves every name to 127.0.0.1 and ::1 (port from the URL).
struct TwoLoopbacks;

impl reqwest::dns::Resolve for TwoLoopbacks {
    fn resolve(&self, _: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let addrs: reqwest::dns::Addrs = Box::new(
            vec![
                std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0)),
            ]
            .into_iter(),
        );
        Box::pin(async move { Ok(addrs) })
    }
}

#[tokio::test]
async fn reqwest_times_the_resolver_it_is_given() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let instrumentation = t.instrumentation().reqwest_dns_resolver(TwoLoopbacks);
    let mut client = Conn::new(Front::Reqwest, instrumentation, None);
    let url = format!("http://service.internal:{}/get", server.port());
    assert_eq!(client.get(&url).await, Ok(200));
    let span = t.single();
    let phases = phase_events(&span);
    assert_eq!(phases[0].0, DNS_EVENT);
    assert_eq!(
        phases[0].1.get(DNS_ADDRESS_COUNT_ATTRIBUTE),
        Some(&Value::I64(2))
    );
    assert_connected(&phases[1].1, server.port());
}
