//! The scripted raw-TCP server, what the application sees of one exchange through either front
//! end, and the expected span.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioExecutor;
use opentelemetry::trace::Status;
use opentelemetry::{Array, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::support::front::{Client, ClientError, ClientOptions, Front};
use crate::support::*;

// ---------------------------------------------------------------------------------------------
// The raw server
// ---------------------------------------------------------------------------------------------

/// One thing the raw server does after it has read the request head; when the steps run out it
/// closes the connection (FIN).
#[derive(Debug, Clone)]
pub enum Step {
    Write(Vec<u8>),
    /// Waits until the test calls [`RawServer::open_gate`] (one permit per connection).
    Gate,
    /// Writes `line` up to `times` times, `gap` apart; stops early when the client is gone.
    Drip {
        line: &'static [u8],
        times: usize,
        gap: Duration,
    },
    /// Resets the connection: SO_LINGER 0, then close, so the client gets an RST.
    Reset,
    /// Keeps the connection open, writing nothing, until the client closes it (at most 10 s).
    Hang,
}

/// A TCP server on 127.0.0.1 that answers every connection with the same raw steps.
pub struct RawServer {
    addr: SocketAddr,
    gate: Arc<Semaphore>,
    /// The front end the exchange runs on (ureq records no peer address).
    front: Front,
}

impl RawServer {
    async fn start(steps: Vec<Step>, front: Front) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gate = Arc::new(Semaphore::new(0));
        let gate_for_server = Arc::clone(&gate);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let steps = steps.clone();
                tokio::spawn(serve(stream, steps, Arc::clone(&gate_for_server)));
            }
        });
        RawServer { addr, gate, front }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hostile?case=1", self.addr)
    }

    pub fn port(&self) -> i64 {
        i64::from(self.addr.port())
    }

    fn open_gate(&self) {
        self.gate.add_permits(1);
    }
}

async fn serve(mut stream: TcpStream, steps: Vec<Step>, gate: Arc<Semaphore>) {
    let mut head = Vec::new();
    let mut buf = [0_u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 1 << 20 {
            return;
        }
    }
    for step in steps {
        match step {
            Step::Write(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Step::Gate => {
                if let Ok(permit) = gate.acquire().await {
                    permit.forget();
                }
            }
            Step::Drip { line, times, gap } => {
                for _ in 0..times {
                    if stream.write_all(line).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(gap).await;
                }
            }
            Step::Reset => {
                let _ = stream.set_zero_linger();
                drop(stream);
                return;
            }
            Step::Hang => {
                let until_closed = async {
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(10), until_closed).await;
                return;
            }
        }
    }
    let _ = stream.shutdown().await;
}

pub fn write(bytes: impl AsRef<[u8]>) -> Step {
    Step::Write(bytes.as_ref().to_vec())
}

// ---------------------------------------------------------------------------------------------
// What the application sees
// ---------------------------------------------------------------------------------------------

/// The kind of a reqwest error, as an application can tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kinds {
    pub timeout: bool,
    pub connect: bool,
    pub request: bool,
    pub body: bool,
    pub decode: bool,
    pub redirect: bool,
    pub status: bool,
    pub builder: bool,
}

fn kinds(e: &reqwest::Error) -> Kinds {
    Kinds {
        timeout: e.is_timeout(),
        connect: e.is_connect(),
        request: e.is_request(),
        body: e.is_body(),
        decode: e.is_decode(),
        redirect: e.is_redirect(),
        status: e.is_status(),
        builder: e.is_builder(),
    }
}

/// The kind of an error of the tower front end's client (hyper-util's, under the application's
/// timeout, see [`ClientError`]), as an application can tell it: the timeout, hyper-util's
/// `is_connect`, the `hyper::Error` predicates, and the kind of the `std::io::Error` underneath.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HyperKinds {
    /// The application's timeout elapsed ([`ClientError::TimedOut`], or reading the body).
    pub timed_out: bool,
    pub connect: bool,
    pub parse: bool,
    pub parse_status: bool,
    pub parse_too_large: bool,
    pub incomplete_message: bool,
    pub canceled: bool,
    pub closed: bool,
    pub user: bool,
    pub io: Option<std::io::ErrorKind>,
}

