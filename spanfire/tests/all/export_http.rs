//! OTLP/HTTP protobuf export (configure/otlp_http.rs), against an in-process receiver that
//! answers what each test scripts: the body is the OTLP request of the spans ended, the
//! headers are the destination's, retries follow opentelemetry-otlp's policy (transport errors
//! and 429/502/503/504, `Retry-After` honoured, other statuses fail at once), and every span's
//! fate is counted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use prost::Message as _;

use crate::support::Serve;

/// One scripted answer: status, an extra header, body.
type Answer = (u16, Option<(&'static str, &'static str)>, Vec<u8>);

/// One request the receiver got: when, its headers, its body.
type Seen = Arc<Mutex<Vec<(Instant, http::HeaderMap, bytes::Bytes)>>>;

/// A receiver on 127.0.0.1 answering the n-th request on `/v1/traces` with `script[n]`
/// (status, extra header, body); the last entry answers every later request.
async fn receiver(script: Vec<Answer>, at: &str) -> (String, Seen) {
    let seen = Seen::default();
    let log = Arc::clone(&seen);
    let script = Arc::new(script);
    let addr = Serve::new()
        .start_at(at, move |req: http::Request<hyper::body::Incoming>| {
            let (log, script) = (Arc::clone(&log), Arc::clone(&script));
            async move {
                let traces = req.uri().path() == "/v1/traces";
                let headers = req.headers().clone();
                let body = http_body_util::BodyExt::collect(req.into_body())
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let n = if traces {
                    let mut log = log.lock().unwrap();
                    log.push((Instant::now(), headers, body));
                    log.len() - 1
                } else {
                    usize::MAX
                };
                let (status, header, body) = if traces {
                    script[n.min(script.len() - 1)].clone()
                } else {
                    (200, None, Vec::new())
                };
                let mut response = http::Response::builder().status(status);
                if let Some((k, v)) = header {
                    response = response.header(k, v);
                }
                response
                    .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                    .unwrap()
            }
        })
        .await;
    (format!("http://127.0.0.1:{}", addr.port()), seen)
}

fn configure(endpoint: &str, env: &[(&str, &str)]) -> spanfire::Telemetry {
    let map: std::collections::HashMap<String, String> = env
        .iter()
        .chain(&[("OTEL_BSP_SCHEDULE_DELAY", "600000")])
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    spanfire::configure()
        .env_source(move |k| map.get(k).cloned())
        .service_name("export-http")
        .otlp_endpoint(endpoint)
        .otlp_header("x-team", "checkout")
        .console(false)
        .install_globals(false)
        .finish()
        .unwrap()
}

/// Ends `n` spans named `work-<i>`, each with a 1 KiB body attribute.
fn end_spans(telemetry: &spanfire::Telemetry, n: usize) {
    let tracer = telemetry.tracer_provider().tracer("export-http");
    for i in 0..n {
        tracer.in_span(format!("work-{i}"), |cx| {
            use opentelemetry::trace::TraceContextExt as _;
            cx.span()
                .set_attribute(KeyValue::new("http.response.body.text", "b".repeat(1024)));
        });
    }
}

fn span_names(body: &[u8]) -> Vec<String> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf request");
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect()
}

/// The receiver keeps running on its own runtime while the test's blocking export happens.
fn start(script: Vec<Answer>) -> (String, Seen, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (url, seen) = rt.block_on(receiver(script, "127.0.0.1:0"));
    (url, seen, rt)
}

#[test]
fn the_request_is_the_spans_with_the_destinations_headers() {
    let (url, seen, _rt) = start(vec![(200, None, Vec::new())]);
    let telemetry = configure(&url, &[("OTEL_EXPORTER_OTLP_HEADERS", "x-env=from%20env")]);
    let stats = telemetry.export_stats();
    end_spans(&telemetry, 3);
    telemetry.shutdown().expect("shutdown flushes");
    assert_eq!((stats.exported(), stats.failed()), (3, 0));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "one batch, one request");
    let (_, headers, body) = &seen[0];
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["x-team"], "checkout");
    assert_eq!(headers["x-env"], "from env", "env headers url-decoded once");
    assert_eq!(span_names(body), ["work-0", "work-1", "work-2"]);
}

#[test]
fn unavailable_is_retried_with_the_same_body_until_it_succeeds() {
    let (url, seen, _rt) = start(vec![
        (503, None, Vec::new()),
        (502, None, Vec::new()),
        (200, None, Vec::new()),
    ]);
    let telemetry = configure(&url, &[]);
    let stats = telemetry.export_stats();
    end_spans(&telemetry, 2);
    telemetry.shutdown().expect("shutdown flushes");
    assert_eq!((stats.exported(), stats.failed()), (2, 0));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "two retries");
    assert!(
        seen.iter().all(|(_, _, body)| body == &seen[0].2),
        "the same request resent"
    );
    let gaps: Vec<Duration> = seen.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(gaps[0] >= Duration::from_millis(100), "backoff: {gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(200), "doubled: {gaps:?}");
}

