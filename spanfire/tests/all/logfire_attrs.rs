//! configure()'s Logfire attributes (`logfire.span_type`, `logfire.msg`, `logfire.level_num`,
//! `logfire.json_schema`, `logfire.scrubbed`) on real request spans.

use opentelemetry::trace::SpanRef;
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SimpleSpanProcessor, SpanData};
use spanfire::{HttpClientInstrumentation, RequestInfo};

use crate::support::*;

const SECRET: &str = "hunter2-from-the-hook";

fn configured(builder: spanfire::ConfigureBuilder) -> (spanfire::Telemetry, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let telemetry = builder
        .install_globals(false)
        .console(false)
        .with_span_processor(SimpleSpanProcessor::new(exporter.clone()))
        .finish()
        .unwrap();
    (telemetry, exporter)
}

fn client(telemetry: &spanfire::Telemetry) -> reqwest_middleware::ClientWithMiddleware {
    HttpClientInstrumentation::new()
        .tracer_provider(telemetry.tracer_provider().clone())
        .capture_all(true)
        .request_hook(|span: &SpanRef<'_>, _: &RequestInfo<'_>| {
            span.set_attribute(KeyValue::new("app.password", SECRET));
        })
        .instrument_reqwest(reqwest::Client::new())
}

fn string_attr(span: &SpanData, key: &str) -> String {
    match attrs(span).get(key) {
        Some(Value::String(s)) => s.as_str().to_owned(),
        other => panic!("{key}: want a string, got {other:?} in {span:#?}"),
    }
}

fn logfire_keys(span: &SpanData) -> Vec<String> {
    attrs(span)
        .into_keys()
        .filter(|k| k.starts_with("logfire."))
        .collect()
}

#[tokio::test]
async fn logfire_attrs_on_a_json_post_and_a_500() {
    let server = TestServer::start().await;
    let (telemetry, exporter) = configured(spanfire::configure().logfire_attributes(true));
    let client = client(&telemetry);
    let body = r#"{"user":"alice","items":[1,2],"nested":{"n":1}}"#;
    let res = client
        .post(server.url("/post?page=2"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), body);
    let res = client.get(server.url("/status/500")).send().await.unwrap();
    assert_eq!(res.status(), 500);
    res.bytes().await.unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    telemetry.shutdown().unwrap();
    assert_eq!(spans.len(), 2, "{spans:#?}");

    let post = &spans[0];
    assert_client_span(post, "POST");
    let got = attrs(post);
    assert_eq!(got["logfire.span_type"], Value::from("span"));
    assert_eq!(
        got["logfire.msg"],
        Value::from("POST 127.0.0.1/post ? page='2'")
    );
    assert!(!got.contains_key("logfire.level_num"), "{got:#?}");
    // both bodies are JSON objects (the order follows the span's attributes)
    let schema: serde_json::Value =
        serde_json::from_str(&string_attr(post, "logfire.json_schema")).unwrap();
    assert_eq!(
        schema,
        serde_json::json!({"type": "object", "properties": {
            "http.request.body.text": {"type": "object"},
            "http.response.body.text": {"type": "object"},
        }})
    );
    // the hook's secret attribute is listed by key and matched part, never by value
    let scrubbed = string_attr(post, "logfire.scrubbed");
    assert_eq!(
        scrubbed,
        r#"[{"path": ["attributes", "app.password"], "matched_substring": "password"}]"#
    );
    assert_eq!(
        got["app.password"],
        Value::from("[Scrubbed due to 'password']")
    );
    assert!(!format!("{post:?}").contains(SECRET), "{post:#?}");
    assert_eq!(
        logfire_keys(post),
        [
            "logfire.json_schema",
            "logfire.msg",
            "logfire.scrubbed",
            "logfire.span_type"
        ]
    );

    let failed = &spans[1];
    assert!(is_error(failed));
    let got = attrs(failed);
    assert_eq!(got["logfire.level_num"], Value::I64(17));
    assert_eq!(got["logfire.span_type"], Value::from("span"));
    assert_eq!(got["logfire.msg"], Value::from("GET 127.0.0.1/status/500"));
    assert!(
        !got.contains_key("logfire.json_schema"),
        "empty body: {got:#?}"
    );
    assert_eq!(
        string_attr(failed, "logfire.scrubbed"),
        r#"[{"path": ["attributes", "app.password"], "matched_substring": "password"}]"#
    );
}

// multi-thread: the blocking OTLP export at shutdown needs the test server to keep running
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logfire_attrs_default_follows_the_logfire_destination() {
    let server = TestServer::start().await;
    // no Logfire token: off
    let (telemetry, exporter) = configured(spanfire::configure().env_source(|_| None));
    client(&telemetry)
        .get(server.url("/get"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    telemetry.shutdown().unwrap();
    assert_eq!(spans.len(), 1);
    assert!(logfire_keys(&spans[0]).is_empty(), "{:#?}", spans[0]);

    // a Logfire token (the "Logfire" here is the test server, which answers /v1/* with 200): on
    let base = server.url("");
    let (telemetry, exporter) = configured(
        spanfire::configure()
            .env_source(move |k| (k == spanfire::ENV_LOGFIRE_BASE_URL).then(|| base.clone()))
            .logfire_token("pylf_v1_us_0123456789abcdef"),
    );
    client(&telemetry)
        .get(server.url("/get"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    telemetry.shutdown().unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(
        logfire_keys(&spans[0]),
        [
            "logfire.json_schema",
            "logfire.msg",
            "logfire.scrubbed",
            "logfire.span_type"
        ]
    );
}
