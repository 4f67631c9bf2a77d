//! Peak RSS of streaming a large body through reqwest, uninstrumented vs instrumented by
//! spanfire with `capture_all(true)`.
//!
//! ```text
//! cargo build --release -p spanfire-bench
//! target/release/body_rss compare            # 1 GiB each way, plain vs spanfire
//! target/release/body_rss plain --bytes N    # one measurement in this process
//! target/release/body_rss spanfire --bytes N
//! ```
//!
//! A measurement starts an HTTP/1.1 server on 127.0.0.1 in this process, then (1) downloads
//! `GET /stream` (N bytes of text sent as 64 KiB chunks, never materialised) chunk by chunk
//! with `bytes_stream()`, discarding each chunk, and (2) uploads N bytes to `POST /sink` with
//! `reqwest::Body::wrap_stream` from a generator stream (a fresh 64 KiB allocation per chunk,
//! so a capture that kept chunks alive would show). Peak RSS (`VmHWM` in `/proc/self/status`)
//! is read before and after, and one line of JSON is printed.
//!
//! Spans are real: an SDK tracer provider with a span processor that drops each span in
//! `on_end` (so they are recorded, captured bodies included, but not kept).
//!
//! `compare` runs `plain` and `spanfire` as two child processes (so the peaks do not mix) and
//! prints a markdown table.

use std::convert::Infallible;
use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentelemetry::{Context, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanProcessor};
use spanfire::HttpClientInstrumentation;
use tokio::net::TcpListener;

type BoxError = Box<dyn Error + Send + Sync>;

/// Size of each chunk, sent and received.
const CHUNK: usize = 64 * 1024;
/// Default body size, each way: 1 GiB.
const DEFAULT_BYTES: u64 = 1 << 30;
/// spanfire's default body capture limit, in KiB.
const CAPTURE_LIMIT_KIB: u64 = 64;
/// Goal: spanfire's peak RSS exceeds plain's by at most the capture limit + 4 MiB.
const GOAL_KIB: u64 = CAPTURE_LIMIT_KIB + 4 * 1024;

const USAGE: &str = "usage: body_rss [compare|plain|spanfire] [--bytes N]";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Spanfire,
    Compare,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Spanfire => "spanfire",
            Mode::Compare => "compare",
        }
    }
}

struct Args {
    mode: Mode,
    bytes: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut mode = None;
    let mut bytes = DEFAULT_BYTES;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "plain" | "spanfire" | "compare" if mode.is_none() => {
                mode = Some(match arg.as_str() {
                    "plain" => Mode::Plain,
                    "spanfire" => Mode::Spanfire,
                    _ => Mode::Compare,
                });
                continue;
            }
            "--bytes" => args.next().ok_or("--bytes needs a value")?,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => match other.strip_prefix("--bytes=") {
                Some(v) => v.to_owned(),
                None => return Err(format!("unexpected argument {other:?}\n{USAGE}")),
            },
        };
        bytes = value
            .parse()
            .ok()
            .filter(|&n: &u64| n > 0)
            .ok_or_else(|| format!("--bytes: not a positive byte count: {value:?}"))?;
    }
    Ok(Args {
        mode: mode.unwrap_or(Mode::Compare),
        bytes,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let result = match args.mode {
        Mode::Compare => compare(args.bytes),
        mode => measure_in_process(mode, args.bytes),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("body_rss {}: error: {err}", args.mode.as_str());
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One measurement (`plain` / `spanfire`)
// ---------------------------------------------------------------------------------------------

fn measure_in_process(mode: Mode, bytes: u64) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(measure(mode, bytes))
}

async fn measure(mode: Mode, bytes: u64) -> Result<(), BoxError> {
    let addr = start_server(bytes).await?;
    let base = format!("http://{addr}");

    let stats = Arc::new(SpanStats::default());
    let provider = SdkTracerProvider::builder()
        .with_span_processor(DiscardSpans {
            stats: stats.clone(),
        })
        .build();
    // No proxy: everything stays on 127.0.0.1 whatever HTTP_PROXY says.
    let reqwest_client = reqwest::Client::builder().no_proxy().build()?;
    let client = match mode {
        Mode::Spanfire => HttpClientInstrumentation::new()
            .capture_all(true)
            .tracer_provider(provider.clone())
            .instrument_reqwest(reqwest_client),
        // The same client type without middleware: only spanfire differs between the modes.
        _ => reqwest_middleware::ClientBuilder::new(reqwest_client).build(),
    };

    let vmhwm_kib_before = vmhwm_kib()?;
    let start = Instant::now();

    // (1) Download, chunk by chunk, discarding.
    let response = client
        .get(format!("{base}/stream"))
        .send()
        .await?
        .error_for_status()?;
    let mut stream = response.bytes_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        received += chunk?.len() as u64;
    }
    drop(stream);
    if received != bytes {
        return Err(format!("downloaded {received} bytes, expected {bytes}").into());
    }

    // (2) Upload from a generator stream.
    let body = reqwest::Body::wrap_stream(generator(bytes));
    let response = client
        .post(format!("{base}/sink"))
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(body)
        .send()
        .await?
        .error_for_status()?;
    let echoed = response.text().await?;
    if echoed.trim() != bytes.to_string() {
        return Err(format!("server received {echoed:?} bytes, expected {bytes}").into());
    }

    let seconds = start.elapsed().as_secs_f64();
    provider.force_flush()?;
    let vmhwm_kib_after = vmhwm_kib()?;
    provider.shutdown()?;

    let spans = stats.spans.load(Ordering::Relaxed);
    let captured = stats.captured_text_bytes.load(Ordering::Relaxed);
    eprintln!(
        "body_rss {}: {spans} spans ended, {captured} bytes of captured body text",
        mode.as_str()
    );
    if mode == Mode::Spanfire && (spans != 2 || captured == 0) {
        return Err(format!(
            "expected 2 spans with captured body text, got {spans} spans and {captured} bytes"
        )
        .into());
    }

    println!(
        "{{\"mode\":\"{}\",\"bytes\":{bytes},\"vmhwm_kib_before\":{vmhwm_kib_before},\
         \"vmhwm_kib_after\":{vmhwm_kib_after},\"seconds\":{seconds:.3}}}",
        mode.as_str()
    );
    Ok(())
}

/// Peak resident set size of this process, in KiB.
fn vmhwm_kib() -> Result<u64, BoxError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .ok_or_else(|| "no VmHWM line in /proc/self/status".into())
}

