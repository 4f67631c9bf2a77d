//! # spanfire
//!
//! Logfire-style OpenTelemetry instrumentation for Rust HTTP clients: two calls, and every
//! request made through an instrumented client becomes an OpenTelemetry CLIENT span following the HTTP semantic conventions, plus the
//! `http.client.request.duration` metric.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = spanfire::configure().service_name("checkout").finish()?;
//! let client = spanfire::instrument_reqwest_client(reqwest::Client::new());
//! let body = client.get("http://127.0.0.1:8080/get?q=1").send().await?.text().await?;
//! telemetry.shutdown()?;
//! # Ok(()) }
//! ```
//!
//! - [`configure()`] sets up the pipeline (console output; see its docs) and installs
//!   [`W3cPropagator`] (W3C trace context + baggage) as the global propagator.
//! - [`HttpClientInstrumentation`] holds the options (header and body capture, hooks, URL
//!   filter, excluded URLs, providers, opt-in metrics) and builds a front end:
//!   [`instrument_reqwest_client`] / [`HttpClientInstrumentation::instrument_reqwest`] for
//!   reqwest, `HttpClientInstrumentation::layer` (feature `tower`) for hyper-util and tower,
//!   `instrument_ureq_agent` / `HttpClientInstrumentation::ureq_middleware` (feature `ureq`)
//!   for ureq 3's blocking agents.
//! - The span: name `{method}`; `http.request.method`, `url.full` (redacted, see [`secrets`]),
//!   `server.address`, `server.port`, `url.scheme` given at start; `http.response.status_code`,
//!   `network.protocol.version`, `network.peer.*`, `http.response.body.size` at the end; status
//!   Error with `error.type` for 4xx/5xx and transport errors ([`ErrorKind`]); an
//!   [`RESPONSE_HEAD_EVENT`] when the head arrives; [`CANCELLED_ATTRIBUTE`] when the caller
//!   dropped the request or body. It ends exactly once, when the body ends, fails or is dropped.
//! - Hooks and URL filters: see [`hooks`]. Per-request overrides: [`DisablePropagation`],
//!   [`UrlTemplate`], [`ResendCount`]; client-wide route names: [`UrlTemplates`].
//! - Retries: place spanfire *inside* the retry layer and each attempt is its own span, every
//!   resend with `http.request.resend_count` (see [`ResendCount`]); optionally under an
//!   INTERNAL span for the logical request (`logical_request_middleware`,
//!   `logical_request_layer`).
//! - Connections: DNS, connect and TLS events on the span of a request that opened a
//!   connection, `spanfire.connection.reused` on every request, and (hyper-util) the connection
//!   metrics; see [`connect`].
//! - No span, metric or propagation for [`ExcludedUrls`] or inside [`suppress`]/[`suppressed`].
//!
//! ## Features
//! - `reqwest` (default): the reqwest-middleware front end.
//! - `configure` (default): [`configure()`]: console output, OTLP/HTTP export, scrubbing.
//! - `tower`: the tower layer (`spanfire::tower`).
//! - `ureq`: the ureq 3 middleware (`spanfire::ureq`), for blocking clients; no async runtime
//!   needed, with or without `configure`.
//! - `grpc`: OTLP/gRPC export. `tls`: HTTPS export (Logfire).
//! - `tracing`: the parent of a request span is the current `tracing` span when it is bridged by
//!   tracing-opentelemetry.
//! - `logfire`: request spans nest under the spans of the `logfire` crate (0.13, OpenTelemetry
//!   0.32 through tracing-opentelemetry 0.33) when no OpenTelemetry 0.33 parent is current.
#![deny(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    unsafe_code
)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Without a front end, the shared request machinery is unused (e.g. the fuzz build).
// With ureq alone, the `http_body` side of it (InstrumentedBody, TeeBody) is.
#![cfg_attr(not(any(feature = "reqwest", feature = "tower")), allow(dead_code))]

mod capture;
pub mod connect;
mod env;
mod error;
mod exchange;
mod propagation;
pub mod secrets;
mod semconv;
#[cfg(test)]
mod testing;

#[cfg(feature = "__bench")]
#[doc(hidden)]
pub mod __bench;
#[cfg(feature = "configure")]
mod configure;
#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "tower")]
pub mod tower;
#[cfg(feature = "ureq")]
pub mod ureq;

