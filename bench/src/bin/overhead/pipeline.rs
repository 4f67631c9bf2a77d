//! The `configure()` rows: what a user of `spanfire::configure()` runs, each measurement in a
//! process of its own (issue 15, item 4).
//!
//! Every measurement of these rows (one row, one concurrency, one round) is a child process of
//! the `overhead` binary (`overhead --child KEY ...`), started by the parent in its place in the
//! round, so the rows still alternate with every other row. The child sends its requests to the
//! parent's server (whose threads the parent has pinned as for any row), and:
//!
//! 1. builds the pipeline as the README shows it: `spanfire::configure()` with the collector's
//!    URL given through the builder (`.otlp_endpoint(..)`; `.env_source(|_| None)`, so the
//!    pipeline has the SDK's defaults whatever the shell's `OTEL_*`/`LOGFIRE_*` say, and
//!    `.send_to_logfire(false)`), installed as the globals (the default), and a client from
//!    `HttpClientInstrumentation::new()` (`.capture_all(true)` for the capture rows), which uses
//!    the global providers;
//! 2. warms up (a tenth of the requests), then flushes the tracer provider (outside the window);
//! 3. measures one window: the requests, then `tracer_provider().force_flush()`: the window ends
//!    when every span of the window has been exported (or has failed or been dropped), so the
//!    export's cost is inside it. The time of that flush is reported on its own as well;
//! 4. shuts the pipeline down (`Telemetry::shutdown()`, timed, outside the window), then reads
//!    the export counters (exact after shutdown) and the process's peak RSS (`VmHWM` in
//!    `/proc/self/status`), and prints one JSON line.
//!
//! Plain reqwest is measured the same way (`plain-*-proc`: a child with no instrumentation), so
//! "× plain", CPU, allocations and peak RSS compare processes started and measured alike. The
//! child's CPU is all of it (its client runtime, main thread and the SDK's export thread; the
//! server is in the parent); its allocations likewise.
//!
//! Collectors: rotel (`--otlp`, started by bench/run.sh, exporter `blackhole`); a stopped
//! collector (a loopback port that was bound and closed: connection refused); and a slow one,
//! an OTLP/HTTP receiver in the parent process (its own runtime and thread) that reads each
//! export request and answers `200 OK` with an empty `ExportTraceServiceResponse` after
//! `--slow-ms` (200 ms by default).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

use super::{
    client_runtime, kib_json, place_threads, process_cpu, reqwest_client, run_batch, Args,
    BoxError, Row, Runner, SpanCheck, Workload, CLIENT_ALLOCS,
};

/// The rows measured in child processes, in table order: key, name, workload, collector.
pub(crate) const CHILD_ROWS: &[(&str, &str, Workload, Collector)] = &[
    (
        "plain-get-proc",
        "plain reqwest (own process)",
        Workload::Get,
        Collector::None,
    ),
    (
        "configure-otlp-get",
        "(a) default instrumentation + configure(), OTLP/HTTP to rotel",
        Workload::Get,
        Collector::Rotel,
    ),
    (
        "plain-post-proc",
        "plain reqwest (own process)",
        Workload::Post,
        Collector::None,
    ),
    (
        "configure-capture-all-otlp-post",
        "(b) capture_all + configure() (scrubbing on), OTLP/HTTP to rotel",
        Workload::Post,
        Collector::Rotel,
    ),
    (
        "configure-capture-all-stopped-post",
        "(c) as (b), collector stopped (connection refused)",
        Workload::Post,
        Collector::Stopped,
    ),
    (
        "configure-capture-all-slow-post",
        "(d) as (b), slow collector (200 OK after the delay)",
        Workload::Post,
        Collector::Slow,
    ),
];

/// Where a child row's pipeline exports to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Collector {
    /// No pipeline (plain reqwest).
    None,
    /// rotel, `--otlp URL`.
    Rotel,
    /// A closed loopback port.
    Stopped,
    /// The slow in-process receiver.
    Slow,
}

pub(crate) fn child_row(
    key: &str,
) -> Option<&'static (&'static str, &'static str, Workload, Collector)> {
    CHILD_ROWS.iter().find(|r| r.0 == key)
}

/// The collectors the child rows export to (started by the parent when a row needs them).
pub(crate) struct Collectors {
    pub(crate) rotel: Option<String>,
    pub(crate) stopped: String,
    pub(crate) slow: Option<SlowCollector>,
}

impl Collectors {
    pub(crate) fn start(args: &Args, wanted: impl Fn(&str) -> bool) -> Result<Self, BoxError> {
        let slow = if wanted("configure-capture-all-slow-post") {
            Some(SlowCollector::start(Duration::from_millis(args.slow_ms))?)
        } else {
            None
        };
        Ok(Collectors {
            rotel: args.otlp.clone(),
            stopped: format!("http://{}", closed_port()?),
            slow,
        })
    }

