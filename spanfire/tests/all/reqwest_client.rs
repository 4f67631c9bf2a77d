//! Scenarios of the reqwest front end, each asserting the full attribute set of the span.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use opentelemetry::trace::{SpanRef, Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{KeyValue, Value};
use spanfire::{ExcludedUrls, RequestInfo, ResponseOutcome};

use crate::support::*;

#[tokio::test]
async fn get_with_query_records_the_full_attribute_set() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .instrument_reqwest(reqwest::Client::new());
    let url = server.url("/get?q=a%20b&user=alice");
    let res = client.get(&url).send().await.unwrap();
    assert_eq!(
        res.url().as_str(),
        url,
        "Response::url() survives the body wrapping"
    );
    let text = res.text().await.unwrap();
    assert_eq!(text, r#"{"query":"q=a%20b&user=alice"}"#);
    let span = t.single();
    assert_client_span(&span, "GET");
    assert_attrs(
        &span,
        &response_attrs(&server, "GET", &url, 200, Some(text.len() as i64)),
    );
    assert_eq!(span.status, Status::Unset);
    assert_eq!(event_names(&span), ["http.response.head"]);
}

#[tokio::test]
async fn post_json_records_the_full_attribute_set() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .instrument_reqwest(reqwest::Client::new());
    let body = serde_json::json!({"name": "x", "n": 1});
    let res = client
        .post(server.url("/post"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.content_length(),
        Some(18),
        "Content-Length still visible"
    );
    let echoed: serde_json::Value = res.json().await.unwrap();
    assert_eq!(echoed, body);
    let span = t.single();
    assert_client_span(&span, "POST");
    assert_attrs(
        &span,
        &response_attrs(&server, "POST", &server.url("/post"), 200, Some(18)),
    );
}

#[tokio::test]
async fn client_and_server_errors_are_errors_without_description() {
    let server = TestServer::start().await;
    for code in [404_i64, 500] {
        let t = Telemetry::new();
        let client = t
            .instrumentation()
            .instrument_reqwest(reqwest::Client::new());
        let url = server.url(&format!("/status/{code}"));
        let res = client.get(&url).send().await.unwrap();
        assert_eq!(i64::from(res.status().as_u16()), code);
        assert_eq!(res.bytes().await.unwrap().len(), 0);
        let span = t.single();
        assert_attrs(&span, &response_attrs(&server, "GET", &url, code, Some(0)));
        assert_eq!(
            span.status,
            Status::error(""),
            "{code}: the code explains it"
        );
    }
}

fn exception(span: &opentelemetry_sdk::trace::SpanData) -> (String, String) {
    let event = span
        .events
        .iter()
        .find(|e| e.name == "exception")
        .expect("exception event");
    let get = |k: &str| {
        event
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.to_string())
    };
    (
        get("exception.type").unwrap(),
        get("exception.message").unwrap(),
    )
}

#[tokio::test]
async fn connection_refused_is_a_connect_error_with_an_exception_event() {
    let port = closed_port();
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .instrument_reqwest(reqwest::Client::new());
    let url = format!("http://127.0.0.1:{port}/get");
    let err = client.get(&url).send().await.unwrap_err();
    assert!(err.is_connect(), "{err}");
    let span = t.single();
    assert_attrs(&span, &transport_error_attrs(&url, port, "connect"));
    assert!(is_error(&span));
    let (kind, message) = exception(&span);
    assert_eq!(kind, "reqwest::Error");
    assert!(
        message.contains("Connection refused") || message.contains("connect"),
        "{message}"
    );
    assert!(matches!(&span.status, Status::Error { description } if !description.is_empty()));
}

#[tokio::test]
async fn timeout_is_a_timeout_error() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let inner = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let client = t.instrumentation().instrument_reqwest(inner);
    let url = server.url("/delay/3000");
    let err = client.get(&url).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let span = t.single();
    assert_attrs(
        &span,
        &transport_error_attrs(&url, server.addr.port(), "timeout"),
    );
    assert!(is_error(&span));
    assert_eq!(exception(&span).0, "reqwest::Error");
}

#[tokio::test]
async fn redirect_chain_is_one_span_for_the_logical_request() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .instrument_reqwest(reqwest::Client::new());
    let url = server.url("/redirect/2");
    let res = client.get(&url).send().await.unwrap();
    assert_eq!(
        res.url().as_str(),
        server.url("/get"),
        "final URL after wrapping"
    );
    let len = res.bytes().await.unwrap().len() as i64;
    let span = t.single();
    assert_attrs(&span, &response_attrs(&server, "GET", &url, 200, Some(len)));
    assert_eq!(server.received().len(), 3, "three hops reached the server");
}

