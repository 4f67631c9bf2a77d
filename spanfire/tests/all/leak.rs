//! The leak corpus: requests and responses full of secrets, through every way a request can end,
//! on both front ends; no secret may reach exported telemetry.
//!
//! Every secret is a marker string (`LEAK` + two digits + a letter, so none is a substring of
//! another and none can appear by accident; base64 forms are added where a secret travels
//! base64-encoded). A check collects every leak (field and marker) before it asserts, so a
//! failure lists all of them.
//!
//! The corpus (each request carries all of it that applies):
//! - URL: userinfo (`LEAK00u:LEAK01p@`), 20 sensitive query keys with values holding `,` `)` `'`
//!   `(`, two percent-encoded keys (`api%5Fkey`, `pass%77ord`) and a fragment
//!   `#access_token=…&state=ok`. reqwest: the URL keeps the userinfo *and* the request has the
//!   `Authorization: Basic` header reqwest's `RequestBuilder` would have made of it; tower: the
//!   URI carries it.
//! - Request headers: authorization, proxy-authorization, cookie, x-api-key, x-sentry-auth,
//!   x-custom-token, x-upstream-key, x-client-secret, referer (a URL with `?password=`).
//! - Request bodies, one request each: JSON (secrets at depth and in arrays), a multi-line
//!   url-encoded form, multipart (a `password` field; only its size may be recorded), text/plain
//!   with `token=…`.
//! - Response headers and bodies from the `/leak/` routes (`support/leak_routes.rs`):
//!   set-cookie, location (signed-URL parameters), content-location, link, x-auth-token, and a
//!   JSON / form / text body matching the request's.
//!
//! Paths: success (200), HTTP error (500), timeout (300 ms client timeout, the server hangs),
//! connection refused, body error (Content-Length longer than what is sent), redirect (302 with
//! the secret Location, not followed) and — reqwest only — a followed redirect chain.
//!
//! Modes:
//! - `memory_*`: the test's own in-memory providers, no configure(), `capture_all(true)`; every
//!   field of every exported `SpanData` (and the exported metrics) is searched, and the shapes
//!   are checked: `url.full` parses and its sensitive query values are exactly `REDACTED`,
//!   captured headers are string arrays, captured JSON bodies parse.
//! - `collector_*`: `spanfire::configure()` exporting to the real collector (rotel,
//!   `scripts/rotel`) plus a console processor writing into a buffer; hooks put raw data on the
//!   span as careless user code would (`app.raw_url`, `app.password`, `app.error`), which the
//!   scrubbing stage must catch. Everything the collector received for the service, and the
//!   console output, is searched.
//!
//! `SPANFIRE_LEAK_DUMP=1 cargo nextest run … --no-capture` prints what each test saw exported.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use opentelemetry::trace::{SpanRef, Status};
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use serde_json::Value as Json;
use spanfire::{HttpClientInstrumentation, RequestInfo, ResponseOutcome};

use crate::support::collector::{collector, received, unique_service};
use crate::support::front::{Client, ClientOptions, Front, Req, Resp};
use crate::support::{closed_port, Telemetry, TestServer};

// ---------------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------------

mod corpus {
    use super::{base64, BodyKind, Front, Path};
    use crate::support::front::Req;
    use crate::support::leak_routes::RESPONSE_MARKERS;
    use http::Method;

    pub const USERNAME: &str = "LEAK00u";
    pub const PASSWORD: &str = "LEAK01p";
    pub const FRAGMENT_TOKEN: &str = "LEAK24a";
    /// Set by the collector mode's request hook as `app.password`.
    pub const HOOK_PASSWORD: &str = "LEAK60a";
    pub const PROXY_PASSWORD: &str = "LEAK31a";

    /// Sensitive query parameters: (key as sent, marker, rest of the value as sent).
    pub const QUERY: &[(&str, &str, &str)] = &[
        ("access_token", "LEAK02a", ""),
        ("api_key", "LEAK03a", ""),
        ("apikey", "LEAK04a", ""),
        ("password", "LEAK05a", ")x"),
        ("passwd", "LEAK06a", ""),
        ("token", "LEAK07a", "'q"),
        ("secret", "LEAK08a", "("),
        ("client_secret", "LEAK09a", ",y"),
        ("sig", "LEAK10a", ",x"),
        ("Signature", "LEAK11a", ""),
        ("AWSAccessKeyId", "LEAK12a", ""),
        ("X-Goog-Signature", "LEAK13a", ""),
        ("X-Amz-Signature", "LEAK14a", "(a)"),
        (
            "X-Amz-Credential",
            "LEAK15a",
            "/20240101/us-east-1/s3/aws4_request",
        ),
        ("X-Amz-Security-Token", "LEAK16a", ""),
        ("session_id", "LEAK17a", ""),
        ("csrf_token", "LEAK18a", ""),
        ("jwt", "LEAK19a", ".eyJzdWIiOiIxIn0.c2ln"),
        ("private_key", "LEAK20a", ""),
        ("credential", "LEAK21a", ""),
        ("api%5Fkey", "LEAK22a", ""),
        ("pass%77ord", "LEAK23a", ""),
    ];

