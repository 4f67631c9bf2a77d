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
use crate::exchange::{Edge, Inner, Outgoing};
use crate::hooks::ResponseHead;
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
        let extensions = http::Extensions::new();
        if let Some(span) = self.0.start_span(method, url, &extensions, &Edge::GENERIC) {
            span.end_body(Ok(()));
        }
    }

    /// A whole exchange through the driver every front end uses: begin (start, trace-context
    /// injection into `request_headers`, request headers and hook, request body capture),
    /// respond (response head), then the body read to its end in one chunk.
    pub fn exchange(&self, ex: &Exchange<'_>, request_headers: &mut HeaderMap) {
        let extensions = http::Extensions::new();
        let outgoing = Outgoing {
            method: ex.method,
            url: ex.url,
            headers: request_headers,
            extensions: &extensions,
            buffered_body: ex.request_body,
            body_size: None,
        };
        let Some(begun) = self.0.begin(&Edge::GENERIC, outgoing) else {
            return;
        };
        let head = ResponseHead {
            status: ex.status,
            version: Version::HTTP_11,
            headers: ex.response_headers,
            url: Some(ex.url),
        };
        let body = begun
            .exchange
            .respond(&head, ex.peer, OneChunk(Some(ex.response_body)));
        read_to_end(body);
    }

    /// The header attributes recorded for `headers` (request or response direction).
    pub fn record_headers(&self, response: bool, headers: &HeaderMap) -> Vec<KeyValue> {
        let mut out = Vec::new();
        self.0.headers.record(response, headers, &mut out);
        out
    }
}

/// A response body of one chunk, borrowed (no allocation, as a client's buffer would be).
struct OneChunk<'a>(Option<&'a [u8]>);

impl<'a> http_body::Body for OneChunk<'a> {
    type Data = &'a [u8];
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<&'a [u8]>, Self::Error>>> {
        std::task::Poll::Ready(self.0.take().map(|chunk| Ok(http_body::Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }
}

/// Polls `body` to its end (it never pends).
fn read_to_end<B: http_body::Body + Unpin>(mut body: B) {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    while let std::task::Poll::Ready(Some(_)) = std::pin::Pin::new(&mut body).poll_frame(&mut cx) {}
}

/// Captures `chunks` of a body with this Content-Type and limit; returns the recorded text.
pub fn capture_body(content_type: Option<&str>, limit: usize, chunks: &[&[u8]]) -> Option<String> {
    let mut capture = BodyCapture::new(Payload::of(content_type), limit);
    for chunk in chunks {
        capture.push(chunk);
    }
    capture.text()
}
