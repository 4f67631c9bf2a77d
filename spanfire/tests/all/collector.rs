//! End-to-end: configure() -> OTLP/HTTP -> a real collector (rotel, started by `scripts/rotel`),
//! reading back what the collector received. Also the Logfire destination against a local
//! receiver, and export to an absent collector.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;

use crate::support::TestServer;

/// The collector's OTLP/HTTP URL and the file its processor appends to, from `scripts/rotel`.
fn collector() -> Option<(String, PathBuf)> {
    match (
        std::env::var("ROTEL_OTLP_HTTP"),
        std::env::var("ROTEL_RECEIVED"),
    ) {
        (Ok(url), Ok(file)) => Some((url, PathBuf::from(file))),
        _ if std::env::var_os("CI").is_some() => {
            panic!("ROTEL_OTLP_HTTP/ROTEL_RECEIVED unset: scripts/test starts the collector")
        }
        _ => {
            eprintln!("skipped: run `eval \"$(scripts/rotel start)\"` and export its variables");
            None
        }
    }
}

fn unique_service(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("spanfire-e2e-{name}-{}-{nanos}", std::process::id())
}

/// The records the collector received for `service`, waiting (bounded) until `done` holds.
fn received(file: &PathBuf, service: &str, done: impl Fn(&[Json]) -> bool) -> Vec<Json> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let records: Vec<Json> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Json>(l).ok())
            .filter(|r| r["resource"]["service.name"] == service)
            .collect();
        if done(&records) || Instant::now() > deadline {
            return records;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An instrumentation that uses the providers of `telemetry` (not the globals).
fn instrumented(telemetry: &spanfire::Telemetry) -> spanfire::HttpClientInstrumentation {
    spanfire::HttpClientInstrumentation::new()
        .tracer_provider(telemetry.tracer_provider().clone())
        .meter_provider(telemetry.meter_provider().clone())
}

const SECRETS: [&str; 6] = [
    "tok-S1",
    "S2-apikey",
    "S3-cookie",
    "S4-pw",
    "S5-key",
    "S6-form",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_metrics_reach_the_collector_scrubbed_with_types() {
    let Some((url, file)) = collector() else {
        return;
    };
    let service = unique_service("spans");
    let server = TestServer::start().await;
    let telemetry = spanfire::configure()
        .service_name(&service)
        .otlp_endpoint(&url)
        .install_globals(false)
        .finish()
        .unwrap();
    let client = instrumented(&telemetry)
        .capture_all(true)
        .instrument_reqwest(reqwest::Client::new());
    client
        .get(server.url("/get?q=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let json = serde_json::json!({"user": "alice", "password": SECRETS[3], "api_key": SECRETS[4]});
    let res = client
        .post(server.url("/post"))
        .header("authorization", format!("Bearer {}", SECRETS[0]))
        .header("x-api-key", SECRETS[1])
        .header("cookie", format!("session={}", SECRETS[2]))
        .json(&json)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Json>().await.unwrap(),
        json,
        "the application sees the real body"
    );
    let form = [("token", SECRETS[5]), ("q", "x")];
    client
        .post(server.url("/post"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let stats = telemetry.export_stats();
    telemetry.shutdown().expect("shutdown flushes");
    assert_eq!(
        (stats.offered(), stats.exported(), stats.not_exported()),
        (3, 3, 0)
    );

    let records = received(&file, &service, |r| {
        r.iter().filter(|x| x["signal"] == "span").count() >= 3
            && r.iter()
                .any(|x| x["name"] == "http.client.request.duration")
    });
    let spans: Vec<&Json> = records.iter().filter(|r| r["signal"] == "span").collect();
    assert_eq!(spans.len(), 3, "{records:#?}");
    let get = spans.iter().find(|s| s["name"] == "GET").unwrap();
    let a = &get["attributes"];
    assert_eq!(get["kind"], 3, "SPAN_KIND_CLIENT");
    assert_eq!(get["scope"], "spanfire");
    assert_eq!(a["http.request.method"], "GET");
    assert_eq!(a["url.full"], server.url("/get?q=1"));
    assert_eq!(
        a["server.port"],
        Json::from(server.addr.port()),
        "an integer"
    );
    assert_eq!(a["http.response.status_code"], 200, "an integer");
    assert_eq!(a["network.protocol.version"], "1.1");
    let post = spans
        .iter()
        .find(|s| s["attributes"]["http.request.body.text"].is_string())
        .unwrap();
    let body = post["attributes"]["http.request.body.text"]
        .as_str()
        .unwrap();
    assert!(
        body.contains("\"user\":\"alice\"") && body.contains("Scrubbed"),
        "{body}"
    );
    let all = serde_json::to_string(&records).unwrap();
    for secret in SECRETS {
        assert!(
            !all.contains(secret),
            "{secret} reached the collector: {all}"
        );
    }
    let duration = records
        .iter()
        .find(|r| r["name"] == "http.client.request.duration");
    assert_eq!(duration.expect("duration metric")["unit"], "s");
    assert!(records.iter().any(|r| r["name"] == "spanfire.export.spans"));
}

/// The same pipeline over OTLP/gRPC, from a current-thread runtime: the exports run on
/// spanfire's own runtime, so nothing depends on the application's.
#[cfg(feature = "grpc")]
#[tokio::test]
async fn grpc_export_reaches_the_collector() {
    let Some((_, file)) = collector() else { return };
    let grpc = std::env::var("ROTEL_OTLP_GRPC").expect("scripts/rotel exports ROTEL_OTLP_GRPC");
    let service = unique_service("grpc");
    let server = TestServer::start().await;
    let telemetry = spanfire::configure()
        .service_name(&service)
        .otlp_endpoint(&grpc)
        .otlp_protocol(spanfire::OtlpProtocol::Grpc)
        .install_globals(false)
        .finish()
        .unwrap();
    let client = instrumented(&telemetry).instrument_reqwest(reqwest::Client::new());
    client
        .get(server.url("/status/404"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    telemetry.shutdown().expect("shutdown flushes over gRPC");
    let records = received(&file, &service, |r| {
        r.iter().any(|x| x["signal"] == "span") && r.iter().any(|x| x["signal"] == "metric")
    });
    let span = records
        .iter()
        .find(|r| r["signal"] == "span")
        .expect("span over gRPC");
    assert_eq!(span["attributes"]["http.response.status_code"], 404);
    assert_eq!(span["attributes"]["error.type"], "404");
    assert_eq!(span["status"]["code"], 2, "STATUS_CODE_ERROR");
    assert!(records
        .iter()
        .any(|r| r["name"] == "http.client.request.duration"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_collector_never_fails_the_application() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = TestServer::start().await;
    let telemetry = spanfire::configure()
        .otlp_endpoint(format!("http://127.0.0.1:{port}"))
        .install_globals(false)
        .finish()
        .unwrap();
    let client = instrumented(&telemetry).instrument_reqwest(reqwest::Client::new());
    for _ in 0..20 {
        let res = client.get(server.url("/get")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.bytes().await.unwrap();
    }
    let started = Instant::now();
    let stats = telemetry.export_stats();
    let result = telemetry.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "shutdown is bounded"
    );
    assert!(result.is_err(), "the failed export is reported, not hidden");
    assert_eq!(stats.offered(), 20);
    assert_eq!(stats.exported(), 0);
    assert_eq!(stats.not_exported(), 20, "every lost span is counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logfire_destination_posts_to_v1_with_the_token() {
    let receiver = TestServer::start().await;
    std::env::set_var(spanfire::ENV_LOGFIRE_TOKEN, "pylf_v1_eu_sekret");
    std::env::set_var(spanfire::ENV_LOGFIRE_BASE_URL, receiver.url(""));
    let app = TestServer::start().await;
    let telemetry = spanfire::configure()
        .install_globals(false)
        .finish()
        .unwrap();
    let client = instrumented(&telemetry).instrument_reqwest(reqwest::Client::new());
    client
        .get(app.url("/get"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    telemetry.shutdown().unwrap();
    let requests = receiver.received_requests();
    for path in ["POST /v1/traces", "POST /v1/metrics"] {
        let (_, headers) = requests
            .iter()
            .find(|(line, _)| line == path)
            .unwrap_or_else(|| {
                panic!(
                    "no {path} in {:?}",
                    requests.iter().map(|r| &r.0).collect::<Vec<_>>()
                )
            });
        assert_eq!(headers["authorization"], "pylf_v1_eu_sekret");
        assert_eq!(headers["content-type"], "application/x-protobuf");
    }
    assert!(
        !app.received()[0].contains_key("authorization"),
        "exporter traffic is not the application's"
    );
}
