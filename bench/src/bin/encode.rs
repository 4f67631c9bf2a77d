//! Instructions per span (callgrind) of encoding OTLP/protobuf trace export requests: spanfire's
//! encoder (`configure/otlp_proto.rs`) against what opentelemetry-otlp 0.33's HTTP/protobuf
//! exporter does (`group_spans_by_resource_and_scope`, then prost's `encode_to_vec`).
//!
//! ```text
//! CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release -p spanfire-bench \
//!     --bin encode --target-dir target/prof
//! target/prof/release/encode                                  # all, under valgrind: a table
//! target/prof/release/encode --mode ours --shape capture_all --spans 51200  # ns per span
//! ```
//!
//! Modes, each a call that takes a batch of 512 spans by value, as the exporter gets it:
//! - `ours`: spanfire's `encode_trace_request` into a new `Vec`, then the batch dropped;
//! - `otlp`: the transform (which consumes the batch) and `encode_to_vec`, then the proto
//!   structs dropped;
//! - `drop`: the batch dropped, nothing else (what both pay for freeing the spans).
//!
//! Shapes: `capture_all` (31 attributes as spanfire writes them with every capture on, two of
//! them 1 KiB JSON bodies, and the `http.response.head` event) and `default` (12 attributes,
//! the event, no bodies).
//!
//! Without `--mode`, the binary runs itself under `valgrind --tool=callgrind
//! --toggle-collect=FUNCTION` (only the instructions within FUNCTION count: the measured call,
//! or spanfire's `encode_trace_request` alone, never building the batches) with N and 2N spans
//! (N = `ENCODE_SPANS`, default 5120) and prints (I(2N) − I(N)) / N per shape and row: what a
//! run does once cancels out. Instructions repeat exactly whatever the machine's load, unlike
//! the nanoseconds `--mode` prints. `ENCODE_OUT=DIR` keeps the callgrind files for
//! `callgrind_annotate --inclusive=yes`.

use std::borrow::Cow;
use std::hint::black_box;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use opentelemetry_sdk::Resource;
use prost::Message as _;

#[path = "../shared/bodies.rs"]
mod bodies;
use bodies::kib_json;