    /// Secret request headers: (name, value, marker).
    pub fn headers() -> Vec<(&'static str, String, &'static str)> {
        vec![
            ("authorization", "Bearer LEAK30a".to_owned(), "LEAK30a"),
            (
                "proxy-authorization",
                format!(
                    "Basic {}",
                    base64(format!("proxy:{PROXY_PASSWORD}").as_bytes())
                ),
                PROXY_PASSWORD,
            ),
            (
                "cookie",
                "session=LEAK32a; theme=dark".to_owned(),
                "LEAK32a",
            ),
            ("x-api-key", "LEAK33a".to_owned(), "LEAK33a"),
            (
                "x-sentry-auth",
                "Sentry sentry_version=7, sentry_key=LEAK34a, sentry_secret=LEAK34b".to_owned(),
                "LEAK34a",
            ),
            ("x-custom-token", "LEAK35a".to_owned(), "LEAK35a"),
            ("x-upstream-key", "LEAK36a".to_owned(), "LEAK36a"),
            ("x-client-secret", "LEAK37a".to_owned(), "LEAK37a"),
            (
                "referer",
                "http://127.0.0.1/login?user=visible&password=LEAK38a".to_owned(),
                "LEAK38a",
            ),
        ]
    }

    pub const JSON_BODY: &str = r#"{"name":"visible","user":{"password":"LEAK40a"},"items":[{"api_key":"LEAK40b"}],"tokens":["LEAK40c","LEAK40d"]}"#;
    pub const FORM_BODY: &str = "password=LEAK41a&\ntoken=LEAK41b&api_key=LEAK41c%2Cz&q=visible";
    pub const MULTIPART_BOUNDARY: &str = "leakcorpusboundary";
    pub const MULTIPART_BODY: &str = "--leakcorpusboundary\r\n\
        Content-Disposition: form-data; name=\"password\"\r\n\r\nLEAK42a\r\n\
        --leakcorpusboundary\r\n\
        Content-Disposition: form-data; name=\"note\"\r\n\r\ntoken=LEAK42b\r\n\
        --leakcorpusboundary--\r\n";
    pub const TEXT_BODY: &str = "visible text\ntoken=LEAK43a\npassword: LEAK43b\n";

    /// Every marker with a description of where it was put.
    pub fn markers() -> Vec<(String, String)> {
        let mut m: Vec<(String, String)> = Vec::new();
        let mut add = |marker: &str, what: String| m.push((marker.to_owned(), what));
        add(USERNAME, "URL userinfo username".into());
        add(PASSWORD, "URL userinfo password".into());
        add(
            &base64(format!("{USERNAME}:{PASSWORD}").as_bytes()),
            "URL userinfo as Authorization: Basic (base64, reqwest)".into(),
        );
        for (key, marker, _) in QUERY {
            add(marker, format!("query {key}="));
        }
        add(FRAGMENT_TOKEN, "fragment #access_token=".into());
        for (name, _, marker) in headers() {
            add(marker, format!("request header {name}"));
        }
        add(
            "LEAK34b",
            "request header x-sentry-auth (sentry_secret)".into(),
        );
        add(
            &base64(format!("proxy:{PROXY_PASSWORD}").as_bytes()),
            "request header proxy-authorization (base64)".into(),
        );
        add("LEAK40a", "JSON request body user.password".into());
        add("LEAK40b", "JSON request body items[0].api_key".into());
        add("LEAK40c", "JSON request body tokens[0]".into());
        add("LEAK40d", "JSON request body tokens[1]".into());
        add("LEAK41a", "form request body password".into());
        add(
            "LEAK41b",
            "form request body token (after a newline)".into(),
        );
        add("LEAK41c", "form request body api_key".into());
        add("LEAK42a", "multipart request body password field".into());
        add(
            "LEAK42b",
            "multipart request body note field (token=)".into(),
        );
        add("LEAK43a", "text/plain request body token=".into());
        add("LEAK43b", "text/plain request body password:".into());
        for (marker, what) in RESPONSE_MARKERS {
            add(marker, (*what).to_owned());
        }
        add(HOOK_PASSWORD, "request hook app.password".into());
        m
    }

    /// The query keys of [`QUERY`] as a URL parser decodes them, with how often each is sent.
    pub fn decoded_query_keys() -> Vec<(String, usize)> {
        let mut keys: Vec<(String, usize)> = Vec::new();
        for (key, _, _) in QUERY {
            let decoded: String = url::form_urlencoded::parse(format!("{key}=").as_bytes())
                .map(|(k, _)| k.into_owned())
                .collect();
            match keys.iter_mut().find(|(k, _)| *k == decoded) {
                Some((_, n)) => *n += 1,
                None => keys.push((decoded, 1)),
            }
        }
        keys
    }