#[test]
fn retries_end_after_three_and_every_span_is_counted_failed() {
    let (url, seen, _rt) = start(vec![(504, None, Vec::new())]);
    let telemetry = configure(&url, &[]);
    let stats = telemetry.export_stats();
    end_spans(&telemetry, 4);
    let _ = telemetry.shutdown();
    assert_eq!((stats.exported(), stats.failed()), (0, 4));
    assert_eq!(
        seen.lock().unwrap().len(),
        4,
        "the first attempt and three retries"
    );
}

#[test]
fn a_client_error_is_not_retried() {
    let (url, seen, _rt) = start(vec![(400, None, Vec::new())]);
    let telemetry = configure(&url, &[]);
    let stats = telemetry.export_stats();
    end_spans(&telemetry, 2);
    let _ = telemetry.shutdown();
    assert_eq!((stats.exported(), stats.failed()), (0, 2));
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn retry_after_holds_the_next_attempt() {
    let (url, seen, _rt) = start(vec![
        (429, Some(("retry-after", "1")), Vec::new()),
        (200, None, Vec::new()),
    ]);
    let telemetry = configure(&url, &[]);
    let stats = telemetry.export_stats();
    end_spans(&telemetry, 1);
    telemetry.shutdown().expect("shutdown flushes");
    assert_eq!((stats.exported(), stats.failed()), (1, 0));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[1].0 - seen[0].0 >= Duration::from_secs(1),
        "waited as asked"
    );
}

#[test]
fn no_retry_is_started_past_the_timeout() {
    // Retry-After 2 s with a 500 ms timeout: the backoff would outlast it, so the export fails
    // after the first attempt instead of sleeping.
    let (url, seen, _rt) = start(vec![(503, Some(("retry-after", "2")), Vec::new())]);
    let telemetry = configure(&url, &[("OTEL_EXPORTER_OTLP_TIMEOUT", "500")]);
    let stats = telemetry.export_stats();
    end_spans(&telemetry, 1);
    let began = Instant::now();
    let _ = telemetry.shutdown();
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    assert_eq!((stats.exported(), stats.failed()), (0, 1));
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn a_partial_success_is_still_an_export() {
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceResponse,
    };
    let partial = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 1,
            error_message: "span too old".into(),
        }),
    }
    .encode_to_vec();
    let (url, seen, _rt) = start(vec![(200, None, partial)]);
    let telemetry = configure(&url, &[]);
    let stats = telemetry.export_stats();
    end_spans(&telemetry, 2);
    telemetry
        .shutdown()
        .expect("a partial success is a success");
    assert_eq!((stats.exported(), stats.failed()), (2, 0));
    assert_eq!(seen.lock().unwrap().len(), 1, "not retried");
}

/// A port nothing listens on: bind, note the port, close.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_refused_connection_is_retried_then_counted() {
    let port = free_port();
    let telemetry = configure(&format!("http://127.0.0.1:{port}"), &[]);
    let stats = telemetry.export_stats();
    end_spans(&telemetry, 2);
    let began = Instant::now();
    let _ = telemetry.shutdown();
    assert_eq!((stats.exported(), stats.failed()), (0, 2));
    // 100 + 200 + 400 ms of backoff (each up to 100 ms more): retried, and bounded.
    let took = began.elapsed();
    assert!(took >= Duration::from_millis(700), "retried: {took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

/// Once an export got no response on any attempt, each next export probes the collector with
/// an empty request, once (a flush with the collector down neither waits for backoff per
/// batch nor encodes what cannot be sent); once a probe gets an answer, the batch is sent and
/// retries are back.
#[test]
fn an_unreachable_collector_is_probed_before_each_export_until_it_answers() {
    let port = free_port();
    let telemetry = configure(&format!("http://127.0.0.1:{port}"), &[]);
    let stats = telemetry.export_stats();
    let counts = || (stats.exported(), stats.failed());
    let flush = |n| {
        end_spans(&telemetry, n);
        let began = Instant::now();
        let _ = telemetry.tracer_provider().force_flush();
        began.elapsed()
    };
    let first = flush(1);
    assert!(first >= Duration::from_millis(700), "retried: {first:?}");
    let second = flush(1);
    assert!(
        second < Duration::from_millis(300),
        "no retries: {second:?}"
    );
    assert_eq!(counts(), (0, 2));

    // The collector comes (back) on that port.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let answers = vec![
        (200, None, Vec::new()), // the probe
        (200, None, Vec::new()), // the batch
        (503, None, Vec::new()), // the next batch, retried
        (200, None, Vec::new()),
    ];
    let (_, seen) = rt.block_on(receiver(answers, &format!("127.0.0.1:{port}")));
    flush(1);
    assert_eq!(counts(), (1, 2), "probed, then sent");
    flush(1);
    assert_eq!(counts(), (2, 2), "no more probes; a 503 is retried again");
    let seen = seen.lock().unwrap();
    let spans: Vec<usize> = seen.iter().map(|(_, _, b)| span_names(b).len()).collect();
    assert_eq!(spans, [0, 1, 1, 1], "an empty probe, then the batches");
    drop(seen);
    telemetry.shutdown().expect("shutdown");
}
