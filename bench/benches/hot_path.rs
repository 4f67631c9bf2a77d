//! Micro-benchmarks of spanfire's per-request hot path, with heap allocations per operation.
//!
//! ```text
//! cargo bench -p spanfire-bench --bench hot_path            # criterion timings + allocs/op
//! cargo bench -p spanfire-bench --bench hot_path -- span    # only benchmarks matching "span"
//! ```
//!
//! Before criterion runs, each operation is run [`ALLOC_ITERS`] times under a counting global
//! allocator and its allocations per operation are printed as a markdown table (`alloc`,
//! `alloc_zeroed` and `realloc` each count one). The span benchmarks go through
//! `spanfire::__bench` (feature `__bench`), which drives the same internal calls as the reqwest
//! middleware without I/O; spans end in an SDK tracer provider whose processor drops them, and
//! metrics go to an SDK meter provider that is never collected. The global propagator is the
//! one `spanfire::configure()` installs (W3C trace context + baggage) unless
//! `HOT_PATH_NO_GLOBAL_PROPAGATOR=1` (then spanfire's own W3C fallback injects).
//!
//! `HOT_PATH_ALLOC_SITES=<operation>` prints where each allocation of one call of that
//! operation is made instead of benchmarking:
//!
//! ```text
//! CARGO_PROFILE_BENCH_DEBUG=line-tables-only HOT_PATH_ALLOC_SITES=span_start_end/unsampled \
//!     cargo bench -p spanfire-bench --bench hot_path
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, BatchSize, Criterion};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use opentelemetry_sdk::error::OTelSdkResult;
use reqwest::ResponseBuilderExt;
use spanfire::__bench::{capture_body, Core, Exchange};
use spanfire::{HttpClientInstrumentation, Secrets};
use url::Url;

// ---------------------------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------------------------

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether allocation sites are being recorded on this thread.
    static RECORDING: Cell<bool> = const { Cell::new(false) };
    /// Set while recording one site (the recording itself allocates).
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

/// Backtraces of the allocations made while [`RECORDING`].
static SITES: Mutex<Vec<Backtrace>> = Mutex::new(Vec::new());

struct Counting;