    /// `http://user:pass@127.0.0.1:port/leak/<route>?<secrets>&case=<label>#<secret fragment>`.
    pub fn url(port: u16, path: Path, label: &str) -> String {
        let mut query = String::from("page=visible");
        for (key, marker, rest) in QUERY {
            query.push_str(&format!("&{key}={marker}{rest}"));
        }
        format!(
            "http://{USERNAME}:{PASSWORD}@127.0.0.1:{port}/leak/{}?{query}&case={label}\
             #access_token={FRAGMENT_TOKEN}&state=ok",
            path.route()
        )
    }

    /// The corpus request of one body kind.
    pub fn request(front: Front, path: Path, kind: BodyKind, port: u16, label: &str) -> Req {
        let mut req = Req::new(Method::POST, &url(port, path, label)).header("x-case", label);
        for (name, value, _) in headers() {
            req = req.header(name, &value);
        }
        if front == Front::Reqwest {
            // What reqwest's RequestBuilder makes of the userinfo (the URL keeps it here too).
            let basic = base64(format!("{USERNAME}:{PASSWORD}").as_bytes());
            req = req.header("authorization", &format!("Basic {basic}"));
        }
        let (content_type, body) = match kind {
            BodyKind::Json => ("application/json".to_owned(), JSON_BODY),
            BodyKind::Form => ("application/x-www-form-urlencoded".to_owned(), FORM_BODY),
            BodyKind::Multipart => (
                format!("multipart/form-data; boundary={MULTIPART_BOUNDARY}"),
                MULTIPART_BODY,
            ),
            BodyKind::Text => ("text/plain; charset=utf-8".to_owned(), TEXT_BODY),
        };
        req.header("content-type", &content_type)
            .body(body.as_bytes())
    }
}

/// Standard base64 with padding (how `Authorization: Basic` carries credentials).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn leak_base64_is_standard() {
    assert_eq!(
        base64(b"Aladdin:open sesame"),
        "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    );
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b"abc"), "YWJj");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    Form,
    Multipart,
    Text,
}

impl BodyKind {
    const ALL: [BodyKind; 4] = [
        BodyKind::Json,
        BodyKind::Form,
        BodyKind::Multipart,
        BodyKind::Text,
    ];
}

/// How the corpus request ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// 200 with secret headers and body.
    Success,
    /// 500 with secret headers and body.
    Status500,
    /// The server never answers; the client gives up after 300 ms.
    Timeout,
    /// Nothing listens on the port.
    Refused,
    /// The head arrives, the body is cut short of its Content-Length.
    BodyError,
    /// 302 with a secret Location, not followed.
    Redirect,
    /// 302 (secret Location) → 302 → 200, followed by the client (reqwest only).
    RedirectFollowed,
}

impl Path {
    fn route(self) -> &'static str {
        match self {
            Path::Success | Path::Refused => "ok",
            Path::Status500 => "status500",
            Path::Timeout => "hang",
            Path::BodyError => "cut",
            Path::Redirect | Path::RedirectFollowed => "redirect",
        }
    }

    fn timeout(self) -> Option<Duration> {
        (self == Path::Timeout).then(|| Duration::from_millis(300))
    }

    /// Whether a response head reaches the client.
    fn has_response(self) -> bool {
        !matches!(self, Path::Timeout | Path::Refused)
    }

    /// Checks that the request ended the way this path is meant to (a test set-up check).
    fn check(self, outcome: &Outcome) -> Result<(), String> {
        let ok = matches!(
            (self, outcome),
            (
                Path::Success | Path::RedirectFollowed,
                Outcome::Response(200, Ok(_))
            ) | (Path::Status500, Outcome::Response(500, Ok(_)))
                | (Path::Redirect, Outcome::Response(302, Ok(_)))
                | (Path::BodyError, Outcome::Response(200, Err(_)))
                | (Path::Timeout | Path::Refused, Outcome::Failed(_))
        );
        if ok {
            Ok(())
        } else {
            Err(format!("unexpected outcome for {self:?}: {outcome:?}"))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

/// The client for one path: reqwest follows redirects only for [`Path::RedirectFollowed`];
/// hyper-util never follows them.
fn client_for(front: Front, path: Path, instrumentation: HttpClientInstrumentation) -> Client {
    match front {
        Front::Reqwest => {
            let policy = if path == Path::RedirectFollowed {
                reqwest::redirect::Policy::limited(5)
            } else {
                reqwest::redirect::Policy::none()
            };
            let mut builder = reqwest::Client::builder().redirect(policy);
            if let Some(t) = path.timeout() {
                builder = builder.timeout(t);
            }
            Client::Reqwest(instrumentation.instrument_reqwest(builder.build().unwrap()))
        }
        Front::Tower => Client::new(
            Front::Tower,
            instrumentation,
            ClientOptions {
                timeout: path.timeout(),
                ..Default::default()
            },
        ),
        // ureq follows redirects below its middleware (one span per chain, as reqwest)
        Front::Ureq => {
            let redirects = if path == Path::RedirectFollowed { 5 } else { 0 };
            let config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(redirects)
                .max_redirects_will_error(false)
                .timeout_global(path.timeout());
            Client::Ureq(instrumentation.instrument_ureq(config))
        }
    }
}

/// What the application saw.
#[derive(Debug)]
enum Outcome {
    /// `send` failed.
    Failed(#[allow(dead_code)] String),
    /// The status, and the whole body or the error that ended it.
    Response(u16, Result<Vec<u8>, String>),
}

async fn exchange(client: &Client, req: Req) -> Outcome {
    match client.send(req).await {
        Err(e) => Outcome::Failed(format!("{e:?}")),
        Ok(res) => {
            let status = res.status();
            Outcome::Response(status, drain(res).await)
        }
    }
}

/// Reads the body to its end or its error (the support `Resp::bytes` panics on errors).
async fn drain(res: Resp) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    match res {
        Resp::Reqwest(mut r) => loop {
            match r.chunk().await {
                Ok(Some(chunk)) => out.extend_from_slice(&chunk),
                Ok(None) => return Ok(out),
                Err(e) => return Err(e.to_string()),
            }
        },
        Resp::Ureq(mut r) => loop {
            match r.chunk().await {
                Ok(Some(chunk)) => out.extend_from_slice(&chunk),
                Ok(None) => return Ok(out),
                Err(e) => return Err(e.to_string()),
            }
        },
        Resp::Tower(r) => {
            let mut body = r.into_body();
            loop {
                match body.frame().await {
                    None => return Ok(out),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            out.extend_from_slice(&data);
                        }
                    }
                    Some(Err(e)) => return Err(e.to_string()),
                }
            }
        }
    }
}

