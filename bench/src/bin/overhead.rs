//! Per-request overhead of spanfire and of the incumbent (reqwest-tracing + tracing-opentelemetry)
//! against plain reqwest, measured in one process against one in-process hyper server.
//!
//! ```text
//! cargo build --release -p spanfire-bench
//! target/release/overhead                                  # Rust rows only
//! target/release/overhead --otlp http://127.0.0.1:24318    # + spanfire exporting to a collector
//! target/release/overhead --otlp URL --python bench/python/run.sh   # + the Python rows
//! target/release/overhead --server-only                    # print the URL, serve, wait
//! bench/run.sh                                             # all of it (starts rotel too)
//! ```
//!
//! The server (HTTP/1.1, 127.0.0.1, its own tokio runtime and threads) answers `GET /get` with
//! a small JSON body and `POST /post` by echoing the request body. Each client row has its own
//! `reqwest::Client` (own connection pool) behind `reqwest_middleware`, and the rows run in
//! alternation: every round runs every row at every concurrency, the starting row rotating from
//! round to round; each figure is the median over the rounds.
//!
//! Threads are pinned (`sched_setaffinity`) unless `--no-pin`: at c=1 the client runtime, the
//! main thread and the server share CPU 0 (every µs of CPU adds to the latency, and there are no
//! cross-CPU wake-ups); at c>1 the client is on CPU 0 and the server on CPU 1 (`--one-cpu`: all
//! on CPU 0). Unpinned, on a 2-vCPU VM the scheduler's placement alone moves throughput by 2-3×
//! from round to round, while the CPU time per request stays put.
//!
//! Per measurement: requests per second; process CPU time per request (`CLOCK_PROCESS_CPUTIME_ID`,
//! server included); client CPU per request (process CPU minus the server threads' CPU, read
//! from their `pthread_getcpuclockid` clocks: this includes the client runtime, the main thread
//! and any exporter thread); heap allocations per request made outside the server threads
//! (a counting `#[global_allocator]`; `alloc`, `alloc_zeroed` and `realloc` each count one).
//!
//! Span rows send spans to a processor whose `on_end` drops them (sampled, recording spans),
//! and check that exactly one span ended per request. The OTLP row (`--otlp URL`) exports
//! through `spanfire::configure()`'s batch processor (default settings: a 2048-span queue that
//! drops when full; `OTEL_BSP_*` apply), whose export thread runs during the measured window;
//! the processor is flushed after each window, so that no export runs into the next row's. How
//! many spans were exported or dropped is printed under the table.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Extensions;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentelemetry_sdk::error::OTelSdkResult;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};
use spanfire::HttpClientInstrumentation;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

#[path = "overhead/floor.rs"]
mod floor;

type BoxError = Box<dyn Error + Send + Sync>;

// ---------------------------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------------------------

/// Allocations made on threads other than the server's.
static CLIENT_ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Allocations made on the server's threads.
static SERVER_ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set on the server runtime's threads.
    static ON_SERVER_THREAD: Cell<bool> = const { Cell::new(false) };
}

struct Counting;

