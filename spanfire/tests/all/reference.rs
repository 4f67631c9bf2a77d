//! The Python original as the reference: `tests/data/logfire-aiohttp-spans.json` holds the spans
//! Python Logfire's `instrument_aiohttp_client()` (aiohttp + logfire, against httpbin) emitted
//! for 8 scenarios. Each test here replays one scenario against spanfire in `http/dup` mode with
//! `capture_all(true)` and configure()'s Logfire attributes, on every front end, and asserts the
//! mapping documented in `docs/reference-mapping.md`:
//!
//! - every attribute of Python's CLIENT span (and the `http.response.body.text` of its
//!   "Reading response body" child span) has a row in the scenario's table; the row names
//!   spanfire's key and says whether the value is the same (same OTLP type and value), depends
//!   on the run (same type), or is a documented difference (spanfire's exact value, or absent);
//! - every attribute spanfire adds beyond Python's is listed too (the set is exact), with its
//!   value or type, the old `http/dup` names checked against their stable twins;
//! - span name, kind, status and events.
//!
//! The server is [`TestServer`] behind a small front (`Httpbin` below) that makes it look like
//! the httpbin (gunicorn) the reference ran against: httpbin's response headers (`Server`,
//! `Connection`, `Content-Type`, `Access-Control-Allow-*`; hyper adds `Date` and
//! `Content-Length`), `/anything` (served by the origin's `/get`) and `/delay/{seconds}`
//! (the origin's `/delay/{ms}`), so that the reference's URL paths replay unchanged.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Array, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SimpleSpanProcessor, SpanData};
use serde_json::Value as Json;
use spanfire::{HttpClientInstrumentation, SemconvStability};

use crate::support::front::{Client, ClientOptions, Front, Req};
use crate::support::*;

const REFERENCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/logfire-aiohttp-spans.json"
);

/// Python's `logfire.scrubbed` for the CORS header it took for a credential.
const ACAC: &str = "http.response.header.Access-Control-Allow-Credentials";

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

/// Where the Python attribute is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum On {
    /// The CLIENT span (scope `opentelemetry.instrumentation.aiohttp_client`).
    Client,
    /// Its child INTERNAL span "Reading response body" (scope `logfire.aiohttp_client`).
    BodySpan,
}

/// A value spanfire records, in the table. Strings may contain `{port}`: this run's port.
#[derive(Debug, Clone, Copy)]
enum V {
    Str(&'static str),
    Strs(&'static [&'static str]),
}

/// How spanfire's attribute relates to Python's.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// Same OTLP type and value (the reference's `127.0.0.1:8080` / `127.0.0.1:1` replaced by
    /// this run's address).
    Value,
    /// Same OTLP type; the value depends on the run (port, date, body length).
    Type,
    /// A documented difference: same OTLP type, spanfire's value is exactly this.
    Differs(V),
    /// A documented difference: spanfire has no such attribute in this scenario.
    Absent,
}

/// One row: Python attribute → spanfire attribute on the CLIENT span.
#[derive(Debug)]
struct Row {
    on: On,
    python: &'static str,
    spanfire: &'static str,
    check: Check,
}

const fn row(python: &'static str, spanfire: &'static str, check: Check) -> Row {
    Row {
        on: On::Client,
        python,
        spanfire,
        check,
    }
}

/// The same key on both sides.
const fn same(key: &'static str, check: Check) -> Row {
    row(key, key, check)
}

/// The response body: Python's on the "Reading response body" span, spanfire's on the CLIENT
/// span.
const fn body(check: Check) -> Row {
    Row {
        on: On::BodySpan,
        python: "http.response.body.text",
        spanfire: "http.response.body.text",
        check,
    }
}