fn label(front: Front, path: Path, kind: BodyKind) -> String {
    format!("{front:?}-{path:?}-{kind:?}").to_ascii_lowercase()
}

/// With `SPANFIRE_LEAK_DUMP` set, prints what was exported (to see what a passing test saw).
fn dump(what: &str, text: impl FnOnce() -> String) {
    if std::env::var_os("SPANFIRE_LEAK_DUMP").is_some() {
        eprintln!("--- {what}:\n{}", text());
    }
}

fn span_text(span: &SpanData) -> String {
    let mut out = format!("name {:?}, status {:?}\n", span.name, span.status);
    for kv in &span.attributes {
        out.push_str(&format!("  {} = {}\n", kv.key, value_text(&kv.value)));
    }
    for event in span.events.iter() {
        out.push_str(&format!("  event {:?}\n", event.name));
        for kv in &event.attributes {
            out.push_str(&format!("    {} = {}\n", kv.key, value_text(&kv.value)));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Finding leaks
// ---------------------------------------------------------------------------------------------

/// Where `marker` was put, for the report.
fn what(marker: &str) -> String {
    corpus::markers()
        .into_iter()
        .find(|(m, _)| m == marker)
        .map_or_else(|| "?".to_owned(), |(_, what)| what)
}

/// Separates the field from the markers in a leak line (`<field> ⟶ <markers> in "<excerpt>"`).
const LEAKED: &str = " ⟶ ";

/// The markers found in `text` (ASCII case-insensitively), as one leak line for `field`.
fn find(field: &str, text: &str, markers: &[&str]) -> Option<String> {
    let haystack = text.to_ascii_lowercase();
    let found: Vec<(&str, usize)> = markers
        .iter()
        .filter_map(|m| Some((*m, haystack.find(&m.to_ascii_lowercase())?)))
        .collect();
    let first = found.iter().map(|(_, at)| *at).min()?;
    let names: Vec<&str> = found.iter().map(|(m, _)| *m).collect();
    Some(format!(
        "{field}{LEAKED}{} in {:?}",
        names.join(" "),
        excerpt(text, first)
    ))
}

/// Up to 60 bytes before byte `at` and 100 after (on character boundaries).
fn excerpt(text: &str, at: usize) -> String {
    let mut start = at.saturating_sub(60);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + 100).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.push_str(&text[start..end]);
    if end < text.len() {
        out.push('…');
    }
    out
}

/// The text searched for an attribute value: a string as it is, anything else (arrays) in its
/// Debug form (string arrays as a list of the strings, for readable excerpts).
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.as_str().to_owned(),
        Value::Array(Array::String(items)) => {
            let items: Vec<&str> = items.iter().map(|s| s.as_str()).collect();
            format!("{items:?}")
        }
        other => format!("{other:?}"),
    }
}