/// A 64 KiB block of printable text (lines of 64 bytes), so the capture decodes text.
fn text_block() -> Bytes {
    const LINE: &[u8; 64] = b"spanfire body_rss: 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEF\n";
    Bytes::from(LINE.repeat(CHUNK / LINE.len()))
}

/// `bytes` bytes of text as 64 KiB chunks, each a fresh allocation, generated on demand.
fn generator(
    bytes: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let block = text_block();
    futures_util::stream::unfold((bytes, block), |(left, block)| async move {
        if left == 0 {
            return None;
        }
        let n = left.min(CHUNK as u64) as usize;
        let chunk = Bytes::copy_from_slice(&block[..n]);
        Some((Ok(chunk), (left - n as u64, block)))
    })
}

// ---------------------------------------------------------------------------------------------
// Span processor that records, then drops
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct SpanStats {
    spans: AtomicU64,
    captured_text_bytes: AtomicU64,
}

/// Counts each ended span (and the length of its captured body text), then drops it.
#[derive(Debug)]
struct DiscardSpans {
    stats: Arc<SpanStats>,
}

impl SpanProcessor for DiscardSpans {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        let captured: usize = span
            .attributes
            .iter()
            .filter(|kv| {
                matches!(
                    kv.key.as_str(),
                    "http.request.body.text" | "http.response.body.text"
                )
            })
            .map(|kv| match &kv.value {
                Value::String(s) => s.as_str().len(),
                _ => 0,
            })
            .sum();
        self.stats.spans.fetch_add(1, Ordering::Relaxed);
        self.stats
            .captured_text_bytes
            .fetch_add(captured as u64, Ordering::Relaxed);
        drop(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// In-process server
// ---------------------------------------------------------------------------------------------

type ServerBody = UnsyncBoxBody<Bytes, hyper::Error>;

/// Serves `GET /stream` (`bytes` bytes of text) and `POST /sink` (reads and discards the body,
/// answers with the byte count) on 127.0.0.1 and an ephemeral port.
async fn start_server(bytes: u64) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let block = text_block();
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(err) => {
                    eprintln!("body_rss server: accept: {err}");
                    continue;
                }
            };
            let block = block.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(req, bytes, block.clone()));
                if let Err(err) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    eprintln!("body_rss server: connection: {err}");
                }
            });
        }
    });
    Ok(addr)
}

