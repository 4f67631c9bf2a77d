//! Per-request overhead of spanfire and of the incumbent (reqwest-tracing + tracing-opentelemetry)
//! against plain reqwest, measured in one process against one in-process hyper server.
//!
//! ```text
//! cargo build --release -p spanfire-bench
//! target/release/overhead                                  # Rust rows, but (a) and (b)
//! target/release/overhead --otlp http://127.0.0.1:24318    # + configure() rows (a), (b) to it
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
//! and check that exactly one span ended per request.
//!
//! The `configure()` rows (issue 15: what a `spanfire::configure()` user runs, exporting over
//! OTLP/HTTP to rotel, to a stopped collector and to a slow one) are measured each in a process
//! of its own, started in their place in every round, with the export flushed inside the
//! measured window and the process's peak RSS read at its end: see `overhead/pipeline.rs`.
//! `configure-capture-all-scrub-post` runs in this process: capture_all through configure()'s
//! scrubbing stage into a discarding processor (no export), against the floor's POST row.

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

#[path = "../shared/bodies.rs"]
mod bodies;
#[path = "overhead/floor.rs"]
mod floor;
#[path = "overhead/pipeline.rs"]
mod pipeline;

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

/// The client's runtime: `--client-threads` workers named `bench-client`, each registered as a
/// client thread (its CPU and allocations are the client's).
fn client_runtime(args: &Args) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .thread_name("bench-client")
        .on_thread_start(register_client_thread)
        .enable_all()
        .build()
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
[--rows KEY,KEY] [--no-pin | --one-cpu] [--sdk-propagator] [--slow-ms N] [--soak-seconds N] \
[--server-only [--seconds N]] [--port N]";

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
    /// The slow collector's delay per export request, ms.
    slow_ms: u64,
    /// After the rounds, run the stopped-collector row for this long at the highest
    /// concurrency in one process and report its RSS growth (0: not run). In a child: the
    /// window's length.
    soak_seconds: u64,
    /// Internal: run one measurement of this child row (see `overhead/pipeline.rs`).
    child: Option<String>,
    /// Internal (child): the server's base URL.
    url: Option<String>,
    /// Internal (child): the collector's base URL.
    endpoint: Option<String>,
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
        slow_ms: 200,
        soak_seconds: 0,
        child: None,
        url: None,
        endpoint: None,
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
            "--slow-ms" => a.slow_ms = number(&value()?)? as u64,
            "--soak-seconds" => a.soak_seconds = number(&value()?)? as u64,
            "--child" => a.child = Some(value()?),
            "--url" => a.url = Some(value()?),
            "--endpoint" => a.endpoint = Some(value()?),
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
    if let Some(key) = args.child.clone() {
        return pipeline::run_child(&args, &key);
    }
    let (addr, server) = start_server(args.server_threads, args.port)?;
    let base = format!("http://{addr}");
    if args.server_only {
        println!("BENCH_URL={base}");
        eprintln!("overhead: serving on {base} for {} s", args.seconds);
        std::thread::sleep(Duration::from_secs(args.seconds));
        drop(server);
        return Ok(());
    }
    let client_rt = client_runtime(&args)?;
    let _entered = client_rt.enter();
    // SAFETY: gettid has no preconditions.
    let main_tid = unsafe { libc::gettid() };
    let place = |c: usize| {
        if args.pin {
            place_threads(c, main_tid, args.one_cpu);
        }
    };
    let collectors = pipeline::Collectors::start(&args, |k| args.wants(k))?;
    let rows = build_rows(&args, &base, &collectors)?;
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
        if matches!(row.runner, Runner::Child { .. }) {
            continue; // each child warms itself up
        }
        for &c in &args.concurrency {
            place(c);
            measure(
                &client_rt,
                &args,
                &base,
                row,
                c,
                (args.requests(c) / 10).max(c),
            )?; // warm-up
        }
    }
    for round in 0..args.rounds {
        for i in 0..rows.len() {
            let r = (i + round) % rows.len();
            for (ci, &c) in args.concurrency.iter().enumerate() {
                place(c);
                let sample = measure(&client_rt, &args, &base, &rows[r], c, args.requests(c))?;
                eprintln!(
                    "round {}: {:<40} c={c:<3} {:>8.0} req/s {:>6.1} µs client CPU {:>6.1} allocs{}",
                    round + 1,
                    rows[r].key,
                    sample.rps,
                    sample.client_cpu_us,
                    sample.allocs,
                    sample.child.as_ref().map(pipeline::progress).unwrap_or_default()
                );
                results.entry((r, ci)).or_default().push(sample);
            }
        }
    }
    // The stopped-collector soak: one process, the highest concurrency, `--soak-seconds`.
    let soak = match rows
        .iter()
        .find(|r| r.key == "configure-capture-all-stopped-post")
    {
        Some(row) if args.soak_seconds > 0 => {
            let c = args.concurrency.iter().copied().max().unwrap_or(64);
            place(c);
            let Runner::Child { endpoint } = &row.runner else {
                unreachable!("a child row")
            };
            eprintln!(
                "overhead: soak: {} at c={c} for {} s",
                row.key, args.soak_seconds
            );
            let s = pipeline::run_child_process(
                &args,
                row.key,
                &base,
                endpoint.as_deref(),
                c,
                args.requests(c),
                args.soak_seconds,
            )?;
            eprintln!(
                "overhead: soak: {:.0} req/s{}",
                s.rps,
                pipeline::progress(&s)
            );
            Some((c, s))
        }
        _ => None,
    };
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
    let mut collector_note = String::new();
    if let Some(slow) = &collectors.slow {
        let _ = writeln!(
            collector_note,
            "The slow collector ({} ms per export request) received {} export requests \
             ({:.1} MiB), traces and metrics.",
            args.slow_ms,
            slow.requests.load(Ordering::Relaxed),
            slow.bytes.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0)
        );
    }
    print_report(&args, &rows, &results, &python, soak, &collector_note);
    drop(rows);
    drop(server);
    Ok(())
}

