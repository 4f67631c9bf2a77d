//! Garbage plug-ins: global propagators that panic or inject invalid headers, URL filters that
//! return nonsense, hooks that panic: the request goes through unchanged.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::Method;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::SpanRef;
use opentelemetry::{Context, Value};
use opentelemetry_sdk::trace::SpanData;
use spanfire::{HttpClientInstrumentation, RequestInfo, ResponseOutcome};

use super::server::strings;
use crate::support::front::{Client, ClientOptions, Front, Req};
use crate::support::*;

/// A propagator whose `inject_context` panics.
#[derive(Debug)]
struct Panicking(Vec<String>);

impl TextMapPropagator for Panicking {
    fn inject_context(&self, _: &Context, _: &mut dyn Injector) {
        panic!("propagator bug");
    }
    fn extract_with_context(&self, cx: &Context, _: &dyn Extractor) -> Context {
        cx.clone()
    }
    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.0)
    }
}

/// A propagator that injects invalid header names and values, and one good header.
#[derive(Debug)]
struct Invalid(Vec<String>);

impl TextMapPropagator for Invalid {
    fn inject_context(&self, _: &Context, injector: &mut dyn Injector) {
        injector.set("bad header\n", "value".to_owned());
        injector.set("x-bad-value", "val\r\nx-injected: 1".to_owned());
        injector.set("x-nul", "a\0b".to_owned());
        injector.set("", "empty name".to_owned());
        injector.set("traceparent", "\u{7f}".to_owned());
        injector.set("x:colon", "v".to_owned());
        injector.set("x-fine", "fine".to_owned());
    }
    fn extract_with_context(&self, cx: &Context, _: &dyn Extractor) -> Context {
        cx.clone()
    }
    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.0)
    }
}

fn hook_panics(span: &SpanData) -> Vec<(String, String)> {
    span.events
        .iter()
        .filter(|e| e.name == spanfire::HOOK_PANIC_EVENT)
        .map(|e| {
            let get = |k: &str| {
                e.attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == k)
                    .map(|kv| kv.value.to_string())
                    .unwrap_or_default()
            };
            (get("spanfire.hook"), get("exception.message"))
        })
        .collect()
}

fn client(front: Front, instrumentation: HttpClientInstrumentation) -> Client {
    Client::new(front, instrumentation, ClientOptions::default())
}

/// POSTs a JSON body to `/post` (which echoes it); asserts 200 and the same body back.
async fn post_echo(client: &Client, server: &TestServer) {
    let body = r#"{"n":1,"text":"unchanged"}"#;
    let req = Req::new(Method::POST, &server.url("/post"))
        .header("content-type", "application/json")
        .body(body.as_bytes());
    let res = client.send(req).await.expect("the request goes through");
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await, body.as_bytes(), "the body is unchanged");
}

async fn propagators_never_fail_the_request(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = client(front, t.instrumentation().capture_all(true));

    // Process-wide; nextest runs each test in its own process.
    opentelemetry::global::set_text_map_propagator(Panicking(vec!["x-panic".into()]));
    post_echo(&client, &server).await;
    post_echo(&client, &server).await;
    let spans = t.spans();
    assert_eq!(spans.len(), 2, "one span each");
    for span in &spans {
        assert_eq!(
            hook_panics(span),
            [("propagator".to_owned(), "propagator bug".to_owned())]
        );
        assert_eq!(attrs(span)["http.response.status_code"], Value::I64(200));
    }
    for headers in server.received() {
        assert!(!headers.contains_key("traceparent") && !headers.contains_key("x-panic"));
    }

    opentelemetry::global::set_text_map_propagator(Invalid(vec!["x-fine".into()]));
    post_echo(&client, &server).await;
    let received = server.received();
    let headers = received.last().unwrap();
    assert_eq!(headers["x-fine"], "fine", "the valid header is sent");
    for bad in ["x-bad-value", "x-nul", "traceparent", "x-injected"] {
        assert!(!headers.contains_key(bad), "{bad} sent: {headers:?}");
    }
    let spans = t.spans();
    assert_eq!(spans.len(), 3);
    let span = &spans[2];
    assert!(hook_panics(span).is_empty());
    assert_eq!(
        attrs(span)["http.request.header.x-fine"],
        strings(&["fine"]),
        "the captured headers are the ones sent"
    );
    assert!(!attrs(span).contains_key("http.request.header.x-bad-value"));
    opentelemetry::global::set_text_map_propagator(
        opentelemetry::propagation::TextMapCompositePropagator::new(vec![]),
    );
}