/// Every marker found in any field of `span`: name, attribute keys and values, event names and
/// attributes, status description, links (trace state and attributes), the trace state, and —
/// as a net for fields this walk does not know — the span's Debug form.
fn leaks(span: &SpanData, markers: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(find("span name", &span.name, markers));
    for kv in &span.attributes {
        out.extend(find(
            &format!("attribute key {:?}", kv.key.as_str()),
            kv.key.as_str(),
            markers,
        ));
        out.extend(find(
            &format!("attribute {}", kv.key),
            &value_text(&kv.value),
            markers,
        ));
    }
    for event in span.events.iter() {
        out.extend(find(
            &format!("event name {:?}", event.name),
            &event.name,
            markers,
        ));
        for kv in &event.attributes {
            out.extend(find(
                &format!("event {:?} attribute key", event.name),
                kv.key.as_str(),
                markers,
            ));
            out.extend(find(
                &format!("event {:?} attribute {}", event.name, kv.key),
                &value_text(&kv.value),
                markers,
            ));
        }
    }
    if let Status::Error { description } = &span.status {
        out.extend(find("status description", description, markers));
    }
    for (i, link) in span.links.iter().enumerate() {
        out.extend(find(
            &format!("link {i} trace state"),
            &link.span_context.trace_state().header(),
            markers,
        ));
        for kv in &link.attributes {
            out.extend(find(
                &format!("link {i} attribute key"),
                kv.key.as_str(),
                markers,
            ));
            out.extend(find(
                &format!("link {i} attribute {}", kv.key),
                &value_text(&kv.value),
                markers,
            ));
        }
    }
    out.extend(find(
        "trace state",
        &span.span_context.trace_state().header(),
        markers,
    ));
    if out.is_empty() {
        out.extend(find(
            "SpanData Debug (a field the walk does not cover)",
            &format!("{span:?}"),
            markers,
        ));
    }
    out
}

/// Every marker in a JSON record the collector received, with the JSON path of the field.
fn json_leaks(value: &Json, path: &str, markers: &[&str], out: &mut Vec<String>) {
    match value {
        Json::String(s) => out.extend(find(path, s, markers)),
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                json_leaks(item, &format!("{path}[{i}]"), markers, out);
            }
        }
        Json::Object(map) => {
            for (key, item) in map {
                out.extend(find(&format!("{path} key {key:?}"), key, markers));
                json_leaks(item, &format!("{path}[{key:?}]"), markers, out);
            }
        }
        Json::Null | Json::Bool(_) | Json::Number(_) => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Shapes that must survive redaction (in-memory mode)
// ---------------------------------------------------------------------------------------------

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn attr_str<'a>(span: &'a SpanData, key: &str) -> Option<&'a str> {
    match attr(span, key)? {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    }
}

fn shape_problems(span: &SpanData, path: Path, kind: BodyKind, label: &str) -> Vec<String> {
    let mut out = Vec::new();
    check_url(span, &mut out);
    // Captured headers: string arrays.
    for kv in &span.attributes {
        let key = kv.key.as_str();
        if (key.starts_with("http.request.header.") || key.starts_with("http.response.header."))
            && !matches!(kv.value, Value::Array(Array::String(_)))
        {
            out.push(format!("{key} is not a string array: {:?}", kv.value));
        }
    }
    match attr(span, "http.request.header.x-case") {
        Some(Value::Array(Array::String(v))) if v.len() == 1 && v[0].as_str() == label => {}
        other => out.push(format!(
            "http.request.header.x-case (not a secret) should be [{label:?}], got {other:?}"
        )),
    }
    if path.has_response() && attr(span, "http.response.header.content-type").is_none() {
        out.push("http.response.header.content-type (not a secret) missing".to_owned());
    }
    // Bodies.
    let request_text = attr_str(span, "http.request.body.text");
    let form = attr_str(span, "http.request.body.form");
    let response_text = attr_str(span, "http.response.body.text");
    match kind {
        BodyKind::Json => {
            if let Some(text) = request_text {
                check_json("http.request.body.text", text, &mut out);
            }
        }
        BodyKind::Form => {
            if let Some(form) = form {
                check_json("http.request.body.form", form, &mut out);
                let q = serde_json::from_str::<Json>(form)
                    .ok()
                    .map(|j| j["q"].clone());
                if q != Some(Json::from("visible")) {
                    out.push(format!(
                        "http.request.body.form lost q=visible (not a secret): {form}"
                    ));
                }
            }
        }
        BodyKind::Multipart => {
            for key in ["http.request.body.text", "http.request.body.form"] {
                if let Some(v) = attr(span, key) {
                    out.push(format!(
                        "multipart body recorded as {key}: {v:?} (size only)"
                    ));
                }
            }
        }
        BodyKind::Text => {}
    }
    let json_response = path.has_response()
        && path != Path::BodyError
        && matches!(kind, BodyKind::Json | BodyKind::Multipart);
    if let (true, Some(text)) = (json_response, response_text) {
        check_json("http.response.body.text", text, &mut out);
    }
    // On the success path every capture is there (nothing passes by recording nothing).
    if path == Path::Success {
        let want: &[&str] = match kind {
            BodyKind::Json | BodyKind::Text => &["http.request.body.text"],
            BodyKind::Form => &["http.request.body.form"],
            BodyKind::Multipart => &["http.request.body.size"],
        };
        for key in want.iter().chain(&["http.response.body.text"]) {
            if attr(span, key).is_none() {
                out.push(format!("{key} missing with capture_all"));
            }
        }
    }
    out
}

