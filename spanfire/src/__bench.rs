//! Internal entry points for `bench/benches/hot_path.rs` (feature `__bench`). Not a public API:
//! no semver guarantee, hidden from the docs.
//!
//! Each function drives the same internal calls as the reqwest front end, minus the I/O and
//! the reqwest type conversions, so that the per-request cost of spanfire's own code can be
//! timed and its heap allocations counted.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderMap, Method, StatusCode, Version};
use opentelemetry::KeyValue;
use url::Url;

use crate::capture::{BodyCapture, Payload};
use crate::hooks::{RequestInfo, ResponseHead};
use crate::instrumentation::Inner;
use crate::HttpClientInstrumentation;

/// The shared state of one instrumentation, built once (as a front end builds it).
#[derive(Debug, Clone)]
pub struct Core(Arc<Inner>);

/// One exchange, as the front end sees it.
#[derive(Debug)]
pub struct Exchange<'a> {
    /// Request method.
    pub method: &'a Method,
    /// Request URL.
    pub url: &'a Url,
    /// Buffered request body, if any.
    pub request_body: Option<&'a [u8]>,
    /// Response status.
    pub status: StatusCode,
    /// Response headers.
    pub response_headers: &'a HeaderMap,
    /// Response body, read by the application in one chunk.
    pub response_body: &'a [u8],
    /// Peer address of the connection.
    pub peer: Option<SocketAddr>,
}

impl Core {
    /// Builds the shared state of `instrumentation`.
    pub fn new(instrumentation: &HttpClientInstrumentation) -> Self {
        Core(instrumentation.build())
    }

    /// Starts a request span (URL redaction, start attributes, sampling) and ends it at once
    /// as complete.
    pub fn start_end(&self, method: &Method, url: &Url) {
        if let Some(span) = self.0.start_span(method, url, &http::Extensions::new()) {
            span.end_body(Ok(()));
        }
    }

    /// A whole exchange: start, trace-context injection into `request_headers`, request
    /// headers and hook, request body capture, response head, one body chunk, end.
    pub fn exchange(&self, ex: &Exchange<'_>, request_headers: &mut HeaderMap) {
        let Some(mut span) = self
            .0
            .start_span(ex.method, ex.url, &http::Extensions::new())
        else {
            return;
        };
        let extensions = http::Extensions::new();
        span.inject(ex.url.host_str(), false, request_headers);
        span.on_request(&RequestInfo {
            method: ex.method,
            url: ex.url,
            headers: request_headers,
            extensions: &extensions,
        });
        if let (Some(mut capture), Some(body)) =
            (span.request_body_capture(request_headers), ex.request_body)
        {
            capture.body.push(body);
            if let Some(cx) = span.context() {
                use opentelemetry::trace::TraceContextExt;
                capture.record(&cx.span());
            }
        }
        let head = ResponseHead {
            status: ex.status,
            version: Version::HTTP_11,
            headers: ex.response_headers,
            url: Some(ex.url),
        };
        span.on_response(ex.method, &head, ex.peer);
        span.on_body_data(&ex.response_body);
        span.end_body(Ok(()));
    }

    /// The header attributes recorded for `headers` (request or response direction).
    pub fn record_headers(&self, response: bool, headers: &HeaderMap) -> Vec<KeyValue> {
        let mut out = Vec::new();
        self.0.headers.record(response, headers, &mut out);
        out
    }
}

/// Captures `chunks` of a body with this Content-Type and limit; returns the recorded text.
pub fn capture_body(content_type: Option<&str>, limit: usize, chunks: &[&[u8]]) -> Option<String> {
    let mut capture = BodyCapture::new(Payload::of(content_type), limit);
    for chunk in chunks {
        capture.push(chunk);
    }
    capture.text()
}
