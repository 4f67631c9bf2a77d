//! Request hooks, response hooks and URL filters.
//!
//! A closure is all you usually write, like the seed's `def request_hook(span, params)`: the
//! argument types are inferred, and `spanfire::opentelemetry` / `spanfire::url` are re-exported
//! so hook code needs no version-matched dependency of its own:
//!
//! ```
//! use spanfire::opentelemetry::KeyValue;
//! use spanfire::{HttpClientInstrumentation, ResponseOutcome};
//!
//! let instrumentation = HttpClientInstrumentation::new()
//!     .request_hook(|span, req| {
//!         span.set_attribute(KeyValue::new("app.path", req.url().path().to_owned()));
//!     })
//!     .response_hook(|span, outcome| {
//!         if let ResponseOutcome::Response(head) = outcome {
//!             span.set_attribute(KeyValue::new("app.ok", head.status().is_success()));
//!         }
//!     })
//!     .url_filter(|url| url.as_str().replace("alice", "*****"));
//! # drop(instrumentation);
//! ```
//!
//! Each hook is also a trait ([`OnRequest`], [`OnResponse`], [`UrlFilter`]) with a blanket
//! implementation for closures; a named type implementing one is set with
//! [`with_request_hook`](crate::HttpClientInstrumentation::with_request_hook),
//! [`with_response_hook`](crate::HttpClientInstrumentation::with_response_hook) or
//! [`with_url_filter`](crate::HttpClientInstrumentation::with_url_filter).
//!
//! # When each hook runs
//!
//! - [`OnRequest::on_request`]: once per request, after the span started and after trace context
//!   was injected, right before the request is handed to the client. It sees the headers that
//!   will be sent (the client may still add its default headers, such as `user-agent`, later).
//!   It runs only when the span is recording (sampled).
//! - [`OnResponse::on_response`]: once per request, either when the response head (status and
//!   headers) arrived — after `http.response.status_code`, `error.type` and the span status were
//!   set, so the hook may override them — or when the request failed before a response head,
//!   with the error. It does not run for a request whose future was dropped (cancelled), and
//!   runs only when the span is recording. The body has not been read yet when it runs.
//! - [`UrlFilter::filter_url`]: once per request, before the span starts, to compute `url.full`.
//!   Default redaction runs on its output afterwards.
//!
//! A hook that panics is caught: the panic is recorded on the span as a `spanfire.hook_panic`
//! event (attributes `spanfire.hook` and `exception.message`), and the request proceeds
//! unchanged. A panicking URL filter falls back to the redacted original URL.

use http::{Extensions, HeaderMap, Method, StatusCode, Version};
use opentelemetry::trace::SpanRef;
use url::Url;

/// A read-only view of the request being sent, given to [`OnRequest`] hooks.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    pub(crate) method: &'a Method,
    pub(crate) url: &'a Url,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) extensions: &'a Extensions,
}

impl<'a> RequestInfo<'a> {
    /// The request method.
    pub fn method(&self) -> &'a Method {
        self.method
    }
    /// The request URL, as sent (not redacted: do not record it as it is).
    pub fn url(&self) -> &'a Url {
        self.url
    }
    /// The request headers, including the injected trace context.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }
    /// The per-request extensions (reqwest-middleware's, or the `http::Request`'s).
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }
}

/// The head of a response (status, version and headers), given to [`OnResponse`] hooks.
#[derive(Debug, Clone, Copy)]
pub struct ResponseHead<'a> {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) url: Option<&'a Url>,
}

impl<'a> ResponseHead<'a> {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The HTTP version of the response.
    pub fn version(&self) -> Version {
        self.version
    }
    /// The response headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }
    /// The final URL after redirects, where the client reports it (reqwest does; not redacted).
    pub fn url(&self) -> Option<&'a Url> {
        self.url
    }
}

/// What a request ended with, given to [`OnResponse`] hooks.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum ResponseOutcome<'a> {
    /// The response head arrived (any status, including 4xx and 5xx).
    Response(ResponseHead<'a>),
    /// The request failed before a response head arrived.
    Error(&'a (dyn std::error::Error + 'static)),
}

/// Called once before a request is sent. See the [module docs](self) for when exactly.
pub trait OnRequest: Send + Sync + 'static {
    /// Inspects the outgoing request; may add attributes or events to `span`.
    fn on_request(&self, span: &SpanRef<'_>, request: &RequestInfo<'_>);
}

impl OnRequest for () {
    #[inline]
    fn on_request(&self, _: &SpanRef<'_>, _: &RequestInfo<'_>) {}
}

impl<F> OnRequest for F
where
    F: Fn(&SpanRef<'_>, &RequestInfo<'_>) + Send + Sync + 'static,
{
    fn on_request(&self, span: &SpanRef<'_>, request: &RequestInfo<'_>) {
        self(span, request)
    }
}

/// Called once when the response head arrives or the request fails. See the
/// [module docs](self) for when exactly.
pub trait OnResponse: Send + Sync + 'static {
    /// Inspects the outcome; may add or override attributes and the status of `span`.
    fn on_response(&self, span: &SpanRef<'_>, outcome: &ResponseOutcome<'_>);
}

impl OnResponse for () {
    #[inline]
    fn on_response(&self, _: &SpanRef<'_>, _: &ResponseOutcome<'_>) {}
}

impl<F> OnResponse for F
where
    F: Fn(&SpanRef<'_>, &ResponseOutcome<'_>) + Send + Sync + 'static,
{
    fn on_response(&self, span: &SpanRef<'_>, outcome: &ResponseOutcome<'_>) {
        self(span, outcome)
    }
}

/// Maps the request URL to the string recorded as `url.full` (before default redaction).
///
/// It runs before the span starts, since samplers see `url.full`; it is not called for a
/// request whose span the tracer provider's sampler is known to drop whatever its attributes
/// (an SDK `AlwaysOff`, or a `ParentBased` one under an unsampled parent), which records no
/// `url.full`.
pub trait UrlFilter: Send + Sync + 'static {
    /// Returns the string to record for `url`.
    fn filter_url(&self, url: &Url) -> String;
}

impl<F> UrlFilter for F
where
    F: Fn(&Url) -> String + Send + Sync + 'static,
{
    fn filter_url(&self, url: &Url) -> String {
        self(url)
    }
}

/// Runs `f`, catching a panic; returns the panic message on panic.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic with a non-string payload".to_owned())
    })
}