fn hyper_kinds(e: &(dyn std::error::Error + 'static)) -> HyperKinds {
    let mut out = HyperKinds::default();
    let mut cur = Some(e);
    while let Some(e) = cur {
        if let Some(ClientError::TimedOut) = e.downcast_ref::<ClientError>() {
            out.timed_out = true;
        }
        if let Some(e) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
            out.connect = e.is_connect();
        }
        if let Some(e) = e.downcast_ref::<hyper::Error>() {
            out.parse = e.is_parse();
            out.parse_status = e.is_parse_status();
            out.parse_too_large = e.is_parse_too_large();
            out.incomplete_message = e.is_incomplete_message();
            out.canceled = e.is_canceled();
            out.closed = e.is_closed();
            out.user = e.is_user();
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            out.io.get_or_insert(io.kind());
        }
        cur = e.source();
    }
    out
}

/// The kind of an error, of the front end the exchange ran on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Reqwest(Kinds),
    Tower(HyperKinds),
    /// ureq's `Error` variant, as `Debug` names it (`Timeout`, `Io(UnexpectedEof)`, …); a body
    /// read's `std::io::Error` by the `ureq::Error` it wraps, else by its own kind.
    Ureq(String),
}

/// An error the application saw: its kind, its text and the text of its root cause (compared
/// between the runs with and without spanfire, not against a fixed value). The sources in
/// between are not compared: with spanfire, reqwest's body errors are nested two
/// `request or response body error`s deeper (its body is wrapped once more).
#[derive(Debug, Clone, PartialEq)]
pub struct AppError {
    kind: Kind,
    text: String,
    root: String,
}

impl AppError {
    fn new(kind: Kind, e: &(dyn std::error::Error + 'static)) -> AppError {
        let mut root = e;
        while let Some(source) = root.source() {
            root = source;
        }
        AppError {
            kind,
            text: e.to_string(),
            root: root.to_string(),
        }
    }

    fn reqwest(e: &reqwest::Error) -> AppError {
        AppError::new(Kind::Reqwest(kinds(e)), e)
    }

    fn tower(e: &(dyn std::error::Error + 'static)) -> AppError {
        AppError::new(Kind::Tower(hyper_kinds(e)), e)
    }

    fn ureq(e: &ureq::Error) -> AppError {
        let mut error = AppError::new(Kind::Ureq(ureq_kind(e)), e);
        if let ureq::Error::LargeResponseHeader(_, limit) = e {
            // the first number is how much ureq had buffered when it gave up: it depends on
            // how the bytes arrived (128,000 or 131,072 on the same test), not on spanfire
            let text = format!("response header is too big: (bytes read) > {limit}");
            error.text.clone_from(&text);
            error.root = text;
        }
        error
    }

    fn ureq_body(e: &std::io::Error) -> AppError {
        let kind = match e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
            Some(ureq) => ureq_kind(ureq),
            None => format!("Io({:?})", e.kind()),
        };
        AppError::new(Kind::Ureq(kind), e)
    }

    /// The application's own timeout while it read the body (tower: hyper-util has none).
    fn body_timed_out() -> AppError {
        AppError {
            kind: Kind::Tower(HyperKinds {
                timed_out: true,
                ..HyperKinds::default()
            }),
            text: "body read timed out".to_owned(),
            root: "body read timed out".to_owned(),
        }
    }
}

/// A ureq error's variant with the kind of an `std::io::Error` it holds: `Io(UnexpectedEof)`,
/// `Timeout`, `Protocol`.
pub fn ureq_kind(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => format!("Io({:?})", io.kind()),
        other => {
            let debug = format!("{other:?}");
            let end = debug.find(['(', ' ', '{']).unwrap_or(debug.len());
            debug[..end].to_owned()
        }
    }
}