/// What spanfire records beyond Python.
#[derive(Debug, Clone, Copy)]
enum Extra {
    /// Exactly this string (`{port}` replaced).
    Str(&'static str),
    Strs(&'static [&'static str]),
    Int(i64),
    /// Depends on the run: an int / an array of strings.
    AnyInt,
    AnyStrs,
    /// An `http/dup` old name: the same value and type as spanfire's own stable attribute.
    Twin(&'static str),
}

/// Every request: the stable name Python lacks and the old names given at start.
const EXTRAS_START: &[(&str, Extra)] = &[
    ("url.scheme", Extra::Str("http")),
    ("http.method", Extra::Twin("http.request.method")),
    ("http.url", Extra::Twin("url.full")),
    ("http.host", Extra::Twin("server.address")),
    ("net.peer.name", Extra::Twin("server.address")),
    ("net.peer.port", Extra::Twin("server.port")),
    ("http.scheme", Extra::Twin("url.scheme")),
    // spanfire captures the request headers as sent, after trace-context injection
    ("http.request.header.traceparent", Extra::AnyStrs),
];

/// Every response.
const EXTRAS_RESPONSE: &[(&str, Extra)] = &[
    ("network.protocol.version", Extra::Str("1.1")),
    ("network.peer.address", Extra::Str("127.0.0.1")),
    ("network.peer.port", Extra::AnyInt),
    ("http.response.body.size", Extra::AnyInt),
    ("http.status_code", Extra::Twin("http.response.status_code")),
    ("http.flavor", Extra::Twin("network.protocol.version")),
    ("net.sock.peer.addr", Extra::Twin("network.peer.address")),
    ("net.sock.peer.port", Extra::Twin("network.peer.port")),
    (
        "http.response_content_length",
        Extra::Twin("http.response.body.size"),
    ),
];

/// A JSON response body: configure() describes it on the CLIENT span (Python on the body span).
const EXTRAS_JSON_BODY: &[(&str, Extra)] = &[(
    "logfire.json_schema",
    Extra::Str(r#"{"type":"object","properties":{"http.response.body.text":{"type":"object"}}}"#),
)];

/// The POST: the content type aiohttp's `json=` sets (spanfire sees it, Python did not record
/// it) and the request body size.
const EXTRAS_POST: &[(&str, Extra)] = &[
    (
        "http.request.header.content-type",
        Extra::Strs(&["application/json"]),
    ),
    ("http.request.body.size", Extra::Int(21)),
    (
        "http.request_content_length",
        Extra::Twin("http.request.body.size"),
    ),
];

/// Every request.
const ROWS_START: &[Row] = &[
    same("http.request.method", Check::Value),
    same("server.address", Check::Value),
    same("server.port", Check::Type),
    same("logfire.span_type", Check::Value),
];

/// httpbin's response headers: Python keeps the header's case, spanfire lowercases it (the
/// semantic conventions' `http.response.header.<key>` with `<key>` lowercase).
const ROWS_RESPONSE_HEADERS: &[Row] = &[
    row(
        "http.response.header.Server",
        "http.response.header.server",
        Check::Value,
    ),
    row(
        "http.response.header.Date",
        "http.response.header.date",
        Check::Type,
    ),
    row(
        "http.response.header.Connection",
        "http.response.header.connection",
        Check::Value,
    ),
    row(
        "http.response.header.Content-Type",
        "http.response.header.content-type",
        Check::Value,
    ),
    // the bodies differ (TestServer is not httpbin)
    row(
        "http.response.header.Content-Length",
        "http.response.header.content-length",
        Check::Type,
    ),
    row(
        "http.response.header.Access-Control-Allow-Origin",
        "http.response.header.access-control-allow-origin",
        Check::Value,
    ),
    // Python's scrubber matched `Credential` in the header *name* (a false positive: the value
    // is `true`); spanfire's policy does not treat `credentials` in a header name as a secret
    row(
        ACAC,
        "http.response.header.access-control-allow-credentials",
        Check::Differs(V::Strs(&["true"])),
    ),
    same("http.response.status_code", Check::Value),
];

/// A scenario of the reference.
struct Scenario {
    /// The `label` of the reference's `case {label}` span.
    case: &'static str,
    fronts: &'static [Front],
    /// Python attribute → spanfire attribute.
    rows: &'static [&'static [Row]],
    /// What spanfire adds.
    extras: &'static [&'static [(&'static str, Extra)]],
    /// The transport error: spanfire's `exception.message` (and status description) contains
    /// this.
    error_text: Option<&'static str>,
}

const EVERY: &[Front] = &[Front::Reqwest, Front::Tower, Front::Ureq];

/// What ureq cannot record: it does not expose the peer address (nor so its old twins).
const NOT_ON_UREQ: [&str; 4] = [
    "network.peer.address",
    "network.peer.port",
    "net.sock.peer.addr",
    "net.sock.peer.port",
];

const GET_QUERY_TOKEN: Scenario = Scenario {
    case: "get_query_token",
    fronts: EVERY,
    rows: &[
        ROWS_START,
        &[
            // Python's aiohttp instrumentation redacts only the semconv's query keys; spanfire's
            // policy also takes `token`
            same(
                "url.full",
                Check::Differs(V::Str(
                    "http://127.0.0.1:{port}/get?token=REDACTED&user=alice&q=a%20b",
                )),
            ),
            // Python: the method alone; spanfire: Logfire's message with host, path and query
            same(
                "logfire.msg",
                Check::Differs(V::Str(
                    "GET 127.0.0.1/get ? token='REDACTED' & user='alice' & q='a b'",
                )),
            ),
            // Python's lists the CORS header; spanfire's stage scrubs nothing here
            same("logfire.scrubbed", Check::Absent),
            body(Check::Type),
        ],
        ROWS_RESPONSE_HEADERS,
    ],
    extras: &[EXTRAS_START, EXTRAS_RESPONSE, EXTRAS_JSON_BODY],
    error_text: None,
};

const POST_JSON: Scenario = Scenario {
    case: "post_json",
    fronts: EVERY,
    rows: &[
        ROWS_START,
        &[
            same("url.full", Check::Value),
            same("logfire.msg", Check::Differs(V::Str("POST 127.0.0.1/post"))),
            row(
                "http.request.header.X-Custom",
                "http.request.header.x-custom",
                Check::Value,
            ),
            // Python: replaced by configure()'s scrubber; spanfire: by the instrumentation
            // itself (its stage then lists them in logfire.scrubbed, as Python's does)
            row(
                "http.request.header.Authorization",
                "http.request.header.authorization",
                Check::Differs(V::Strs(&["[REDACTED]"])),
            ),
            row(
                "http.request.header.Cookie",
                "http.request.header.cookie",
                Check::Differs(V::Strs(&["[REDACTED]"])),
            ),
            // Python's value is compact JSON (18 bytes) although aiohttp sent 21 (httpbin
            // echoes `Content-Length: 21`); spanfire records the bytes sent
            same(
                "http.request.body.text",
                Check::Differs(V::Str(r#"{"name": "x", "n": 1}"#)),
            ),
            // spanfire's span also holds the response body, so its schema has both
            same(
                "logfire.json_schema",
                Check::Differs(V::Str(
                    r#"{"type":"object","properties":{"http.request.body.text":{"type":"object"},"http.response.body.text":{"type":"object"}}}"#,
                )),
            ),
            // the headers' keys in spanfire's case and matched part; no CORS header
            same(
                "logfire.scrubbed",
                Check::Differs(V::Str(
                    r#"[{"path": ["attributes", "http.request.header.authorization"], "matched_substring": "auth"}, {"path": ["attributes", "http.request.header.cookie"], "matched_substring": "cookie"}]"#,
                )),
            ),
            body(Check::Type),
        ],
        ROWS_RESPONSE_HEADERS,
    ],
    // logfire.json_schema is a row here: Python has one on its CLIENT span too
    extras: &[EXTRAS_START, EXTRAS_RESPONSE, EXTRAS_POST],
    error_text: None,
};

/// 404 and 500: the same table.
macro_rules! status_scenario {
    ($case:literal, $msg:literal) => {
        Scenario {
            case: $case,
            fronts: EVERY,
            rows: &[
                ROWS_START,
                &[
                    same("url.full", Check::Value),
                    same("logfire.msg", Check::Differs(V::Str($msg))),
                    same("error.type", Check::Value),
                    same("logfire.level_num", Check::Value),
                    same("logfire.scrubbed", Check::Absent),
                    // Python records the empty body as ""; spanfire records no text for an
                    // empty body (http.response.body.size = 0)
                    body(Check::Absent),
                ],
                ROWS_RESPONSE_HEADERS,
            ],
            extras: &[EXTRAS_START, EXTRAS_RESPONSE],
            error_text: None,
        }
    };
}

const STATUS_404: Scenario = status_scenario!("status_404", "GET 127.0.0.1/status/404");
const STATUS_500: Scenario = status_scenario!("status_500", "GET 127.0.0.1/status/500");

const CONN_REFUSED: Scenario = Scenario {
    case: "conn_refused",
    fronts: EVERY,
    rows: &[
        ROWS_START,
        &[
            same("url.full", Check::Value),
            same("logfire.msg", Check::Differs(V::Str("GET 127.0.0.1/get"))),
            // Python: the exception's class name; spanfire: the semconv's low-cardinality kind
            same("error.type", Check::Differs(V::Str("connect"))),
            same("logfire.level_num", Check::Value),
        ],
    ],
    extras: &[EXTRAS_START],
    error_text: Some("Connection refused"),
};

const REDIRECT_2: Scenario = Scenario {
    case: "redirect_2",
    // hyper-util's Client does not follow redirects; reqwest and ureq do, below the
    // middleware, so the chain is one span as in Python
    fronts: &[Front::Reqwest, Front::Ureq],
    rows: &[
        ROWS_START,
        &[
            same("url.full", Check::Value),
            same(
                "logfire.msg",
                Check::Differs(V::Str("GET 127.0.0.1/redirect/2")),
            ),
            same("logfire.scrubbed", Check::Absent),
            body(Check::Type),
        ],
        ROWS_RESPONSE_HEADERS,
    ],
    extras: &[EXTRAS_START, EXTRAS_RESPONSE, EXTRAS_JSON_BODY],
    error_text: None,
};

const USERINFO_SIG_PARAMS: Scenario = Scenario {
    case: "userinfo_sig_params",
    fronts: EVERY,
    rows: &[
        ROWS_START,
        &[
            // both redact the userinfo and the semconv's keys; Python keeps token and api_key
            same(
                "url.full",
                Check::Differs(V::Str(
                    "http://REDACTED:REDACTED@127.0.0.1:{port}/anything?sig=REDACTED&Signature=REDACTED&AWSAccessKeyId=REDACTED&X-Goog-Signature=REDACTED&token=REDACTED&api_key=REDACTED",
                )),
            ),
            same(
                "logfire.msg",
                Check::Differs(V::Str(
                    "GET 127.0.0.1/anything ? sig='REDACTED' & Signature='REDACTED' & AWSAccessKeyId='REDACTED' & X-Goog-Signature='REDACTED' & token='REDACTED' & api_key='REDACTED'",
                )),
            ),
            // spanfire's stage reports the userinfo of the two URL attributes
            same(
                "logfire.scrubbed",
                Check::Differs(V::Str(
                    r#"[{"path": ["attributes", "url.full"], "matched_substring": "userinfo"}, {"path": ["attributes", "http.url"], "matched_substring": "userinfo"}]"#,
                )),
            ),
            body(Check::Type),
        ],
        ROWS_RESPONSE_HEADERS,
    ],
    extras: &[EXTRAS_START, EXTRAS_RESPONSE, EXTRAS_JSON_BODY],
    error_text: None,
};

const TIMEOUT: Scenario = Scenario {
    case: "timeout",
    fronts: EVERY,
    rows: &[
        ROWS_START,
        &[
            same("url.full", Check::Value),
            same(
                "logfire.msg",
                Check::Differs(V::Str("GET 127.0.0.1/delay/3")),
            ),
            same("error.type", Check::Differs(V::Str("timeout"))),
            same("logfire.level_num", Check::Value),
        ],
    ],
    extras: &[EXTRAS_START],
    error_text: Some("timed out"),
};

// ---------------------------------------------------------------------------------------------
// The reference file
// ---------------------------------------------------------------------------------------------

fn reference() -> Json {
    let text = std::fs::read_to_string(REFERENCE).unwrap_or_else(|e| panic!("{REFERENCE}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Python's CLIENT span of `case` and its "Reading response body" child, if any.
fn python_spans(reference: &Json, case: &str) -> (Json, Option<Json>) {
    let spans = reference["spans"].as_array().unwrap();
    let parent = spans
        .iter()
        .find(|s| s["name"] == "case {label}" && s["attributes"]["label"] == case)
        .unwrap_or_else(|| panic!("{case}: no `case {{label}}` span in the reference"));
    let client = spans
        .iter()
        .find(|s| s["parent_span_id"] == parent["span_id"] && s["kind"] == "CLIENT")
        .unwrap_or_else(|| panic!("{case}: no CLIENT span in the reference"));
    assert_eq!(
        client["scope"], "opentelemetry.instrumentation.aiohttp_client",
        "{case}"
    );
    let body = spans
        .iter()
        .find(|s| s["parent_span_id"] == client["span_id"] && s["name"] == "Reading response body")
        .cloned();
    (client.clone(), body)
}

// ---------------------------------------------------------------------------------------------
// OTLP values as JSON
// ---------------------------------------------------------------------------------------------

/// spanfire's attribute value in the reference's JSON shapes: string, int, array of strings
/// (a bool, float or other array stays distinguishable, so a type mismatch shows).
fn to_json(value: &Value) -> Json {
    match value {
        Value::String(s) => Json::from(s.as_str()),
        Value::I64(n) => Json::from(*n),
        Value::F64(f) => Json::from(*f),
        Value::Bool(b) => Json::from(*b),
        Value::Array(Array::String(items)) => {
            Json::Array(items.iter().map(|s| Json::from(s.as_str())).collect())
        }
        other => Json::from(format!("<unsupported {other:?}>")),
    }
}

/// The OTLP type of a JSON-shaped value.
fn type_of(value: &Json) -> &'static str {
    match value {
        Json::String(_) => "string",
        Json::Number(n) if n.is_i64() => "int",
        Json::Number(_) => "double",
        Json::Bool(_) => "bool",
        Json::Array(items) if items.iter().all(Json::is_string) => "array of strings",
        _ => "other",
    }
}

/// The table's value, with `{port}` replaced.
fn table_value(v: V, port: u16) -> Json {
    let sub = |s: &str| s.replace("{port}", &port.to_string());
    match v {
        V::Str(s) => Json::from(sub(s)),
        V::Strs(items) => Json::Array(items.iter().map(|s| Json::from(sub(s))).collect()),
    }
}

/// Python's value with the reference run's addresses replaced by this run's.
fn localized(python: &Json, port: u16) -> Json {
    match python {
        Json::String(s) => Json::from(
            s.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
                .replace("127.0.0.1:1/", &format!("127.0.0.1:{port}/")),
        ),
        Json::Array(items) => Json::Array(items.iter().map(|i| localized(i, port)).collect()),
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// The server: TestServer dressed up as httpbin
// ---------------------------------------------------------------------------------------------

struct Httpbin {
    addr: SocketAddr,
    _origin: TestServer,
}

impl Httpbin {
    async fn start() -> Httpbin {
        let origin = TestServer::start().await;
        let origin_base = origin.url("");
        // plain reqwest, not instrumented; redirects go back to the client
        let forward = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let addr = Serve::new()
            .start(move |req| {
                let (forward, origin_base) = (forward.clone(), origin_base.clone());
                async move { httpbin(req, &forward, &origin_base).await }
            })
            .await;
        Httpbin {
            addr,
            _origin: origin,
        }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// Forwards to the origin; answers with httpbin's headers.
async fn httpbin(
    req: Request<Incoming>,
    forward: &reqwest::Client,
    origin_base: &str,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let (origin_path, content_type) = if path == "/anything" {
        ("/get".to_owned(), "application/json")
    } else if let Some(secs) = path.strip_prefix("/delay/") {
        let ms = secs.parse::<u64>().unwrap_or(0) * 1000;
        (format!("/delay/{ms}"), "application/json")
    } else if path.starts_with("/status/") || path.starts_with("/redirect/") {
        (path.clone(), "text/html; charset=utf-8")
    } else {
        (path.clone(), "application/json")
    };
    let method = req.method().clone();
    let mut headers = req.headers().clone();
    headers.remove(http::header::HOST);
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let res = forward
        .request(method, format!("{origin_base}{origin_path}{query}"))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let location = res.headers().get(http::header::LOCATION).cloned();
    let body = res.bytes().await.unwrap();
    let mut out = Response::new(Full::new(body));
    *out.status_mut() = status;
    let h = out.headers_mut();
    h.insert("server", "gunicorn".parse().unwrap());
    h.insert("connection", "keep-alive".parse().unwrap());
    h.insert("content-type", content_type.parse().unwrap());
    h.insert("access-control-allow-origin", "*".parse().unwrap());
    h.insert("access-control-allow-credentials", "true".parse().unwrap());
    if let Some(l) = location {
        h.insert(http::header::LOCATION, l);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Replaying a scenario
// ---------------------------------------------------------------------------------------------

/// The request of `case`, as the Python script made it; and the port its URL names.
fn request(case: &str, bin: &Httpbin, closed: u16) -> (Req, u16) {
    let url = |p: &str| format!("http://127.0.0.1:{}{p}", bin.port());
    let req = match case {
        "get_query_token" => Req::new(Method::GET, &url("/get?token=secret&user=alice&q=a%20b")),
        // aiohttp's `json={"name": "x", "n": 1}` sends json.dumps' output and the content type
        "post_json" => Req::new(Method::POST, &url("/post"))
            .header("X-Custom", "1")
            .header("Authorization", "Bearer abc123")
            .header("Cookie", "session=xyz")
            .header("Content-Type", "application/json")
            .body(br#"{"name": "x", "n": 1}"#),
        "status_404" => Req::new(Method::GET, &url("/status/404")),
        "status_500" => Req::new(Method::GET, &url("/status/500")),
        "conn_refused" => {
            return (
                Req::new(Method::GET, &format!("http://127.0.0.1:{closed}/get")),
                closed,
            )
        }
        "redirect_2" => Req::new(Method::GET, &url("/redirect/2")),
        "userinfo_sig_params" => Req::new(
            Method::GET,
            &format!(
                "http://user:pass@127.0.0.1:{}/anything?sig=abc&Signature=s&AWSAccessKeyId=k\
                 &X-Goog-Signature=g&token=secret&api_key=k2",
                bin.port()
            ),
        ),
        // httpbin's /delay/3 waits 3 s; the client gives up before
        "timeout" => Req::new(Method::GET, &url("/delay/3")),
        other => panic!("unknown case {other}"),
    };
    (req, bin.port())
}

/// spanfire's span for `case` on `front`.
async fn replay(case: &str, front: Front, bin: &Httpbin, closed: u16) -> (SpanData, u16) {
    let exporter = InMemorySpanExporter::default();
    let telemetry = spanfire::configure()
        .install_globals(false)
        .console(false)
        .logfire_attributes(true)
        .with_span_processor(SimpleSpanProcessor::new(exporter.clone()))
        .finish()
        .unwrap();
    let instrumentation = HttpClientInstrumentation::new()
        .tracer_provider(telemetry.tracer_provider().clone())
        .semconv_stability(SemconvStability::Duplicate)
        .capture_all(true);
    let timeout = (case == "timeout").then(|| Duration::from_millis(300));
    let client = Client::new(
        front,
        instrumentation,
        ClientOptions {
            timeout,
            ..ClientOptions::default()
        },
    );
    let (req, port) = request(case, bin, closed);
    match client.send(req).await {
        // the Python script read every body (the "Reading response body" span)
        Ok(resp) => drop(resp.bytes().await),
        Err(e) => assert!(
            matches!(case, "conn_refused" | "timeout"),
            "{case} on {front:?}: {e:?}"
        ),
    }
    let spans = exporter.get_finished_spans().unwrap();
    telemetry.shutdown().unwrap();
    assert_eq!(spans.len(), 1, "{case} on {front:?}: {spans:#?}");
    (spans.into_iter().next().unwrap(), port)
}

/// Replays `scenario` on each of its front ends and asserts its table.
async fn check(scenario: &Scenario) {
    let reference = reference();
    let bin = Httpbin::start().await;
    let closed = closed_port();
    for &front in scenario.fronts {
        let (span, port) = replay(scenario.case, front, &bin, closed).await;
        check_span(scenario, front, &reference, &span, port);
    }
}

fn check_span(scenario: &Scenario, front: Front, reference: &Json, span: &SpanData, port: u16) {
    let case = scenario.case;
    let at = |key: &str| format!("{case} on {front:?}, {key}");
    let (py, py_body) = python_spans(reference, case);
    let got: BTreeMap<String, Json> = span
        .attributes
        .iter()
        .map(|kv| (kv.key.to_string(), to_json(&kv.value)))
        .collect();
    let rows: Vec<&Row> = scenario.rows.iter().flat_map(|r| r.iter()).collect();

    // the table has exactly one row for each of Python's attributes, and none for others
    let mut python_keys: Vec<(On, String)> = py["attributes"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (On::Client, k.clone()))
        .collect();
    if let Some(b) = &py_body {
        if b["attributes"].get("http.response.body.text").is_some() {
            python_keys.push((On::BodySpan, "http.response.body.text".into()));
        }
    }
    for (on, key) in &python_keys {
        let n = rows
            .iter()
            .filter(|r| r.on == *on && r.python == key)
            .count();
        assert_eq!(n, 1, "{}: rows for Python's {on:?} attribute", at(key));
    }
    for r in &rows {
        assert!(
            python_keys
                .iter()
                .any(|(on, k)| *on == r.on && k == r.python),
            "{}: the table has a row but Python's {:?} span has no such attribute",
            at(r.python),
            r.on
        );
    }

    // each row
    for r in &rows {
        let python = match r.on {
            On::Client => &py["attributes"][r.python],
            On::BodySpan => &py_body.as_ref().unwrap()["attributes"][r.python],
        };
        let what = at(&format!("{} -> {}", r.python, r.spanfire));
        if r.python != r.spanfire {
            assert!(
                !got.contains_key(r.python),
                "{what}: spanfire must not have Python's spelling"
            );
        }
        let value = got.get(r.spanfire);
        if let Check::Absent = r.check {
            assert!(value.is_none(), "{what}: want absent, got {value:?}");
            continue;
        }
        let value = value.unwrap_or_else(|| panic!("{what}: missing in {got:#?}"));
        assert_eq!(
            type_of(value),
            type_of(python),
            "{what}: OTLP type (spanfire {value:?}, Python {python:?})"
        );
        match r.check {
            Check::Value => assert_eq!(*value, localized(python, port), "{what}: value"),
            Check::Type | Check::Absent => {}
            Check::Differs(want) => {
                let want = table_value(want, port);
                assert_eq!(*value, want, "{what}: spanfire's documented value");
                assert_ne!(
                    localized(python, port),
                    want,
                    "{what}: listed as a difference but the values are equal"
                );
            }
        }
    }

    // what spanfire adds: exactly the listed extras
    let extras: Vec<(&str, Extra)> = scenario
        .extras
        .iter()
        .flat_map(|e| e.iter().copied())
        .filter(|(key, _)| front != Front::Ureq || !NOT_ON_UREQ.contains(key))
        .collect();
    for (key, extra) in &extras {
        let what = at(&format!("spanfire-only {key}"));
        assert!(
            !rows.iter().any(|r| r.spanfire == *key),
            "{what}: also a row of the table"
        );
        let value = got
            .get(*key)
            .unwrap_or_else(|| panic!("{what}: missing in {got:#?}"));
        match extra {
            Extra::Str(s) => assert_eq!(*value, table_value(V::Str(s), port), "{what}"),
            Extra::Strs(items) => assert_eq!(*value, table_value(V::Strs(items), port), "{what}"),
            Extra::Int(n) => assert_eq!(*value, Json::from(*n), "{what}"),
            Extra::AnyInt => assert_eq!(type_of(value), "int", "{what}"),
            Extra::AnyStrs => assert_eq!(type_of(value), "array of strings", "{what}"),
            Extra::Twin(stable) => assert_eq!(
                Some(value),
                got.get(*stable),
                "{what}: same value and type as {stable}"
            ),
        }
    }
    let mapped: Vec<&str> = rows
        .iter()
        .filter(|r| !matches!(r.check, Check::Absent))
        .map(|r| r.spanfire)
        .chain(extras.iter().map(|(k, _)| *k))
        .collect();
    for key in got.keys() {
        assert!(
            mapped.contains(&key.as_str()),
            "{}: spanfire emits it but the table does not list it",
            at(key)
        );
    }

    // name, kind, status
    assert_eq!(
        span.name,
        py["name"].as_str().unwrap(),
        "{}",
        at("span name")
    );
    assert_eq!(span.span_kind, SpanKind::Client, "{}", at("span kind"));
    assert_eq!(
        span.instrumentation_scope.name(),
        "spanfire",
        "{}",
        at("scope")
    );
    let events: Vec<&str> = span.events.iter().map(|e| e.name.as_ref()).collect();
    let py_events: Vec<&str> = py["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    match (&span.status, py["status"]["code"].as_str().unwrap()) {
        (Status::Unset, "UNSET") => {
            assert!(py_events.is_empty(), "{}", at("Python events"));
            // spanfire marks the response head with an event; Python has none
            assert_eq!(events, ["http.response.head"], "{}", at("events"));
        }
        (Status::Error { description }, "ERROR") => match scenario.error_text {
            // 4xx/5xx: no description on either side (Python's null, spanfire's empty)
            None => {
                assert!(py["status"]["description"].is_null(), "{}", at("status"));
                assert_eq!(description, "", "{}", at("status description"));
                assert!(py_events.is_empty(), "{}", at("Python events"));
                assert_eq!(events, ["http.response.head"], "{}", at("events"));
            }
            // transport errors: Python's description is the exception's class name, spanfire's
            // the error's text (= exception.message)
            Some(text) => {
                // ureq says "timeout: global" (its `Timeout::Global`), not "timed out"
                let text = match (front, text) {
                    (Front::Ureq, "timed out") => "timeout: global",
                    _ => text,
                };
                assert_eq!(py_events, ["exception"], "{}", at("Python events"));
                assert_eq!(events, ["exception"], "{}", at("events"));
                check_exception(scenario, front, &py, span, description, text);
            }
        },
        (got, want) => panic!("{}: spanfire {got:?}, Python {want}", at("status")),
    }
}

/// Python's exception event: `exception.type` (qualified class), `exception.message`,
/// `exception.stacktrace`, `exception.escaped` (the string "False"); spanfire's: `exception.type`
/// (the Rust error type) and `exception.message` (the error's text, redacted) only.
fn check_exception(
    scenario: &Scenario,
    front: Front,
    py: &Json,
    span: &SpanData,
    description: &str,
    text: &str,
) {
    let at = |key: &str| format!("{} on {front:?}, exception event {key}", scenario.case);
    let py_event = &py["events"][0]["attributes"];
    let py_keys: Vec<&str> = py_event
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        py_keys,
        [
            "exception.escaped",
            "exception.message",
            "exception.stacktrace",
            "exception.type",
        ],
        "{}",
        at("Python's keys")
    );
    let event = &span.events[0];
    let got: BTreeMap<String, Json> = event
        .attributes
        .iter()
        .map(|kv| (kv.key.to_string(), to_json(&kv.value)))
        .collect();
    assert_eq!(
        got.keys().map(String::as_str).collect::<Vec<_>>(),
        ["exception.message", "exception.type"],
        "{}",
        at("spanfire's keys (no stacktrace, no escaped)")
    );
    for key in ["exception.type", "exception.message"] {
        assert_eq!(
            type_of(&got[key]),
            type_of(&py_event[key]),
            "{}",
            at(&format!("{key} type"))
        );
    }
    let message = got["exception.message"].as_str().unwrap();
    assert!(message.contains(text), "{}: {message:?}", at("message"));
    assert_eq!(description, message, "{}", at("= status description"));
    assert_ne!(
        py["status"]["description"],
        description,
        "{}",
        at("Python's description is the class name")
    );
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// The reference itself: 8 scenarios, one CLIENT span each, and Python emitted the stable
/// attribute names only (none of the old names that spanfire's `http/dup` adds).
#[test]
fn reference_has_eight_client_spans_with_stable_names_only() {
    let reference = reference();
    let results = reference["results"].as_array().unwrap();
    let cases: Vec<&str> = results
        .iter()
        .map(|r| r["case"].as_str().unwrap())
        .collect();
    let scenarios = [
        &GET_QUERY_TOKEN,
        &POST_JSON,
        &STATUS_404,
        &STATUS_500,
        &CONN_REFUSED,
        &REDIRECT_2,
        &USERINFO_SIG_PARAMS,
        &TIMEOUT,
    ];
    assert_eq!(
        cases,
        scenarios.iter().map(|s| s.case).collect::<Vec<_>>(),
        "every scenario of the reference has a test"
    );
    let old = [
        "http.method",
        "http.url",
        "http.host",
        "net.peer.name",
        "net.peer.port",
        "http.scheme",
        "http.status_code",
        "http.flavor",
        "net.sock.peer.addr",
        "net.sock.peer.port",
        "http.request_content_length",
        "http.response_content_length",
    ];
    for case in cases {
        let (client, _) = python_spans(&reference, case);
        for key in client["attributes"].as_object().unwrap().keys() {
            assert!(!old.contains(&key.as_str()), "{case}, {key}: an old name");
        }
    }
}

#[tokio::test]
async fn get_query_token() {
    check(&GET_QUERY_TOKEN).await;
}

#[tokio::test]
async fn post_json() {
    check(&POST_JSON).await;
}

#[tokio::test]
async fn status_404() {
    check(&STATUS_404).await;
}

#[tokio::test]
async fn status_500() {
    check(&STATUS_500).await;
}

#[tokio::test]
async fn conn_refused() {
    check(&CONN_REFUSED).await;
}

#[tokio::test]
async fn redirect_2() {
    check(&REDIRECT_2).await;
}

#[tokio::test]
async fn userinfo_sig_params() {
    check(&USERINFO_SIG_PARAMS).await;
}

#[tokio::test]
async fn timeout() {
    check(&TIMEOUT).await;
}