/// `url.full` parses; every sensitive query value is exactly `REDACTED`; credentials are
/// `REDACTED:REDACTED` (or gone); what is not a secret survives.
fn check_url(span: &SpanData, out: &mut Vec<String>) {
    let Some(full) = attr_str(span, "url.full") else {
        out.push(format!(
            "url.full missing or not a string: {:?}",
            attr(span, "url.full")
        ));
        return;
    };
    let url = match url::Url::parse(full) {
        Ok(url) => url,
        Err(e) => {
            out.push(format!("url.full does not parse ({e}): {full}"));
            return;
        }
    };
    if !matches!(url.username(), "" | "REDACTED")
        || !matches!(url.password(), None | Some("REDACTED"))
    {
        out.push(format!(
            "url.full credentials not REDACTED:REDACTED: {full}"
        ));
    }
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let mut wrong = Vec::new();
    for (key, sent) in corpus::decoded_query_keys() {
        let values: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
            .collect();
        if values.len() != sent || values.iter().any(|v| *v != "REDACTED") {
            wrong.push(format!("{key}={values:?} (sent {sent})"));
        }
    }
    if !wrong.is_empty() {
        out.push(format!(
            "url.full query values not exactly REDACTED: {}",
            wrong.join(", ")
        ));
    }
    if !pairs.iter().any(|(k, v)| k == "page" && v == "visible") {
        out.push(format!("url.full lost page=visible (not a secret): {full}"));
    }
}

