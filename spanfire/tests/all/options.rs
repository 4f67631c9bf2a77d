//! Options read from the environment, and which capture option turns on what.
//!
//! The environment is passed in (`env_source`), never set on the process: the tests are safe
//! under plain `cargo test` too, where they share one process.

use opentelemetry::Value;

use crate::support::*;

/// An environment holding only `vars`.
fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |key| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

async fn one_post(
    t: &Telemetry,
    instrumentation: spanfire::HttpClientInstrumentation,
) -> Vec<String> {
    let server = TestServer::start().await;
    let client = instrumentation.instrument_reqwest(reqwest::Client::new());
    let res = client
        .post(server.url("/post"))
        .body("ping")
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "ping");
    let mut keys: Vec<String> = attrs(&t.single()).into_keys().collect();
    // http.response.body.size is always recorded: only what capture adds matters here.
    keys.retain(|k| k != "http.response.body.size");
    keys.retain(|k| k.contains(".header.") || k.contains(".body."));
    keys
}

#[tokio::test]
async fn excluded_urls_env_var_is_honoured() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .env_source(env(&[(
            spanfire::ENV_EXCLUDED_URLS,
            "/status/,^http://nowhere",
        )]))
        .instrument_reqwest(reqwest::Client::new());
    client.get(server.url("/status/200")).send().await.unwrap();
    assert!(t.spans().is_empty());
    assert!(!server.received()[0].contains_key("traceparent"));
}

#[tokio::test]
async fn invalid_excluded_urls_pattern_is_a_clear_error() {
    let err = spanfire::ExcludedUrls::new(["(unclosed"]).unwrap_err();
    assert!(err.is_invalid_pattern());
    assert!(err.to_string().contains("excluded URLs"), "{err}");
}

#[tokio::test]
async fn capture_all_env_var_turns_on_headers_and_bodies() {
    let t = Telemetry::new();
    let on = env(&[(spanfire::ENV_CAPTURE_ALL, "true")]);
    let keys = one_post(&t, t.instrumentation().env_source(on)).await;
    for want in [
        "http.request.body.text",
        "http.response.body.text",
        "http.request.header.traceparent",
    ] {
        assert!(
            keys.iter().any(|k| k == want),
            "{want} missing from {keys:?}"
        );
    }
}

#[tokio::test]
async fn explicit_setter_wins_over_the_env_var() {
    let t = Telemetry::new();
    let on = env(&[(spanfire::ENV_CAPTURE_ALL, "true")]);
    let keys = one_post(&t, t.instrumentation().env_source(on).capture_all(false)).await;
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test]
async fn each_capture_option_turns_on_only_its_part() {
    let t = Telemetry::new();
    let keys = one_post(&t, t.instrumentation().capture_request_body(true)).await;
    assert_eq!(keys, ["http.request.body.size", "http.request.body.text"]);
    let t = Telemetry::new();
    let keys = one_post(&t, t.instrumentation().capture_response_body(true)).await;
    assert_eq!(keys, ["http.response.body.text"]);
}

#[tokio::test]
async fn header_capture_env_vars_select_and_sanitize() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .env_source(env(&[
            (spanfire::ENV_CAPTURE_REQUEST, "x-app-.*,X-Trace-Me"),
            (spanfire::ENV_CAPTURE_RESPONSE, "content-type"),
            (spanfire::ENV_SANITIZE, "x-app-pin"),
        ]))
        .instrument_reqwest(reqwest::Client::new());
    let res = client
        .get(server.url("/get"))
        .header("x-app-user", "alice")
        .header("x-app-pin", "1234")
        .header("x-other", "no")
        .send()
        .await
        .unwrap();
    res.bytes().await.unwrap();
    let attrs = attrs(&t.single());
    let arr = |v: &str| Value::Array(vec![opentelemetry::StringValue::from(v.to_owned())].into());
    assert_eq!(attrs["http.request.header.x-app-user"], arr("alice"));
    assert_eq!(attrs["http.request.header.x-app-pin"], arr("[REDACTED]"));
    assert!(!attrs.contains_key("http.request.header.x-other"));
    assert!(!attrs.contains_key("http.response.header.content-length"));
}

#[tokio::test]
async fn capture_headers_false_overrides_the_header_env_vars() {
    let t = Telemetry::new();
    let all = env(&[(spanfire::ENV_CAPTURE_REQUEST, ".*")]);
    let keys = one_post(
        &t,
        t.instrumentation().env_source(all).capture_headers(false),
    )
    .await;
    assert!(keys.is_empty(), "{keys:?}");
}

/// `configure()` installs `W3cPropagator` as the global propagator: the request carries the
/// span's `traceparent` and the caller's baggage, no empty `tracestate`, and the global
/// propagator reads back what was sent.
#[tokio::test]
async fn configure_installs_the_w3c_propagator_with_baggage() {
    use opentelemetry::baggage::BaggageExt;
    use opentelemetry::context::FutureExt;
    use opentelemetry::trace::TraceContextExt;
    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let telemetry = spanfire::configure()
        .console(false)
        .with_span_processor(opentelemetry_sdk::trace::SimpleSpanProcessor::new(
            exporter.clone(),
        ))
        .finish()
        .unwrap();
    let server = TestServer::start().await;
    let client = spanfire::instrument_reqwest_client(reqwest::Client::new());
    let cx = opentelemetry::Context::new()
        .with_baggage([opentelemetry::KeyValue::new("tenant", "acme corp")]);
    let res = client
        .get(server.url("/get"))
        .send()
        .with_context(cx)
        .await
        .unwrap();
    res.bytes().await.unwrap();
    // Read before shutdown: the in-memory exporter forgets its spans when shut down.
    let spans = exporter.get_finished_spans().unwrap();
    telemetry.shutdown().unwrap();
    assert_eq!(spans.len(), 1);
    let sc = &spans[0].span_context;
    let sent = &server.received()[0];
    let header = |name: &str| sent.get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        header("traceparent"),
        Some(format!("00-{}-{}-01", sc.trace_id(), sc.span_id()))
    );
    assert_eq!(header("baggage").as_deref(), Some("tenant=acme%20corp"));
    assert_eq!(header("tracestate"), None);
    let carrier: std::collections::HashMap<String, String> = ["traceparent", "baggage"]
        .into_iter()
        .map(|k| (k.to_owned(), header(k).unwrap()))
        .collect();
    let back = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    assert_eq!(back.span().span_context().trace_id(), sc.trace_id());
    assert_eq!(back.span().span_context().span_id(), sc.span_id());
    assert_eq!(
        back.baggage().get("tenant").map(|v| v.as_str().to_owned()),
        Some("acme corp".to_owned())
    );
}

#[tokio::test]
async fn invalid_sanitize_env_pattern_turns_capture_off_with_the_reason() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .capture_all(true)
        .env_source(env(&[(spanfire::ENV_SANITIZE, "x-(unclosed")]))
        .instrument_reqwest(reqwest::Client::new());
    let res = client
        .get(server.url("/get?q=1"))
        .header("x-unclosed", "S3CR3T")
        .send()
        .await
        .unwrap();
    res.bytes().await.unwrap();
    let attrs = attrs(&t.single());
    let reason = attrs[spanfire::CAPTURE_DISABLED_ATTRIBUTE].to_string();
    assert!(reason.contains(spanfire::ENV_SANITIZE), "{reason}");
    assert!(!attrs.keys().any(|k| k.contains(".header.")), "{attrs:?}");
    assert_eq!(
        attrs["url.full"],
        Value::from(server.url("/get?q=REDACTED"))
    );
}
