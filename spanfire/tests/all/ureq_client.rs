//! What only the ureq front end has: ureq's `http_status_as_error`, its body options
//! (decompression, charset, lossy UTF-8, limits) through the rebuilt body, and how captured
//! request bodies are framed. Each exchange runs on a blocking thread, as a ureq application's
//! would, and is compared with the same exchange through a plain agent.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use opentelemetry::trace::Status;
use opentelemetry::Value;
use spanfire::ResponseOutcome;

use crate::support::front::blocking;
use crate::support::*;

/// `hello gzip`, gzip-compressed.
const GZIP: &[u8] = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xcb\x48\xcd\xc9\xc9\x57\x48\xaf\
\xca\x2c\x00\x00\x19\x6a\xd2\xdf\x0a\x00\x00\x00";

/// The routes: `/gzip`, `/latin1` (`café` in ISO-8859-1), `/invalid` (text that is not
/// UTF-8), `/hundred` (100 bytes), `/404`, `/json`, `/empty`, and `/framing`, which answers
/// how the request body came (`cl=…;te=…;len=…`).
async fn route(req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map_or("-".to_owned(), |v| v.to_str().unwrap().to_owned())
    };
    let (cl, te) = (header("content-length"), header("transfer-encoding"));
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let content_type = match path.as_str() {
        "/latin1" => "text/plain; charset=iso-8859-1",
        _ => "text/plain",
    };
    let response = Response::builder().header("content-type", content_type);
    let response = match path.as_str() {
        "/gzip" => response
            .header("content-encoding", "gzip")
            .body(GZIP.to_vec()),
        "/latin1" => response.body(b"caf\xe9".to_vec()),
        "/invalid" => response.body(b"a\xffb".to_vec()),
        "/hundred" => response.body(vec![b'h'; 100]),
        "/404" => response
            .status(404)
            .header("x-why", "gone")
            .body(b"nope".to_vec()),
        "/json" => response.body(br#"{"a":1}"#.to_vec()),
        "/empty" => response.body(Vec::new()),
        _ => response.body(format!("cl={cl};te={te};len={}", body.len()).into_bytes()),
    };
    response.unwrap().map(|b| Full::new(Bytes::from(b)))
}

async fn server() -> String {
    let addr = crate::support::Serve::new().start(route).await;
    format!("http://{addr}")
}

fn plain() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
}

fn instrumented(t: &Telemetry) -> ureq::Agent {
    let config = ureq::Agent::config_builder().http_status_as_error(false);
    t.instrumentation()
        .capture_all(true)
        .instrument_ureq(config)
}

fn attr(t: &Telemetry, key: &str) -> Option<Value> {
    attrs(&t.single()).get(key).cloned()
}

/// Reads `path` with `read` through a plain and an instrumented agent; both must read the same.
async fn both_read<T>(path: &str, read: fn(&mut ureq::Body) -> T) -> (T, Telemetry)
where
    T: PartialEq + std::fmt::Debug + Send + 'static,
{
    let url = format!("{}{path}", server().await);
    let t = Telemetry::new();
    let agent = instrumented(&t);
    let (plain, seen) = blocking(move || {
        let read_with = |agent: &ureq::Agent| read(agent.get(&url).call().unwrap().body_mut());
        (read_with(&plain()), read_with(&agent))
    })
    .await;
    assert_eq!(seen, plain, "{path}: the application reads the same");
    (seen, t)
}

#[tokio::test]
async fn status_as_error_records_the_status_and_ureq_still_errs() {
    let url = format!("{}/404", server().await);
    let t = Telemetry::new();
    let hooks = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&hooks);
    // ureq's default: 4xx/5xx are `Error::StatusCode`, the response discarded below middleware
    let agent = t
        .instrumentation()
        .capture_all(true)
        .response_hook(move |_, outcome| {
            if let ResponseOutcome::Response(head) = outcome {
                assert_eq!(head.status(), 404);
                assert!(head.headers().is_empty(), "ureq discarded them");
                seen.fetch_add(1, Ordering::SeqCst);
            }
        })
        .instrument_ureq(ureq::Agent::config_builder());
    let result = blocking(move || agent.get(&url).call().map(drop)).await;
    assert!(
        matches!(result, Err(ureq::Error::StatusCode(404))),
        "{result:?}"
    );
    assert_eq!(
        hooks.load(Ordering::SeqCst),
        1,
        "the response hook ran once"
    );
    let span = t.single();
    assert!(is_error(&span));
    assert_eq!(span.status, Status::error(""));
    assert_eq!(event_names(&span), ["http.response.head"]);
    let attrs = attrs(&span);
    assert_eq!(attrs["http.response.status_code"], Value::I64(404));
    assert_eq!(attrs["error.type"], Value::from("404"));
    assert!(
        !attrs.contains_key("http.response.body.size"),
        "nothing was read: {attrs:#?}"
    );
    assert!(!attrs.contains_key("http.response.header.x-why"));
}