fn check_json(key: &str, text: &str, out: &mut Vec<String>) {
    match serde_json::from_str::<Json>(text) {
        Err(e) => out.push(format!("{key} no longer parses as JSON ({e}): {text}")),
        Ok(json) if json.is_object() && json.get("name").is_some_and(|n| n != "visible") => {
            out.push(format!("{key} lost name=visible (not a secret): {text}"))
        }
        Ok(_) => {}
    }
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

/// Everything one test found; asserts at the end, listing every leak — grouped by field (the
/// to-do list), then case by case with an excerpt — and every other problem.
struct Report {
    title: String,
    /// (case, leak line from [`find`]).
    leaks: Vec<(String, String)>,
    /// (case, problem).
    problems: Vec<(String, String)>,
}

impl Report {
    fn new(title: String) -> Report {
        Report {
            title,
            leaks: Vec::new(),
            problems: Vec::new(),
        }
    }

    fn leaks(&mut self, case: &str, found: impl IntoIterator<Item = String>) {
        self.leaks
            .extend(found.into_iter().map(|l| (case.to_owned(), l)));
    }

    fn problem(&mut self, case: &str, problem: impl Into<String>) {
        let mut problem = problem.into();
        if problem.len() > 1000 {
            let mut cut = 1000;
            while !problem.is_char_boundary(cut) {
                cut -= 1;
            }
            problem.truncate(cut);
            problem.push('…');
        }
        self.problems.push((case.to_owned(), problem));
    }

    fn finish(self) {
        if self.leaks.is_empty() && self.problems.is_empty() {
            return;
        }
        // field -> (markers, cases)
        let mut by_field: Vec<(String, Vec<String>, usize)> = Vec::new();
        let mut leaked: Vec<String> = Vec::new();
        for (_, line) in &self.leaks {
            let (field, rest) = line.split_once(LEAKED).unwrap_or((line, ""));
            let names: Vec<String> = rest
                .split(" in ")
                .next()
                .unwrap_or("")
                .split(' ')
                .map(str::to_owned)
                .collect();
            let i = match by_field.iter().position(|(f, _, _)| f == field) {
                Some(i) => i,
                None => {
                    by_field.push((field.to_owned(), Vec::new(), 0));
                    by_field.len() - 1
                }
            };
            by_field[i].2 += 1;
            for name in names {
                if !by_field[i].1.contains(&name) {
                    by_field[i].1.push(name.clone());
                }
                if !leaked.contains(&name) {
                    leaked.push(name);
                }
            }
        }
        let mut message = format!(
            "{}: {} field(s) leaked {} marker(s), {} other problem(s)\n",
            self.title,
            by_field.len(),
            leaked.len(),
            self.problems.len()
        );
        if !by_field.is_empty() {
            message.push_str("LEAKING FIELDS (markers; in how many cases):\n");
            for (field, names, cases) in &by_field {
                message.push_str(&format!("  {field}: {} ({cases})\n", names.join(" ")));
            }
            message.push_str("LEAKS CASE BY CASE:\n");
            for (case, line) in &self.leaks {
                message.push_str(&format!("  [{case}] {line}\n"));
            }
            message.push_str("MARKERS:\n");
            leaked.sort();
            for name in &leaked {
                message.push_str(&format!("  {name}: {}\n", what(name)));
            }
        }
        if !self.problems.is_empty() {
            // the same problem in several cases: one line, with the cases
            let mut grouped: Vec<(&str, Vec<&str>)> = Vec::new();
            for (case, problem) in &self.problems {
                match grouped.iter_mut().find(|(p, _)| p == problem) {
                    Some((_, cases)) => cases.push(case),
                    None => grouped.push((problem, vec![case])),
                }
            }
            message.push_str("OTHER PROBLEMS (shape / set-up):\n");
            for (problem, cases) in grouped {
                message.push_str(&format!("  [{}] {problem}\n", cases.join(", ")));
            }
        }
        panic!("{message}");
    }
}

// ---------------------------------------------------------------------------------------------
// Mode (a): in-memory providers, no configure()
// ---------------------------------------------------------------------------------------------

async fn in_memory(front: Front, path: Path) {
    let server = TestServer::start().await;
    let port = match path {
        Path::Refused => closed_port(),
        _ => server.addr.port(),
    };
    let t = Telemetry::new();
    let client = client_for(front, path, t.instrumentation().capture_all(true));
    let markers = corpus::markers();
    let needles: Vec<&str> = markers.iter().map(|(m, _)| m.as_str()).collect();
    let mut report = Report::new(format!("in-memory, {front:?}, {path:?}"));
    for kind in BodyKind::ALL {
        let label = label(front, path, kind);
        let before = t.spans().len();
        let outcome = exchange(&client, corpus::request(front, path, kind, port, &label)).await;
        if let Err(e) = path.check(&outcome) {
            report.problem(&label, e);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while t.spans().len() == before && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let spans = t.spans();
        let new = &spans[before..];
        if new.len() != 1 {
            report.problem(&label, format!("{} spans ended, want 1", new.len()));
        }
        for span in new {
            dump(&label, || span_text(span));
            report.leaks(&label, leaks(span, &needles));
            for p in shape_problems(span, path, kind, &label) {
                report.problem(&label, p);
            }
        }
    }
    t.meter_provider.force_flush().unwrap();
    for (i, exported) in t.metrics.get_finished_metrics().unwrap().iter().enumerate() {
        let text = format!("{exported:?}");
        report.leaks(
            "metrics",
            find(&format!("metric export {i}"), &text, &needles),
        );
    }
    report.finish();
}

// ---------------------------------------------------------------------------------------------
// Mode (b): configure() → the real collector, and the console
// ---------------------------------------------------------------------------------------------

/// A console destination the test can read back.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// User code putting raw data on the span: the scrubbing stage must catch it.
fn raw_data_request_hook(span: &SpanRef<'_>, req: &RequestInfo<'_>) {
    span.set_attribute(KeyValue::new("app.raw_url", req.url().as_str().to_owned()));
    span.set_attribute(KeyValue::new("app.password", corpus::HOOK_PASSWORD));
    if let Some(case) = req.headers().get("x-case").and_then(|v| v.to_str().ok()) {
        span.set_attribute(KeyValue::new("app.case", case.to_owned()));
    }
}

fn raw_data_response_hook(span: &SpanRef<'_>, outcome: &ResponseOutcome<'_>) {
    if let ResponseOutcome::Error(e) = outcome {
        span.set_attribute(KeyValue::new("app.error", e.to_string()));
    }
}

async fn through_collector(front: Front, path: Path) {
    let Some((endpoint, file)) = collector() else {
        return;
    };
    let server = TestServer::start().await;
    let port = match path {
        Path::Refused => closed_port(),
        _ => server.addr.port(),
    };
    let service = unique_service(&format!("leak-{}", label(front, path, BodyKind::Json)));
    let console = SharedBuf::default();
    let telemetry = spanfire::configure()
        .service_name(&service)
        .otlp_endpoint(&endpoint)
        .install_globals(false)
        .with_span_processor(spanfire::ConsoleProcessor::new(
            Box::new(console.clone()),
            false,
        ))
        .finish()
        .unwrap();
    let instrumentation = HttpClientInstrumentation::new()
        .tracer_provider(telemetry.tracer_provider().clone())
        .meter_provider(telemetry.meter_provider().clone())
        .capture_all(true)
        .request_hook(raw_data_request_hook)
        .response_hook(raw_data_response_hook);
    let client = client_for(front, path, instrumentation);
    let markers = corpus::markers();
    let needles: Vec<&str> = markers.iter().map(|(m, _)| m.as_str()).collect();
    let mut report = Report::new(format!("collector, {front:?}, {path:?}"));
    for kind in BodyKind::ALL {
        let label = label(front, path, kind);
        let outcome = exchange(&client, corpus::request(front, path, kind, port, &label)).await;
        if let Err(e) = path.check(&outcome) {
            report.problem(&label, e);
        }
    }
    drop(client);
    let expected = BodyKind::ALL.len();
    let stats = telemetry.export_stats();
    if let Err(e) = telemetry.shutdown() {
        report.problem("shutdown", format!("{e}"));
    }
    let is_span = |r: &&Json| r["signal"] == "span";
    let records = received(&file, &service, |r| {
        r.iter().filter(is_span).count() >= expected
    });
    let spans = records.iter().filter(is_span).count();
    if spans != expected {
        report.problem(
            "collector",
            format!(
                "{spans} spans arrived, want {expected} (exported {}, not exported {})",
                stats.exported(),
                stats.not_exported()
            ),
        );
    }
    dump("collector records", || {
        let lines: Vec<String> = records.iter().map(Json::to_string).collect();
        lines.join("\n")
    });
    for (i, record) in records.iter().enumerate() {
        let at = match record["attributes"]["app.case"].as_str() {
            Some(case) => format!("collector {case}"),
            None => format!("collector record {i} ({})", record["signal"]),
        };
        let mut found = Vec::new();
        json_leaks(record, "", &needles, &mut found);
        let serialized = serde_json::to_string(record).unwrap();
        if found.is_empty() {
            found.extend(find("record (serialized)", &serialized, &needles));
        }
        report.leaks(&at, found);
        // the seals on captured bodies are the scrubbing stage's, never exported
        if serialized.contains("spanfire.capture.seal") {
            report.problem(&at, format!("a seal was exported: {serialized}"));
        }
    }
    let console = console.text();
    dump("console", || console.clone());
    let lines = console.lines().count();
    if lines < expected {
        report.problem(
            "console",
            format!("{lines} lines printed, want at least {expected}: {console:?}"),
        );
    }
    for (i, line) in console.lines().enumerate() {
        report.leaks("console", find(&format!("line {i}"), line, &needles));
    }
    report.finish();
}

// ---------------------------------------------------------------------------------------------
// The tests: path × front end × mode
// ---------------------------------------------------------------------------------------------

macro_rules! leak_tests {
    ($($name:ident => $mode:ident($front:ident, $path:ident);)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $mode(Front::$front, Path::$path).await;
        }
    )*};
}