fn on_alloc() {
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    if RECORDING.with(Cell::get) && !IN_HOOK.with(Cell::get) {
        IN_HOOK.with(|h| h.set(true));
        let trace = Backtrace::force_capture();
        if let Ok(mut sites) = SITES.lock() {
            sites.push(trace);
        }
        IN_HOOK.with(|h| h.set(false));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches an
// atomic and const-initialised thread-locals without destructors; recording a site (only in
// `HOT_PATH_ALLOC_SITES` mode) is guarded against re-entry.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        on_alloc();
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        on_alloc();
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        on_alloc();
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `op` once (after a warm-up call) and prints where each of its allocations was made:
/// the allocating function and the innermost spanfire frame, with file and line (build with
/// `CARGO_PROFILE_BENCH_DEBUG=line-tables-only` for lines).
fn print_alloc_sites(name: &str, mut op: impl FnMut()) {
    op();
    if let Ok(mut sites) = SITES.lock() {
        sites.clear();
    }
    RECORDING.with(|r| r.set(true));
    op();
    RECORDING.with(|r| r.set(false));
    let sites = SITES
        .lock()
        .map(|mut s| std::mem::take(&mut *s))
        .unwrap_or_default();
    println!("\n{} allocations in one `{name}`:", sites.len());
    for (i, trace) in sites.iter().enumerate() {
        if std::env::var_os("HOT_PATH_ALLOC_SITES_RAW").is_some() {
            println!("{trace}");
        }
        let frames = frames(&trace.to_string());
        let std_lib = |f: &&(String, String)| {
            f.1.is_empty()
                || ["/library/", "benches/hot_path.rs"]
                    .iter()
                    .any(|p| f.1.contains(p))
        };
        let allocator = frames.iter().find(|f| !std_lib(f));
        let ours = frames.iter().find(|f| f.1.contains("spanfire/src/"));
        let show = |f: Option<&(String, String)>| {
            f.map_or("?".to_owned(), |(n, at)| {
                let short = at
                    .split_once("index.crates.io-")
                    .and_then(|(_, rest)| rest.split_once('/'))
                    .map_or(at.as_str(), |(_, rest)| rest);
                let short = short.rsplit_once("/work/main/").map_or(short, |(_, r)| r);
                format!("{n} at {short}")
            })
        };
        let line = if allocator == ours {
            show(ours)
        } else {
            format!("{}\n       in {}", show(allocator), show(ours))
        };
        println!("{:>3}. {line}", i + 1);
    }
}

/// `(function, file:line:col)` of each frame of a formatted `std::backtrace::Backtrace`.
fn frames(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(at) = line.strip_prefix("at ") {
            if let Some(last) = out.last_mut() {
                last.1 = at.to_owned();
            }
        } else if let Some((_, name)) = line.split_once(": ") {
            out.push((name.to_owned(), String::new()));
        }
    }
    out
}

/// Iterations of each operation when counting its allocations.
const ALLOC_ITERS: u64 = 1_000;

/// Allocations per call of `op` (after one warm-up call).
fn allocs_per_op(mut op: impl FnMut()) -> f64 {
    op();
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..ALLOC_ITERS {
        op();
    }
    (ALLOCS.load(Ordering::Relaxed) - before) as f64 / ALLOC_ITERS as f64
}

/// Allocations per call of `op`, not counting `setup` (which builds its input).
fn allocs_per_op_batched<I>(mut setup: impl FnMut() -> I, mut op: impl FnMut(I)) -> f64 {
    op(setup());
    let mut counted = 0;
    for _ in 0..ALLOC_ITERS {
        let input = setup();
        let before = ALLOCS.load(Ordering::Relaxed);
        op(input);
        counted += ALLOCS.load(Ordering::Relaxed) - before;
    }
    counted as f64 / ALLOC_ITERS as f64
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// Drops every ended span.
#[derive(Debug)]
struct Discard;

impl opentelemetry_sdk::trace::SpanProcessor for Discard {
    fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &opentelemetry::Context) {}
    fn on_end(&self, span: opentelemetry_sdk::trace::SpanData) {
        drop(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// Drops every metric export (the reader fires once an hour anyway).
#[derive(Debug)]
struct DiscardMetrics;

impl opentelemetry_sdk::metrics::exporter::PushMetricExporter for DiscardMetrics {
    async fn export(&self, _: &opentelemetry_sdk::metrics::data::ResourceMetrics) -> OTelSdkResult {
        Ok(())
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
    fn temporality(&self) -> opentelemetry_sdk::metrics::Temporality {
        opentelemetry_sdk::metrics::Temporality::Cumulative
    }
}

fn instrumentation(sampled: bool) -> HttpClientInstrumentation {
    let mut tracer =
        opentelemetry_sdk::trace::SdkTracerProvider::builder().with_span_processor(Discard);
    if !sampled {
        tracer = tracer.with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff);
    }
    let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(DiscardMetrics)
        .with_interval(Duration::from_secs(3600))
        .build();
    let meter = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(reader)
        .build();
    HttpClientInstrumentation::new()
        .tracer_provider(tracer.build())
        .meter_provider(meter)
}

struct Fixture {
    get_url: Url,
    post_url: Url,
    request_headers: HeaderMap,
    post_headers: HeaderMap,
    response_headers: HeaderMap,
    body: Vec<u8>,
    peer: SocketAddr,
}

fn fixture() -> Fixture {
    let mut request_headers = HeaderMap::new();
    request_headers.insert("accept", HeaderValue::from_static("*/*"));
    request_headers.insert("user-agent", HeaderValue::from_static("bench/1.0"));
    request_headers.insert("authorization", HeaderValue::from_static("Bearer s3cr3t"));
    request_headers.insert("x-request-id", HeaderValue::from_static("4bf92f3577b34da6"));
    let mut post_headers = request_headers.clone();
    post_headers.insert("content-type", HeaderValue::from_static("application/json"));
    let mut response_headers = HeaderMap::new();
    response_headers.insert("content-type", HeaderValue::from_static("application/json"));
    response_headers.insert("content-length", HeaderValue::from_static("1024"));
    response_headers.insert(
        "date",
        HeaderValue::from_static("Sun, 01 Nov 2026 12:00:00 GMT"),
    );
    let mut body = br#"{"items":["#.to_vec();
    while body.len() < 1022 {
        body.push(b'a');
    }
    body.extend_from_slice(b"]}");
    Fixture {
        get_url: Url::parse("http://127.0.0.1:8080/get?page=2&limit=50").unwrap(),
        post_url: Url::parse("http://127.0.0.1:8080/post").unwrap(),
        request_headers,
        post_headers,
        response_headers,
        body,
        peer: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
    }
}

const CLEAN_URL: &str = "https://api.example.com/v1/items/42?page=2&limit=50&sort=name";
const SECRET_URL: &str =
    "https://user:pw@bucket.s3.amazonaws.com/key?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc&x=1";

/// The type conversions spanfire's reqwest middleware does on every response
/// (`wrap_response` in spanfire/src/reqwest/middleware.rs), with a pass-through body wrapper
/// in place of `InstrumentedBody`: what wrapping a reqwest response body costs by itself.
fn rewrap_response(res: reqwest::Response) -> reqwest::Response {
    let url = res.url().clone();
    let (mut parts, body) = http::Response::<reqwest::Body>::from(res).into_parts();
    if let Ok(with_url) = http::Response::builder().url(url).body(()) {
        parts.extensions.extend(with_url.into_parts().0.extensions);
    }
    let body = reqwest::Body::wrap(body.map_frame(|f| f));
    reqwest::Response::from(http::Response::from_parts(parts, body))
}

fn a_response() -> reqwest::Response {
    let res = http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .url(Url::parse("http://127.0.0.1:8080/get").unwrap())
        .body(Bytes::from_static(b"{}"))
        .unwrap();
    reqwest::Response::from(res)
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// Every benchmarked operation, by name: its allocations are counted with the same closures
/// criterion times.
struct Ops {
    fx: Fixture,
    sampled: Core,
    unsampled: Core,
    unsampled_nopropagation: Core,
    capture_all: Core,
    secrets: Secrets,
}

impl Ops {
    fn new() -> Self {
        Ops {
            fx: fixture(),
            sampled: Core::new(&instrumentation(true)),
            unsampled: Core::new(&instrumentation(false)),
            unsampled_nopropagation: Core::new(&instrumentation(false).propagation(false)),
            capture_all: Core::new(&instrumentation(true).capture_all(true)),
            secrets: Secrets::default(),
        }
    }

    fn get<'a>(&'a self) -> Exchange<'a> {
        Exchange {
            method: &Method::GET,
            url: &self.fx.get_url,
            request_body: None,
            status: StatusCode::OK,
            response_headers: &self.fx.response_headers,
            response_body: &self.fx.body[..110],
            peer: Some(self.fx.peer),
        }
    }

    fn post<'a>(&'a self) -> Exchange<'a> {
        Exchange {
            method: &Method::POST,
            url: &self.fx.post_url,
            request_body: Some(&self.fx.body),
            status: StatusCode::OK,
            response_headers: &self.fx.response_headers,
            response_body: &self.fx.body,
            peer: Some(self.fx.peer),
        }
    }
}

const SIMPLE: &[&str] = &[
    "redact_url/clean",
    "redact_url/secret",
    "span_start_end/sampled",
    "span_start_end/unsampled",
    "exchange_get/default_sampled",
    "exchange_get/default_unsampled",
    "exchange_get/default_unsampled_propagation_off",
    "exchange_post_1kib/capture_all_sampled",
    "header_capture/request_5_headers",
    "header_capture/response_3_headers",
    "body_capture/1kib_json",
];

/// Runs the named operation once.
fn run_op(ops: &Ops, name: &str, headers: &mut HeaderMap) {
    let fx = &ops.fx;
    match name {
        "redact_url/clean" => {
            black_box(ops.secrets.redact_url(black_box(CLEAN_URL)));
        }
        "redact_url/secret" => {
            black_box(ops.secrets.redact_url(black_box(SECRET_URL)));
        }
        "span_start_end/sampled" => ops.sampled.start_end(&Method::GET, &fx.get_url),
        "span_start_end/unsampled" => ops.unsampled.start_end(&Method::GET, &fx.get_url),
        "exchange_get/default_sampled" => ops.sampled.exchange(&ops.get(), headers),
        "exchange_get/default_unsampled" => ops.unsampled.exchange(&ops.get(), headers),
        "exchange_get/default_unsampled_propagation_off" => {
            ops.unsampled_nopropagation.exchange(&ops.get(), headers)
        }
        "exchange_post_1kib/capture_all_sampled" => ops.capture_all.exchange(&ops.post(), headers),
        "header_capture/request_5_headers" => {
            black_box(ops.capture_all.record_headers(false, &fx.post_headers));
        }
        "header_capture/response_3_headers" => {
            black_box(ops.capture_all.record_headers(true, &fx.response_headers));
        }
        "body_capture/1kib_json" => {
            black_box(capture_body(
                Some("application/json"),
                spanfire::DEFAULT_BODY_LIMIT,
                &[&fx.body],
            ));
        }
        other => unreachable!("unknown op {other}"),
    }
}

/// The request headers an op starts from (the POST ones for the capture_all exchange).
fn start_headers(ops: &Ops, name: &str) -> HeaderMap {
    if name.starts_with("exchange_post") {
        ops.fx.post_headers.clone()
    } else {
        ops.fx.request_headers.clone()
    }
}

fn print_alloc_table(ops: &Ops) {
    println!("\n| operation | allocs/op |\n|---|---:|");
    for name in SIMPLE {
        // The headers map is reused, as the middleware reuses the request's map: after the
        // first call, injection replaces `traceparent` in place.
        let mut headers = start_headers(ops, name);
        let n = allocs_per_op(|| run_op(ops, name, &mut headers));
        println!("| {name} | {n:.1} |");
    }
    let n = allocs_per_op_batched(a_response, |res| drop(black_box(rewrap_response(res))));
    println!("| reqwest_response/rewrap (middleware's conversions, no span) | {n:.1} |");
    println!();
}

fn benches(c: &mut Criterion) {
    // The propagators `spanfire::configure()` installs (as in the overhead binary's rows);
    // `HOT_PATH_NO_GLOBAL_PROPAGATOR=1` leaves the no-op global, so that spanfire injects W3C
    // trace context itself.
    if std::env::var_os("HOT_PATH_NO_GLOBAL_PROPAGATOR").is_none() {
        opentelemetry::global::set_text_map_propagator(spanfire::W3cPropagator::new());
    }
    let ops = Ops::new();
    if let Ok(name) = std::env::var("HOT_PATH_ALLOC_SITES") {
        if name == "reqwest_response/rewrap" {
            let mut inputs = vec![a_response(), a_response()];
            print_alloc_sites(&name, || {
                if let Some(res) = inputs.pop() {
                    drop(black_box(rewrap_response(res)));
                }
            });
            return;
        }
        let mut headers = start_headers(&ops, &name);
        print_alloc_sites(&name, || run_op(&ops, &name, &mut headers));
        return;
    }
    print_alloc_table(&ops);
    for name in SIMPLE {
        let mut headers = start_headers(&ops, name);
        c.bench_function(name, |b| b.iter(|| run_op(&ops, name, &mut headers)));
    }
    c.bench_function("reqwest_response/rewrap", |b| {
        b.iter_batched(a_response, rewrap_response, BatchSize::SmallInput)
    });
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = hot_path;
    config = config();
    targets = benches
}
criterion::criterion_main!(hot_path);
