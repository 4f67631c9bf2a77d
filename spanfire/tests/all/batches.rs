//! Batches the collector accepts: configure() splits each batch so that no OTLP export request
//! exceeds the export request limit (`configure/split.rs`), against the real collector (rotel:
//! gRPC with its default 4 MiB message limit, OTLP/HTTP with a small configured limit) and a
//! local receiver that records the size of every request (HTTP/protobuf and HTTP/JSON).

use std::sync::{Arc, Mutex};

use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use prost::Message as _;
use serde_json::Value as Json;

use crate::support::collector::{collector, received, unique_service};
use crate::support::Serve;

const KIB: usize = 1024;

/// Batches are exported only when shutdown flushes them: one batch (up to 512 spans) for all
/// the spans a test ends.
fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .chain(&[("OTEL_BSP_SCHEDULE_DELAY", "600000")])
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}

fn configure(
    service: &str,
    endpoint: &str,
    protocol: spanfire::OtlpProtocol,
    request_limit: Option<u64>,
) -> spanfire::Telemetry {
    let mut builder = spanfire::configure()
        .env_source(env_of(&[]))
        .service_name(service)
        .otlp_endpoint(endpoint)
        .otlp_protocol(protocol)
        .console(false)
        .install_globals(false);
    if let Some(limit) = request_limit {
        builder = builder.export_request_limit(limit);
    }
    builder.finish().unwrap()
}

/// Ends a span `POST` with `seq = seq`, a `body`-byte response body and `extra` attributes.
fn end_span(telemetry: &spanfire::Telemetry, seq: i64, body: usize, extra: Vec<KeyValue>) {
    let tracer = telemetry.tracer_provider().tracer("batches");
    tracer.in_span("POST", |cx| {
        let span = cx.span();
        span.set_attribute(KeyValue::new("seq", seq));
        span.set_attribute(KeyValue::new("http.response.body.text", "b".repeat(body)));
        for kv in extra {
            span.set_attribute(kv);
        }
    });
}

/// The spans the collector received for `service`, waiting (bounded) for `n`.
fn received_spans(file: &std::path::PathBuf, service: &str, n: usize) -> Vec<Json> {
    let records = received(file, service, |r| {
        r.iter().filter(|x| x["signal"] == "span").count() >= n
    });
    records
        .into_iter()
        .filter(|r| r["signal"] == "span")
        .collect()
}

fn seqs(spans: &[Json]) -> Vec<i64> {
    let mut seqs: Vec<i64> = spans
        .iter()
        .filter_map(|s| s["attributes"]["seq"].as_i64())
        .collect();
    seqs.sort_unstable();
    seqs
}