async fn handle(
    req: Request<Incoming>,
    bytes: u64,
    block: Bytes,
) -> Result<Response<ServerBody>, hyper::Error> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/stream") => {
            // Slices of one shared block: nothing is allocated per chunk.
            let chunks = futures_util::stream::unfold(bytes, move |left| {
                let block = block.clone();
                async move {
                    if left == 0 {
                        return None;
                    }
                    let n = left.min(CHUNK as u64) as usize;
                    Some((Ok(Frame::data(block.slice(..n))), left - n as u64))
                }
            });
            Ok(Response::builder()
                .header(CONTENT_TYPE, "text/plain; charset=utf-8")
                .header(CONTENT_LENGTH, bytes)
                .body(StreamBody::new(chunks).boxed_unsync())
                .expect("valid response"))
        }
        (&Method::POST, "/sink") => {
            let mut body = req.into_body();
            let mut received = 0u64;
            while let Some(frame) = body.frame().await {
                if let Some(data) = frame?.data_ref() {
                    received += data.len() as u64;
                }
            }
            Ok(text_response(StatusCode::OK, received.to_string()))
        }
        _ => Ok(text_response(StatusCode::NOT_FOUND, "not found".to_owned())),
    }
}

fn text_response(status: StatusCode, text: String) -> Response<ServerBody> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(
            Full::new(Bytes::from(text))
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .expect("valid response")
}

// ---------------------------------------------------------------------------------------------
// `compare`
// ---------------------------------------------------------------------------------------------

struct Measurement {
    mode: String,
    bytes: u64,
    vmhwm_kib_before: u64,
    vmhwm_kib_after: u64,
    seconds: f64,
}

impl Measurement {
    fn peak_mib(&self) -> f64 {
        kib_to_mib(self.vmhwm_kib_after)
    }

    fn growth_mib(&self) -> f64 {
        kib_to_mib(self.vmhwm_kib_after.saturating_sub(self.vmhwm_kib_before))
    }

    /// Download and upload together.
    fn throughput_mib_s(&self) -> f64 {
        (2 * self.bytes) as f64 / (1024.0 * 1024.0) / self.seconds
    }
}

fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn compare(bytes: u64) -> Result<(), BoxError> {
    let exe = std::env::current_exe()?;
    let plain = run_child(&exe, Mode::Plain, bytes)?;
    let spanfire = run_child(&exe, Mode::Spanfire, bytes)?;

    let diff_kib = spanfire.vmhwm_kib_after as i64 - plain.vmhwm_kib_after as i64;
    let diff_mib = diff_kib as f64 / 1024.0;
    let within = diff_kib <= GOAL_KIB as i64;

    println!(
        "{} MiB down + {} MiB up, 64 KiB chunks, 127.0.0.1, HTTP/1.1\n",
        bytes as f64 / (1024.0 * 1024.0),
        bytes as f64 / (1024.0 * 1024.0)
    );
    println!(
        "| mode | peak RSS (MiB) | growth during transfers (MiB) | throughput down+up (MiB/s) |"
    );
    println!("|---|---:|---:|---:|");
    for m in [&plain, &spanfire] {
        println!(
            "| {} | {:.1} | {:.1} | {:.0} |",
            m.mode,
            m.peak_mib(),
            m.growth_mib(),
            m.throughput_mib_s()
        );
    }
    println!(
        "| spanfire − plain | {:+.1} | {:+.1} | {:+.0} |",
        diff_mib,
        spanfire.growth_mib() - plain.growth_mib(),
        spanfire.throughput_mib_s() - plain.throughput_mib_s()
    );
    println!(
        "\nspanfire − plain peak RSS: {diff_mib:+.2} MiB; goal ≤ 64 KiB limit + 4 MiB \
         ({:.2} MiB): {}",
        kib_to_mib(GOAL_KIB),
        if within {
            "within goal"
        } else {
            "NOT within goal"
        }
    );
    Ok(())
}

/// Runs this binary in `mode` and parses its JSON line.
fn run_child(exe: &Path, mode: Mode, bytes: u64) -> Result<Measurement, BoxError> {
    let output = Command::new(exe)
        .arg(mode.as_str())
        .arg("--bytes")
        .arg(bytes.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "`{} {}` failed: {}",
            exe.display(),
            mode.as_str(),
            output.status
        )
        .into());
    }
    let stdout = String::from_utf8(output.stdout)?;
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("`{}` printed no JSON line", mode.as_str()))?;
    parse_measurement(line)
}

/// Parses the flat JSON object printed by a measurement.
fn parse_measurement(line: &str) -> Result<Measurement, BoxError> {
    let field = |key: &str| -> Result<&str, BoxError> {
        let pattern = format!("\"{key}\":");
        let start = line
            .find(&pattern)
            .ok_or_else(|| format!("no {key:?} in {line:?}"))?
            + pattern.len();
        let rest = &line[start..];
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Ok(rest[..end].trim().trim_matches('"'))
    };
    Ok(Measurement {
        mode: field("mode")?.to_owned(),
        bytes: field("bytes")?.parse()?,
        vmhwm_kib_before: field("vmhwm_kib_before")?.parse()?,
        vmhwm_kib_after: field("vmhwm_kib_after")?.parse()?,
        seconds: field("seconds")?.parse()?,
    })
}
