//! End-to-end: configure() -> OTLP/HTTP -> a real collector (rotel, started by `scripts/rotel`),
//! reading back what the collector received. Also the Logfire destination against a local
//! receiver, and export to an absent collector.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::support::collector::{collector, received, unique_service};
use crate::support::{closed_port, Serve, TestServer};

/// An env source holding exactly `pairs` (everything else unset): configure() reads every env
/// var through it, so no test touches the process environment.
fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
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
        // redacted at capture by the instrumentation; the scrubbing stage leaves it as it is
        body.contains("\"user\":\"alice\"") && body.contains("[REDACTED]"),
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
        r.iter().any(|x| x["signal"] == "span")
            && r.iter()
                .any(|x| x["name"] == "http.client.request.duration")
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
    let port = closed_port();
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
    let base_url = receiver.url("");
    let app = TestServer::start().await;
    let telemetry = spanfire::configure()
        .env_source(env_of(&[
            (spanfire::ENV_LOGFIRE_TOKEN, "pylf_v1_eu_sekret"),
            (spanfire::ENV_LOGFIRE_BASE_URL, &base_url),
        ]))
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

/// A private collector process on its own port, killed and restarted by the test.
struct PrivateCollector {
    child: std::process::Child,
    port: u16,
}

impl PrivateCollector {
    fn start(port: u16) -> PrivateCollector {
        let agent = std::env::var("ROTEL_AGENT").expect("scripts/rotel exports ROTEL_AGENT");
        let received = PathBuf::from(std::env::var("ROTEL_RECEIVED").unwrap());
        let processor = received.with_file_name("rotel_dump.py");
        let grpc = closed_port();
        let child = std::process::Command::new(agent)
            .args(["start", "--exporter", "blackhole", "--disable-batching"])
            .arg("--otlp-http-endpoint")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--otlp-grpc-endpoint")
            .arg(format!("127.0.0.1:{grpc}"))
            .arg("--otlp-with-trace-processor")
            .arg(&processor)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start rotel");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "rotel did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        PrivateCollector { child, port }
    }

