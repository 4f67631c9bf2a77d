//! # spanfire
//!
//! Logfire-style OpenTelemetry instrumentation for Rust HTTP clients: two calls, and every
//! request becomes an OpenTelemetry CLIENT span following the HTTP semantic conventions, plus the
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
//! - [`configure()`] sets up the pipeline (console output; see its docs).
//! - [`HttpClientInstrumentation`] holds the options (header capture, hooks, URL filter,
//!   excluded URLs, providers) and builds a front end: [`instrument_reqwest_client`] /
//!   [`HttpClientInstrumentation::instrument_reqwest`] for reqwest.
//! - The span: name `{method}`; `http.request.method`, `url.full` (redacted, see [`redact_url`]),
//!   `server.address`, `server.port`, `url.scheme` given at start; `http.response.status_code`,
//!   `network.protocol.version`, `network.peer.*`, `http.response.body.size` at the end; status
//!   Error with `error.type` for 4xx/5xx and transport errors ([`ErrorKind`]); an
//!   [`RESPONSE_HEAD_EVENT`] when the head arrives; [`CANCELLED_ATTRIBUTE`] when the caller
//!   dropped the request or body. It ends exactly once, when the body ends, fails or is dropped.
//! - Hooks and URL filters: see [`hooks`]. Per-request overrides: [`DisablePropagation`].
//! - No span, metric or propagation for [`ExcludedUrls`] or inside [`suppress`]/[`suppressed`].
//!
//! ## Features
//! - `reqwest` (default): the reqwest-middleware front end.
//! - `configure` (default): [`configure()`] and the console exporter.
//! - `tracing`: the parent of a request span is the current `tracing` span when it is bridged by
//!   tracing-opentelemetry.
#![deny(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    unsafe_code
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod capture;
mod error;
mod exclude;
mod extensions;
mod headers;
pub mod hooks;
mod instrumentation;
mod metrics;
mod parent;
mod propagation;
mod redact;
mod semconv;
mod span;
mod tee;
#[cfg(test)]
mod testing;

#[cfg(feature = "configure")]
mod configure;
#[cfg(feature = "reqwest")]
pub mod reqwest;

pub use body::InstrumentedBody;
pub use capture::{DEFAULT_BODY_LIMIT, TRUNCATION_MARKER};
pub use error::Error;
pub use exclude::{suppress, suppressed, ExcludedUrls, ENV_EXCLUDED_URLS};
pub use extensions::DisablePropagation;
pub use headers::{
    DEFAULT_SENSITIVE_HEADER_PARTS, ENV_CAPTURE_REQUEST, ENV_CAPTURE_RESPONSE, ENV_SANITIZE,
    REDACTED_HEADER_VALUE,
};
pub use hooks::{OnRequest, OnResponse, RequestInfo, ResponseHead, ResponseOutcome, UrlFilter};
pub use instrumentation::{HttpClientInstrumentation, ENV_CAPTURE_ALL};
pub use metrics::DURATION_BUCKETS;
pub use redact::{redact_url, DEFAULT_SENSITIVE_QUERY_KEYS};
pub use semconv::ErrorKind;
pub use span::{
    CANCELLED_ATTRIBUTE, HOOK_PANIC_EVENT, REQUEST_BODY_FORM, REQUEST_BODY_TEXT,
    RESPONSE_BODY_TEXT, RESPONSE_HEAD_EVENT,
};
pub use tee::TeeBody;

#[cfg(feature = "configure")]
pub use configure::{
    configure, ConfigureBuilder, ConsoleProcessor, ExportStats, OtlpProtocol, Scrubbing, Telemetry,
    DEFAULT_SCRUB_PATTERNS, ENV_LOGFIRE_BASE_URL, ENV_LOGFIRE_TOKEN,
};
#[cfg(feature = "reqwest")]
pub use reqwest::instrument_reqwest_client;

#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
