//! The scenario suite, written once and run against every front end: reqwest + middleware,
//! hyper-util's Client + the tower layer, and ureq + its middleware. Every scenario asserts the
//! same spans for all (ureq records no `network.peer.*`: `response_attrs_on`); a difference
//! between front ends is a failing test.

use std::time::Duration;

use http::Method;
use opentelemetry::trace::{SpanRef, Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{StringValue, Value};
use spanfire::{RequestInfo, TRUNCATION_MARKER};

use crate::support::front::{Client, ClientOptions, Front, Req};
use crate::support::*;

fn client(front: Front, t: &Telemetry) -> Client {
    Client::new(front, t.instrumentation(), ClientOptions::default())
}

fn arr(v: &str) -> Value {
    Value::Array(vec![StringValue::from(v.to_owned())].into())
}

async fn get_with_query(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let url = server.url("/get?q=a%20b&user=alice");
    let body = client(front, &t).get(&url).await.unwrap().bytes().await;
    assert_eq!(body, br#"{"query":"q=a%20b&user=alice"}"#);
    let span = t.single();
    assert_client_span(&span, "GET");
    assert_attrs(
        &span,
        &response_attrs_on(front, &server, "GET", &url, 200, Some(body.len() as i64)),
    );
    assert_eq!(span.status, Status::Unset);
    assert_eq!(event_names(&span), ["http.response.head"]);
}

async fn post_json_with_body_capture(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = Client::new(
        front,
        t.instrumentation()
            .capture_request_body(true)
            .capture_response_body(true),
        ClientOptions::default(),
    );
    let json = br#"{"name":"x","n":1}"#;
    let req = Req::new(Method::POST, &server.url("/post"))
        .header("content-type", "application/json")
        .body(json);
    let body = c.send(req).await.unwrap().bytes().await;
    assert_eq!(body, json);
    let span = t.single();
    let mut want = response_attrs_on(front, &server, "POST", &server.url("/post"), 200, Some(18));
    want.push(("http.request.body.size", is(18)));
    want.push(("http.request.body.text", is(r#"{"name":"x","n":1}"#)));
    want.push(("http.response.body.text", is(r#"{"name":"x","n":1}"#)));
    assert_attrs(&span, &want);
}

async fn streaming_request_body_is_teed(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = Client::new(
        front,
        t.instrumentation().capture_request_body(true),
        ClientOptions::default(),
    );
    let req = Req::new(Method::POST, &server.url("/post")).chunks(&[
        b"alpha ",
        "βeta ".as_bytes(),
        b"",
        b"gamma",
    ]);
    let body = c.send(req).await.unwrap().bytes().await;
    assert_eq!(
        body,
        "alpha βeta gamma".as_bytes(),
        "the server got the stream unchanged"
    );
    let a = attrs(&t.single());
    assert_eq!(a["http.request.body.text"], Value::from("alpha βeta gamma"));
    assert_eq!(a["http.request.body.size"], Value::I64(17));
}

async fn form_body_is_captured_as_json(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = Client::new(
        front,
        t.instrumentation().capture_request_body(true),
        ClientOptions::default(),
    );
    let req = Req::new(Method::POST, &server.url("/post"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"a=1&b=x+y&a=2");
    c.send(req).await.unwrap().bytes().await;
    let a = attrs(&t.single());
    assert_eq!(
        a["http.request.body.form"],
        Value::from(r#"{"a":["1","2"],"b":"x y"}"#)
    );
    assert!(!a.contains_key("http.request.body.text"));
}

async fn capture_limit_truncates_on_a_char_boundary(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = Client::new(
        front,
        t.instrumentation().capture_all(true).body_capture_limit(4),
        ClientOptions::default(),
    );
    let req = Req::new(Method::POST, &server.url("/post")).body("abcé and more".as_bytes());
    c.send(req).await.unwrap().bytes().await;
    let a = attrs(&t.single());
    let want = Value::from(format!("abc{TRUNCATION_MARKER}"));
    assert_eq!(a["http.request.body.text"], want);
    assert_eq!(a["http.response.body.text"], want);
    assert_eq!(a["http.response.body.size"], Value::I64(14));
}

async fn empty_bodies_record_no_body_attributes(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = Client::new(
        front,
        t.instrumentation()
            .capture_request_body(true)
            .capture_response_body(true),
        ClientOptions::default(),
    );
    c.get(&server.url("/status/503"))
        .await
        .unwrap()
        .bytes()
        .await;
    let url = server.url("/status/503");
    assert_attrs(
        &t.single(),
        &response_attrs_on(front, &server, "GET", &url, 503, Some(0)),
    );
}

async fn client_and_server_errors(front: Front) {
    let server = TestServer::start().await;
    for code in [404_i64, 500] {
        let t = Telemetry::new();
        let url = server.url(&format!("/status/{code}"));
        let res = client(front, &t).get(&url).await.unwrap();
        assert_eq!(i64::from(res.status()), code);
        assert!(res.bytes().await.is_empty());
        let span = t.single();
        assert_attrs(
            &span,
            &response_attrs_on(front, &server, "GET", &url, code, Some(0)),
        );
        assert_eq!(span.status, Status::error(""), "{code}");
    }
}

async fn connection_refused(front: Front) {
    let port = closed_port();
    let t = Telemetry::new();
    let url = format!("http://127.0.0.1:{port}/get");
    assert!(client(front, &t).get(&url).await.is_err());
    let span = t.single();
    assert_attrs(&span, &transport_error_attrs(&url, port, "connect"));
    assert!(is_error(&span));
    assert!(event_names(&span).contains(&"exception".to_owned()));
}

async fn timeout(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let options = ClientOptions {
        timeout: Some(Duration::from_millis(100)),
        ..Default::default()
    };
    let c = Client::new(front, t.instrumentation(), options);
    let url = server.url("/delay/3000");
    assert!(c.get(&url).await.is_err());
    let span = t.single();
    assert_attrs(
        &span,
        &transport_error_attrs(&url, server.addr.port(), "timeout"),
    );
}

async fn signature_params_are_redacted(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let url = server.url("/get?sig=abc&X-Amz-Signature=s&token=t&q=keep");
    let body = client(front, &t).get(&url).await.unwrap().bytes().await;
    let redacted = server.url("/get?sig=REDACTED&X-Amz-Signature=REDACTED&token=REDACTED&q=keep");
    assert_attrs(
        &t.single(),
        &response_attrs_on(
            front,
            &server,
            "GET",
            &redacted,
            200,
            Some(body.len() as i64),
        ),
    );
}

async fn head_and_204_end_with_the_head(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = client(front, &t);
    let head = c
        .send(Req::new(Method::HEAD, &server.url("/get")))
        .await
        .unwrap();
    assert_eq!(t.spans().len(), 1, "HEAD ended before the body was touched");
    let no_content = c.get(&server.url("/status/204")).await.unwrap();
    assert_eq!(t.spans().len(), 2, "204 ended before the body was touched");
    drop((head, no_content));
    let spans = t.spans();
    assert_eq!(spans.len(), 2, "no second end on drop");
    assert_attrs(
        &spans[0],
        &response_attrs_on(front, &server, "HEAD", &server.url("/get"), 200, Some(0)),
    );
    let url_204 = server.url("/status/204");
    assert_attrs(
        &spans[1],
        &response_attrs_on(front, &server, "GET", &url_204, 204, Some(0)),
    );
}

async fn body_dropped_half_read_is_cancelled(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let url = server.url("/stream/10/20");
    let mut res = client(front, &t).get(&url).await.unwrap();
    assert!(res.chunk().await.is_some());
    assert!(t.spans().is_empty(), "open while streaming");
    drop(res);
    let span = t.single();
    let mut want = response_attrs_on(front, &server, "GET", &url, 200, None);
    want.push(("spanfire.cancelled", is(true)));
    assert_attrs(&span, &want);
    assert_eq!(span.status, Status::Unset);
}

async fn dropped_request_future_is_cancelled(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let url = server.url("/delay/3000");
    let c = client(front, &t);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), c.get(&url))
            .await
            .is_err()
    );
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
    assert_eq!(span.status, Status::Unset, "cancelled is not an error");
    assert!(event_names(&span).is_empty());
}

async fn panicking_hook_and_filter_never_fail_the_request(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let instrumentation = t
        .instrumentation()
        .request_hook(|_: &SpanRef<'_>, _: &RequestInfo<'_>| panic!("hook bug"))
        .url_filter(|_: &url::Url| -> String { panic!("filter bug") });
    let c = Client::new(front, instrumentation, ClientOptions::default());
    let res = c.get(&server.url("/get?sig=s")).await.unwrap();
    assert_eq!(res.status(), 200);
    res.bytes().await;
    let span = t.single();
    assert_eq!(
        attrs(&span)["url.full"],
        Value::from(server.url("/get?sig=REDACTED"))
    );
    let panics: Vec<Vec<String>> = span
        .events
        .iter()
        .filter(|e| e.name == "spanfire.hook_panic")
        .map(|e| e.attributes.iter().map(|kv| kv.value.to_string()).collect())
        .collect();
    assert_eq!(
        panics,
        [["url_filter", "filter bug"], ["request_hook", "hook bug"]]
    );
}

async fn excluded_url_gets_no_span_and_no_traceparent(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let instrumentation = t
        .instrumentation()
        .excluded_urls(spanfire::ExcludedUrls::new(["/status/"]).unwrap());
    let c = Client::new(front, instrumentation, ClientOptions::default());
    c.get(&server.url("/status/200"))
        .await
        .unwrap()
        .bytes()
        .await;
    assert!(t.spans().is_empty());
    assert!(!server.received()[0].contains_key("traceparent"));
    c.get(&server.url("/get")).await.unwrap().bytes().await;
    assert!(
        server.received()[1].contains_key("traceparent"),
        "other URLs still propagate"
    );
    assert_eq!(
        attrs(&t.single())["url.full"],
        Value::from(server.url("/get"))
    );
}

async fn traceparent_matches_the_span(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    client(front, &t)
        .get(&server.url("/get"))
        .await
        .unwrap()
        .bytes()
        .await;
    let span = t.single();
    let sc = &span.span_context;
    let want = format!("00-{}-{}-01", sc.trace_id(), sc.span_id());
    assert_eq!(server.received()[0]["traceparent"], want.as_str());
}

async fn disable_propagation_per_request(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let req = Req::new(Method::GET, &server.url("/get")).without_propagation();
    client(front, &t).send(req).await.unwrap().bytes().await;
    assert!(!server.received()[0].contains_key("traceparent"));
    assert_eq!(t.spans().len(), 1);
}

async fn headers_are_captured_with_secrets_redacted(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = Client::new(
        front,
        t.instrumentation().capture_headers(true),
        ClientOptions::default(),
    );
    let req = Req::new(Method::GET, &server.url("/get"))
        .header("authorization", "Bearer s3cret")
        .header("x-custom", "1");
    c.send(req).await.unwrap().bytes().await;
    let a = attrs(&t.single());
    assert_eq!(a["http.request.header.authorization"], arr("[REDACTED]"));
    assert_eq!(a["http.request.header.x-custom"], arr("1"));
    let sent = server.received()[0]["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(a["http.request.header.traceparent"], arr(&sent));
    assert!(a.contains_key("http.response.header.content-length"));
}

async fn invalid_secrets_pattern_fails_closed(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = Client::new(
        front,
        t.instrumentation()
            .capture_all(true)
            .sensitive_headers(["x-(unclosed"]),
        ClientOptions::default(),
    );
    let req = Req::new(Method::POST, &server.url("/post?q=visible&tenant=t1"))
        .header("x-unclosed", "S3CR3T")
        .header("content-type", "application/json")
        .body(br#"{"tenant":"t1"}"#);
    let body = c.send(req).await.unwrap().bytes().await;
    assert_eq!(
        body, br#"{"tenant":"t1"}"#,
        "the request itself is unchanged"
    );
    let a = attrs(&t.single());
    let reason = a[spanfire::CAPTURE_DISABLED_ATTRIBUTE].to_string();
    assert!(
        reason.contains("sensitive_headers") && reason.contains("capture"),
        "{reason}"
    );
    assert!(
        !a.keys()
            .any(|k| k.contains(".header.") || k.contains(".body.text")),
        "no capture with the user's redaction dropped: {a:?}"
    );
    assert_eq!(
        a["url.full"],
        Value::from(server.url("/post?q=REDACTED&tenant=REDACTED")),
        "every query value is redacted"
    );
}

async fn secrets_policy_extends_to_every_capture(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let policy = spanfire::Secrets::default().with_names(["tenant"]).unwrap();
    let c = Client::new(
        front,
        t.instrumentation().capture_all(true).secrets(policy),
        ClientOptions::default(),
    );
    let req = Req::new(Method::POST, &server.url("/post?tenant=T1&q=1"))
        .header("tenant", "T2")
        .header("content-type", "application/json")
        .body(br#"{"tenant":"T3","n":[1]}"#);
    c.send(req).await.unwrap().bytes().await;
    let a = attrs(&t.single());
    assert_eq!(
        a["url.full"],
        Value::from(server.url("/post?tenant=REDACTED&q=1"))
    );
    assert_eq!(a["http.request.header.tenant"], arr("[REDACTED]"));
    assert_eq!(
        a["http.request.body.text"],
        Value::from(r#"{"tenant":"[REDACTED]","n":[1]}"#)
    );
    assert_eq!(
        a["http.response.body.text"],
        Value::from(r#"{"tenant":"[REDACTED]","n":[1]}"#)
    );
}

async fn parent_is_the_current_context(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = client(front, &t);
    let parent =
        opentelemetry::Context::current_with_span(t.provider.tracer("app").start("checkout"));
    {
        let _guard = parent.clone().attach();
        let url = server.url("/get");
        let send = c.get(&url);
        send.await.unwrap().bytes().await;
    }
    let spans = t.spans();
    let child = spans.iter().find(|s| s.name == "GET").unwrap();
    assert_eq!(child.parent_span_id, parent.span().span_context().span_id());
}

async fn http2_concurrent_streams_on_one_connection(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let options = ClientOptions {
        http2_only: true,
        ..Default::default()
    };
    let c = Client::new(
        front,
        t.instrumentation().capture_response_body(true),
        options,
    );
    let mut tasks = Vec::new();
    for i in 0..10 {
        let c = c.clone();
        let url = server.url(&format!("/get?i={i}"));
        tasks.push(tokio::spawn(async move {
            c.get(&url).await.unwrap().bytes().await
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let spans = t.spans();
    assert_eq!(spans.len(), 10);
    for span in &spans {
        let a = attrs(span);
        assert_eq!(a["network.protocol.version"], Value::from("2"));
        let url = a["url.full"].as_str().into_owned();
        let i = url.rsplit('=').next().unwrap();
        assert_eq!(
            a["http.response.body.text"],
            Value::from(format!(r#"{{"query":"i={i}"}}"#)),
            "no mixing"
        );
    }
    let ports: std::collections::BTreeSet<String> = spans
        .iter()
        .map(|s| attrs(s)["network.peer.port"].to_string())
        .collect();
    assert_eq!(ports.len(), 1, "one server port");
}

async fn https_negotiates_h2_with_alpn(front: Front) {
    let (server, der) = TestServer::start_tls().await;
    let der: &'static [u8] = Box::leak(der.into_boxed_slice());
    let t = Telemetry::new();
    let options = ClientOptions {
        trust: Some(der),
        ..Default::default()
    };
    let c = Client::new(front, t.instrumentation(), options);
    let url = server.url("/get?q=1");
    assert!(url.starts_with("https://localhost:"));
    let body = c.get(&url).await.unwrap().bytes().await;
    assert_attrs(
        &t.single(),
        &[
            ("http.request.method", is("GET")),
            ("url.full", is(url.clone())),
            ("server.address", is("localhost")),
            ("server.port", is(server.port())),
            ("url.scheme", is("https")),
            ("http.response.status_code", is(200)),
            ("network.protocol.version", is("2")),
            ("network.peer.address", is("127.0.0.1")),
            ("network.peer.port", is(server.port())),
            ("http.response.body.size", is(body.len() as i64)),
        ],
    );
}

async fn credentials_in_the_url_are_redacted(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let url = format!("http://user:pa55@{}/get?sig=abc", server.addr);
    let body = client(front, &t).get(&url).await.unwrap().bytes().await;
    let redacted = format!("http://REDACTED:REDACTED@{}/get?sig=REDACTED", server.addr);
    let span = t.single();
    assert_attrs(
        &span,
        &response_attrs_on(
            front,
            &server,
            "GET",
            &redacted,
            200,
            Some(body.len() as i64),
        ),
    );
    assert!(!format!("{:?}", span.attributes).contains("pa55"));
}

async fn binary_response_records_size_only(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = Client::new(
        front,
        t.instrumentation().capture_response_body(true),
        ClientOptions::default(),
    );
    let body = c
        .get(&server.url("/bytes/300"))
        .await
        .unwrap()
        .bytes()
        .await;
    assert_eq!(body, vec![0xff; 300]);
    let url = server.url("/bytes/300");
    assert_attrs(
        &t.single(),
        &response_attrs_on(front, &server, "GET", &url, 200, Some(300)),
    );
}

async fn response_hook_runs_once_and_may_override(front: Front) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let instrumentation = t.instrumentation().response_hook(
        move |span: &SpanRef<'_>, outcome: &spanfire::ResponseOutcome<'_>| {
            seen.fetch_add(1, Ordering::SeqCst);
            if let spanfire::ResponseOutcome::Response(head) = outcome {
                if head.status() == 404 {
                    span.set_status(Status::Ok);
                }
            }
        },
    );
    let c = Client::new(front, instrumentation, ClientOptions::default());
    c.get(&server.url("/status/404"))
        .await
        .unwrap()
        .bytes()
        .await;
    let port = closed_port();
    assert!(c.get(&format!("http://127.0.0.1:{port}/")).await.is_err());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "once for the response, once for the error"
    );
    let spans = t.spans();
    assert_eq!(
        spans[0].status,
        Status::Ok,
        "the hook overrode the 404's status"
    );
}

#[cfg(feature = "tracing")]
async fn parent_is_the_current_tracing_span(front: Front) {
    use tracing::Instrument;
    use tracing_subscriber::layer::SubscriberExt;
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = client(front, &t);
    let layer = tracing_opentelemetry::layer().with_tracer(t.provider.tracer("app"));
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let root = tracing::info_span!("checkout");
    let url = server.url("/get");
    async { c.get(&url).await.unwrap().bytes().await }
        .instrument(root)
        .await;
    let spans = t.spans();
    let parent = spans
        .iter()
        .find(|s| s.name == "checkout")
        .expect("tracing span exported");
    let child = spans.iter().find(|s| s.name == "GET").unwrap();
    assert_eq!(child.parent_span_id, parent.span_context.span_id());
}

async fn url_filter_output_is_recorded_and_still_redacted(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let instrumentation = t
        .instrumentation()
        .url_filter(|url: &url::Url| url.as_str().replace("alice", "*****"));
    let c = Client::new(front, instrumentation, ClientOptions::default());
    let url = server.url("/get?user=alice&sig=s");
    c.get(&url).await.unwrap().bytes().await;
    let want = Value::from(server.url("/get?user=*****&sig=REDACTED"));
    assert_eq!(attrs(&t.single())["url.full"], want);
}

async fn propagation_can_be_restricted_to_listed_hosts(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let to = |hosts: &[&str]| {
        let instrumentation = t.instrumentation().propagate_to_hosts(hosts.to_vec());
        Client::new(front, instrumentation, ClientOptions::default())
    };
    let url = server.url("/get");
    to(&["api.internal"]).get(&url).await.unwrap().bytes().await;
    to(&["127.0.0.1"]).get(&url).await.unwrap().bytes().await;
    let received = server.received();
    assert!(!received[0].contains_key("traceparent"), "host not listed");
    assert!(received[1].contains_key("traceparent"), "host listed");
    assert_eq!(t.spans().len(), 2, "both requests have spans");
}

async fn suppression_scope_gets_no_span_and_no_traceparent(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = client(front, &t);
    let url = server.url("/get");
    spanfire::suppressed(async { c.get(&url).await.unwrap().bytes().await }).await;
    assert!(t.spans().is_empty());
    assert!(!server.received()[0].contains_key("traceparent"));
    c.get(&url).await.unwrap().bytes().await;
    assert_eq!(t.spans().len(), 1, "outside the scope: a span");
}

async fn unknown_method_is_other_with_span_name_http(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let purge = Method::from_bytes(b"PURGE").unwrap();
    let req = Req::new(purge, &server.url("/get"));
    client(front, &t).send(req).await.unwrap().bytes().await;
    let span = t.single();
    assert_client_span(&span, "HTTP");
    let a = attrs(&span);
    assert_eq!(a["http.request.method"], Value::from("_OTHER"));
    assert_eq!(a["http.request.method_original"], Value::from("PURGE"));
}

async fn request_hook_runs_once_and_sees_the_request(front: Front) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let instrumentation = t.instrumentation().request_hook(move |span, req| {
        seen.fetch_add(1, Ordering::SeqCst);
        let path = req.url().path().to_owned();
        span.set_attribute(opentelemetry::KeyValue::new("app.path", path));
    });
    let c = Client::new(front, instrumentation, ClientOptions::default());
    c.get(&server.url("/status/404"))
        .await
        .unwrap()
        .bytes()
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(attrs(&t.single())["app.path"], Value::from("/status/404"));
}

async fn url_template_names_the_span(front: Front) {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let req = Req::new(Method::GET, &server.url("/status/200")).template("/status/{code}");
    client(front, &t).send(req).await.unwrap().bytes().await;
    let span = t.single();
    assert_client_span(&span, "GET /status/{code}");
    assert_eq!(attrs(&span)["url.template"], Value::from("/status/{code}"));
}

each_front_end!(
    get_with_query,
    post_json_with_body_capture,
    streaming_request_body_is_teed,
    form_body_is_captured_as_json,
    capture_limit_truncates_on_a_char_boundary,
    client_and_server_errors,
    empty_bodies_record_no_body_attributes,
    connection_refused,
    timeout,
    signature_params_are_redacted,
    head_and_204_end_with_the_head,
    body_dropped_half_read_is_cancelled,
    panicking_hook_and_filter_never_fail_the_request,
    excluded_url_gets_no_span_and_no_traceparent,
    traceparent_matches_the_span,
    disable_propagation_per_request,
    headers_are_captured_with_secrets_redacted,
    invalid_secrets_pattern_fails_closed,
    secrets_policy_extends_to_every_capture,
    parent_is_the_current_context,
    credentials_in_the_url_are_redacted,
    binary_response_records_size_only,
    response_hook_runs_once_and_may_override,
    url_template_names_the_span,
    url_filter_output_is_recorded_and_still_redacted,
    propagation_can_be_restricted_to_listed_hosts,
    suppression_scope_gets_no_span_and_no_traceparent,
    unknown_method_is_other_with_span_name_http,
    request_hook_runs_once_and_sees_the_request;
    // ureq speaks HTTP/1.1 only, and the tests build no TLS into it; a blocking call has no
    // future to drop half way (its body can be dropped: body_dropped_half_read_is_cancelled)
    not_on_ureq:
        http2_concurrent_streams_on_one_connection,
        https_negotiates_h2_with_alpn,
        dropped_request_future_is_cancelled,
);

#[cfg(feature = "tracing")]
mod tracing_parent {
    use super::*;

    #[tokio::test]
    async fn reqwest_front() {
        parent_is_the_current_tracing_span(Front::Reqwest).await
    }

    #[tokio::test]
    async fn tower_front() {
        parent_is_the_current_tracing_span(Front::Tower).await
    }

    #[tokio::test]
    async fn ureq_front() {
        parent_is_the_current_tracing_span(Front::Ureq).await
    }
}