/// 20 spans with 300 KiB bodies, one batch of ~6 MiB, over gRPC to rotel (4 MiB message
/// limit): with the default request limit every span arrives, whole.
#[cfg(feature = "grpc")]
#[test]
fn batches_over_4_mib_reach_the_collector_split_over_grpc() {
    let Some((_, file)) = collector() else { return };
    let grpc = std::env::var("ROTEL_OTLP_GRPC").expect("scripts/rotel exports ROTEL_OTLP_GRPC");
    const N: usize = 20;
    const BODY: usize = 300 * KIB;
    let service = unique_service("batches-grpc");
    let telemetry = configure(&service, &grpc, spanfire::OtlpProtocol::Grpc, None);
    let stats = telemetry.export_stats();
    for seq in 0..N {
        end_span(&telemetry, seq as i64, BODY, Vec::new());
    }
    telemetry.shutdown().expect("shutdown flushes over gRPC");
    assert_eq!(stats.offered(), N as u64);
    assert_eq!(
        (stats.exported(), stats.failed(), stats.dropped()),
        (N as u64, 0, 0),
        "every request accepted"
    );
    assert_eq!((stats.bodies_truncated(), stats.bodies_dropped()), (0, 0));
    let spans = received_spans(&file, &service, N);
    assert_eq!(seqs(&spans), (0..N as i64).collect::<Vec<_>>());
    for span in &spans {
        let body = span["attributes"]["http.response.body.text"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(body.len(), BODY, "the body arrives whole");
        assert!(span["attributes"]["spanfire.export.body_truncated"].is_null());
    }
}

/// The same batch as one request (no request limit) is rejected by rotel (gRPC status
/// `OutOfRange`: over its 4 MiB message limit), whole: what the split avoids.
#[cfg(feature = "grpc")]
#[test]
fn batches_over_4_mib_are_rejected_over_grpc_without_the_split() {
    let Some((_, file)) = collector() else { return };
    let grpc = std::env::var("ROTEL_OTLP_GRPC").expect("scripts/rotel exports ROTEL_OTLP_GRPC");
    const N: usize = 20;
    let service = unique_service("batches-grpc-unsplit");
    let telemetry = configure(&service, &grpc, spanfire::OtlpProtocol::Grpc, Some(0));
    let stats = telemetry.export_stats();
    for seq in 0..N {
        end_span(&telemetry, seq as i64, 300 * KIB, Vec::new());
    }
    let result = telemetry.shutdown();
    eprintln!("shutdown: {result:?}");
    assert_eq!(stats.offered(), N as u64);
    assert_eq!(
        (stats.exported(), stats.failed()),
        (0, N as u64),
        "one request over 4 MiB, rejected whole"
    );
    let records = received(&file, &service, |_| true);
    assert!(records.iter().all(|r| r["signal"] != "span"));
}

/// OTLP/HTTP to rotel with a 256 KiB request limit: 20 spans with 60 KiB bodies arrive (in
/// several requests), a span with a 400 KiB body arrives with its body cut and marked, and a
/// span with a 400 KiB attribute that is not a body is dropped and counted.
#[test]
fn batches_split_over_otlp_http_with_a_small_limit() {
    let Some((url, file)) = collector() else {
        return;
    };
    const N: usize = 20;
    const LIMIT: usize = 256 * KIB;
    let service = unique_service("batches-http");
    let telemetry = configure(
        &service,
        &url,
        spanfire::OtlpProtocol::HttpProtobuf,
        Some(LIMIT as u64),
    );
    let stats = telemetry.export_stats();
    for seq in 0..N {
        end_span(&telemetry, seq as i64, 60 * KIB, Vec::new());
    }
    end_span(&telemetry, 1000, 400 * KIB, Vec::new());
    let blob = KeyValue::new("app.blob", "z".repeat(400 * KIB));
    end_span(&telemetry, 2000, KIB, vec![blob]);
    telemetry.shutdown().expect("shutdown flushes");
    assert_eq!(stats.offered(), N as u64 + 2);
    assert_eq!(
        (stats.exported(), stats.failed(), stats.dropped()),
        (N as u64 + 1, 0, 1)
    );
    assert_eq!((stats.too_large(), stats.bodies_truncated()), (1, 1));
    let spans = received_spans(&file, &service, N + 1);
    let mut expected: Vec<i64> = (0..N as i64).collect();
    expected.push(1000);
    assert_eq!(seqs(&spans), expected, "all but the hopeless span");
    for span in &spans {
        let a = &span["attributes"];
        let body = a["http.response.body.text"].as_str().unwrap_or_default();
        if a["seq"] == 1000 {
            assert_eq!(a["spanfire.export.body_truncated"], true);
            assert!(body.ends_with(spanfire::TRUNCATION_MARKER), "marked");
            assert!(body.starts_with("bbbb"), "a prefix is kept");
            assert!(
                body.len() < LIMIT && body.len() > LIMIT / 2,
                "cut to what fits: {}",
                body.len()
            );
        } else {
            assert_eq!(body.len(), 60 * KIB);
            assert!(a["spanfire.export.body_truncated"].is_null());
        }
    }
}

/// What a local OTLP/HTTP receiver got on `/v1/traces`: each request's body.
type Bodies = Arc<Mutex<Vec<bytes::Bytes>>>;

async fn receiver() -> (String, Bodies) {
    let bodies = Bodies::default();
    let seen = Arc::clone(&bodies);
    let addr = Serve::new()
        .start(move |req: http::Request<hyper::body::Incoming>| {
            let seen = Arc::clone(&seen);
            async move {
                let traces = req.uri().path() == "/v1/traces";
                let body = http_body_util::BodyExt::collect(req.into_body())
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                if traces {
                    seen.lock().unwrap().push(body);
                }
                http::Response::new(http_body_util::Full::new(bytes::Bytes::new()))
            }
        })
        .await;
    (format!("http://127.0.0.1:{}", addr.port()), bodies)
}

/// The `seq` of each span of an export request body, in order.
fn request_seqs(body: &[u8], protocol: spanfire::OtlpProtocol) -> Vec<i64> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    if protocol == spanfire::OtlpProtocol::HttpJson {
        let json: Json = serde_json::from_slice(body).expect("an OTLP/JSON body");
        let mut out = Vec::new();
        for rs in json["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for span in ss["spans"].as_array().into_iter().flatten() {
                    let seq = span["attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|kv| kv["key"] == "seq")
                        .and_then(|kv| kv["value"]["intValue"].as_str()?.parse().ok());
                    out.push(seq.unwrap_or(-1));
                }
            }
        }
        return out;
    }
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP/protobuf body");
    request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|span| {
            span.attributes
                .iter()
                .find(|kv| kv.key == "seq")
                .and_then(|kv| match kv.value.as_ref()?.value {
                    Some(Value::IntValue(i)) => Some(i),
                    _ => None,
                })
                .unwrap_or(-1)
        })
        .collect()
}

/// Every OTLP/HTTP request stays within a 256 KiB limit, protobuf and (larger) JSON alike,
/// and the spans arrive in order across requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_every_http_request_stays_within_the_limit() {
    const N: usize = 20;
    const LIMIT: usize = 256 * KIB;
    for protocol in [
        spanfire::OtlpProtocol::HttpProtobuf,
        spanfire::OtlpProtocol::HttpJson,
    ] {
        let (url, bodies) = receiver().await;
        let telemetry = configure("batches", &url, protocol, Some(LIMIT as u64));
        let stats = telemetry.export_stats();
        for seq in 0..N {
            end_span(&telemetry, seq as i64, 60 * KIB, Vec::new());
        }
        end_span(&telemetry, N as i64, 400 * KIB, Vec::new());
        // Shutdown blocks; the receiver keeps running on the other worker.
        tokio::task::spawn_blocking(move || telemetry.shutdown())
            .await
            .unwrap()
            .expect("shutdown flushes");
        assert_eq!(
            (stats.exported(), stats.failed(), stats.dropped()),
            (N as u64 + 1, 0, 0),
            "{protocol:?}"
        );
        assert_eq!(stats.bodies_truncated(), 1);
        let bodies = bodies.lock().unwrap().clone();
        let sizes: Vec<usize> = bodies.iter().map(|b| b.len()).collect();
        eprintln!("{protocol:?}: request sizes {sizes:?}");
        // 20 × 60 KiB + ~250 KiB: at least 6 requests of at most 256 KiB.
        assert!(sizes.len() >= 6, "{protocol:?}: {sizes:?}");
        assert!(sizes.iter().all(|s| *s <= LIMIT), "{protocol:?}: {sizes:?}");
        let seqs: Vec<i64> = bodies
            .iter()
            .flat_map(|b| request_seqs(b, protocol))
            .collect();
        assert_eq!(seqs, (0..=N as i64).collect::<Vec<_>>(), "{protocol:?}");
    }
}