/// The exchange of the ureq front end, on the blocking pool: the GET, then the body read
/// 16 KiB at a time until its end or an error (ureq's own timeout bounds both).
async fn ureq_exchange(agent: ureq::Agent, url: String, gate: Option<Arc<Semaphore>>) -> Seen {
    crate::support::front::blocking(move || {
        use std::io::Read;
        let res = match agent.get(&url).call() {
            Ok(res) => res,
            Err(e) => return Seen::Failed(AppError::ureq(&e)),
        };
        let (parts, body) = res.into_parts();
        // Not compared: spanfire's rebuilt body has no `content_length()` (documented in
        // `spanfire::ureq`; tested by `ureq_client::content_length_is_not_kept_but_the_header_is`)
        let content_length = None;
        let mut reader = body.into_reader();
        let (mut body, mut body_error, mut buf) = (Vec::new(), None, vec![0; 16 * 1024]);
        for i in 0..1_000_000 {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    body.extend_from_slice(&buf[..n]);
                    if let (0, Some(gate)) = (i, &gate) {
                        gate.add_permits(1);
                    }
                }
                Err(e) => {
                    body_error = Some(AppError::ureq_body(&e));
                    break;
                }
            }
        }
        Seen::Response {
            status: parts.status.as_u16(),
            version: parts.version,
            headers: parts.headers,
            content_length,
            body,
            body_error,
        }
    })
    .await
}

fn ureq_agent(timeout: Duration) -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
}

/// Everything the application observed of one exchange.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// `send()` failed.
    Failed(AppError),
    /// A response head arrived; the body was read chunk by chunk until its end or an error.
    Response {
        status: u16,
        version: http::Version,
        headers: http::HeaderMap,
        content_length: Option<u64>,
        body: Vec<u8>,
        body_error: Option<AppError>,
    },
}

impl Seen {
    pub fn failed(&self) -> &Kind {
        match self {
            Seen::Failed(error) => &error.kind,
            other => panic!("expected send() to fail, got {other:?}"),
        }
    }

    pub fn body(&self) -> (&[u8], Option<&Kind>) {
        match self {
            Seen::Response {
                body, body_error, ..
            } => (body, body_error.as_ref().map(|e| &e.kind)),
            other => panic!("expected a response, got {other:?}"),
        }
    }
}

async fn read(mut res: reqwest::Response, server: &RawServer, gated: bool) -> Seen {
    let status = res.status().as_u16();
    let version = res.version();
    let headers = res.headers().clone();
    let content_length = res.content_length();
    let mut body = Vec::new();
    let mut body_error = None;
    for i in 0..1_000_000 {
        match res.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if i == 0 && gated {
                    server.open_gate();
                }
            }
            Ok(None) => break,
            Err(e) => {
                body_error = Some(AppError::reqwest(&e));
                break;
            }
        }
    }
    Seen::Response {
        status,
        version,
        headers,
        content_length,
        body,
        body_error,
    }
}

/// [`read`] for an `http::Response` of the tower front end (instrumented or not). hyper-util has
/// no timeout of the body: the application bounds its reads by the deadline of the exchange,
/// as reqwest's total timeout does, and drops the body when it passes.
async fn read_http<B>(
    res: http::Response<B>,
    server: &RawServer,
    gated: bool,
    deadline: Instant,
) -> Seen
where
    B: hyper::body::Body<Data = Bytes, Error = hyper::Error> + Unpin,
{
    let status = res.status().as_u16();
    let version = res.version();
    let headers = res.headers().clone();
    let content_length = hyper::body::Body::size_hint(res.body()).exact();
    let mut res = res.into_body();
    let mut body = Vec::new();
    let mut body_error = None;
    let mut chunks = 0;
    for _ in 0..1_000_000 {
        match tokio::time::timeout_at(deadline, res.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Ok(chunk) = frame.into_data() {
                    body.extend_from_slice(&chunk);
                    if chunks == 0 && gated {
                        server.open_gate();
                    }
                    chunks += 1;
                }
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                body_error = Some(AppError::tower(&e));
                break;
            }
            Err(_) => {
                body_error = Some(AppError::body_timed_out());
                break;
            }
        }
    }
    drop(res);
    Seen::Response {
        status,
        version,
        headers,
        content_length,
        body,
        body_error,
    }
}

fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder().timeout(timeout).build().unwrap()
}

type TowerBody = BoxBody<Bytes, std::io::Error>;

fn empty() -> TowerBody {
    Empty::<Bytes>::new().map_err(|e| match e {}).boxed()
}

/// The GET of the tower front end without spanfire: hyper-util's client under the same timeout
/// of the head as [`crate::support::front::WithTimeout`]'s.
async fn plain_tower(server: &RawServer, gated: bool, timeout: Duration) -> Seen {
    let hyper =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http::<TowerBody>();
    let deadline = Instant::now() + timeout;
    let request = http::Request::get(server.url()).body(empty()).unwrap();
    let result = match tokio::time::timeout(timeout, hyper.request(request)).await {
        Ok(result) => result.map_err(ClientError::Hyper),
        Err(_) => Err(ClientError::TimedOut),
    };
    match result {
        Ok(res) => read_http(res, server, gated, deadline).await,
        Err(e) => Seen::Failed(AppError::tower(&e)),
    }
}

/// Runs one exchange on `front` without and then with spanfire (`capture_all`); asserts the
/// application saw the same, and returns what it saw, the one span, and the server.
pub async fn exchange(
    front: Front,
    steps: Vec<Step>,
    gated: bool,
    timeout: Duration,
) -> (Seen, SpanData, RawServer) {
    let server = RawServer::start(steps, front).await;
    let t = Telemetry::new();
    let (plain, seen) = match front {
        Front::Reqwest => {
            let plain = match client(timeout).get(server.url()).send().await {
                Ok(res) => read(res, &server, gated).await,
                Err(e) => Seen::Failed(AppError::reqwest(&e)),
            };
            let instrumented = t
                .instrumentation()
                .capture_all(true)
                .instrument_reqwest(client(timeout));
            let seen = match instrumented.get(server.url()).send().await {
                Ok(res) => read(res, &server, gated).await,
                Err(reqwest_middleware::Error::Reqwest(e)) => Seen::Failed(AppError::reqwest(&e)),
                Err(other) => panic!("spanfire turned a reqwest error into {other:?}"),
            };
            (plain, seen)
        }
        Front::Tower => {
            let plain = plain_tower(&server, gated, timeout).await;
            let options = ClientOptions {
                timeout: Some(timeout),
                ..ClientOptions::default()
            };
            let Client::Tower(service) =
                Client::new(Front::Tower, t.instrumentation().capture_all(true), options)
            else {
                unreachable!("a tower front end")
            };
            let deadline = Instant::now() + timeout;
            let request = http::Request::get(server.url()).body(empty()).unwrap();
            let seen = match service.oneshot(request).await {
                Ok(res) => read_http(res, &server, gated, deadline).await,
                Err(e) => Seen::Failed(AppError::tower(&e)),
            };
            (plain, seen)
        }
        Front::Ureq => {
            let gate = || gated.then(|| Arc::clone(&server.gate));
            let plain = ureq_agent(timeout).build().new_agent();
            let plain = ureq_exchange(plain, server.url(), gate()).await;
            let instrumented = t
                .instrumentation()
                .capture_all(true)
                .instrument_ureq(ureq_agent(timeout));
            let seen = ureq_exchange(instrumented, server.url(), gate()).await;
            (plain, seen)
        }
    };
    assert_eq!(
        seen, plain,
        "the application sees the same with and without spanfire"
    );
    let span = t.single();
    assert_client_span(&span, "GET");
    (seen, span, server)
}

// ---------------------------------------------------------------------------------------------
// The expected span
// ---------------------------------------------------------------------------------------------

/// An expected attribute set, compared in full.
pub struct Expect(BTreeMap<String, Value>);