#[tokio::test]
async fn too_many_redirects_is_a_redirect_error() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let inner = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(1))
        .build()
        .unwrap();
    let client = t.instrumentation().instrument_reqwest(inner);
    let url = server.url("/redirect/3");
    let err = client.get(&url).send().await.unwrap_err();
    assert!(err.is_redirect(), "{err}");
    let span = t.single();
    assert_attrs(
        &span,
        &transport_error_attrs(&url, server.addr.port(), "redirect"),
    );
}

#[tokio::test]
async fn credentials_and_signature_params_are_redacted() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .instrument_reqwest(reqwest::Client::new());
    let query = "sig=abc&Signature=s&AWSAccessKeyId=k&X-Goog-Signature=g&token=t&q=a%20b";
    let url = format!("http://user:pa55@{}/get?{query}", server.addr);
    // A request built by hand keeps the userinfo in its URL when the middleware sees it.
    let request = reqwest::Request::new(reqwest::Method::GET, url.parse().unwrap());
    let res = client.execute(request).await.unwrap();
    let len = res.bytes().await.unwrap().len() as i64;
    let redacted_query = "sig=REDACTED&Signature=REDACTED&AWSAccessKeyId=REDACTED&X-Goog-Signature=REDACTED&token=REDACTED&q=a%20b";
    let redacted = format!(
        "http://REDACTED:REDACTED@{}/get?{redacted_query}",
        server.addr
    );
    let span = t.single();
    assert_attrs(
        &span,
        &response_attrs(&server, "GET", &redacted, 200, Some(len)),
    );
}

#[tokio::test]
async fn builder_moves_credentials_to_a_header_that_is_not_recorded() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .instrument_reqwest(reqwest::Client::new());
    let url = format!("http://user:pa55@{}/get?sig=abc", server.addr);
    client
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        server.received()[0].contains_key("authorization"),
        "credentials still sent"
    );
    let span = t.single();
    assert_eq!(
        attrs(&span)["url.full"],
        Value::from(server.url("/get?sig=REDACTED"))
    );
    assert!(!format!("{:?}", span.attributes).contains("pa55"));
}

#[tokio::test]
async fn head_and_204_end_the_span_with_the_response_head() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .instrument_reqwest(reqwest::Client::new());
    let head = client.head(server.url("/get")).send().await.unwrap();
    assert_eq!(
        t.spans().len(),
        1,
        "HEAD span ended before the body was touched"
    );
    let no_content = client.get(server.url("/status/204")).send().await.unwrap();
    assert_eq!(
        t.spans().len(),
        2,
        "204 span ended before the body was touched"
    );
    drop((head, no_content));
    let spans = t.spans();
    assert_eq!(spans.len(), 2, "no second end on drop");
    assert_attrs(
        &spans[0],
        &response_attrs(&server, "HEAD", &server.url("/get"), 200, Some(0)),
    );
    let url_204 = server.url("/status/204");
    assert_attrs(
        &spans[1],
        &response_attrs(&server, "GET", &url_204, 204, Some(0)),
    );
}

#[tokio::test]
async fn body_dropped_half_read_is_cancelled_not_an_error() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .instrument_reqwest(reqwest::Client::new());
    let url = server.url("/stream/10/20");
    let mut stream = client.get(&url).send().await.unwrap().bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    assert!(t.spans().is_empty(), "span open while the body streams");
    drop(stream);
    let span = t.single();
    let mut want = response_attrs(&server, "GET", &url, 200, None);
    want.push(("spanfire.cancelled", is(true)));
    assert_attrs(&span, &want);
    assert_eq!(span.status, Status::Unset);
}

#[tokio::test]
async fn dropped_request_future_is_cancelled_not_an_error() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .instrument_reqwest(reqwest::Client::new());
    let url = server.url("/delay/3000");
    let send = client.get(&url).send();
    let timed_out = tokio::time::timeout(Duration::from_millis(100), send).await;
    assert!(timed_out.is_err(), "the caller gave up");
    let span = t.single();
    assert_attrs(
        &span,
        &[
            ("http.request.method", is("GET")),
            ("url.full", is(url.clone())),
            ("server.address", is("127.0.0.1")),
            ("server.port", is(server.port())),
            ("url.scheme", is("http")),
            ("spanfire.cancelled", is(true)),
        ],
    );
    assert_eq!(span.status, Status::Unset);
    assert!(event_names(&span).is_empty());
}

#[tokio::test]
async fn panicking_request_hook_is_recorded_and_the_request_proceeds() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .request_hook(|_: &SpanRef<'_>, _: &RequestInfo<'_>| panic!("hook bug"))
        .instrument_reqwest(reqwest::Client::new());
    let res = client.get(server.url("/get")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let len = res.bytes().await.unwrap().len() as i64;
    let span = t.single();
    assert_attrs(
        &span,
        &response_attrs(&server, "GET", &server.url("/get"), 200, Some(len)),
    );
    let panic = span
        .events
        .iter()
        .find(|e| e.name == "spanfire.hook_panic")
        .unwrap();
    let attrs: Vec<String> = panic
        .attributes
        .iter()
        .map(|kv| kv.value.to_string())
        .collect();
    assert_eq!(attrs, ["request_hook", "hook bug"]);
}