pub use capture::headers::{
    ENV_CAPTURE_REQUEST, ENV_CAPTURE_RESPONSE, ENV_SANITIZE, REDACTED_HEADER_VALUE,
};
pub use capture::{TeeBody, DEFAULT_BODY_LIMIT, TRUNCATION_MARKER};
pub use error::Error;
pub use exchange::hooks;
pub use exchange::{
    suppress, suppressed, DisablePropagation, ExcludedUrls, HttpClientInstrumentation,
    InstrumentedBody, ResendCount, UrlTemplate, UrlTemplates, DURATION_BUCKETS, ENV_CAPTURE_ALL,
    ENV_EXCLUDED_URLS,
};
pub use exchange::{
    CANCELLED_ATTRIBUTE, CAPTURE_DISABLED_ATTRIBUTE, HOOK_PANIC_EVENT, REQUEST_BODY_FORM,
    REQUEST_BODY_TEXT, RESPONSE_BODY_TEXT, RESPONSE_HEAD_EVENT,
};
pub use hooks::{OnRequest, OnResponse, RequestInfo, ResponseHead, ResponseOutcome, UrlFilter};
pub use secrets::{Secrets, DEFAULT_SECRET_PATTERNS, REDACTED, REDACTED_VALUE};
pub use semconv::ErrorKind;
pub use semconv::{SemconvStability, ENV_SEMCONV_STABILITY_OPT_IN, OLD_DURATION_BUCKETS_MS};

/// The OpenTelemetry API crate spanfire is built on, so hook code needs no version-matched
/// dependency of its own (`spanfire::opentelemetry::KeyValue`).
pub use opentelemetry;
#[cfg(feature = "configure")]
pub use propagation::W3cPropagator;
/// The `url` crate of [`RequestInfo::url`] and [`UrlFilter`].
pub use url;

#[cfg(feature = "configure")]
pub use configure::{
    configure, ConfigureBuilder, ConsoleProcessor, ExportStats, OtlpProtocol, Scrubbing, Telemetry,
    ENV_LOGFIRE_BASE_URL, ENV_LOGFIRE_TOKEN,
};
#[cfg(feature = "reqwest")]
pub use reqwest::instrument_reqwest_client;
#[cfg(feature = "ureq")]
pub use ureq::instrument_ureq_agent;

#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// Internal: thin wrappers over crate-private code for the fuzz targets in `fuzz/` (feature
/// `__fuzz`). Not a public API: anything here may change or go away in any release.
#[cfg(feature = "__fuzz")]
#[doc(hidden)]
pub mod __fuzz {
    use std::collections::VecDeque;

    /// configure()'s OTLP/protobuf trace export request encoder (the fuzz target `otlp_encode`
    /// and `bench/src/bin/encode.rs`).
    #[cfg(feature = "configure")]
    pub fn encode_trace_request(
        spans: &[opentelemetry_sdk::trace::SpanData],
        resource: &opentelemetry_sdk::Resource,
        out: &mut Vec<u8>,
    ) {
        crate::configure::otlp_proto::encode_trace_request(spans, resource, out);
    }

    use bytes::Buf;
    use opentelemetry::{Array, Value};

    use crate::capture::headers::{HeaderCapture, Selection};
    use crate::capture::{BodyCapture, Payload};