fn count_one() {
    let server = ON_SERVER_THREAD.try_with(Cell::get).unwrap_or(false);
    let counter = if server {
        &SERVER_ALLOCS
    } else {
        &CLIENT_ALLOCS
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only
// atomics and a const-initialised thread-local without destructor (it never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---------------------------------------------------------------------------------------------
// CPU clocks
// ---------------------------------------------------------------------------------------------

/// CPU clocks of the server runtime's threads (registered as each thread starts).
static SERVER_CLOCKS: Mutex<Vec<libc::clockid_t>> = Mutex::new(Vec::new());

fn read_clock(clock: libc::clockid_t) -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

fn process_cpu() -> Duration {
    read_clock(libc::CLOCK_PROCESS_CPUTIME_ID).unwrap_or_default()
}

fn server_cpu() -> Duration {
    let clocks = SERVER_CLOCKS.lock().map(|c| c.clone()).unwrap_or_default();
    clocks.into_iter().filter_map(read_clock).sum()
}

/// Thread ids of the server runtime's threads, and of the client runtime's (for pinning).
static SERVER_TIDS: Mutex<Vec<libc::pid_t>> = Mutex::new(Vec::new());
static CLIENT_TIDS: Mutex<Vec<libc::pid_t>> = Mutex::new(Vec::new());

fn register_tid(tids: &Mutex<Vec<libc::pid_t>>) {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    if let Ok(mut tids) = tids.lock() {
        tids.push(tid);
    }
}

fn register_client_thread() {
    register_tid(&CLIENT_TIDS);
}

/// Pins the threads `tids` to `cpu` (best effort: a failure leaves them unpinned).
fn pin(tids: &[libc::pid_t], cpu: usize) {
    for &tid in tids {
        // SAFETY: `set` is a zeroed, then initialised cpu_set_t passed with its size.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
}

/// Where threads run during a measurement: at concurrency 1 everything shares CPU 0 (each
/// request's CPU time adds up to its latency, with no cross-CPU wake-ups); above 1 the client
/// (runtime and main thread) runs on CPU 0 and the server on CPU 1, so the client's CPU cost
/// bounds the throughput. Other threads (exporters) are not pinned.
/// With `one_cpu`, everything shares CPU 0 at every concurrency.
fn place_threads(concurrency: usize, main_tid: libc::pid_t, one_cpu: bool) {
    let tids = |m: &Mutex<Vec<libc::pid_t>>| m.lock().map(|t| t.clone()).unwrap_or_default();
    let mut client = tids(&CLIENT_TIDS);
    client.push(main_tid);
    pin(&client, 0);
    pin(
        &tids(&SERVER_TIDS),
        if concurrency == 1 || one_cpu { 0 } else { 1 },
    );
}

/// Marks the current thread as a server thread: its allocations and CPU are the server's.
fn register_server_thread() {
    register_tid(&SERVER_TIDS);
    ON_SERVER_THREAD.with(|s| s.set(true));
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `pthread_self()` is the calling thread; `clock` is a valid out pointer.
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    if rc == 0 {
        if let Ok(mut clocks) = SERVER_CLOCKS.lock() {
            clocks.push(clock);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------------

const USAGE: &str = "usage: overhead [--rounds N] [--requests-c1 N] [--requests-c64 N] \
[--concurrency 1,64] [--client-threads N] [--server-threads N] [--otlp URL] [--python SCRIPT] \
[--rows KEY,KEY] [--no-pin | --one-cpu] [--sdk-propagator] [--server-only [--seconds N]] \
[--port N]";

#[derive(Debug)]
struct Args {
    rounds: usize,
    requests_c1: usize,
    requests_many: usize,
    concurrency: Vec<usize>,
    client_threads: usize,
    server_threads: usize,
    otlp: Option<String>,
    python: Option<String>,
    rows: Option<Vec<String>>,
    server_only: bool,
    seconds: u64,
    port: u16,
    pin: bool,
    one_cpu: bool,
    sdk_propagator: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        rounds: 5,
        requests_c1: 2_000,
        requests_many: 20_000,
        concurrency: vec![1, 64],
        client_threads: 1,
        server_threads: 1,
        otlp: std::env::var("ROTEL_OTLP_HTTP")
            .ok()
            .filter(|s| !s.is_empty()),
        python: None,
        rows: None,
        server_only: false,
        seconds: 600,
        port: 0,
        pin: std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2),
        one_cpu: false,
        sdk_propagator: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--rounds" => a.rounds = number(&value()?)?,
            "--requests-c1" => a.requests_c1 = number(&value()?)?,
            "--requests-c64" => a.requests_many = number(&value()?)?,
            "--concurrency" => {
                a.concurrency = value()?.split(',').map(number).collect::<Result<_, _>>()?
            }
            "--client-threads" => a.client_threads = number(&value()?)?,
            "--server-threads" => a.server_threads = number(&value()?)?,
            "--otlp" => a.otlp = Some(value()?),
            "--python" => a.python = Some(value()?),
            "--rows" => a.rows = Some(value()?.split(',').map(str::to_owned).collect()),
            "--server-only" => a.server_only = true,
            "--no-pin" => a.pin = false,
            "--one-cpu" => a.one_cpu = true,
            "--sdk-propagator" => a.sdk_propagator = true,
            "--seconds" => a.seconds = number(&value()?)? as u64,
            "--port" => {
                a.port = value()?
                    .parse()
                    .map_err(|_| "--port: not a port".to_owned())?
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unexpected argument {other:?}\n{USAGE}")),
        }
    }
    Ok(a)
}

fn number(s: &str) -> Result<usize, String> {
    s.trim()
        .parse()
        .ok()
        .filter(|&n: &usize| n > 0)
        .ok_or_else(|| format!("not a positive number: {s:?}"))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("overhead: error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), BoxError> {
    let (addr, server) = start_server(args.server_threads, args.port)?;
    let base = format!("http://{addr}");
    if args.server_only {
        println!("BENCH_URL={base}");
        eprintln!("overhead: serving on {base} for {} s", args.seconds);
        std::thread::sleep(Duration::from_secs(args.seconds));
        drop(server);
        return Ok(());
    }
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .thread_name("bench-client")
        .on_thread_start(register_client_thread)
        .enable_all()
        .build()?;
    let _entered = client_rt.enter();
    // SAFETY: gettid has no preconditions.
    let main_tid = unsafe { libc::gettid() };
    let place = |c: usize| {
        if args.pin {
            place_threads(c, main_tid, args.one_cpu);
        }
    };
    let rows = build_rows(&args, &base)?;
    eprintln!(
        "overhead: server {base}; {} rows; rounds {}; concurrency {:?}; requests {} (c=1) / {} (c>1)",
        rows.len(),
        args.rounds,
        args.concurrency,
        args.requests_c1,
        args.requests_many
    );
    let mut results: BTreeMap<(usize, usize), Vec<Sample>> = BTreeMap::new();
    for row in &rows {
        for &c in &args.concurrency {
            place(c);
            measure(&client_rt, row, c, (args.requests(c) / 10).max(c))?; // warm-up
        }
    }
    for round in 0..args.rounds {
        for i in 0..rows.len() {
            let r = (i + round) % rows.len();
            for (ci, &c) in args.concurrency.iter().enumerate() {
                place(c);
                let sample = measure(&client_rt, &rows[r], c, args.requests(c))?;
                eprintln!(
                    "round {}: {:<40} c={c:<3} {:>8.0} req/s {:>6.1} µs client CPU {:>6.1} allocs",
                    round + 1,
                    rows[r].name,
                    sample.rps,
                    sample.client_cpu_us,
                    sample.allocs
                );
                results.entry((r, ci)).or_default().push(sample);
            }
        }
    }
    if args.pin {
        // The Python client runs in its own process: let the server use any CPU again.
        let server = SERVER_TIDS.lock().map(|t| t.clone()).unwrap_or_default();
        for &tid in &server {
            // SAFETY: as in `pin`.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                for cpu in 0..2 {
                    libc::CPU_SET(cpu, &mut set);
                }
                libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set);
            }
        }
    }
    let python = match &args.python {
        Some(script) => run_python(script, &base, &args)?,
        None => Vec::new(),
    };
    let mut export_note = String::new();
    for row in rows.iter() {
        if let Some(telemetry) = &row.telemetry {
            let stats = telemetry.export_stats();
            telemetry.tracer_provider().force_flush()?;
            let _ = writeln!(
                export_note,
                "OTLP export ({}): {} spans offered to the batch processor, {} exported to the \
                 collector, {} not exported (dropped from the full queue or failed).",
                row.name,
                stats.offered(),
                stats.exported(),
                stats.not_exported()
            );
        }
    }
    print_report(&args, &rows, &results, &python, &export_note);
    drop(rows);
    drop(server);
    Ok(())
}

impl Args {
    fn requests(&self, concurrency: usize) -> usize {
        if concurrency == 1 {
            self.requests_c1
        } else {
            self.requests_many
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

/// What `GET /get` answers (a small JSON document, like httpbin's).
const GET_BODY: &str = r#"{"args":{},"headers":{"accept":"*/*","host":"127.0.0.1"},"origin":"127.0.0.1","url":"http://127.0.0.1/get"}"#;

/// Starts the server on its own runtime; returns its address and the runtime (dropping it
/// stops the server).
fn start_server(threads: usize, port: u16) -> Result<(SocketAddr, Runtime), BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("bench-server")
        .on_thread_start(register_server_thread)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(TcpListener::bind((Ipv4Addr::LOCALHOST, port)))?;
    let addr = listener.local_addr()?;
    runtime.spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(err) => {
                    eprintln!("overhead server: accept: {err}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(handle);
                // Errors here are clients closing idle connections: nothing to report.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((addr, runtime))
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (status, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/get") => (StatusCode::OK, Bytes::from_static(GET_BODY.as_bytes())),
        (&Method::POST, "/post") => (StatusCode::OK, req.into_body().collect().await?.to_bytes()),
        _ => (StatusCode::NOT_FOUND, Bytes::from_static(b"{}")),
    };
    Ok(Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .expect("valid response"))
}

// ---------------------------------------------------------------------------------------------
// Client rows
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// `GET /get`, ~110 B JSON response.
    Get,
    /// `POST /post` with a 1 KiB JSON body, echoed back (1 KiB JSON response).
    Post,
}

impl Workload {
    fn label(self) -> &'static str {
        match self {
            Workload::Get => "GET",
            Workload::Post => "POST 1 KiB",
        }
    }
}

/// How to tell that each request produced exactly one span.
enum SpanCheck {
    None,
    Ended(Arc<AtomicU64>),
}

struct Row {
    key: &'static str,
    name: &'static str,
    workload: Workload,
    client: ClientWithMiddleware,
    spans: SpanCheck,
    telemetry: Option<spanfire::Telemetry>,
    url: String,
    body: Bytes,
}

/// A 1 KiB JSON document (the request body of the POST rows).
fn kib_json() -> Bytes {
    let mut s = String::from(r#"{"items":["#);
    let mut i = 0;
    while s.len() < 1024 - 40 {
        let _ = write!(s, r#""item-{i:04}-abcdefghij","#);
        i += 1;
    }
    s.pop();
    s.push_str(r#"],"pad":""#);
    while s.len() < 1024 - 2 {
        s.push('x');
    }
    s.push_str(r#""}"#);
    debug_assert_eq!(s.len(), 1024);
    Bytes::from(s)
}

fn reqwest_client() -> Result<reqwest::Client, BoxError> {
    // No proxy: everything stays on 127.0.0.1 whatever HTTP_PROXY says.
    Ok(reqwest::Client::builder().no_proxy().build()?)
}

/// A middleware that does nothing but call the next one: the cost of the reqwest-middleware
/// boundary itself (boxed futures), which every middleware pays.
struct NoopMiddleware;

#[async_trait::async_trait]
impl Middleware for NoopMiddleware {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        next.run(req, extensions).await
    }
}

/// A span processor (OpenTelemetry 0.33 SDK) that counts each ended span and drops it.
#[derive(Debug)]
struct Discard(Arc<AtomicU64>);

impl opentelemetry_sdk::trace::SpanProcessor for Discard {
    fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &opentelemetry::Context) {}
    fn on_end(&self, span: opentelemetry_sdk::trace::SpanData) {
        self.0.fetch_add(1, Ordering::Relaxed);
        drop(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// The same, for the OpenTelemetry 0.32 SDK the incumbent uses.
#[derive(Debug)]
struct Discard032(Arc<AtomicU64>);

impl opentelemetry_sdk_0_32::trace::SpanProcessor for Discard032 {
    fn on_start(
        &self,
        _: &mut opentelemetry_sdk_0_32::trace::Span,
        _: &opentelemetry_0_32::Context,
    ) {
    }
    fn on_end(&self, span: opentelemetry_sdk_0_32::trace::SpanData) {
        self.0.fetch_add(1, Ordering::Relaxed);
        drop(span);
    }
    fn force_flush(&self) -> opentelemetry_sdk_0_32::error::OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> opentelemetry_sdk_0_32::error::OTelSdkResult {
        Ok(())
    }
}

/// A tracer provider whose spans are dropped at end; `sampled: false` samples nothing.
fn discarding_provider(
    sampled: bool,
) -> (opentelemetry_sdk::trace::SdkTracerProvider, Arc<AtomicU64>) {
    let ended = Arc::new(AtomicU64::new(0));
    let mut builder = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_span_processor(Discard(ended.clone()));
    if !sampled {
        builder = builder.with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff);
    }
    (builder.build(), ended)
}

/// A metric exporter that drops what it is given.
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

/// An SDK meter provider that aggregates every measurement (as in production) and exports
/// nowhere (its periodic reader fires once an hour).
fn sdk_meter_provider() -> opentelemetry_sdk::metrics::SdkMeterProvider {
    let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(DiscardMetrics)
        .with_interval(Duration::from_secs(3600))
        .build();
    opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(reader)
        .build()
}

/// Every row key, in table order.
const ROW_KEYS: &[&str] = &[
    "plain-get",
    "noop-middleware-get",
    "floor-get",
    "spanfire-get",
    "spanfire-unsampled-get",
    "spanfire-unsampled-nopropagation-get",
    "reqwest-tracing-get",
    "plain-post",
    "spanfire-capture-all-post",
    "spanfire-capture-all-otlp-post",
];

fn build_rows(args: &Args, base: &str) -> Result<Vec<Row>, BoxError> {
    // Propagators as each library's setup installs them: spanfire's configure() installs
    // spanfire::W3cPropagator (W3C trace context + baggage); reqwest-tracing's docs install
    // W3C trace context. `--sdk-propagator`: the SDK's TraceContext + Baggage composite instead.
    if args.sdk_propagator {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry::propagation::TextMapCompositePropagator::new(vec![
                Box::new(opentelemetry_sdk::propagation::TraceContextPropagator::new()),
                Box::new(opentelemetry_sdk::propagation::BaggagePropagator::new()),
            ]),
        );
    } else {
        opentelemetry::global::set_text_map_propagator(spanfire::W3cPropagator::new());
    }
    let wanted = |key: &str| {
        args.rows
            .as_ref()
            .is_none_or(|r| r.iter().any(|k| k == key))
    };
    if let Some(unknown) = args
        .rows
        .iter()
        .flatten()
        .find(|k| !ROW_KEYS.contains(&k.as_str()))
    {
        return Err(format!("unknown row {unknown:?}; rows: {}", ROW_KEYS.join(",")).into());
    }
    let mut rows = Vec::new();
    for &key in ROW_KEYS {
        if !wanted(key) {
            continue;
        }
        if let Some(row) = build_row(key, args, base)? {
            rows.push(row);
        }
    }
    Ok(rows)
}

fn build_row(key: &'static str, args: &Args, base: &str) -> Result<Option<Row>, BoxError> {
    let mut telemetry = None;
    let mut spans = SpanCheck::None;
    let (name, workload, client) = match key {
        "plain-get" | "plain-post" => {
            let client = ClientBuilder::new(reqwest_client()?).build();
            let workload = if key == "plain-get" {
                Workload::Get
            } else {
                Workload::Post
            };
            (
                "plain reqwest (reqwest-middleware, no middleware)",
                workload,
                client,
            )
        }
        "noop-middleware-get" => (
            "reqwest-middleware + one no-op middleware",
            Workload::Get,
            ClientBuilder::new(reqwest_client()?)
                .with(NoopMiddleware)
                .build(),
        ),
        "floor-get" => {
            use opentelemetry::metrics::MeterProvider as _;
            use opentelemetry::trace::TracerProvider as _;
            let (provider, ended) = discarding_provider(true);
            spans = SpanCheck::Ended(ended);
            let duration = sdk_meter_provider()
                .meter("floor")
                .f64_histogram("http.client.request.duration")
                .with_unit("s")
                .with_boundaries(spanfire::DURATION_BUCKETS.to_vec())
                .build();
            let middleware = floor::FloorMiddleware {
                tracer: provider.tracer("floor"),
                duration,
            };
            (
                "floor: bare SDK span over the body + duration metric (no spanfire)",
                Workload::Get,
                ClientBuilder::new(reqwest_client()?)
                    .with(middleware)
                    .build(),
            )
        }
        "spanfire-get" => {
            let (provider, ended) = discarding_provider(true);
            spans = SpanCheck::Ended(ended);
            let client = HttpClientInstrumentation::new()
                .tracer_provider(provider)
                .meter_provider(sdk_meter_provider())
                .instrument_reqwest(reqwest_client()?);
            ("spanfire default", Workload::Get, client)
        }
        "spanfire-unsampled-get" | "spanfire-unsampled-nopropagation-get" => {
            let (provider, _) = discarding_provider(false);
            let propagation = key == "spanfire-unsampled-get";
            let client = HttpClientInstrumentation::new()
                .tracer_provider(provider)
                .meter_provider(sdk_meter_provider())
                .propagation(propagation)
                .instrument_reqwest(reqwest_client()?);
            let name = if propagation {
                "spanfire default, unsampled (AlwaysOff)"
            } else {
                "spanfire default, unsampled, propagation off"
            };
            (name, Workload::Get, client)
        }
        "reqwest-tracing-get" => {
            let ended = install_incumbent()?;
            spans = SpanCheck::Ended(ended);
            let client = ClientBuilder::new(reqwest_client()?)
                .with(reqwest_tracing::TracingMiddleware::default())
                .build();
            (
                "reqwest-tracing 0.7 + tracing-opentelemetry 0.33",
                Workload::Get,
                client,
            )
        }
        "spanfire-capture-all-post" => {
            let (provider, ended) = discarding_provider(true);
            spans = SpanCheck::Ended(ended);
            let client = HttpClientInstrumentation::new()
                .capture_all(true)
                .tracer_provider(provider)
                .meter_provider(sdk_meter_provider())
                .instrument_reqwest(reqwest_client()?);
            ("spanfire capture_all", Workload::Post, client)
        }
        "spanfire-capture-all-otlp-post" => {
            let Some(endpoint) = &args.otlp else {
                eprintln!("overhead: no --otlp URL (or ROTEL_OTLP_HTTP): skipping {key}");
                return Ok(None);
            };
            let t = spanfire::configure()
                .service_name("spanfire-bench")
                .otlp_endpoint(endpoint.clone())
                .console(false)
                .install_globals(false)
                .finish()?;
            let client = HttpClientInstrumentation::new()
                .capture_all(true)
                .tracer_provider(t.tracer_provider().clone())
                .meter_provider(t.meter_provider().clone())
                .instrument_reqwest(reqwest_client()?);
            telemetry = Some(t);
            (
                "spanfire capture_all, batch OTLP/HTTP export to rotel",
                Workload::Post,
                client,
            )
        }
        other => return Err(format!("unknown row {other}").into()),
    };
    let (path, body) = match workload {
        Workload::Get => ("/get", Bytes::new()),
        Workload::Post => ("/post", kib_json()),
    };
    Ok(Some(Row {
        key,
        name,
        workload,
        client,
        spans,
        telemetry,
        url: format!("{base}{path}"),
        body,
    }))
}

/// Installs the incumbent's pipeline: a global `tracing` subscriber with the
/// tracing-opentelemetry layer (INFO and above, as usually filtered) on an OpenTelemetry 0.32
/// SDK tracer provider whose spans are dropped, and the W3C propagator as the 0.32 global.
fn install_incumbent() -> Result<Arc<AtomicU64>, BoxError> {
    use opentelemetry_0_32::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    let ended = Arc::new(AtomicU64::new(0));
    let provider = opentelemetry_sdk_0_32::trace::SdkTracerProvider::builder()
        .with_span_processor(Discard032(ended.clone()))
        .build();
    let tracer = provider.tracer("spanfire-bench");
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(tracing_opentelemetry_0_33::layer().with_tracer(tracer));
    tracing::subscriber::set_global_default(subscriber)?;
    opentelemetry_0_32::global::set_text_map_propagator(
        opentelemetry_sdk_0_32::propagation::TraceContextPropagator::new(),
    );
    Ok(ended)
}

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct Sample {
    rps: f64,
    cpu_us: f64,
    client_cpu_us: f64,
    allocs: f64,
}

fn measure(rt: &Runtime, row: &Row, concurrency: usize, total: usize) -> Result<Sample, BoxError> {
    let spans_before = match &row.spans {
        SpanCheck::Ended(n) => n.load(Ordering::Relaxed),
        SpanCheck::None => 0,
    };
    let allocs0 = CLIENT_ALLOCS.load(Ordering::Relaxed);
    let cpu0 = process_cpu();
    let server0 = server_cpu();
    let start = Instant::now();
    rt.block_on(run_batch(row, concurrency, total))?;
    let elapsed = start.elapsed();
    let cpu = process_cpu().saturating_sub(cpu0);
    let server = server_cpu().saturating_sub(server0);
    let allocs = CLIENT_ALLOCS.load(Ordering::Relaxed) - allocs0;
    if let Some(telemetry) = &row.telemetry {
        // Outside the window: the export still in progress must not run into the next row's.
        if let Err(err) = telemetry.tracer_provider().force_flush() {
            eprintln!("overhead: {}: flush: {err}", row.key);
        }
    }
    if let SpanCheck::Ended(n) = &row.spans {
        let ended = n.load(Ordering::Relaxed) - spans_before;
        if ended != total as u64 {
            return Err(format!("{}: {ended} spans ended for {total} requests", row.key).into());
        }
    }
    let per_req = |d: Duration| d.as_secs_f64() * 1e6 / total as f64;
    Ok(Sample {
        rps: total as f64 / elapsed.as_secs_f64(),
        cpu_us: per_req(cpu),
        client_cpu_us: per_req(cpu.saturating_sub(server)),
        allocs: allocs as f64 / total as f64,
    })
}

async fn run_batch(row: &Row, concurrency: usize, total: usize) -> Result<(), BoxError> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let next = next.clone();
        let client = row.client.clone();
        let url = row.url.clone();
        let body = row.body.clone();
        let workload = row.workload;
        tasks.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                one_request(&client, workload, &url, &body).await?;
            }
            Ok::<(), BoxError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

async fn one_request(
    client: &ClientWithMiddleware,
    workload: Workload,
    url: &str,
    body: &Bytes,
) -> Result<(), BoxError> {
    let request = match workload {
        Workload::Get => client.get(url),
        Workload::Post => client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone()),
    };
    let response = request.send().await?.error_for_status()?;
    let received = response.bytes().await?;
    let expected = match workload {
        Workload::Get => GET_BODY.len(),
        Workload::Post => body.len(),
    };
    if received.len() != expected {
        return Err(format!("{url}: got {} bytes, expected {expected}", received.len()).into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Python rows
// ---------------------------------------------------------------------------------------------

/// One row measured by `bench/python/aiohttp_bench.py`.
#[derive(Debug, Clone)]
struct PythonRow {
    name: String,
    workload: Workload,
    concurrency: usize,
    rps: f64,
    client_cpu_us: f64,
}

/// Runs the Python benchmark script against this server; parses its JSON lines.
fn run_python(script: &str, base: &str, args: &Args) -> Result<Vec<PythonRow>, BoxError> {
    eprintln!("overhead: running {script} against {base}");
    let mut child = Command::new(script)
        .env("BENCH_URL", base)
        .env("BENCH_ROUNDS", args.rounds.min(3).to_string())
        .env("BENCH_CONCURRENCY", join(&args.concurrency))
        .env("ROTEL_OTLP_HTTP", args.otlp.clone().unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut rows = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if !line.trim_start().starts_with('{') {
            eprintln!("{line}");
            continue;
        }
        rows.push(parse_python_row(&line)?);
    }
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("{script} failed: {status}").into());
    }
    Ok(rows)
}

fn parse_python_row(line: &str) -> Result<PythonRow, BoxError> {
    let v: serde_json::Value = serde_json::from_str(line)?;
    let text = |k: &str| {
        v[k].as_str()
            .map(str::to_owned)
            .ok_or(format!("no {k} in {line}"))
    };
    let num = |k: &str| v[k].as_f64().ok_or(format!("no {k} in {line}"));
    Ok(PythonRow {
        name: text("client")?,
        workload: if text("workload")? == "GET" {
            Workload::Get
        } else {
            Workload::Post
        },
        concurrency: num("concurrency")? as usize,
        rps: num("rps")?,
        client_cpu_us: num("cpu_us_per_request")?,
    })
}

fn join(values: &[usize]) -> String {
    values
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Medians over the rounds of one (row, concurrency).
#[derive(Debug, Clone, Copy)]
struct Summary {
    rps: f64,
    cpu_us: f64,
    client_cpu_us: f64,
    allocs: f64,
}

fn summarize(samples: &[Sample]) -> Summary {
    Summary {
        rps: median(samples.iter().map(|s| s.rps)),
        cpu_us: median(samples.iter().map(|s| s.cpu_us)),
        client_cpu_us: median(samples.iter().map(|s| s.client_cpu_us)),
        allocs: median(samples.iter().map(|s| s.allocs)),
    }
}

struct Report<'a> {
    rows: &'a [Row],
    concurrency: &'a [usize],
    summaries: BTreeMap<(usize, usize), Summary>,
}

impl Report<'_> {
    fn get(&self, key: &str, concurrency: usize) -> Option<Summary> {
        let r = self.rows.iter().position(|row| row.key == key)?;
        let ci = self.concurrency.iter().position(|&c| c == concurrency)?;
        self.summaries.get(&(r, ci)).copied()
    }

    fn plain(&self, workload: Workload, concurrency: usize) -> Option<Summary> {
        let key = match workload {
            Workload::Get => "plain-get",
            Workload::Post => "plain-post",
        };
        self.get(key, concurrency)
    }
}

fn print_report(
    args: &Args,
    rows: &[Row],
    results: &BTreeMap<(usize, usize), Vec<Sample>>,
    python: &[PythonRow],
    export_note: &str,
) {
    let report = Report {
        rows,
        concurrency: &args.concurrency,
        summaries: results.iter().map(|(k, v)| (*k, summarize(v))).collect(),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Median of {} rounds; {} requests per row and round at c=1, {} at c>1; client runtime {} \
         worker thread(s), server runtime {} worker thread(s); HTTP/1.1 on 127.0.0.1; {}.\n",
        args.rounds,
        args.requests_c1,
        args.requests_many,
        args.client_threads,
        args.server_threads,
        match (args.pin, args.one_cpu) {
            (false, _) => "threads not pinned",
            (true, true) => "client and server threads pinned to CPU 0",
            (true, false) => {
                "threads pinned: at c=1 client and server on CPU 0, at c>1 client on CPU 0 and \
                 server on CPU 1"
            }
        }
    );
    let _ = writeln!(
        out,
        "| client | workload | c | req/s | × plain | CPU µs/req (process) | client CPU µs/req | \
         + client CPU vs plain | allocs/req (client) | + allocs vs plain |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (r, row) in rows.iter().enumerate() {
        for (ci, &c) in args.concurrency.iter().enumerate() {
            let Some(s) = report.summaries.get(&(r, ci)) else {
                continue;
            };
            let plain = report.plain(row.workload, c);
            let ratio = plain.map_or(f64::NAN, |p| s.rps / p.rps);
            let dcpu = plain.map_or(f64::NAN, |p| s.client_cpu_us - p.client_cpu_us);
            let dalloc = plain.map_or(f64::NAN, |p| s.allocs - p.allocs);
            let _ = writeln!(
                out,
                "| {} | {} | {c} | {:.0} | {ratio:.3} | {:.1} | {:.1} | {dcpu:+.1} | {:.1} | {dalloc:+.1} |",
                row.name,
                row.workload.label(),
                s.rps,
                s.cpu_us,
                s.client_cpu_us,
                s.allocs,
            );
        }
    }
    for p in python {
        let plain = report.plain(p.workload, p.concurrency);
        let ratio = plain.map_or(f64::NAN, |pl| p.rps / pl.rps);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {ratio:.3} | – | {:.1} | – | – | – |",
            p.name,
            p.workload.label(),
            p.concurrency,
            p.rps,
            p.client_cpu_us
        );
    }
    if !export_note.is_empty() {
        let _ = write!(out, "\n{export_note}");
    }
    out.push_str("\n### Goals\n\n");
    goals(&report, python, &mut out);
    print!("{out}");
}

fn verdict(met: bool) -> &'static str {
    if met {
        "**met**"
    } else {
        "**missed**"
    }
}

fn goals(report: &Report<'_>, python: &[PythonRow], out: &mut String) {
    let many = report.concurrency.iter().copied().max().unwrap_or(64);
    let g = |k: &str| report.get(k, many);
    if let (Some(plain), Some(sf)) = (g("plain-get"), g("spanfire-get")) {
        let ratio = sf.rps / plain.rps;
        let _ = writeln!(
            out,
            "- spanfire default ≥ 0.97× plain throughput at c={many}: {ratio:.3}× — {}",
            verdict(ratio >= 0.97)
        );
    }
    for c in report.concurrency {
        let g = |k: &str| report.get(k, *c);
        if let (Some(plain), Some(sf), Some(rt)) =
            (g("plain-get"), g("spanfire-get"), g("reqwest-tracing-get"))
        {
            let ours = sf.client_cpu_us - plain.client_cpu_us;
            let theirs = rt.client_cpu_us - plain.client_cpu_us;
            let _ = writeln!(
                out,
                "- added client CPU per request ≤ 1/3 of reqwest-tracing's (c={c}): spanfire \
                 {ours:+.2} µs, reqwest-tracing {theirs:+.2} µs, ratio {:.2} — {}",
                ours / theirs,
                verdict(ours <= theirs / 3.0)
            );
        }
    }
    let c1 = report.concurrency.iter().copied().min().unwrap_or(1);
    let g1 = |k: &str| report.get(k, c1);
    if let (Some(plain), Some(noop), Some(off)) = (
        g1("plain-get"),
        g1("noop-middleware-get"),
        g1("spanfire-unsampled-get"),
    ) {
        let own = off.allocs - noop.allocs;
        let mut line = format!(
            "- zero heap allocations per request when unsampled (c={c1}): spanfire (AlwaysOff) \
             {:.1} allocs/req = plain {:.1} + middleware boundary {:.1} + spanfire's own {own:.1}",
            off.allocs,
            plain.allocs,
            noop.allocs - plain.allocs,
        );
        if let Some(np) = g1("spanfire-unsampled-nopropagation-get") {
            let _ = write!(
                line,
                " (with propagation off: {:.1} of its own)",
                np.allocs - noop.allocs
            );
        }
        let _ = writeln!(out, "{line} — {}", verdict(own < 0.5));
    }
    if let (Some(plain), Some(all)) = (g("plain-post"), g("spanfire-capture-all-post")) {
        let ratio = all.rps / plain.rps;
        let _ = writeln!(
            out,
            "- capture_all ≥ 0.90× plain with 1 KiB bodies (c={many}): {ratio:.3}× — {}",
            verdict(ratio >= 0.90)
        );
    }
    for c in report.concurrency {
        let otlp = report.get("spanfire-capture-all-otlp-post", *c);
        let py = python.iter().find(|p| {
            p.concurrency == *c && p.name.contains("capture_all") && p.name.contains("OTLP")
        });
        if let (Some(otlp), Some(py)) = (otlp, py) {
            let ratio = otlp.rps / py.rps;
            let _ = writeln!(
                out,
                "- capture_all with OTLP export ≥ 10× the Python original (c={c}): {:.0} vs {:.0} \
                 req/s = {ratio:.1}× — {}",
                otlp.rps,
                py.rps,
                verdict(ratio >= 10.0)
            );
        }
    }
}
