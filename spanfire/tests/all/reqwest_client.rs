//! What only the reqwest front end has: reqwest's own types through the middleware
//! (`Response::url()`, `Content-Length`, `reqwest::Error` as the exception type), the redirects
//! reqwest follows inside one `send`, and credentials reqwest's builder moves into a header.
//! Every front-end-independent scenario is in frontends.rs (and the other suites), run on every
//! front end.

use std::time::Duration;

use opentelemetry::trace::Status;
use opentelemetry::Value;

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
