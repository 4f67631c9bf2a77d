//! The exchange: the life of one request, written once for every front end.
//!
//! A front end only converts its types. In this order, it:
//! 1. calls [`Inner::begin`] with the outgoing request ([`Outgoing`]). `None` means the request
//!    is excluded or telemetry is suppressed: send it untouched. Otherwise the driver has
//!    - started the span (URL filter, redaction, start attributes: samplers see them),
//!    - injected trace context into the headers (unless turned off),
//!    - recorded the request headers and run the request hook (it sees the injected headers),
//!    - noted the request size (opt-in metric),
//!    - captured a buffered request body at once, or handed back a [`RequestCapture`] for the
//!      front end to tee a streaming one through ([`TeeBody`](crate::TeeBody));
//! 2. sends the request with [`Exchange::context`] attached (the span is the current span);
//! 3. calls [`Exchange::respond`] with the response head and body — head attributes, status,
//!    response headers, the response hook, then the body wrapped in [`InstrumentedBody`], which
//!    ends the span with the body (`Exchange::respond_reader` and its `InstrumentedReader` for
//!    a blocking client's `std::io::Read` body) — or [`Exchange::fail`] with the error,
//!    classified by the front end's [`Edge`]. An exchange dropped before either (the request future was dropped)
//!    ends its span as cancelled.

mod body;
mod exclude;
mod extensions;
pub mod hooks;
mod instrumentation;
pub(crate) mod intern;
mod metrics;
#[cfg(feature = "ureq")]
mod reader;
mod span;
mod templates;
mod tracer;

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Extensions, HeaderMap, Method};
use opentelemetry::trace::TraceContextExt;
use url::Url;

pub use body::InstrumentedBody;
pub use exclude::{suppress, suppressed, ExcludedUrls, ENV_EXCLUDED_URLS};
#[cfg(feature = "reqwest")]
pub(crate) use extensions::count_pass;
pub use extensions::{DisablePropagation, ResendCount, UrlTemplate};
pub(crate) use instrumentation::{scope, Inner};
pub use instrumentation::{HttpClientInstrumentation, ENV_CAPTURE_ALL};
pub(crate) use metrics::Metrics;
pub use metrics::DURATION_BUCKETS;
#[cfg(feature = "ureq")]
pub(crate) use reader::InstrumentedReader;
pub(crate) use span::{Failure, RequestCapture, RequestSpan};
pub use span::{
    CANCELLED_ATTRIBUTE, CAPTURE_DISABLED_ATTRIBUTE, HOOK_PANIC_EVENT, REQUEST_BODY_FORM,
    REQUEST_BODY_TEXT, RESPONSE_BODY_TEXT, RESPONSE_HEAD_EVENT,
};
pub use templates::UrlTemplates;
#[cfg(feature = "configure")]
pub(crate) use tracer::as_sdk;
pub(crate) use tracer::RequestTracer;

use crate::semconv::ErrorKind;
use hooks::{RequestInfo, ResponseHead};

/// What a front end knows of a request before sending it.
#[derive(Debug)]
pub(crate) struct Outgoing<'a> {
    pub(crate) method: &'a Method,
    pub(crate) url: &'a Url,
    /// The headers to send: trace context is injected here.
    pub(crate) headers: &'a mut HeaderMap,
    pub(crate) extensions: &'a Extensions,
    /// The whole body, when the client holds it in memory (captured at once).
    pub(crate) buffered_body: Option<&'a [u8]>,
    /// The body's exact size when the body knows it (`size_hint().exact()`), for a body that
    /// is not buffered; `Content-Length` is the fallback.
    pub(crate) body_size: Option<u64>,
}

/// How a front end's errors are described; errors are classified where they are known, at the
/// edge, so that the semantic-conventions core stays free of any client's types.
#[derive(Debug)]
pub(crate) struct Edge {
    /// The `error.type` of an error of this client (or of its body).
    pub(crate) classify: fn(&(dyn std::error::Error + 'static)) -> ErrorKind,
    /// The URL the error quotes in its text, if the client says which.
    pub(crate) reported_url: for<'e> fn(&'e (dyn std::error::Error + 'static)) -> Option<&'e str>,
}

impl Edge {
    /// A client whose errors are described by their `std::io` sources and text alone.
    pub(crate) const GENERIC: Edge = Edge {
        classify: ErrorKind::classify,
        reported_url: |_| None,
    };

    /// The failure an error of this client is recorded as.
    pub(crate) fn failure<'e>(
        &self,
        error: &'e (dyn std::error::Error + 'static),
        type_name: &'static str,
    ) -> Failure<'e> {
        Failure {
            error,
            kind: (self.classify)(error),
            type_name,
            url: (self.reported_url)(error),
        }
    }
}

/// What a blocking client knows of a response body before it is read.
#[cfg(feature = "ureq")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct KnownBody {
    /// It is empty (`Content-Length: 0`): the span ends with the head.
    pub(crate) empty: bool,
    /// The client hands its text out transcoded to UTF-8 whatever the declared charset: its
    /// capture is decoded as UTF-8.
    pub(crate) utf8_text: bool,
}

/// An exchange in flight: its span, and what the response needs.
#[derive(Debug)]
pub(crate) struct Exchange {
    span: RequestSpan,
}

