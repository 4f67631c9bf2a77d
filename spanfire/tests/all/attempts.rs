//! Attempts: spanfire placed inside the ecosystem's retry layers (reqwest-retry on
//! reqwest-middleware, tower's `Retry` with `spanfire::tower::CountResends`) records one span per
//! attempt — siblings under the caller's span, the first without `http.request.resend_count`,
//! each resend with its number — and one duration record per attempt. Client-wide URL
//! templates name spans on both front ends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;

use crate::support::front::{Client, ClientOptions, Front, Req};
use crate::support::*;

/// A server whose `/flaky` answers 503 (empty body) to its first `failures` requests, then 200.
async fn flaky(failures: usize) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&seen);
    let addr = Serve::new()
        .start(move |_req| {
            let n = count.fetch_add(1, Ordering::SeqCst);
            async move {
                let status = if n < failures {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                };
                let body = if n < failures { "" } else { "ok" };
                http::Response::builder()
                    .status(status)
                    .body(Full::new(Bytes::from(body)))
                    .unwrap()
            }
        })
        .await;
    (addr, seen)
}

/// The three attempts of a request that failed twice: siblings under `parent`, in order,
/// resend_count absent/1/2, statuses 503/503/200, one duration record each.
fn assert_three_attempts(t: &Telemetry, parent: &SpanData, url: &str) {
    let spans: Vec<SpanData> = t
        .spans()
        .into_iter()
        .filter(|s| s.name == "GET" && s.span_kind == SpanKind::Client)
        .collect();
    assert_eq!(spans.len(), 3, "one span per attempt");
    let resends: Vec<Option<Value>> = spans
        .iter()
        .map(|s| attrs(s).get("http.request.resend_count").cloned())
        .collect();
    assert_eq!(
        resends,
        [None, Some(Value::I64(1)), Some(Value::I64(2))],
        "the first attempt has no resend_count"
    );
    let statuses: Vec<Value> = spans
        .iter()
        .map(|s| attrs(s)["http.response.status_code"].clone())
        .collect();
    assert_eq!(
        statuses,
        [Value::I64(503), Value::I64(503), Value::I64(200)]
    );
    for span in &spans {
        assert_eq!(attrs(span)["url.full"], Value::from(url.to_owned()));
        assert_eq!(span.parent_span_id, parent.span_context.span_id());
        assert_eq!(span.span_context.trace_id(), parent.span_context.trace_id());
        assert!(!attrs(span).contains_key("spanfire.cancelled"), "{span:?}");
    }
    assert_eq!(
        t.records("http.client.request.duration"),
        3,
        "one duration record per attempt"
    );
}

/// With the logical span on: one INTERNAL span under the caller's, the parent of the three
/// attempts, from before the first began until after the last ended, with the final outcome;
/// the attempts alone record durations.
fn assert_logical_parent(t: &Telemetry, caller: &SpanData, url: &str) {
    let spans = t.spans();
    let logical: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Internal && s.name == "GET")
        .collect();
    assert_eq!(logical.len(), 1, "one logical span");
    let logical = logical[0];
    assert_eq!(logical.parent_span_id, caller.span_context.span_id());
    let a = attrs(logical);
    assert_eq!(a["url.full"], Value::from(url.to_owned()));
    assert_eq!(a["http.response.status_code"], Value::I64(200));
    assert!(!a.contains_key("http.request.resend_count"));
    assert_eq!(logical.status, Status::Unset);
    assert_three_attempts(t, logical, url);
    let attempts: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Client)
        .collect();
    assert!(logical.start_time <= attempts[0].start_time);
    assert!(
        logical.end_time >= attempts[2].end_time,
        "covers every attempt"
    );
}

/// Runs `send` inside a parent span `checkout`, returning that span once ended.
async fn under_parent<F: std::future::Future<Output = ()>>(t: &Telemetry, send: F) -> SpanData {
    use opentelemetry::context::FutureExt;
    let parent = t.provider.tracer("app").start("checkout");
    let cx = opentelemetry::Context::current_with_span(parent);
    send.with_context(cx.clone()).await;
    cx.span().end();
    t.spans()
        .into_iter()
        .find(|s| s.name == "checkout")
        .expect("the parent span")
}

#[tokio::test]
async fn reqwest_retry_outside_spanfire_gives_one_span_per_attempt() {
    use reqwest_retry::policies::ExponentialBackoff;
    use reqwest_retry::RetryTransientMiddleware;
    let (addr, seen) = flaky(2).await;
    let t = Telemetry::new();
    let policy = ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(1), Duration::from_millis(5))
        .build_with_max_retries(3);
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RetryTransientMiddleware::new_with_policy(policy))
        .with(t.instrumentation().reqwest_middleware())
        .build();
    let url = format!("http://{addr}/flaky");
    let parent = under_parent(&t, async {
        let res = client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), "ok");
    })
    .await;
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    assert_three_attempts(&t, &parent, &url);

    // The next request through the same client starts counting afresh.
    let t2 = Telemetry::new();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RetryTransientMiddleware::new_with_policy(policy))
        .with(t2.instrumentation().reqwest_middleware())
        .build();
    client.get(&url).send().await.unwrap();
    client.get(&url).send().await.unwrap();
    for span in t2.spans() {
        assert!(!attrs(&span).contains_key("http.request.resend_count"));
    }
}