#[tokio::test]
async fn gzip_is_decompressed_once_and_captured_decompressed() {
    let (text, t) = both_read("/gzip", |b| b.read_to_string().unwrap()).await;
    assert_eq!(text, "hello gzip");
    assert_eq!(
        attr(&t, "http.response.body.text"),
        Some("hello gzip".into())
    );
    assert_eq!(attr(&t, "http.response.body.size"), Some(Value::I64(10)));
}

#[tokio::test]
async fn charset_is_decoded_once_and_captured_as_read() {
    let (text, t) = both_read("/latin1", |b| b.read_to_string().unwrap()).await;
    assert_eq!(
        text, "café",
        "ureq's charset feature transcodes it to UTF-8"
    );
    assert_eq!(attr(&t, "http.response.body.text"), Some("café".into()));
}

#[tokio::test]
async fn lossy_utf8_of_read_to_string_still_applies() {
    let (text, _) = both_read("/invalid", |b| b.read_to_string().unwrap()).await;
    assert_eq!(text, "a?b", "ureq's own replacement character");
    let (strict, _) = both_read("/invalid", |b| {
        b.with_config().lossy_utf8(false).read_to_string().is_err()
    })
    .await;
    assert!(
        strict,
        "invalid UTF-8 without lossy_utf8 fails, as without spanfire"
    );
}

#[tokio::test]
async fn a_body_limit_still_fails_and_the_span_ends_when_the_body_is_dropped() {
    let (error, t) = both_read("/hundred", |b| {
        let error = b.with_config().limit(10).read_to_vec().unwrap_err();
        format!("{error}")
    })
    .await;
    assert!(error.contains("larger than request limit: 10"), "{error}");
    // the limit is ureq's, above the instrumented reader: the body was dropped unfinished
    assert_eq!(
        attr(&t, spanfire::CANCELLED_ATTRIBUTE),
        Some(Value::Bool(true))
    );
}

#[tokio::test]
async fn read_json_ends_the_span_with_the_size() {
    let (value, t) = both_read("/json", |b| b.read_json::<serde_json::Value>().unwrap()).await;
    assert_eq!(value, serde_json::json!({"a": 1}));
    assert_eq!(attr(&t, "http.response.body.size"), Some(Value::I64(7)));
}

#[tokio::test]
async fn as_reader_reads_the_same_bytes() {
    let (bytes, t) = both_read("/hundred", |b| {
        let mut out = Vec::new();
        b.as_reader().read_to_end(&mut out).unwrap();
        out
    })
    .await;
    assert_eq!(bytes, vec![b'h'; 100]);
    assert_eq!(attr(&t, "http.response.body.size"), Some(Value::I64(100)));
}

/// The documented difference of the rebuilt body: ureq offers no way to give it a length.
#[tokio::test]
async fn content_length_is_not_kept_but_the_header_is() {
    let url = format!("{}/hundred", server().await);
    let t = Telemetry::new();
    let agent = instrumented(&t);
    let (plain, seen) = blocking(move || {
        let plain = plain().get(&url).call().unwrap();
        let seen = agent.get(&url).call().unwrap();
        (plain, seen)
    })
    .await;
    assert_eq!(plain.body().content_length(), Some(100));
    assert_eq!(seen.body().content_length(), None);
    assert_eq!(seen.headers()["content-length"], "100");
}

