//! The Logfire destination end to end, with default features: `configure()` finds the token and
//! the Logfire URL in `.logfire/logfire_credentials.json` and exports over OTLP/HTTP protobuf to
//! a local receiver that decodes what it gets (examples/support/otlp_receiver.rs, shared with the
//! `logfire` example) — no part of spanfire's pipeline is mocked.

#[path = "../../examples/support/otlp_receiver.rs"]
mod otlp_receiver;

use std::collections::BTreeMap;

use http::Method;
use otlp_receiver::{Received, ReceivedSpan};

use crate::support::front::{Client, ClientOptions, Front, Req};
use crate::support::*;

const TOKEN: &str = "pylf_v1_us_receiver-test-token";

fn str_attr<'a>(span: &'a ReceivedSpan, key: &str) -> &'a str {
    match span.attributes.get(key) {
        Some(Received::Str(s)) => s,
        other => panic!("{key}: want a string, got {other:?} in {span:#?}"),
    }
}

fn scrubbed(span: &ReceivedSpan) -> Vec<serde_json::Value> {
    serde_json::from_str(str_attr(span, "logfire.scrubbed")).expect("logfire.scrubbed is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logfire_destination_sends_spans_with_logfire_attributes_to_the_receiver() {
    let server = TestServer::start().await;
    let (logfire_url, inbox) = otlp_receiver::start().await.unwrap();
    let dir = std::env::temp_dir().join(format!(
        "spanfire-logfire-receiver-{}-{}",
        std::process::id(),
        server.port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let credentials = serde_json::json!({ "token": TOKEN, "logfire_api_url": logfire_url });
    std::fs::write(
        dir.join("logfire_credentials.json"),
        credentials.to_string(),
    )
    .unwrap();

    let telemetry = spanfire::configure()
        .install_globals(false)
        .service_name("logfire-receiver-test")
        .logfire_credentials_dir(&dir)
        .finish()
        .unwrap();
    let instrumentation = spanfire::HttpClientInstrumentation::new()
        .tracer_provider(telemetry.tracer_provider().clone())
        .meter_provider(telemetry.meter_provider().clone())
        .capture_all(true);
    let client = Client::new(Front::Reqwest, instrumentation, ClientOptions::default());
    let get = Req::new(Method::GET, &server.url("/get?page=2&token=S3CR3T-Q"))
        .header("authorization", "Bearer S3CR3T-H");
    client.send(get).await.unwrap().bytes().await;
    let post = Req::new(Method::POST, &server.url("/post"))
        .header("content-type", "application/json")
        .body(br#"{"user":"alice","password":"S3CR3T-B"}"#);
    client.send(post).await.unwrap().bytes().await;
    let failed = Req::new(Method::GET, &server.url("/status/500"));
    client.send(failed).await.unwrap().bytes().await;
    let shutdown = tokio::task::spawn_blocking(move || telemetry.shutdown());
    shutdown.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    let inbox = inbox.lock().unwrap();
    for path in ["/v1/traces", "/v1/metrics"] {
        let request = inbox
            .requests
            .iter()
            .find(|r| r.path == path)
            .unwrap_or_else(|| panic!("no export to {path}: {:?}", inbox.requests));
        assert_eq!(request.authorization.as_deref(), Some(TOKEN), "{path}");
        assert_eq!(
            request.content_type.as_deref(),
            Some("application/x-protobuf"),
            "{path}"
        );
    }
    assert!(
        inbox
            .metrics
            .iter()
            .any(|m| m == "http.client.request.duration"),
        "{:?}",
        inbox.metrics
    );
    assert_eq!(inbox.spans.len(), 3, "{:#?}", inbox.spans);
    let everything = format!("{:?}", inbox.spans);
    for secret in ["S3CR3T-Q", "S3CR3T-H", "S3CR3T-B"] {
        assert!(!everything.contains(secret), "{secret} reached Logfire");
    }
    let by_path: BTreeMap<&str, &ReceivedSpan> = inbox
        .spans
        .iter()
        .map(|s| {
            let url = str_attr(s, "url.full");
            (url.rsplit_once(&format!("{}", server.port())).unwrap().1, s)
        })
        .collect();

    let get = by_path["/get?page=2&token=REDACTED"];
    assert_eq!(str_attr(get, "logfire.span_type"), "span");
    assert_eq!(
        str_attr(get, "logfire.msg"),
        "GET 127.0.0.1/get ? page='2' & token='REDACTED'"
    );
    assert!(!get.attributes.contains_key("logfire.level_num"));
    let notes = scrubbed(get);
    assert!(
        notes.contains(&serde_json::json!({
            "path": ["attributes", "http.request.header.authorization"],
            "matched_substring": "auth"
        })),
        "the redacted header is listed, without its value: {notes:?}"
    );
    assert_eq!(
        get.resource.get("service.name"),
        Some(&Received::Str("logfire-receiver-test".into()))
    );

    let post = by_path["/post"];
    assert_eq!(str_attr(post, "logfire.msg"), "POST 127.0.0.1/post");
    let schema: serde_json::Value =
        serde_json::from_str(str_attr(post, "logfire.json_schema")).unwrap();
    assert_eq!(
        schema,
        serde_json::json!({
            "type": "object",
            "properties": {
                "http.request.body.text": {"type": "object"},
                "http.response.body.text": {"type": "object"},
            }
        })
    );
    let notes = scrubbed(post);
    assert!(
        notes.contains(&serde_json::json!({
            "path": ["attributes", "http.request.body.text", "password"],
            "matched_substring": "password"
        })),
        "{notes:?}"
    );

    let failed = by_path["/status/500"];
    assert_eq!(
        failed.attributes.get("logfire.level_num"),
        Some(&Received::Int(17))
    );
    assert_eq!(
        failed.attributes.get("http.response.status_code"),
        Some(&Received::Int(500))
    );
}