#[tokio::test]
async fn reqwest_logical_span_covers_the_attempts() {
    use reqwest_retry::policies::ExponentialBackoff;
    use reqwest_retry::RetryTransientMiddleware;
    let (addr, _) = flaky(2).await;
    let t = Telemetry::new();
    let instrumentation = t.instrumentation();
    let policy = ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(1), Duration::from_millis(5))
        .build_with_max_retries(3);
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(instrumentation.logical_request_middleware())
        .with(RetryTransientMiddleware::new_with_policy(policy))
        .with(instrumentation.reqwest_middleware())
        .build();
    let url = format!("http://{addr}/flaky");
    let caller = under_parent(&t, async {
        let res = client.get(&url).send().await.unwrap();
        assert_eq!(res.text().await.unwrap(), "ok");
    })
    .await;
    assert_logical_parent(&t, &caller, &url);
}

/// tower's retry policy for the test: retries a 503 up to `left` times; clones bodies that can
/// be cloned.
#[derive(Clone)]
struct RetryUnavailable {
    left: usize,
}

impl<B: Clone, R, E> tower::retry::Policy<http::Request<B>, http::Response<R>, E>
    for RetryUnavailable
{
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        _: &mut http::Request<B>,
        result: &mut Result<http::Response<R>, E>,
    ) -> Option<Self::Future> {
        match result {
            Ok(res) if res.status() == StatusCode::SERVICE_UNAVAILABLE && self.left > 0 => {
                self.left -= 1;
                Some(std::future::ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, req: &http::Request<B>) -> Option<http::Request<B>> {
        let mut clone = http::Request::new(req.body().clone());
        *clone.method_mut() = req.method().clone();
        *clone.uri_mut() = req.uri().clone();
        *clone.headers_mut() = req.headers().clone();
        Some(clone)
    }
}

#[tokio::test]
async fn tower_retry_with_count_resends_gives_one_span_per_attempt() {
    use tower::{Service, ServiceBuilder, ServiceExt};
    let (addr, seen) = flaky(2).await;
    let t = Telemetry::new();
    let hyper = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<spanfire::tower::RequestBody<Full<Bytes>>>();
    let policy = spanfire::tower::CountResends::new(RetryUnavailable { left: 3 });
    let mut service = ServiceBuilder::new()
        .layer(tower::retry::RetryLayer::new(policy))
        .layer(t.instrumentation().layer())
        .service(hyper);
    let url = format!("http://{addr}/flaky");
    let parent = under_parent(&t, async {
        let req = http::Request::get(&url)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let res = service.ready().await.unwrap().call(req).await.unwrap();
        assert_eq!(res.status(), 200);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "ok");
    })
    .await;
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    assert_three_attempts(&t, &parent, &url);
}

#[tokio::test]
async fn tower_logical_span_covers_the_attempts() {
    use spanfire::tower::RequestBody;
    use tower::{Service, ServiceBuilder, ServiceExt};
    let (addr, _) = flaky(2).await;
    let t = Telemetry::new();
    let instrumentation = t.instrumentation();
    let hyper = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<RequestBody<RequestBody<Full<Bytes>>>>();
    let policy = spanfire::tower::CountResends::new(RetryUnavailable { left: 3 });
    let mut service = ServiceBuilder::new()
        .layer(instrumentation.logical_request_layer())
        .layer(tower::retry::RetryLayer::new(policy))
        .layer(instrumentation.layer())
        .service(hyper);
    let url = format!("http://{addr}/flaky");
    let caller = under_parent(&t, async {
        let req = http::Request::get(&url)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let res = service.ready().await.unwrap().call(req).await.unwrap();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "ok");
    })
    .await;
    assert_logical_parent(&t, &caller, &url);
}

async fn client_wide_url_templates_name_the_span(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let templates = spanfire::UrlTemplates::new(["/status/{code}", "/get"]).unwrap();
    let c = Client::new(
        front,
        t.instrumentation().url_templates(templates),
        ClientOptions::default(),
    );
    c.get(&server.url("/status/201?x=1"))
        .await
        .unwrap()
        .bytes()
        .await;
    c.get(&server.url("/stream/1/2"))
        .await
        .unwrap()
        .bytes()
        .await;
    let per_request = Req::new(Method::GET, &server.url("/status/202")).template("/s/{n}");
    c.send(per_request).await.unwrap().bytes().await;
    let spans = t.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["GET /status/{code}", "GET", "GET /s/{n}"]);
    let templates: Vec<Option<Value>> = spans
        .iter()
        .map(|s| attrs(s).get("url.template").cloned())
        .collect();
    assert_eq!(
        templates,
        [
            Some(Value::from("/status/{code}")),
            None,
            Some(Value::from("/s/{n}"))
        ],
        "no match: no url.template; the per-request template wins"
    );
}

each_front_end!(client_wide_url_templates_name_the_span);