/// How `path` receives `body` through a plain agent and through a capturing one, and the span.
async fn framing(body: Vec<u8>, reader: bool) -> (String, String, Telemetry) {
    let url = format!("{}/framing", server().await);
    let t = Telemetry::new();
    let agent = instrumented(&t);
    let (plain, seen) = blocking(move || {
        let send = |agent: &ureq::Agent, body: Vec<u8>| {
            let response =
                match reader {
                    false => agent.post(&url).send(body),
                    true => agent.post(&url).send(ureq::SendBody::from_owned_reader(
                        std::io::Cursor::new(body),
                    )),
                };
            response.unwrap().body_mut().read_to_string().unwrap()
        };
        (send(&plain(), body.clone()), send(&agent, body))
    })
    .await;
    (plain, seen, t)
}

#[tokio::test]
async fn a_captured_buffered_body_keeps_its_content_length() {
    let (plain, seen, t) = framing(b"hello".to_vec(), false).await;
    assert_eq!(plain, "cl=5;te=-;len=5");
    assert_eq!(seen, plain, "sent as without spanfire");
    assert_eq!(attr(&t, "http.request.body.text"), Some("hello".into()));
    assert_eq!(attr(&t, "http.request.body.size"), Some(Value::I64(5)));
}

#[tokio::test]
async fn a_captured_reader_body_is_sent_with_its_length_when_short() {
    let (plain, seen, t) = framing(b"hello".to_vec(), true).await;
    assert_eq!(plain, "cl=-;te=chunked;len=5");
    // read ahead (within 64 KiB): sent as ureq sends a buffered body
    assert_eq!(seen, "cl=5;te=-;len=5");
    assert_eq!(attr(&t, "http.request.body.text"), Some("hello".into()));
}

#[tokio::test]
async fn a_captured_body_over_64_kib_is_sent_chunked() {
    let body = vec![b'x'; 70_000];
    let (plain, seen, t) = framing(body, false).await;
    assert_eq!(plain, "cl=70000;te=-;len=70000");
    // ureq does not tell a middleware a body's length: past the read-ahead it streams
    assert_eq!(seen, "cl=-;te=chunked;len=70000");
    assert_eq!(attr(&t, "http.request.body.size"), Some(Value::I64(70_000)));
}

#[tokio::test]
async fn without_capture_the_request_body_is_untouched() {
    let url = format!("{}/framing", server().await);
    let t = Telemetry::new();
    let agent = t
        .instrumentation()
        .instrument_ureq(ureq::Agent::config_builder());
    let sent = blocking(move || {
        let reader = ureq::SendBody::from_owned_reader(std::io::Cursor::new(vec![b'x'; 70_000]));
        let chunked = agent.post(&url).send(reader).unwrap();
        let sized = agent.post(&url).send(&b"hello"[..]).unwrap();
        [chunked, sized].map(|mut r| r.body_mut().read_to_string().unwrap())
    })
    .await;
    assert_eq!(sent, ["cl=-;te=chunked;len=70000", "cl=5;te=-;len=5"]);
    assert_eq!(t.spans().len(), 2);
}

#[tokio::test]
async fn a_body_read_ahead_gives_the_opt_in_request_size() {
    let url = format!("{}/framing", server().await);
    let t = Telemetry::new();
    let agent = t
        .instrumentation()
        .capture_request_body(true)
        .opt_in_metrics(true)
        .instrument_ureq(ureq::Agent::config_builder());
    let sent = blocking(move || {
        let reader = ureq::SendBody::from_owned_reader(std::io::Cursor::new(b"0123456789"));
        let mut response = agent.post(&url).send(reader).unwrap();
        response.body_mut().read_to_string().unwrap()
    })
    .await;
    assert_eq!(sent, "cl=10;te=-;len=10");
    let sizes = t.histogram("http.client.request.body.size");
    assert_eq!(sizes.len(), 1, "{sizes:?}");
    assert_eq!((sizes[0].count, sizes[0].sum), (1, 10.0));
}

#[tokio::test]
async fn an_empty_body_ends_the_span_with_the_head() {
    let url = format!("{}/empty", server().await);
    let t = Telemetry::new();
    let agent = instrumented(&t);
    let response = blocking(move || agent.get(&url).call().unwrap()).await;
    assert_eq!(response.headers()["content-length"], "0");
    assert_eq!(
        t.spans().len(),
        1,
        "ended before the body is read or dropped"
    );
    drop(response);
    let span = t.single();
    assert_eq!(attrs(&span).get(spanfire::CANCELLED_ATTRIBUTE), None);
    assert_eq!(attrs(&span)["http.response.body.size"], Value::I64(0));
}