/// Spans per export batch (the batch span processor's default `max_export_batch_size`).
const BATCH: usize = 512;
const MODES: [&str; 3] = ["ours", "otlp", "drop"];
const SHAPES: [&str; 2] = ["capture_all", "default"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.is_empty() {
        measure_all()
    } else {
        run(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("encode: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--mode MODE --shape SHAPE --spans N`: encodes N spans (in batches of 512) and prints the
/// nanoseconds per span of the measured calls.
fn run(args: &[String]) -> Result<(), String> {
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    let mode = value("--mode")
        .ok_or("usage: encode [--mode ours|otlp|drop] [--shape capture_all|default] [--spans N]")?;
    if !MODES.contains(&mode) {
        return Err(format!("no mode {mode}"));
    }
    let shape = value("--shape").unwrap_or("capture_all");
    let spans: usize = value("--spans")
        .unwrap_or("51200")
        .parse()
        .map_err(|e| format!("--spans: {e}"))?;
    let template = batch(shape)?;
    let resource = Resource::builder()
        .with_service_name("checkout")
        .with_attributes([
            KeyValue::new("service.version", "1.2.3"),
            KeyValue::new("deployment.environment.name", "production"),
        ])
        .build();
    let otlp_resource = ResourceAttributesWithSchema::from(&resource);

    let mut elapsed = Duration::ZERO;
    let mut bytes = 0;
    let mut done = 0;
    while done < spans {
        let n = BATCH.min(spans - done);
        let spans = template[..n].to_vec();
        let start = Instant::now();
        let body = match mode {
            "ours" => measured_ours(spans, &resource),
            "otlp" => measured_otlp(spans, &otlp_resource),
            _ => measured_drop(spans),
        };
        elapsed += start.elapsed();
        bytes += body.len();
        drop(black_box(body));
        done += n;
    }
    println!(
        "{mode} {shape}: {spans} spans, {:.0} ns/span, {} bytes/span",
        elapsed.as_nanos() as f64 / spans.max(1) as f64,
        bytes / spans.max(1)
    );
    Ok(())
}

#[inline(never)]
fn measured_ours(spans: Vec<SpanData>, resource: &Resource) -> Vec<u8> {
    let mut out = Vec::new();
    spanfire::__fuzz::encode_trace_request(black_box(&spans), resource, &mut out);
    drop(spans);
    out
}

#[inline(never)]
fn measured_otlp(spans: Vec<SpanData>, resource: &ResourceAttributesWithSchema) -> Vec<u8> {
    // OtlpHttpClient::build_trace_export_body, HTTP/protobuf, no compression.
    let resource_spans = group_spans_by_resource_and_scope(black_box(spans), resource);
    ExportTraceServiceRequest { resource_spans }.encode_to_vec()
}

#[inline(never)]
fn measured_drop(spans: Vec<SpanData>) -> Vec<u8> {
    drop(black_box(spans));
    Vec::new()
}

/// A batch of 512 spans of `shape`, with distinct ids.
fn batch(shape: &str) -> Result<Vec<SpanData>, String> {
    let body = kib_json();
    let scope = InstrumentationScope::builder("spanfire")
        .with_version("0.1.0")
        .with_schema_url("https://opentelemetry.io/schemas/1.37.0")
        .build();
    (0..BATCH as u64)
        .map(|i| {
            let attributes = match shape {
                "capture_all" => capture_all(i, &body),
                "default" => default(i),
                _ => return Err(format!("no shape {shape}")),
            };
            let start =
                SystemTime::UNIX_EPOCH + Duration::from_nanos(1_764_000_000_000_000_000 + i);
            Ok(SpanData {
                span_context: SpanContext::new(
                    TraceId::from(0x5b8e_fff7_9879_8ad0_4d2b_43f1_b3e0_c7a1 + u128::from(i)),
                    SpanId::from(0x1000 + i),
                    TraceFlags::SAMPLED,
                    false,
                    TraceState::NONE,
                ),
                parent_span_id: SpanId::from(0x2000 + i),
                parent_span_is_remote: false,
                span_kind: SpanKind::Client,
                name: Cow::Borrowed("POST"),
                start_time: start,
                end_time: start + Duration::from_micros(1_234),
                attributes,
                dropped_attributes_count: 0,
                events: {
                    let mut events = SpanEvents::default();
                    events.events = vec![Event::new(
                        "http.response.head",
                        start + Duration::from_micros(800),
                        Vec::new(),
                        0,
                    )];
                    events
                },
                links: SpanLinks::default(),
                status: Status::Unset,
                instrumentation_scope: scope.clone(),
            })
        })
        .collect()
}

fn headers(values: &[&str]) -> Value {
    Value::Array(Array::String(
        values.iter().map(|v| v.to_string().into()).collect(),
    ))
}

/// The attributes of a default span (no capture): start, response and peer attributes and the
/// Logfire ones.
fn default(i: u64) -> Vec<KeyValue> {
    vec![
        KeyValue::new("http.request.method", "POST"),
        KeyValue::new(
            "url.full",
            format!("https://api.example.com/v1/orders/{i}?page=2"),
        ),
        KeyValue::new("server.address", "api.example.com".to_string()),
        KeyValue::new("server.port", 443_i64),
        KeyValue::new("url.scheme", "https"),
        KeyValue::new("network.protocol.version", "1.1"),
        KeyValue::new("http.response.status_code", 200_i64),
        KeyValue::new("network.peer.address", "93.184.215.14".to_string()),
        KeyValue::new("network.peer.port", 443_i64),
        KeyValue::new("http.response.body.size", 1024_i64),
        KeyValue::new("logfire.span_type", "span"),
        KeyValue::new(
            "logfire.msg",
            format!("POST api.example.com/v1/orders/{i} ? page='2'"),
        ),
    ]
}

/// The attributes of a span with every capture on: the default ones, headers, bodies.
fn capture_all(i: u64, body: &str) -> Vec<KeyValue> {
    let mut attributes = default(i);
    attributes.extend([
        KeyValue::new("http.request.body.size", 1024_i64),
        KeyValue::new("http.request.body.text", body.to_string()),
        KeyValue::new("http.response.body.text", body.to_string()),
        KeyValue::new(
            "http.request.header.content-type",
            headers(&["application/json"]),
        ),
        KeyValue::new("http.request.header.accept", headers(&["*/*"])),
        KeyValue::new("http.request.header.user-agent", headers(&["reqwest/0.13"])),
        KeyValue::new(
            "http.request.header.authorization",
            headers(&["[Scrubbed due to 'auth']"]),
        ),
        KeyValue::new("http.request.header.traceparent", headers(&[
            "00-5b8efff798798ad04d2b43f1b3e0c7a1-0000000000001000-01",
        ])),
        KeyValue::new("http.request.header.content-length", headers(&["1024"])),
        KeyValue::new(
            "http.response.header.content-type",
            headers(&["application/json; charset=utf-8"]),
        ),
        KeyValue::new("http.response.header.content-length", headers(&["1024"])),
        KeyValue::new(
            "http.response.header.date",
            headers(&["Tue, 25 Nov 2025 10:00:00 GMT"]),
        ),
        KeyValue::new("http.response.header.server", headers(&["nginx"])),
        KeyValue::new(
            "http.response.header.cache-control",
            headers(&["no-store"]),
        ),
        KeyValue::new("http.response.header.x-request-id", headers(&[
            "4f1c7a2e-93b5-4d8e-a0c1-5e6f7a8b9c0d",
        ])),
        KeyValue::new("http.request.body.truncated", false),
        KeyValue::new("http.response.body.truncated", false),
        KeyValue::new(
            "logfire.json_schema",
            r#"{"type":"object","properties":{"http.request.body.text":{"type":"object"},"http.response.body.text":{"type":"object"}}}"#,
        ),
        KeyValue::new(
            "logfire.scrubbed",
            r#"[{"path":["attributes","http.request.header.authorization"],"matched_substring":"auth"}]"#,
        ),
    ]);
    attributes
}

/// Runs every shape and mode under callgrind and prints a table.
fn measure_all() -> Result<(), String> {
    let spans: u64 = std::env::var("ENCODE_SPANS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5120);
    // (row, mode, the function whose instructions count)
    let rows = [
        (
            "spanfire: encode_trace_request",
            "ours",
            "*otlp_proto::encode_trace_request*",
        ),
        (
            "spanfire: encode_trace_request, then the batch dropped",
            "ours",
            "*measured_*",
        ),
        (
            "opentelemetry-otlp: transform + encode_to_vec (consumes the batch)",
            "otlp",
            "*measured_*",
        ),
        ("the batch dropped, nothing else", "drop", "*measured_*"),
    ];
    println!("| shape | what | instructions/span |");
    println!("|---|---|---:|");
    for shape in SHAPES {
        for (i, (what, mode, toggle)) in rows.iter().enumerate() {
            let once = instructions(mode, shape, toggle, spans, &format!("{i}.N"))?;
            let twice = instructions(mode, shape, toggle, 2 * spans, &format!("{i}.2N"))?;
            println!(
                "| {shape} | {what} | {} |",
                twice.saturating_sub(once) / spans
            );
        }
    }
    Ok(())
}

/// Instructions in the functions matching `toggle` of `--mode MODE --shape SHAPE --spans N`
/// under callgrind.
fn instructions(
    mode: &str,
    shape: &str,
    toggle: &str,
    spans: u64,
    tag: &str,
) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out_file = match std::env::var("ENCODE_OUT") {
        Ok(dir) => format!("{dir}/cg.{shape}.{mode}.{tag}.out"),
        Err(_) => "/dev/null".to_owned(),
    };
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--toggle-collect={toggle}"))
        .arg(format!("--callgrind-out-file={out_file}"))
        .arg(exe)
        .args([
            "--mode",
            mode,
            "--shape",
            shape,
            "--spans",
            &spans.to_string(),
        ])
        .output()
        .map_err(|e| format!("valgrind: {e}"))?;
    let log = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!(
            "--mode {mode} --shape {shape} --spans {spans} failed:\n{log}"
        ));
    }
    log.lines()
        .find_map(|line| {
            let (_, count) = line.split_once("Collected :")?;
            count.trim().replace(',', "").parse().ok()
        })
        .ok_or_else(|| format!("no instruction count in valgrind's output:\n{log}"))
}