#[tokio::test]
async fn panicking_url_filter_falls_back_to_the_redacted_url() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .url_filter(|_: &url::Url| -> String { panic!("filter bug") })
        .instrument_reqwest(reqwest::Client::new());
    let url = server.url("/get?sig=secret");
    let res = client.get(&url).send().await.unwrap();
    let len = res.bytes().await.unwrap().len() as i64;
    let span = t.single();
    let redacted = server.url("/get?sig=REDACTED");
    assert_attrs(
        &span,
        &response_attrs(&server, "GET", &redacted, 200, Some(len)),
    );
    assert!(event_names(&span).contains(&"spanfire.hook_panic".to_owned()));
}

#[tokio::test]
async fn url_filter_output_is_recorded_and_still_redacted() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .url_filter(|url: &url::Url| url.as_str().replace("alice", "*****"))
        .instrument_reqwest(reqwest::Client::new());
    let res = client
        .get(server.url("/get?user=alice&sig=s"))
        .send()
        .await
        .unwrap();
    res.bytes().await.unwrap();
    let span = t.single();
    let want = Value::from(server.url("/get?user=*****&sig=REDACTED"));
    assert_eq!(attrs(&span)["url.full"], want);
}

#[tokio::test]
async fn excluded_url_gets_no_span_and_no_traceparent() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .excluded_urls(ExcludedUrls::new(["/status/"]).unwrap())
        .instrument_reqwest(reqwest::Client::new());
    client.get(server.url("/status/200")).send().await.unwrap();
    client
        .get(server.url("/get"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let received = server.received();
    assert!(
        !received[0].contains_key("traceparent"),
        "excluded: nothing injected"
    );
    assert!(
        received[1].contains_key("traceparent"),
        "others still propagate"
    );
    assert_eq!(
        t.single()
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == "url.full")
            .unwrap()
            .value,
        Value::from(server.url("/get"))
    );
}

#[tokio::test]
async fn traceparent_received_by_the_server_matches_the_span() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .instrument_reqwest(reqwest::Client::new());
    client
        .get(server.url("/get"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let span = t.single();
    let sc = &span.span_context;
    let want = format!("00-{}-{}-01", sc.trace_id(), sc.span_id());
    let received = server.received();
    assert_eq!(received[0]["traceparent"], want.as_str());
}

#[tokio::test]
async fn disable_propagation_extension_skips_injection_but_keeps_the_span() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .instrument_reqwest(reqwest::Client::new());
    let req = client
        .get(server.url("/get"))
        .with_extension(spanfire::DisablePropagation);
    req.send().await.unwrap().bytes().await.unwrap();
    assert!(!server.received()[0].contains_key("traceparent"));
    assert_eq!(t.spans().len(), 1);
}

#[tokio::test]
async fn propagation_can_be_restricted_to_listed_hosts() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let only_other = t
        .instrumentation()
        .propagate_to_hosts(["api.internal"])
        .instrument_reqwest(reqwest::Client::new());
    let only_loopback = t
        .instrumentation()
        .propagate_to_hosts(["127.0.0.1"])
        .instrument_reqwest(reqwest::Client::new());
    only_other.get(server.url("/get")).send().await.unwrap();
    only_loopback.get(server.url("/get")).send().await.unwrap();
    let received = server.received();
    assert!(!received[0].contains_key("traceparent"));
    assert!(received[1].contains_key("traceparent"));
}

#[tokio::test]
async fn suppression_scope_gets_no_span_and_no_traceparent() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .instrument_reqwest(reqwest::Client::new());
    spanfire::suppressed(client.get(server.url("/get")).send())
        .await
        .unwrap();
    assert!(t.spans().is_empty());
    assert!(!server.received()[0].contains_key("traceparent"));
}

#[tokio::test]
async fn parent_is_the_current_opentelemetry_context() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .instrument_reqwest(reqwest::Client::new());
    let tracer = t.provider.tracer("app");
    let parent = tracer.start("checkout");
    let parent_cx = opentelemetry::Context::current_with_span(parent);
    let parent_id = parent_cx.span().span_context().span_id();
    {
        let _guard = parent_cx.clone().attach();
        let send = client.get(server.url("/get")).send();
        send.await.unwrap().bytes().await.unwrap();
    }
    parent_cx.span().end();
    let spans = t.spans();
    let child = spans.iter().find(|s| s.name == "GET").unwrap();
    assert_eq!(child.parent_span_id, parent_id);
    assert_eq!(
        child.span_context.trace_id(),
        parent_cx.span().span_context().trace_id()
    );
}