// hyper-util's Client never follows redirects, so `RedirectFollowed` runs on reqwest and ureq.
leak_tests! {
    memory_reqwest_success => in_memory(Reqwest, Success);
    memory_reqwest_status500 => in_memory(Reqwest, Status500);
    memory_reqwest_timeout => in_memory(Reqwest, Timeout);
    memory_reqwest_refused => in_memory(Reqwest, Refused);
    memory_reqwest_body_error => in_memory(Reqwest, BodyError);
    memory_reqwest_redirect => in_memory(Reqwest, Redirect);
    memory_reqwest_redirect_followed => in_memory(Reqwest, RedirectFollowed);
    memory_tower_success => in_memory(Tower, Success);
    memory_tower_status500 => in_memory(Tower, Status500);
    memory_tower_timeout => in_memory(Tower, Timeout);
    memory_tower_refused => in_memory(Tower, Refused);
    memory_tower_body_error => in_memory(Tower, BodyError);
    memory_tower_redirect => in_memory(Tower, Redirect);
    collector_reqwest_success => through_collector(Reqwest, Success);
    collector_reqwest_status500 => through_collector(Reqwest, Status500);
    collector_reqwest_timeout => through_collector(Reqwest, Timeout);
    collector_reqwest_refused => through_collector(Reqwest, Refused);
    collector_reqwest_body_error => through_collector(Reqwest, BodyError);
    collector_reqwest_redirect => through_collector(Reqwest, Redirect);
    collector_reqwest_redirect_followed => through_collector(Reqwest, RedirectFollowed);
    collector_tower_success => through_collector(Tower, Success);
    collector_tower_status500 => through_collector(Tower, Status500);
    collector_tower_timeout => through_collector(Tower, Timeout);
    collector_tower_refused => through_collector(Tower, Refused);
    collector_tower_body_error => through_collector(Tower, BodyError);
    collector_tower_redirect => through_collector(Tower, Redirect);
    memory_ureq_success => in_memory(Ureq, Success);
    memory_ureq_status500 => in_memory(Ureq, Status500);
    memory_ureq_timeout => in_memory(Ureq, Timeout);
    memory_ureq_refused => in_memory(Ureq, Refused);
    memory_ureq_body_error => in_memory(Ureq, BodyError);
    memory_ureq_redirect => in_memory(Ureq, Redirect);
    memory_ureq_redirect_followed => in_memory(Ureq, RedirectFollowed);
    collector_ureq_success => through_collector(Ureq, Success);
    collector_ureq_status500 => through_collector(Ureq, Status500);
    collector_ureq_timeout => through_collector(Ureq, Timeout);
    collector_ureq_refused => through_collector(Ureq, Refused);
    collector_ureq_body_error => through_collector(Ureq, BodyError);
    collector_ureq_redirect => through_collector(Ureq, Redirect);
    collector_ureq_redirect_followed => through_collector(Ureq, RedirectFollowed);
}