    /// The endpoint of `collector`, or `None` when it is not available (no `--otlp`).
    pub(crate) fn endpoint(&self, collector: Collector) -> Option<Option<String>> {
        match collector {
            Collector::None => Some(None),
            Collector::Rotel => self.rotel.clone().map(Some),
            Collector::Stopped => Some(Some(self.stopped.clone())),
            Collector::Slow => self.slow.as_ref().map(|s| Some(s.url.clone())),
        }
    }
}

/// A loopback address nothing listens on: bound, then closed (connections are refused).
fn closed_port() -> Result<SocketAddr, BoxError> {
    let listener = StdListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.local_addr()?;
    drop(listener);
    Ok(addr)
}

/// An OTLP/HTTP receiver that answers every export `200 OK` (an empty protobuf
/// `Export*ServiceResponse`) after a delay, on its own runtime (one thread) in the parent.
pub(crate) struct SlowCollector {
    pub(crate) url: String,
    pub(crate) requests: Arc<AtomicU64>,
    pub(crate) bytes: Arc<AtomicU64>,
    _runtime: Runtime,
}

impl SlowCollector {
    fn start(delay: Duration) -> Result<Self, BoxError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bench-slow-collector")
            .enable_all()
            .build()?;
        let listener = runtime.block_on(TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(AtomicU64::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let (r, b) = (requests.clone(), bytes.clone());
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let (r, b) = (r.clone(), b.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let (r, b) = (r.clone(), b.clone());
                        async move {
                            let body = req.into_body().collect().await?.to_bytes();
                            r.fetch_add(1, Ordering::Relaxed);
                            b.fetch_add(body.len() as u64, Ordering::Relaxed);
                            tokio::time::sleep(delay).await;
                            Ok::<_, hyper::Error>(
                                Response::builder()
                                    .status(StatusCode::OK)
                                    .header(hyper::header::CONTENT_TYPE, "application/x-protobuf")
                                    .body(Full::new(Bytes::new()))
                                    .expect("valid response"),
                            )
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(SlowCollector {
            url: format!("http://{addr}"),
            requests,
            bytes,
            _runtime: runtime,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The parent's side
// ---------------------------------------------------------------------------------------------

/// The export counters of a `Telemetry` (`ExportStats`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    pub(crate) offered: u64,
    pub(crate) exported: u64,
    pub(crate) dropped: u64,
    pub(crate) failed: u64,
    pub(crate) bodies_dropped: u64,
    pub(crate) bodies_truncated: u64,
    pub(crate) too_large: u64,
    pub(crate) pending: u64,
}

impl Counts {
    fn of(stats: &spanfire::ExportStats) -> Self {
        Counts {
            offered: stats.offered(),
            exported: stats.exported(),
            dropped: stats.dropped(),
            failed: stats.failed(),
            bodies_dropped: stats.bodies_dropped(),
            bodies_truncated: stats.bodies_truncated(),
            too_large: stats.too_large(),
            pending: stats.pending(),
        }
    }

    fn minus(self, o: Counts) -> Counts {
        Counts {
            offered: self.offered - o.offered,
            exported: self.exported - o.exported,
            dropped: self.dropped - o.dropped,
            failed: self.failed - o.failed,
            bodies_dropped: self.bodies_dropped - o.bodies_dropped,
            bodies_truncated: self.bodies_truncated - o.bodies_truncated,
            too_large: self.too_large - o.too_large,
            pending: self.pending,
        }
    }

    pub(crate) fn plus(self, o: Counts) -> Counts {
        Counts {
            offered: self.offered + o.offered,
            exported: self.exported + o.exported,
            dropped: self.dropped + o.dropped,
            failed: self.failed + o.failed,
            bodies_dropped: self.bodies_dropped + o.bodies_dropped,
            bodies_truncated: self.bodies_truncated + o.bodies_truncated,
            too_large: self.too_large + o.too_large,
            pending: self.pending + o.pending,
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "offered": self.offered, "exported": self.exported, "dropped": self.dropped,
            "failed": self.failed, "bodies_dropped": self.bodies_dropped,
            "bodies_truncated": self.bodies_truncated, "too_large": self.too_large,
            "pending": self.pending,
        })
    }

    fn parse(v: &serde_json::Value) -> Counts {
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        Counts {
            offered: n("offered"),
            exported: n("exported"),
            dropped: n("dropped"),
            failed: n("failed"),
            bodies_dropped: n("bodies_dropped"),
            bodies_truncated: n("bodies_truncated"),
            too_large: n("too_large"),
            pending: n("pending"),
        }
    }
}

/// What one child process measured.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ChildSample {
    /// Requests per second over the window (the requests and the flush).
    pub(crate) rps: f64,
    /// Requests per second over the requests alone (the window without its flush).
    pub(crate) rps_requests: f64,
    pub(crate) cpu_us: f64,
    pub(crate) allocs: f64,
    /// Requests in the measured window.
    pub(crate) requests: u64,
    /// Export counters of the window (after its flush; `pending` as read then).
    pub(crate) window: Counts,
    /// Requests over the child's life (warm-up and window).
    pub(crate) requests_total: u64,
    /// Export counters over the child's life, read after shutdown.
    pub(crate) total: Counts,
    /// Peak RSS of the process (`VmHWM`), read after shutdown, KiB.
    pub(crate) hwm_kib: u64,
    /// RSS once the pipeline and client were built, before the first request, KiB.
    pub(crate) rss_start_kib: u64,
    /// The flush at the end of the window, ms (inside the window).
    pub(crate) flush_ms: f64,
    /// `Telemetry::shutdown()` after the window, ms.
    pub(crate) shutdown_ms: f64,
    /// Whether the flush or the shutdown reported an error.
    pub(crate) flush_failed: bool,
    pub(crate) shutdown_failed: bool,
}

/// Runs one measurement of child row `key` in a child process.
pub(crate) fn run_child_process(
    args: &Args,
    key: &str,
    base: &str,
    endpoint: Option<&str>,
    concurrency: usize,
    requests: usize,
    soak_seconds: u64,
) -> Result<ChildSample, BoxError> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("--child")
        .arg(key)
        .arg("--url")
        .arg(base)
        .arg("--concurrency")
        .arg(concurrency.to_string())
        .arg("--requests-c1")
        .arg(requests.to_string())
        .arg("--requests-c64")
        .arg(requests.to_string());
    if let Some(endpoint) = endpoint {
        cmd.arg("--endpoint").arg(endpoint);
    }
    if soak_seconds > 0 {
        cmd.arg("--soak-seconds").arg(soak_seconds.to_string());
    }
    if !args.pin {
        cmd.arg("--no-pin");
    }
    if args.one_cpu {
        cmd.arg("--one-cpu");
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut last = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if line.trim_start().starts_with('{') {
            last = Some(line);
        } else {
            eprintln!("{line}");
        }
    }
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("child {key} (c={concurrency}) failed: {status}").into());
    }
    let line = last.ok_or_else(|| format!("child {key}: no result line"))?;
    let v: serde_json::Value = serde_json::from_str(&line)?;
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let u = |k: &str| v[k].as_u64().unwrap_or(0);
    Ok(ChildSample {
        rps: f("rps"),
        rps_requests: f("rps_requests"),
        cpu_us: f("cpu_us"),
        allocs: f("allocs"),
        requests: u("requests"),
        window: Counts::parse(&v["window"]),
        requests_total: u("requests_total"),
        total: Counts::parse(&v["total"]),
        hwm_kib: u("hwm_kib"),
        rss_start_kib: u("rss_start_kib"),
        flush_ms: f("flush_ms"),
        shutdown_ms: f("shutdown_ms"),
        flush_failed: v["flush_failed"].as_bool().unwrap_or(false),
        shutdown_failed: v["shutdown_failed"].as_bool().unwrap_or(false),
    })
}

// ---------------------------------------------------------------------------------------------
// The child's side
// ---------------------------------------------------------------------------------------------

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix(field)
                    .and_then(|rest| rest.trim().strip_suffix("kB"))
                    .and_then(|kib| kib.trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// `overhead --child KEY`: one measurement of one row; prints one JSON line.
pub(crate) fn run_child(args: &Args, key: &str) -> Result<(), BoxError> {
    let &(_, name, workload, collector) =
        child_row(key).ok_or_else(|| format!("--child: unknown row {key:?}"))?;
    let base = args.url.clone().ok_or("--child needs --url")?;
    let concurrency = *args
        .concurrency
        .first()
        .ok_or("--child needs --concurrency")?;
    let requests = args.requests(concurrency);
    let client_rt = client_runtime(args)?;
    let _entered = client_rt.enter();

    // The pipeline, as a configure() user builds it (see the module docs).
    let telemetry = match collector {
        Collector::None => None,
        _ => {
            let endpoint = args.endpoint.clone().ok_or("--child needs --endpoint")?;
            Some(
                spanfire::configure()
                    .service_name("spanfire-bench")
                    .otlp_endpoint(endpoint)
                    .send_to_logfire(false)
                    .env_source(|_| None)
                    .finish()?,
            )
        }
    };
    let client = match telemetry {
        None => reqwest_middleware::ClientBuilder::new(reqwest_client()?).build(),
        Some(_) => spanfire::HttpClientInstrumentation::new()
            .capture_all(workload == Workload::Post)
            .instrument_reqwest(reqwest_client()?),
    };
    let (path, body) = match workload {
        Workload::Get => ("/get", Bytes::new()),
        Workload::Post => ("/post", kib_json()),
    };
    let row = Row {
        key: "child",
        name,
        workload,
        runner: Runner::InProcess(client),
        spans: SpanCheck::None,
        telemetry: None,
        url: format!("{base}{path}"),
        body,
    };
    if args.pin {
        // SAFETY: gettid has no preconditions.
        let main_tid = unsafe { libc::gettid() };
        place_threads(concurrency, main_tid, args.one_cpu);
    }
    let rss_start_kib = status_kib("VmRSS:");
    let stats = telemetry.as_ref().map(|t| t.export_stats());
    let counts = || stats.as_ref().map(Counts::of).unwrap_or_default();

    // Warm-up, flushed outside the window.
    let warm = (requests / 10).max(concurrency);
    client_rt.block_on(run_batch(&row, concurrency, warm))?;
    if let Some(t) = &telemetry {
        let _ = t.tracer_provider().force_flush();
    }
    let before = counts();

    // The window: the requests, then the flush.
    let allocs0 = CLIENT_ALLOCS.load(Ordering::Relaxed);
    let cpu0 = process_cpu();
    let start = Instant::now();
    let mut done = 0usize;
    if args.soak_seconds > 0 {
        // Soak: batches of `requests` until the time is up.
        let until = start + Duration::from_secs(args.soak_seconds);
        while Instant::now() < until {
            client_rt.block_on(run_batch(&row, concurrency, requests))?;
            done += requests;
        }
    } else {
        client_rt.block_on(run_batch(&row, concurrency, requests))?;
        done = requests;
    }
    let requests_elapsed = start.elapsed();
    let flush_start = Instant::now();
    let flush_failed = match &telemetry {
        Some(t) => t.tracer_provider().force_flush().is_err(),
        None => false,
    };
    let flush = flush_start.elapsed();
    let elapsed = start.elapsed();
    let cpu = process_cpu().saturating_sub(cpu0);
    let allocs = CLIENT_ALLOCS.load(Ordering::Relaxed) - allocs0;
    let window = counts().minus(before);

    // Shutdown, outside the window.
    let shutdown_start = Instant::now();
    let shutdown_failed = match telemetry {
        Some(t) => t.shutdown().is_err(),
        None => false,
    };
    let shutdown = shutdown_start.elapsed();
    let total = counts();
    let hwm_kib = status_kib("VmHWM:");
    drop(row);

    let per_req = |d: Duration| d.as_secs_f64() * 1e6 / done as f64;
    let line = serde_json::json!({
        "key": key,
        "concurrency": concurrency,
        "requests": done,
        "rps": done as f64 / elapsed.as_secs_f64(),
        "rps_requests": done as f64 / requests_elapsed.as_secs_f64(),
        "cpu_us": per_req(cpu),
        "allocs": allocs as f64 / done as f64,
        "window": window.json(),
        "requests_total": done + warm,
        "total": total.json(),
        "hwm_kib": hwm_kib,
        "rss_start_kib": rss_start_kib,
        "flush_ms": flush.as_secs_f64() * 1e3,
        "shutdown_ms": shutdown.as_secs_f64() * 1e3,
        "flush_failed": flush_failed,
        "shutdown_failed": shutdown_failed,
    });
    println!("{line}");
    Ok(())
}

/// Whether every span of the child's life is accounted for: one offered per request, and each
/// offered one exported, failed or dropped (nothing pending after shutdown).
pub(crate) fn all_counted(s: &ChildSample) -> bool {
    let t = &s.total;
    t.offered == s.requests_total
        && t.exported + t.failed + t.dropped == t.offered
        && t.pending == 0
}

/// One line about a child sample, for the progress log.
pub(crate) fn progress(s: &ChildSample) -> String {
    let mut line = String::new();
    let w = &s.window;
    let _ = write!(
        line,
        " | spans {}/{} exported, {} dropped, {} failed | flush {:.0} ms | peak RSS {:.1} MiB",
        w.exported,
        w.offered,
        w.dropped,
        w.failed,
        s.flush_ms,
        s.hwm_kib as f64 / 1024.0
    );
    line
}