impl Args {
    /// Whether row `key` is selected (`--rows`, or every row).
    fn wants(&self, key: &str) -> bool {
        self.rows
            .as_ref()
            .is_none_or(|r| r.iter().any(|k| k == key))
    }

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

/// How a row's requests are made.
enum Runner {
    /// In this process, with this client.
    InProcess(ClientWithMiddleware),
    /// In a child process per measurement (`overhead/pipeline.rs`), exporting to `endpoint`.
    Child { endpoint: Option<String> },
}

struct Row {
    key: &'static str,
    name: &'static str,
    workload: Workload,
    runner: Runner,
    spans: SpanCheck,
    /// Kept alive with the row (the in-process configure() row's pipeline).
    #[allow(dead_code)]
    telemetry: Option<spanfire::Telemetry>,
    url: String,
    body: Bytes,
}

/// A 1 KiB JSON document (the request body of the POST rows).
fn kib_json() -> Bytes {
    Bytes::from(bodies::kib_json())
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
    "floor-post",
    "spanfire-capture-all-post",
    "configure-capture-all-scrub-post",
    "plain-get-proc",
    "configure-otlp-get",
    "plain-post-proc",
    "configure-capture-all-otlp-post",
    "configure-capture-all-stopped-post",
    "configure-capture-all-slow-post",
];

fn build_rows(
    args: &Args,
    base: &str,
    collectors: &pipeline::Collectors,
) -> Result<Vec<Row>, BoxError> {
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
        if !args.wants(key) {
            continue;
        }
        if let Some(row) = build_row(key, base, collectors)? {
            rows.push(row);
        }
    }
    Ok(rows)
}