pub fn strings(values: &[&str]) -> Value {
    let values: Vec<StringValue> = values.iter().map(|v| (*v).to_owned().into()).collect();
    Value::Array(Array::String(values))
}

impl Expect {
    /// What every span of a GET to the raw server has: the start attributes and the one request
    /// header spanfire sees (the injected traceparent, the span's own).
    pub fn start(server: &RawServer, span: &SpanData) -> Expect {
        let sc = &span.span_context;
        let traceparent = format!("00-{}-{}-01", sc.trace_id(), sc.span_id());
        Expect(BTreeMap::new())
            .with("http.request.method", "GET")
            .with("url.full", server.url())
            .with("server.address", "127.0.0.1")
            .with("server.port", server.port())
            .with("url.scheme", "http")
            .with("http.request.header.traceparent", strings(&[&traceparent]))
    }

    /// A response head arrived over HTTP/1.1 from the raw server.
    pub fn head(self, server: &RawServer, status: i64) -> Expect {
        self.with("http.response.status_code", status)
            .with("network.protocol.version", "1.1")
            .peer(server)
    }

    /// The peer address, which ureq does not expose.
    fn peer(self, server: &RawServer) -> Expect {
        if server.front == Front::Ureq {
            return self;
        }
        self.with("network.peer.address", "127.0.0.1")
            .with("network.peer.port", server.port())
    }

    pub fn header(self, name: &str, values: &[&str]) -> Expect {
        self.with(&format!("http.response.header.{name}"), strings(values))
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Expect {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    pub fn check(&self, span: &SpanData) {
        assert_eq!(attrs(span), self.0, "the span's full attribute set");
    }
}

/// A transport error: status Error with a description, and one `exception` event of the
/// front end's error type, whose message is the status description.
pub fn assert_transport_error(front: Front, span: &SpanData, head_arrived: bool) {
    let description = match &span.status {
        Status::Error { description } if !description.is_empty() => description.to_string(),
        other => panic!("{other:?}"),
    };
    let mut want = vec!["exception"];
    if head_arrived {
        want.insert(0, "http.response.head");
    }
    assert_eq!(event_names(span), want);
    let exception = span.events.iter().find(|e| e.name == "exception").unwrap();
    let get = |key: &str| {
        exception
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    };
    let exception_type = match (front, head_arrived) {
        // Failures before the head and of the body name the same public type.
        (Front::Reqwest, _) => "reqwest::Error",
        // The service under the layer is the application's timeout around hyper-util's client
        // (support::front::WithTimeout): its error type is the test crate's `ClientError`.
        (Front::Tower, false) => "all::ClientError",
        // The body is hyper's `Incoming`, whose errors are `hyper::Error`s.
        (Front::Tower, true) => "hyper::Error",
        (Front::Ureq, false) => "ureq::Error",
        // ureq's body reader fails with `std::io::Error`s (wrapping a `ureq::Error` or not)
        (Front::Ureq, true) => "std::io::error::Error",
    };
    assert_eq!(get("exception.type").as_deref(), Some(exception_type));
    assert_eq!(get("exception.message"), Some(description));
}

pub fn assert_completed(span: &SpanData) {
    assert_eq!(span.status, Status::Unset);
    assert_eq!(event_names(span), ["http.response.head"]);
}

pub const LONG: Duration = Duration::from_secs(10);
/// The client timeout that bounds the cases that never end.
pub const SHORT: Duration = Duration::from_millis(300);
pub const MARK: &str = spanfire::TRUNCATION_MARKER;

/// A reqwest request error: what a broken or missing response head gives.
pub fn request_error() -> Kinds {
    Kinds {
        timeout: false,
        connect: false,
        request: true,
        body: false,
        decode: false,
        redirect: false,
        status: false,
        builder: false,
    }
}

/// What reading a broken body gives the application on reqwest: reqwest reports every body
/// read error as a decode error (`Response::chunk`, `bytes`, `text` alike).
pub fn body_read_error(timeout: bool) -> Kinds {
    Kinds {
        timeout,
        request: false,
        decode: true,
        ..request_error()
    }
}