/// What [`Inner::begin`] gives back.
#[derive(Debug)]
pub(crate) struct Begun {
    pub(crate) exchange: Exchange,
    /// For a body that is not buffered: the capture to tee it through (capture on, span
    /// recording).
    pub(crate) body_capture: Option<RequestCapture>,
}

impl Inner {
    /// Begins an exchange (see the module docs); `None` when the request gets no span.
    pub(crate) fn begin(self: &Arc<Self>, edge: &'static Edge, req: Outgoing<'_>) -> Option<Begun> {
        let mut span = self.start_span(req.method, req.url, req.extensions, edge)?;
        let disabled = req.extensions.get::<DisablePropagation>().is_some();
        span.inject(req.url.host_str(), disabled, req.headers);
        span.on_request(&RequestInfo {
            method: req.method,
            url: req.url,
            headers: req.headers,
            extensions: req.extensions,
        });
        let size = req.buffered_body.map(|b| b.len() as u64).or(req.body_size);
        span.note_request_size(size, req.headers);
        let mut body_capture = span.request_body_capture(req.headers);
        if let (Some(capture), Some(bytes)) = (&mut body_capture, req.buffered_body) {
            capture.body.push(bytes);
            if let Some(cx) = span.context() {
                capture.record(&cx.span());
            }
            body_capture = None;
        }
        let exchange = Exchange { span };
        Some(Begun {
            exchange,
            body_capture,
        })
    }
}

impl Exchange {
    /// Whether the exchange's span records (it was sampled).
    #[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
    pub(crate) fn is_recording(&self) -> bool {
        self.span.is_recording()
    }

    /// Holds the request's connection (`active` for the metrics) until the span ends.
    #[cfg(feature = "tower")]
    pub(crate) fn hold_connection(&mut self, lease: crate::connect::Lease) {
        self.span.hold_connection(lease);
    }

    /// Whether the front end should find the request's connection and hold it.
    #[cfg(feature = "tower")]
    pub(crate) fn tracks_connections(&self) -> bool {
        self.span.tracks_connections()
    }

    /// The request's OpenTelemetry context: attach it while the request is sent.
    pub(crate) fn context(&self) -> opentelemetry::Context {
        self.span.context().cloned().unwrap_or_default()
    }

    /// The response head arrived: records it, runs the response hook, and wraps the body so
    /// that the span ends with it.
    pub(crate) fn respond<B>(
        mut self,
        head: &ResponseHead<'_>,
        peer: Option<SocketAddr>,
        body: B,
    ) -> InstrumentedBody<B>
    where
        B: http_body::Body,
        B::Error: std::error::Error + 'static,
    {
        self.span.on_response(head, peer);
        InstrumentedBody::new(body, Some(self.span))
    }

    /// The front end set the request's `Content-Length` after `begin` (it framed a captured
    /// body): the request size (opt-in metric) is taken from it.
    #[cfg(feature = "ureq")]
    pub(crate) fn note_framed_size(&mut self, headers: &HeaderMap) {
        self.span.note_request_size(None, headers);
    }

    /// [`Exchange::respond`] for a blocking client's body, read through `std::io::Read`.
    #[cfg(feature = "ureq")]
    pub(crate) fn respond_reader<R: std::io::Read>(
        mut self,
        head: &ResponseHead<'_>,
        peer: Option<SocketAddr>,
        reader: R,
        known: KnownBody,
    ) -> InstrumentedReader<R> {
        self.span.on_response(head, peer);
        if known.utf8_text {
            self.span.capture_text_as_utf8();
        }
        InstrumentedReader::new(reader, self.span, known.empty)
    }

    /// The response head arrived but its body is discarded unread, not handed to the
    /// application (ureq's `http_status_as_error`; a redirect the reqwest front end follows):
    /// records the head, runs the response hook and ends the span with no body size.
    #[cfg(any(feature = "ureq", feature = "reqwest"))]
    pub(crate) fn respond_discarded(mut self, head: &ResponseHead<'_>, peer: Option<SocketAddr>) {
        self.span.on_response(head, peer);
        self.span.end_discarded();
    }

    /// Injects the exchange's trace context into the headers of another hop of the same
    /// request (to `url`): the same rules as for the first (hosts allowed, per-request opt-out).
    #[cfg(feature = "reqwest")]
    pub(crate) fn inject(&self, url: &Url, extensions: &Extensions, headers: &mut HeaderMap) {
        let disabled = extensions.get::<DisablePropagation>().is_some();
        self.span.inject(url.host_str(), disabled, headers);
    }

    /// The request failed before a response head: runs the response hook with the error and
    /// ends the span, the error classified by the front end's edge.
    pub(crate) fn fail(self, error: &(dyn std::error::Error + 'static), type_name: &'static str) {
        let failure = self.span.edge().failure(error, type_name);
        self.span.fail(failure);
    }

    /// [`Exchange::fail`] with a kind decided by the front end (an error raised by another
    /// middleware is `_OTHER`, whatever it wraps).
    #[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
    pub(crate) fn fail_as(
        self,
        error: &(dyn std::error::Error + 'static),
        kind: ErrorKind,
        type_name: &'static str,
    ) {
        let mut failure = self.span.edge().failure(error, type_name);
        failure.kind = kind;
        self.span.fail(failure);
    }
}