fn build_row(
    key: &'static str,
    base: &str,
    collectors: &pipeline::Collectors,
) -> Result<Option<Row>, BoxError> {
    if let Some(&(_, name, workload, collector)) = pipeline::child_row(key) {
        let Some(endpoint) = collectors.endpoint(collector) else {
            eprintln!("overhead: no --otlp URL (or ROTEL_OTLP_HTTP): skipping {key}");
            return Ok(None);
        };
        let path = match workload {
            Workload::Get => "/get",
            Workload::Post => "/post",
        };
        return Ok(Some(Row {
            key,
            name,
            workload,
            runner: Runner::Child { endpoint },
            spans: SpanCheck::None,
            telemetry: None,
            url: format!("{base}{path}"),
            body: Bytes::new(),
        }));
    }
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
        "floor-get" | "floor-post" => {
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
                if key == "floor-get" {
                    Workload::Get
                } else {
                    Workload::Post
                },
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
        "configure-capture-all-scrub-post" => {
            // configure()'s pipeline with its scrubbing stage (the default policy) in front of
            // a discarding processor: no export destination, nothing installed globally.
            let ended = Arc::new(AtomicU64::new(0));
            spans = SpanCheck::Ended(ended.clone());
            let t = spanfire::configure()
                .service_name("spanfire-bench")
                .console(false)
                .send_to_logfire(false)
                .install_globals(false)
                .env_source(|_| None)
                .with_span_processor(Discard(ended))
                .finish()?;
            let client = HttpClientInstrumentation::new()
                .capture_all(true)
                .tracer_provider(t.tracer_provider().clone())
                .meter_provider(sdk_meter_provider())
                .instrument_reqwest(reqwest_client()?);
            telemetry = Some(t);
            (
                "spanfire capture_all through configure()'s scrubbing stage (discarding processor)",
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
        runner: Runner::InProcess(client),
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
    /// A child row's export counters, RSS and flush time.
    child: Option<pipeline::ChildSample>,
}

fn measure(
    rt: &Runtime,
    args: &Args,
    base: &str,
    row: &Row,
    concurrency: usize,
    total: usize,
) -> Result<Sample, BoxError> {
    if let Runner::Child { endpoint } = &row.runner {
        let s = pipeline::run_child_process(
            args,
            row.key,
            base,
            endpoint.as_deref(),
            concurrency,
            total,
            0,
        )?;
        return Ok(Sample {
            rps: s.rps,
            cpu_us: f64::NAN,
            client_cpu_us: s.cpu_us,
            allocs: s.allocs,
            child: Some(s),
        });
    }
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
        child: None,
    })
}

async fn run_batch(row: &Row, concurrency: usize, total: usize) -> Result<(), BoxError> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let Runner::InProcess(client) = &row.runner else {
        return Err(format!("{}: runs in a child process", row.key).into());
    };
    for _ in 0..concurrency {
        let next = next.clone();
        let client = client.clone();
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
    samples: &'a BTreeMap<(usize, usize), Vec<Sample>>,
}

/// Over the rounds of one child row and concurrency: medians, sums of the windows' export
/// counters, and whether every process accounted for every span.
#[derive(Debug, Clone, Copy)]
struct ChildSummary {
    rps: f64,
    rps_requests: f64,
    client_cpu_us: f64,
    allocs: f64,
    hwm_mib: f64,
    hwm_max_mib: f64,
    flush_ms: f64,
    shutdown_ms: f64,
    window: pipeline::Counts,
    requests: u64,
    all_counted: bool,
    flush_failures: usize,
    shutdown_failures: usize,
}

impl Report<'_> {
    fn index(&self, key: &str, concurrency: usize) -> Option<(usize, usize)> {
        let r = self.rows.iter().position(|row| row.key == key)?;
        let ci = self.concurrency.iter().position(|&c| c == concurrency)?;
        Some((r, ci))
    }

    fn get(&self, key: &str, concurrency: usize) -> Option<Summary> {
        self.summaries.get(&self.index(key, concurrency)?).copied()
    }

    fn plain(&self, workload: Workload, concurrency: usize) -> Option<Summary> {
        let key = match workload {
            Workload::Get => "plain-get",
            Workload::Post => "plain-post",
        };
        self.get(key, concurrency)
    }

    fn child(&self, key: &str, concurrency: usize) -> Option<ChildSummary> {
        let samples = self.samples.get(&self.index(key, concurrency)?)?;
        let children: Vec<&pipeline::ChildSample> =
            samples.iter().filter_map(|s| s.child.as_ref()).collect();
        if children.is_empty() {
            return None;
        }
        let mib = |kib: u64| kib as f64 / 1024.0;
        Some(ChildSummary {
            rps: median(children.iter().map(|s| s.rps)),
            rps_requests: median(children.iter().map(|s| s.rps_requests)),
            client_cpu_us: median(children.iter().map(|s| s.cpu_us)),
            allocs: median(children.iter().map(|s| s.allocs)),
            hwm_mib: median(children.iter().map(|s| mib(s.hwm_kib))),
            hwm_max_mib: children.iter().map(|s| mib(s.hwm_kib)).fold(0.0, f64::max),
            flush_ms: median(children.iter().map(|s| s.flush_ms)),
            shutdown_ms: median(children.iter().map(|s| s.shutdown_ms)),
            window: children
                .iter()
                .fold(pipeline::Counts::default(), |acc, s| acc.plus(s.window)),
            requests: children.iter().map(|s| s.requests).sum(),
            all_counted: children.iter().all(|s| pipeline::all_counted(s)),
            flush_failures: children.iter().filter(|s| s.flush_failed).count(),
            shutdown_failures: children.iter().filter(|s| s.shutdown_failed).count(),
        })
    }

    fn plain_child(&self, workload: Workload, concurrency: usize) -> Option<ChildSummary> {
        let key = match workload {
            Workload::Get => "plain-get-proc",
            Workload::Post => "plain-post-proc",
        };
        self.child(key, concurrency)
    }
}