#[cfg(feature = "tracing")]
#[tokio::test]
async fn parent_is_the_current_tracing_span() {
    use tracing_subscriber::layer::SubscriberExt;
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .instrument_reqwest(reqwest::Client::new());
    let layer = tracing_opentelemetry::layer().with_tracer(t.provider.tracer("app"));
    let subscriber = tracing_subscriber::registry().with(layer);
    let _default = tracing::subscriber::set_default(subscriber);
    let root = tracing::info_span!("checkout");
    {
        let _entered = root.enter();
        let res = client.get(server.url("/get")).send().await.unwrap();
        res.bytes().await.unwrap();
    }
    drop(root);
    let spans = t.spans();
    let parent = spans
        .iter()
        .find(|s| s.name == "checkout")
        .expect("tracing span exported");
    let child = spans.iter().find(|s| s.name == "GET").unwrap();
    assert_eq!(child.parent_span_id, parent.span_context.span_id());
    assert_eq!(
        child.span_context.trace_id(),
        parent.span_context.trace_id()
    );
}

#[tokio::test]
async fn unknown_method_is_other_with_span_name_http() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .instrument_reqwest(reqwest::Client::new());
    let method = reqwest::Method::from_bytes(b"PURGE").unwrap();
    let res = client
        .request(method, server.url("/get"))
        .send()
        .await
        .unwrap();
    res.bytes().await.unwrap();
    let span = t.single();
    assert_client_span(&span, "HTTP");
    let attrs = attrs(&span);
    assert_eq!(attrs["http.request.method"], Value::from("_OTHER"));
    assert_eq!(attrs["http.request.method_original"], Value::from("PURGE"));
}

#[tokio::test]
async fn captured_headers_are_the_sent_ones_with_secrets_redacted() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .capture_headers(true)
        .instrument_reqwest(reqwest::Client::new());
    let res = client
        .get(server.url("/get"))
        .header("authorization", "Bearer s3cret")
        .header("x-custom", "1")
        .send()
        .await
        .unwrap();
    res.bytes().await.unwrap();
    let span = t.single();
    let attrs = attrs(&span);
    let arr = |v: &str| Value::Array(vec![opentelemetry::StringValue::from(v.to_owned())].into());
    assert_eq!(
        attrs["http.request.header.authorization"],
        arr("[REDACTED]")
    );
    assert_eq!(attrs["http.request.header.x-custom"], arr("1"));
    let sent = server.received()[0]["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(attrs["http.request.header.traceparent"], arr(&sent));
    assert!(attrs.contains_key("http.response.header.content-length"));
    assert!(!format!("{attrs:?}").contains("s3cret"));
}

#[tokio::test]
async fn hooks_run_once_and_the_response_hook_may_override_status() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let requests = Arc::new(AtomicUsize::new(0));
    let responses = Arc::new(AtomicUsize::new(0));
    let (rq, rs) = (Arc::clone(&requests), Arc::clone(&responses));
    let client = t
        .instrumentation()
        .request_hook(move |span: &SpanRef<'_>, req: &RequestInfo<'_>| {
            rq.fetch_add(1, Ordering::SeqCst);
            span.set_attribute(KeyValue::new("app.path", req.url().path().to_owned()));
        })
        .response_hook(move |span: &SpanRef<'_>, outcome: &ResponseOutcome<'_>| {
            rs.fetch_add(1, Ordering::SeqCst);
            if let ResponseOutcome::Response(head) = outcome {
                if head.status() == 404 {
                    span.set_status(Status::Ok);
                }
            }
        })
        .instrument_reqwest(reqwest::Client::new());
    let res = client.get(server.url("/status/404")).send().await.unwrap();
    res.bytes().await.unwrap();
    assert_eq!(
        (
            requests.load(Ordering::SeqCst),
            responses.load(Ordering::SeqCst)
        ),
        (1, 1)
    );
    let span = t.single();
    assert_eq!(
        span.status,
        Status::Ok,
        "the hook overrode the error status"
    );
    assert_eq!(attrs(&span)["app.path"], Value::from("/status/404"));
}

#[tokio::test]
async fn response_hook_sees_transport_errors() {
    let port = closed_port();
    let t = Telemetry::new();
    let saw_error = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&saw_error);
    let client = t
        .instrumentation()
        .response_hook(move |_: &SpanRef<'_>, outcome: &ResponseOutcome<'_>| {
            if let ResponseOutcome::Error(_) = outcome {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        })
        .instrument_reqwest(reqwest::Client::new());
    let _ = client.get(format!("http://127.0.0.1:{port}/")).send().await;
    assert_eq!(saw_error.load(Ordering::SeqCst), 1);
}