async fn url_filters_and_panicking_hooks_never_fail_the_request(front: Front) {
    let server = TestServer::start().await;
    let garbage = "not a url \u{0}\u{7f} %zz @@ ::: ?sig=s3cr3t&&==&=#frag?sig=x";
    let cases: Vec<(&str, HttpClientInstrumentation, Value)> = vec![
        (
            "empty",
            HttpClientInstrumentation::new().url_filter(|_: &url::Url| String::new()),
            Value::from(""),
        ),
        (
            "garbage",
            HttpClientInstrumentation::new().url_filter(move |_: &url::Url| garbage.to_owned()),
            Value::from(
                "not a url \u{0}\u{7f} %zz @@ ::: ?sig=REDACTED&&==&=#frag?sig=REDACTED".to_owned(),
            ),
        ),
        (
            "huge",
            HttpClientInstrumentation::new()
                .url_filter(|url: &url::Url| format!("{url}{}", "&x=1".repeat(100_000))),
            Value::from(format!("{}{}", server.url("/post"), "&x=1".repeat(100_000))),
        ),
        (
            "non-string panic",
            HttpClientInstrumentation::new()
                .url_filter(|_: &url::Url| -> String { std::panic::panic_any(42_u8) }),
            Value::from(server.url("/post")),
        ),
    ];
    for (name, instrumentation, url_full) in cases {
        let t = Telemetry::new();
        let client = client(
            front,
            instrumentation
                .tracer_provider(t.provider.clone())
                .capture_all(true),
        );
        post_echo(&client, &server).await;
        let span = t.single();
        assert_eq!(attrs(&span)["url.full"], url_full, "{name}");
        assert_eq!(attrs(&span)["http.response.status_code"], Value::I64(200));
        if name == "non-string panic" {
            assert_eq!(
                hook_panics(&span),
                [(
                    "url_filter".to_owned(),
                    "panic with a non-string payload".to_owned()
                )]
            );
        } else {
            assert!(hook_panics(&span).is_empty(), "{name}");
        }
    }

    // Both hooks panic; the request hook also ends the span early.
    let t = Telemetry::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let (on_request, on_response) = (Arc::clone(&calls), Arc::clone(&calls));
    let instrumentation = t
        .instrumentation()
        .capture_all(true)
        .request_hook(move |_: &SpanRef<'_>, _: &RequestInfo<'_>| {
            on_request.fetch_add(1, Ordering::SeqCst);
            panic!("request hook bug")
        })
        .response_hook(move |_: &SpanRef<'_>, _: &ResponseOutcome<'_>| {
            on_response.fetch_add(1, Ordering::SeqCst);
            panic!("{}", String::from("response hook bug"))
        });
    post_echo(&client(front, instrumentation), &server).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "each hook ran once");
    let span = t.single();
    assert_eq!(
        hook_panics(&span),
        [
            ("request_hook".to_owned(), "request hook bug".to_owned()),
            ("response_hook".to_owned(), "response hook bug".to_owned()),
        ]
    );
    assert_eq!(attrs(&span)["http.response.status_code"], Value::I64(200));

    let t = Telemetry::new();
    let instrumentation = t
        .instrumentation()
        .capture_all(true)
        .request_hook(|span: &SpanRef<'_>, _: &RequestInfo<'_>| span.end());
    post_echo(&client(front, instrumentation), &server).await;
    assert_eq!(
        t.spans().len(),
        1,
        "a hook that ends the span: still one span"
    );
}

/// Regression (found while writing issue 8, fixed): a url_filter that returns a path and query
/// holding another URL with credentials, next to a signature parameter, makes `redact_url`
/// panic outside the filter's catch, so the request future panics.
async fn url_filter_returning_a_relative_url_with_an_embedded_one(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let instrumentation = t.instrumentation().url_filter(|url: &url::Url| {
        format!("{}?next=http://u:p@evil.example/&sig=abc", url.path())
    });
    post_echo(&client(front, instrumentation), &server).await;
    let url_full = attrs(&t.single())["url.full"].to_string();
    assert!(!url_full.contains("sig=abc"), "{url_full}");
}

crate::support::each_front_end!(
    propagators_never_fail_the_request,
    url_filters_and_panicking_hooks_never_fail_the_request,
    url_filter_returning_a_relative_url_with_an_embedded_one,
);