fn print_report(
    args: &Args,
    rows: &[Row],
    results: &BTreeMap<(usize, usize), Vec<Sample>>,
    python: &[PythonRow],
    soak: Option<(usize, pipeline::ChildSample)>,
    collector_note: &str,
) {
    let report = Report {
        rows,
        concurrency: &args.concurrency,
        summaries: results.iter().map(|(k, v)| (*k, summarize(v))).collect(),
        samples: results,
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
        if !matches!(row.runner, Runner::InProcess(_)) {
            continue;
        }
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

    // The configure() rows.
    if rows
        .iter()
        .any(|r| matches!(r.runner, Runner::Child { .. }))
    {
        let _ = writeln!(
            out,
            "\n### configure() rows (each measurement in its own process)\n\n\
             Each cell: median over the rounds of one child process per round (one row, one \
             concurrency); the measured window is the requests plus `force_flush()` of the \
             tracer provider (\"flush\" is that flush's share); × plain and the differences are \
             against plain reqwest measured the same way (its own process) in the same rounds. \
             Client CPU is the child's whole CPU (client runtime, main thread, export thread; \
             the server is in the parent). Peak RSS is the child's VmHWM (whole life: build, \
             warm-up, window, shutdown), median / max over the rounds. Spans: the windows' \
             export counters summed over the rounds ({} and {} requests per window).\n",
            args.requests_c1, args.requests_many
        );
        let _ = writeln!(
            out,
            "| client | workload | c | req/s | × plain | req/s without the flush | × plain | \
             client CPU µs/req | + client CPU vs plain | allocs/req | + allocs vs plain | peak RSS MiB | + peak RSS vs plain MiB | \
             flush ms | spans offered | exported | dropped | failed | bodies dropped | bodies \
             truncated | too large | shutdown ms |"
        );
        let _ = writeln!(
            out,
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for row in rows {
            if !matches!(row.runner, Runner::Child { .. }) {
                continue;
            }
            for &c in &args.concurrency {
                let Some(s) = report.child(row.key, c) else {
                    continue;
                };
                let plain = report.plain_child(row.workload, c);
                let d = |f: fn(&ChildSummary) -> f64| plain.map_or(f64::NAN, |p| f(&s) - f(&p));
                let ratio = plain.map_or(f64::NAN, |p| s.rps / p.rps);
                let ratio_requests = plain.map_or(f64::NAN, |p| s.rps_requests / p.rps_requests);
                let w = s.window;
                let spans = if row.key.starts_with("plain") {
                    "– | – | – | – | – | – | – | –".to_owned()
                } else {
                    format!(
                        "{} | {} | {} | {} | {} | {} | {} | {:.0}",
                        w.offered,
                        w.exported,
                        w.dropped,
                        w.failed,
                        w.bodies_dropped,
                        w.bodies_truncated,
                        w.too_large,
                        s.shutdown_ms
                    )
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {c} | {:.0} | {ratio:.3} | {:.0} | {ratio_requests:.3} | {:.1} | \
                     {:+.1} | {:.1} | {:+.1} | {:.1} / {:.1} | {:+.1} | {:.0} | {spans} |",
                    row.name,
                    row.workload.label(),
                    s.rps,
                    s.rps_requests,
                    s.client_cpu_us,
                    d(|x| x.client_cpu_us),
                    s.allocs,
                    d(|x| x.allocs),
                    s.hwm_mib,
                    s.hwm_max_mib,
                    d(|x| x.hwm_mib),
                    s.flush_ms,
                );
            }
        }
        out.push('\n');
        for row in rows {
            if !matches!(row.runner, Runner::Child { .. }) || row.key.starts_with("plain") {
                continue;
            }
            for &c in &args.concurrency {
                let Some(s) = report.child(row.key, c) else {
                    continue;
                };
                let _ = writeln!(
                    out,
                    "- {} c={c}: {} requests measured, {} spans offered; every span of every \
                     process accounted for (offered = requests, offered = exported + failed + \
                     dropped after shutdown): {}; flushes that reported an error: {}; \
                     shutdowns that did: {}.",
                    row.key,
                    s.requests,
                    s.window.offered,
                    if s.all_counted { "yes" } else { "**no**" },
                    s.flush_failures,
                    s.shutdown_failures
                );
            }
        }
        out.push_str(collector_note);
    }
    if let Some((c, s)) = &soak {
        let _ =
            writeln!(
            out,
            "\nSoak, collector stopped (configure-capture-all-stopped-post, one process, c={c}, \
             {} s): {:.0} req/s, {} requests; RSS before the first request {:.1} MiB, peak \
             {:.1} MiB (growth {:+.1} MiB); spans {} offered, {} exported, {} dropped, {} \
             failed, {} bodies dropped; every span accounted for: {}.",
            args.soak_seconds,
            s.rps,
            s.requests,
            s.rss_start_kib as f64 / 1024.0,
            s.hwm_kib as f64 / 1024.0,
            (s.hwm_kib as f64 - s.rss_start_kib as f64) / 1024.0,
            s.window.offered,
            s.window.exported,
            s.window.dropped,
            s.window.failed,
            s.window.bodies_dropped,
            if pipeline::all_counted(s) { "yes" } else { "**no**" },
        );
    }
    out.push_str("\n### Goals\n\n");
    goals(&report, python, soak.as_ref().map(|(_, s)| s), &mut out);
    print!("{out}");
}

fn verdict(met: bool) -> &'static str {
    if met {
        "**met**"
    } else {
        "**missed**"
    }
}

/// The default export memory limit (64 MiB) plus the margin the goal allows (16 MiB).
const SOAK_RSS_LIMIT_MIB: f64 = 64.0 + 16.0;

fn goals(
    report: &Report<'_>,
    python: &[PythonRow],
    soak: Option<&pipeline::ChildSample>,
    out: &mut String,
) {
    let many = report.concurrency.iter().copied().max().unwrap_or(64);
    let c1 = report.concurrency.iter().copied().min().unwrap_or(1);
    // spanfire's own share: default − floor.
    for c in report.concurrency {
        let g = |k: &str| report.get(k, *c);
        if let (Some(floor), Some(sf)) = (g("floor-get"), g("spanfire-get")) {
            let own = sf.client_cpu_us - floor.client_cpu_us;
            let goal = if *c == many {
                format!(" — {}", verdict(own <= 1.0))
            } else {
                " (the goal is at the highest concurrency)".to_owned()
            };
            let _ = writeln!(
                out,
                "- spanfire's own share ≤ +1.0 µs client CPU over the floor (c={c}): {:.2} − \
                 {:.2} = {own:+.2} µs{goal}",
                sf.client_cpu_us, floor.client_cpu_us
            );
        }
    }
    let g1 = |k: &str| report.get(k, c1);
    if let (Some(plain), Some(noop), Some(off)) = (
        g1("plain-get"),
        g1("noop-middleware-get"),
        g1("spanfire-unsampled-get"),
    ) {
        let own = off.allocs - noop.allocs;
        let mut line = format!(
            "- 0 allocations of spanfire's own when unsampled (c={c1}): spanfire (AlwaysOff) \
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
        if let Some(floor) = g1("floor-get") {
            let _ = write!(
                line,
                "; the floor (sampled) makes {:.1} over plain",
                floor.allocs - plain.allocs
            );
        }
        let _ = writeln!(out, "{line} — {}", verdict(own < 0.5));
    }
    for c in report.concurrency {
        let g = |k: &str| report.get(k, *c);
        if let (Some(plain), Some(floor), Some(scrub)) = (
            g("plain-post"),
            g("floor-post"),
            g("configure-capture-all-scrub-post"),
        ) {
            let added = scrub.client_cpu_us - plain.client_cpu_us;
            let floor_added = floor.client_cpu_us - plain.client_cpu_us;
            let over = scrub.client_cpu_us - floor.client_cpu_us;
            let _ = writeln!(
                out,
                "- capture_all through configure()'s scrubber, 1 KiB bodies, ≤ floor + 4 µs \
                 (c={c}): {added:+.2} µs over plain POST, the floor (POST) {floor_added:+.2} µs: \
                 floor {over:+.2} µs — {}",
                verdict(over <= 4.0)
            );
        }
    }
    let b = "configure-capture-all-otlp-post";
    if let (Some(plain), Some(full)) = (
        report.plain_child(Workload::Post, many),
        report.child(b, many),
    ) {
        let ratio = full.rps / plain.rps;
        let mut lost = 0;
        let mut offered = 0;
        for c in report.concurrency {
            if let Some(s) = report.child(b, *c) {
                lost += s.window.dropped + s.window.failed + s.window.pending;
                offered += s.window.offered;
            }
        }
        let _ = writeln!(
            out,
            "- full pipeline (capture_all + configure() + OTLP/HTTP to rotel) ≥ 0.6× plain at \
             c={many}, 0 spans lost: {:.0} vs {:.0} req/s = {ratio:.3}×; {lost} of {offered} \
             spans lost in the measured windows (both concurrencies) — {}",
            full.rps,
            plain.rps,
            verdict(ratio >= 0.6 && lost == 0)
        );
    }
    let stopped = "configure-capture-all-stopped-post";
    if let (Some(up), Some(down)) = (report.child(b, many), report.child(stopped, many)) {
        let ratio = down.rps / up.rps;
        let ratio_requests = down.rps_requests / up.rps_requests;
        let counted = report
            .concurrency
            .iter()
            .filter_map(|c| report.child(stopped, *c))
            .all(|s| s.all_counted)
            && soak.is_none_or(pipeline::all_counted);
        let mut line = format!(
            "- collector stopped ≥ 0.97× the collector-up figure (c={many}), every lost span \
             counted: requests alone {:.0} vs {:.0} req/s = {ratio_requests:.3}×; with the \
             flush in the window {:.0} vs {:.0} req/s = {ratio:.3}× (the flush waits for the \
             exporter's retries: {:.0} vs {:.0} ms); every span accounted for: {}",
            down.rps_requests,
            up.rps_requests,
            down.rps,
            up.rps,
            down.flush_ms,
            up.flush_ms,
            if counted { "yes" } else { "no" }
        );
        let mut met = ratio_requests >= 0.97 && counted;
        match soak {
            Some(s) => {
                let growth = (s.hwm_kib as f64 - s.rss_start_kib as f64) / 1024.0;
                let _ = write!(
                    line,
                    "; peak RSS growth in the soak ({} requests, {:.0} s with its flush) \
                     {growth:+.1} MiB (≤ {SOAK_RSS_LIMIT_MIB} MiB)",
                    s.requests,
                    s.requests as f64 / s.rps
                );
                met &= growth <= SOAK_RSS_LIMIT_MIB;
            }
            None => line.push_str("; RSS over 60 s not measured (no --soak-seconds)"),
        }
        let _ = writeln!(
            out,
            "{line} — {} on the requests alone, {} with the flush in the window",
            verdict(met),
            verdict(ratio >= 0.97 && met)
        );
    }
    for c in report.concurrency {
        let otlp = report.child(b, *c);
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
    // For reference: the former goals' figures.
    if let (Some(plain), Some(sf)) = (
        report.get("plain-get", many),
        report.get("spanfire-get", many),
    ) {
        let _ = writeln!(
            out,
            "- (for reference) spanfire default × plain at c={many}: {:.3}×",
            sf.rps / plain.rps
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
                "- (for reference) added client CPU (c={c}): spanfire {ours:+.2} µs, \
                 reqwest-tracing {theirs:+.2} µs, ratio {:.2}",
                ours / theirs
            );
        }
    }
}
