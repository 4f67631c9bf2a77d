//! 10,000 requests in flight at once through one instrumented client (`capture_all`), over one
//! HTTP/2 connection (prior knowledge) to a hyper server on loopback that holds every response
//! until all 10,000 requests have arrived. Every span must describe its own request only: the
//! id in `url.full`, in the captured request body, in the captured response body, and the
//! traceparent the server received, all agree.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt, Full};
use opentelemetry::Value;
use tokio::sync::Barrier;

use crate::support::front::{Client, ClientOptions, Front, Req};
use crate::support::*;

const REQUESTS: usize = 10_000;

/// Requests that got through the barrier together (not released by its safety timeout).
struct Server {
    addr: SocketAddr,
    released_together: Arc<AtomicUsize>,
}

/// An h2c (prior knowledge) server: `POST /echo?id=N` with body `req-N` answers
/// `resp-N tp=<traceparent received>`, once all `REQUESTS` requests are in.
async fn start() -> Server {
    let barrier = Arc::new(Barrier::new(REQUESTS));
    let released_together = Arc::new(AtomicUsize::new(0));
    let together = Arc::clone(&released_together);
    let addr = Serve::new()
        .configure(|conn| {
            conn.http2()
                .max_concurrent_streams(2 * REQUESTS as u32)
                .initial_connection_window_size(16 << 20)
                .initial_stream_window_size(1 << 20);
        })
        .start(move |req: http::Request<hyper::body::Incoming>| {
            let (barrier, together) = (Arc::clone(&barrier), Arc::clone(&together));
            async move {
                let id = req.uri().query().unwrap_or("").to_owned();
                let traceparent = req
                    .headers()
                    .get("traceparent")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_owned();
                // Reading the body first returns the flow-control window to the client.
                let body: Bytes = req.into_body().collect().await.unwrap().to_bytes();
                // Bounded: a stack that cannot hold all requests at once fails the
                // assertion on `released_together` instead of hanging.
                let wait = tokio::time::timeout(Duration::from_secs(60), barrier.wait());
                if wait.await.is_ok() {
                    together.fetch_add(1, Ordering::SeqCst);
                }
                let id = id.strip_prefix("id=").unwrap_or("?");
                assert_eq!(
                    body,
                    format!("req-{id}").as_bytes(),
                    "request bodies not mixed"
                );
                let text = format!("resp-{id} tp={traceparent}");
                http::Response::builder()
                    .header("content-type", "text/plain")
                    .body(Full::new(Bytes::from(text)))
                    .unwrap()
            }
        })
        .await;
    Server {
        addr,
        released_together,
    }
}

fn text(attrs: &std::collections::BTreeMap<String, Value>, key: &str) -> String {
    match attrs.get(key) {
        Some(Value::String(s)) => s.as_str().to_owned(),
        other => panic!("{key}: {other:?}"),
    }
}

async fn concurrency_10k_requests_in_flight_each_span_is_its_own(front: Front) {
    let server = start().await;
    let t = Telemetry::new();
    let options = ClientOptions {
        http2_only: true,
        ..ClientOptions::default()
    };
    let client = Client::new(front, t.instrumentation().capture_all(true), options);
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..REQUESTS {
        let client = client.clone();
        let url = format!("http://{}/echo?id={id}", server.addr);
        tasks.spawn(async move {
            let req = Req::new(Method::POST, &url)
                .header("content-type", "text/plain")
                .body(format!("req-{id}").as_bytes());
            let res = client.send(req).await.unwrap();
            assert_eq!(res.status(), 200);
            let text = String::from_utf8(res.bytes().await).unwrap();
            assert!(text.starts_with(&format!("resp-{id} ")), "{id}: {text}");
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(
        server.released_together.load(Ordering::SeqCst),
        REQUESTS,
        "all requests were in flight at the same time"
    );

    let spans = t.spans();
    assert_eq!(spans.len(), REQUESTS, "exactly one span per request");
    let mut ids = BTreeSet::new();
    let prefix = format!("http://{}/echo?id=", server.addr);
    for span in &spans {
        let attrs = attrs(span);
        let url = text(&attrs, "url.full");
        let id: usize = url
            .strip_prefix(&prefix)
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("url.full {url}"));
        let sc = &span.span_context;
        let traceparent = format!("00-{}-{}-01", sc.trace_id(), sc.span_id());
        assert_eq!(text(&attrs, "http.request.body.text"), format!("req-{id}"));
        assert_eq!(
            text(&attrs, "http.response.body.text"),
            format!("resp-{id} tp={traceparent}"),
            "the response body of this span's own request, which carried its own traceparent"
        );
        let sent = Value::Array(vec![opentelemetry::StringValue::from(traceparent)].into());
        assert_eq!(attrs["http.request.header.traceparent"], sent);
        assert_eq!(attrs["http.response.status_code"], Value::I64(200));
        assert_eq!(attrs["network.protocol.version"], Value::from("2"));
        assert!(ids.insert(id), "id {id} recorded twice");
    }
    assert_eq!(ids, (0..REQUESTS).collect::<BTreeSet<_>>());
}

each_front_end!(
    multi_thread: ;
    // HTTP/2 streams: ureq speaks HTTP/1.1 only
    not_on_ureq: concurrency_10k_requests_in_flight_each_span_is_its_own,
);