    fn kill(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for PrivateCollector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn requests(
    client: &reqwest_middleware::ClientWithMiddleware,
    server: &TestServer,
    phase: &str,
) {
    for i in 0..5 {
        let res = client
            .get(server.url(&format!("/get?phase={phase}&i={i}")))
            .send()
            .await;
        let res = res.expect("the application's request never fails because of telemetry");
        assert_eq!(res.status(), 200);
        res.bytes().await.unwrap();
    }
}

fn phase_count(records: &[Json], phase: &str) -> usize {
    let needle = format!("phase={phase}&");
    records
        .iter()
        .filter(|r| {
            r["attributes"]["url.full"]
                .as_str()
                .is_some_and(|u| u.contains(&needle))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_killed_mid_run_then_restarted_export_resumes() {
    let Some((_, file)) = collector() else { return };
    let service = unique_service("restart");
    let server = TestServer::start().await;
    let collector = PrivateCollector::start(closed_port());
    let telemetry = spanfire::configure()
        // Export every 100 ms (OTEL_BSP_* read through the env source).
        .env_source(env_of(&[("OTEL_BSP_SCHEDULE_DELAY", "100")]))
        .service_name(&service)
        .otlp_endpoint(format!("http://127.0.0.1:{}", collector.port))
        .install_globals(false)
        .finish()
        .unwrap();
    let stats = telemetry.export_stats();
    let client = instrumented(&telemetry).instrument_reqwest(reqwest::Client::new());

    requests(&client, &server, "a").await;
    let seen = received(&file, &service, |r| phase_count(r, "a") == 5);
    assert_eq!(
        phase_count(&seen, "a"),
        5,
        "phase a arrived before the kill"
    );

    let port = collector.kill();
    requests(&client, &server, "b").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats.failed() < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        stats.failed(),
        5,
        "exports to the dead collector failed and were counted"
    );

    let _restarted = PrivateCollector::start(port);
    requests(&client, &server, "c").await;
    telemetry
        .shutdown()
        .expect("with the collector up, shutdown loses nothing more");
    let seen = received(&file, &service, |r| phase_count(r, "c") == 5);
    assert_eq!(
        phase_count(&seen, "c"),
        5,
        "export resumed after the restart"
    );
    assert_eq!(
        phase_count(&seen, "b"),
        0,
        "phase b was lost while the collector was down"
    );
    assert_eq!(stats.offered(), 15);
    assert_eq!(stats.exported(), 10);
    assert_eq!(
        stats.not_exported(),
        5,
        "exactly the lost spans are counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_collector_never_blocks_requests_and_full_queue_drops_are_counted() {
    let receiver = TestServer::start().await;
    let server = TestServer::start().await;
    let telemetry = spanfire::configure()
        .env_source(env_of(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "16"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8"),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ]))
        .otlp_endpoint(receiver.url("/slow/1000"))
        .install_globals(false)
        .finish()
        .unwrap();
    let stats = telemetry.export_stats();
    let client = instrumented(&telemetry).instrument_reqwest(reqwest::Client::new());
    let started = Instant::now();
    for _ in 0..200 {
        let res = client.get(server.url("/get")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.bytes().await.unwrap();
    }
    let app_time = started.elapsed();
    let exports_done = receiver.received_requests().len();
    assert!(
        exports_done <= 2,
        "200 requests finished in {app_time:?} while the 1 s exports were still pending \
         ({exports_done} answered): requests do not wait for the exporter"
    );
    telemetry.shutdown().unwrap();
    assert_eq!(stats.offered(), 200);
    assert!(stats.exported() >= 8, "some batches were delivered");
    assert!(stats.not_exported() > 0, "a full queue drops spans");
    assert_eq!(stats.exported() + stats.not_exported(), 200);
}

/// Configured by the standard env vars alone (through the env source): endpoint, service name,
/// resource attributes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_env_vars_configure_the_export() {
    let Some((url, file)) = collector() else {
        return;
    };
    let service = unique_service("env");
    let server = TestServer::start().await;
    let telemetry = spanfire::configure()
        .env_source(env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &url),
            ("OTEL_SERVICE_NAME", &service),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=ci,team=obs",
            ),
        ]))
        .install_globals(false)
        .finish()
        .unwrap();
    let client = instrumented(&telemetry).instrument_reqwest(reqwest::Client::new());
    client
        .get(server.url("/get"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    telemetry.shutdown().unwrap();
    let records = received(&file, &service, |r| r.iter().any(|x| x["signal"] == "span"));
    let span = records
        .iter()
        .find(|r| r["signal"] == "span")
        .expect("span via env config");
    assert_eq!(span["resource"]["deployment.environment"], "ci");
    assert_eq!(span["resource"]["team"], "obs");
}

/// `OTEL_TRACES_SAMPLER=always_off`: nothing recorded, but the trace context still propagates
/// (with the sampled flag off), and the request is untouched.
#[tokio::test]
async fn sampler_env_var_is_honoured() {
    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let server = TestServer::start().await;
    let telemetry = spanfire::configure()
        .env_source(env_of(&[("OTEL_TRACES_SAMPLER", "always_off")]))
        .console(false)
        .with_span_processor(opentelemetry_sdk::trace::SimpleSpanProcessor::new(
            exporter.clone(),
        ))
        .install_globals(false)
        .finish()
        .unwrap();
    let client = instrumented(&telemetry)
        .capture_all(true)
        .instrument_reqwest(reqwest::Client::new());
    let res = client.get(server.url("/get")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.bytes().await.unwrap();
    // Read before shutdown: the in-memory exporter forgets its spans when shut down.
    assert!(exporter.get_finished_spans().unwrap().is_empty());
    telemetry.shutdown().unwrap();
    let traceparent = server.received()[0]["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(traceparent.ends_with("-00"), "{traceparent}");
}

/// configure() and export from plain threads, with no async runtime anywhere in the process.
#[test]
fn export_needs_no_async_runtime() {
    let Some((url, file)) = collector() else {
        return;
    };
    let service = unique_service("no-runtime");
    let telemetry = spanfire::configure()
        .service_name(&service)
        .otlp_endpoint(&url)
        .install_globals(false)
        .finish()
        .unwrap();
    use opentelemetry::trace::{Tracer, TracerProvider};
    let tracer = telemetry.tracer_provider().tracer("app");
    tracer.in_span("work", |_| {});
    telemetry.shutdown().unwrap();
    // Traces and metrics are flushed in parallel: the metric may arrive first.
    let is_span = |r: &&Json| r["signal"] == "span";
    let records = received(&file, &service, |r| r.iter().any(|x| is_span(&x)));
    let spans: Vec<&Json> = records.iter().filter(is_span).collect();
    assert_eq!(spans.len(), 1, "{records:#?}");
    assert_eq!(spans[0]["name"], "work");
}

/// What a local OTLP/HTTP receiver got: `METHOD /path`, headers and body of each request.
type OtlpRequests = std::sync::Arc<std::sync::Mutex<Vec<(String, http::HeaderMap, bytes::Bytes)>>>;

/// An in-process OTLP/HTTP receiver on 127.0.0.1 that records whole requests and answers 200.
async fn otlp_receiver() -> (String, OtlpRequests) {
    let received = OtlpRequests::default();
    let seen = received.clone();
    let addr = Serve::new()
        .start(move |req: http::Request<hyper::body::Incoming>| {
            let seen = seen.clone();
            async move {
                let line = format!("{} {}", req.method(), req.uri().path());
                let headers = req.headers().clone();
                let body = http_body_util::BodyExt::collect(req.into_body())
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                seen.lock().unwrap().push((line, headers, body));
                http::Response::new(http_body_util::Full::new(bytes::Bytes::new()))
            }
        })
        .await;
    (format!("http://{addr}"), received)
}

/// The OTLP/JSON resource attributes of an export body, as `key -> string value`.
fn resource_attributes(body: &[u8], signal: &str) -> std::collections::HashMap<String, String> {
    let json: Json = serde_json::from_slice(body).expect("an OTLP/JSON body");
    json[signal][0]["resource"]["attributes"]
        .as_array()
        .unwrap_or_else(|| panic!("no resource in {json}"))
        .iter()
        .filter_map(|kv| {
            Some((
                kv["key"].as_str()?.to_owned(),
                kv["value"]["stringValue"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// Logfire's settings come from the (injected) environment the way the Logfire SDKs read
/// them: the token as `Authorization`, the base URL, and service name, version and
/// environment on the resource of both traces and metrics. No process env var is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logfire_settings_from_the_environment_reach_the_receiver() {
    let (base_url, received) = otlp_receiver().await;
    let service = unique_service("logfire-env");
    let env: std::collections::HashMap<&'static str, String> = [
        ("LOGFIRE_TOKEN", "pylf_v1_eu_envtoken".to_owned()),
        ("LOGFIRE_BASE_URL", base_url),
        ("LOGFIRE_SERVICE_NAME", service.clone()),
        ("LOGFIRE_SERVICE_VERSION", "4.5.6".to_owned()),
        ("LOGFIRE_ENVIRONMENT", "staging".to_owned()),
        ("LOGFIRE_SEND_TO_LOGFIRE", "if-token-present".to_owned()),
        ("LOGFIRE_CONSOLE", "false".to_owned()),
    ]
    .into_iter()
    .collect();
    let empty_dir = std::env::temp_dir().join(format!("spanfire-no-creds-{}", std::process::id()));
    let app = TestServer::start().await;
    let telemetry = spanfire::configure()
        .env_source(move |k| env.get(k).cloned())
        .logfire_credentials_dir(empty_dir)
        .otlp_protocol(spanfire::OtlpProtocol::HttpJson)
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
    let stats = telemetry.export_stats();
    telemetry.shutdown().unwrap();
    assert_eq!(stats.exported(), 1, "the span reached the receiver");
    let requests = received.lock().unwrap().clone();
    for (path, signal) in [
        ("POST /v1/traces", "resourceSpans"),
        ("POST /v1/metrics", "resourceMetrics"),
    ] {
        let (_, headers, body) = requests
            .iter()
            .find(|(line, _, _)| line == path)
            .unwrap_or_else(|| {
                panic!(
                    "no {path} in {:?}",
                    requests.iter().map(|r| &r.0).collect::<Vec<_>>()
                )
            });
        assert_eq!(headers["authorization"], "pylf_v1_eu_envtoken");
        assert_eq!(headers["content-type"], "application/json");
        let attributes = resource_attributes(body, signal);
        assert_eq!(attributes["service.name"], service, "{path}");
        assert_eq!(attributes["service.version"], "4.5.6", "{path}");
        assert_eq!(
            attributes["deployment.environment.name"], "staging",
            "{path}"
        );
    }
    assert!(
        !app.received()[0].contains_key("authorization"),
        "exporter traffic is not the application's"
    );
}