    /// Records `names_values` as request headers with every header selected (the way
    /// `capture_headers(true)` does); pairs that `http` refuses as a name or value are skipped,
    /// since no client could send them. Returns each attribute key with its values, in order.
    pub fn capture_headers(names_values: &[(Vec<u8>, Vec<u8>)]) -> Vec<(String, Vec<String>)> {
        let mut headers = http::HeaderMap::new();
        for (name, value) in names_values {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name),
                http::HeaderValue::from_bytes(value),
            ) {
                headers.append(name, value);
            }
        }
        let capture = HeaderCapture::new(Selection::All, Selection::All, crate::Secrets::default());
        let mut out = Vec::new();
        capture.record(false, &headers, &mut out);
        out.into_iter()
            .map(|kv| {
                let values = match kv.value {
                    Value::Array(Array::String(values)) => {
                        values.iter().map(|v| v.as_str().to_owned()).collect()
                    }
                    other => vec![format!("unexpected value type: {other:?}")],
                };
                (kv.key.to_string(), values)
            })
            .collect()
    }

    /// Whether the value of the (lowercase) header `name` is redacted by default.
    pub fn header_is_sensitive(name: &str) -> bool {
        HeaderCapture::default().is_sensitive(name)
    }

    /// The `exception.message` recorded for an error whose text is `text` and that reports
    /// `url` as its URL (as reqwest's errors do), under the default policy.
    pub fn error_message(text: &str, url: Option<&str>) -> String {
        // `error_message` wants a `'static` trait object: the text is copied into one.
        let owned: Box<dyn std::error::Error + 'static> = Box::new(OwnedText(text.to_owned()));
        crate::secrets::error_message(owned.as_ref(), url, crate::Secrets::default().names())
    }

    #[derive(Debug)]
    struct OwnedText(String);
    impl std::fmt::Display for OwnedText {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for OwnedText {}

    /// How a Content-Type is captured: `opaque`, `form`, or `text/<encoding name>`.
    pub fn payload(content_type: Option<&str>) -> String {
        match Payload::of(content_type) {
            Payload::Text(encoding) => format!("text/{}", encoding.name()),
            Payload::Form => "form".to_owned(),
            Payload::Opaque => "opaque".to_owned(),
        }
    }

    /// What [`capture_body`] recorded.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CapturedBody {
        /// The captured text (`http.*.body.text`), if any.
        pub text: Option<String>,
        /// The form as a JSON object (`http.request.body.form`), if any.
        pub form_json: Option<String>,
        /// Every byte seen.
        pub total: u64,
    }

    /// Captures a body made of `chunks` with the given Content-Type and limit: chunk by chunk,
    /// or (`one_buf`) as a single multi-chunk `Buf` the way a chained buffer reaches the
    /// capture. `incomplete`: the body was dropped or failed before its end.
    pub fn capture_body(
        content_type: Option<&str>,
        chunks: &[&[u8]],
        limit: usize,
        one_buf: bool,
        incomplete: bool,
    ) -> CapturedBody {
        let mut capture = BodyCapture::new(Payload::of(content_type), limit);
        if one_buf {
            capture.push_buf(&Chunks(chunks.iter().copied().collect()));
        } else {
            for chunk in chunks {
                capture.push(chunk);
            }
        }
        if incomplete {
            capture.mark_incomplete();
        }
        CapturedBody {
            text: capture.text(),
            form_json: capture.form_json(),
            total: capture.total(),
        }
    }

    /// A `Buf` over several slices that hands them all out from `chunks_vectored`.
    struct Chunks<'a>(VecDeque<&'a [u8]>);

    impl Buf for Chunks<'_> {
        fn remaining(&self) -> usize {
            self.0.iter().map(|c| c.len()).sum()
        }

        fn chunk(&self) -> &[u8] {
            self.0
                .iter()
                .find(|c| !c.is_empty())
                .copied()
                .unwrap_or(&[])
        }

        fn advance(&mut self, mut cnt: usize) {
            while cnt > 0 {
                let Some(front) = self.0.front_mut() else {
                    return;
                };
                let n = cnt.min(front.len());
                *front = &front[n..];
                cnt -= n;
                if front.is_empty() {
                    self.0.pop_front();
                }
            }
        }

        fn chunks_vectored<'b>(&'b self, dst: &mut [std::io::IoSlice<'b>]) -> usize {
            let mut n = 0;
            for chunk in self.0.iter().filter(|c| !c.is_empty()) {
                if n == dst.len() {
                    break;
                }
                dst[n] = std::io::IoSlice::new(chunk);
                n += 1;
            }
            n
        }
    }

    /// What configure()'s scrubbing stage (default patterns) makes of a response body that the
    /// instrumentation captured as `text` and redacted (default patterns): `(sealed,
    /// unsealed)` — the body as the instrumentation records it (sealed: not scanned for names
    /// again) and the same text written by anybody else (scanned). They must be equal.
    #[cfg(feature = "configure")]
    pub fn scrub_captured_body(text: &str) -> (String, String) {
        use opentelemetry::{KeyValue, StringValue};
        static SCRUBBER: std::sync::OnceLock<crate::configure::Scrubber> =
            std::sync::OnceLock::new();
        let scrubber =
            SCRUBBER.get_or_init(|| crate::configure::Scrubber::new(crate::Secrets::default()));
        let captured = crate::Secrets::default().redact_text(text).into_owned();
        let run = |sealed: bool| {
            let value = StringValue::from(captured.clone());
            let mut attributes = Vec::with_capacity(2);
            if sealed {
                let seal = crate::capture::seal::seal_for_tests(&value, &crate::Secrets::default());
                attributes.push(seal);
            }
            attributes.push(KeyValue::new(crate::RESPONSE_BODY_TEXT, value));
            scrubber.scrub_sealed(&mut attributes);
            let body = attributes.pop().map(|kv| kv.value.as_str().into_owned());
            (body.unwrap_or_default(), attributes.len())
        };
        let (sealed, left) = run(true);
        assert_eq!(left, 0, "the seal is removed");
        (sealed, run(false).0)
    }

    /// Runs the export scrubber of `configure()` (default patterns) over `attributes`.
    #[cfg(feature = "configure")]
    pub fn scrub(attributes: &mut [opentelemetry::KeyValue]) {
        type Scrub = Box<dyn Fn(&mut [opentelemetry::KeyValue]) + Send + Sync>;
        static SCRUB: std::sync::OnceLock<Scrub> = std::sync::OnceLock::new();
        let scrub = SCRUB.get_or_init(|| {
            let scrubber = crate::configure::Scrubber::new(crate::Secrets::default());
            Box::new(move |attributes| scrubber.scrub(attributes))
        });
        scrub(attributes);
    }
}
