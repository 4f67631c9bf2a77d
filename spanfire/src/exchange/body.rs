//! [`InstrumentedBody`]: a response body that ends the request span exactly once.
//!
//! The span ends at whichever comes first:
//! - the end of the stream: `None`, a trailers frame, or `is_end_stream()` right after a data
//!   frame (an exact `Content-Length` body may never be polled again);
//! - a body error (`error.type` is then `body`, `timeout` or `decode`);
//! - `Drop` before either: recorded as cancelled, not as an error.
//!
//! A body that is empty by definition (HEAD, 204, 304) or already at its end when wrapped ends
//! the span at once. Every poll runs with the request's OpenTelemetry context attached.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http_body::{Body, Frame, SizeHint};

use crate::exchange::{Failure, RequestSpan};
use crate::semconv::ErrorKind;

pin_project_lite::pin_project! {
    /// A response body wrapper that ends the request span when the body completes, fails or is
    /// dropped. Data passes through unchanged.
    pub struct InstrumentedBody<B> {
        #[pin]
        inner: B,
        span: BodySpan,
    }
}

impl<B: Body> InstrumentedBody<B>
where
    B::Error: std::error::Error + 'static,
{
    /// Wraps `inner`; ends the span at once if the body is already finished.
    pub(crate) fn new(inner: B, span: Option<RequestSpan>) -> Self {
        let at_end = inner.is_end_stream();
        InstrumentedBody {
            inner,
            span: BodySpan::new(span, at_end),
        }
    }
}

impl<B> InstrumentedBody<B> {
    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// The wrapped body, mutably.
    pub fn get_mut(&mut self) -> &mut B {
        &mut self.inner
    }

    /// Unwraps the body; the span ends as cancelled if it had not ended yet.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for InstrumentedBody<B>
where
    B::Error: std::error::Error + 'static,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let _guard = this.span.attach();
        let polled = ready!(this.inner.as_mut().poll_frame(cx));
        match &polled {
            None => this.span.complete(),
            Some(Err(error)) => this.span.fail(error),
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.span.data(data);
                }
                if frame.is_trailers() || this.inner.is_end_stream() {
                    this.span.complete();
                }
            }
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The span a response body ends, whatever the body's shape ([`InstrumentedBody`] for
/// `http_body::Body`, [`InstrumentedReader`](super::reader::InstrumentedReader) for
/// `std::io::Read`): the decision of when and how it ends, written once. Dropped while open,
/// the span ends as cancelled.
#[derive(Debug)]
pub(crate) struct BodySpan(Option<RequestSpan>);

impl BodySpan {
    /// Ends the span at once when the body is already at its end (`at_end`) or empty by
    /// definition (HEAD, 204, 304).
    pub(crate) fn new(span: Option<RequestSpan>, at_end: bool) -> Self {
        let mut body = BodySpan(span);
        let empty = body
            .0
            .as_ref()
            .is_some_and(RequestSpan::body_empty_by_definition);
        if at_end || empty {
            body.complete();
        }
        body
    }

    /// Attaches the request's context (keep the guard while the body is read).
    pub(crate) fn attach(&self) -> Option<opentelemetry::ContextGuard> {
        let cx = self.0.as_ref()?.context()?;
        Some(cx.clone().attach())
    }

    /// Body bytes the application read.
    pub(crate) fn data(&mut self, data: &impl bytes::Buf) {
        if let Some(span) = &mut self.0 {
            span.on_body_data(data);
        }
    }

    /// The body reached its end.
    pub(crate) fn complete(&mut self) {
        if let Some(span) = self.0.take() {
            span.end_body(Ok(()));
        }
    }

    /// Reading the body failed.
    pub(crate) fn fail<E: std::error::Error + 'static>(&mut self, error: &E) {
        if let Some(span) = self.0.take() {
            let failure = body_failure(span.edge(), error);
            span.end_body(Err(failure));
        }
    }

    /// Whether the span is still open.
    pub(crate) fn is_open(&self) -> bool {
        self.0.is_some()
    }
}

/// A body error: classified by the front end's edge, and a body error whatever the transport
/// said (the head had arrived), unless it was a timeout or a decoding failure.
fn body_failure<'e, E: std::error::Error + 'static>(
    edge: &super::Edge,
    error: &'e E,
) -> Failure<'e> {
    let mut failure = edge.failure(error, std::any::type_name::<E>());
    if matches!(
        failure.kind,
        ErrorKind::Other | ErrorKind::Request | ErrorKind::Connect
    ) {
        failure.kind = ErrorKind::Body;
    }
    failure
}

impl<B: fmt::Debug> fmt::Debug for InstrumentedBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedBody")
            .field("inner", &self.inner)
            .field("span_open", &self.span.is_open())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestTelemetry;
    use bytes::Bytes;
    use http::HeaderMap;
    use opentelemetry::Value;
    use std::collections::VecDeque;
    use std::io;
    use std::task::Waker;

    type Item = Result<Frame<Bytes>, io::Error>;

    /// A body that plays back a script of frames; `exact` makes `is_end_stream` true as soon as
    /// the script is empty (like a body with an exact Content-Length).
    struct Scripted {
        frames: VecDeque<Item>,
        exact: bool,
    }

    impl Body for Scripted {
        type Data = Bytes;
        type Error = io::Error;
        fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Item>> {
            Poll::Ready(self.frames.pop_front())
        }
        fn is_end_stream(&self) -> bool {
            self.exact && self.frames.is_empty()
        }
    }

    fn data(s: &'static str) -> Item {
        Ok(Frame::data(Bytes::from_static(s.as_bytes())))
    }

    fn wrap(t: &TestTelemetry, frames: Vec<Item>, exact: bool) -> InstrumentedBody<Scripted> {
        let inner = t.instrumentation().build();
        let url = url::Url::parse("http://127.0.0.1:1/x").unwrap();
        let mut span = inner
            .start_span(
                &http::Method::GET,
                &url,
                &http::Extensions::new(),
                &crate::exchange::Edge::GENERIC,
            )
            .unwrap();
        let headers = HeaderMap::new();
        let head = crate::hooks::ResponseHead {
            status: http::StatusCode::OK,
            version: http::Version::HTTP_11,
            headers: &headers,
            url: None,
        };
        span.on_response(&head, None);
        let body = Scripted {
            frames: frames.into(),
            exact,
        };
        InstrumentedBody::new(body, Some(span))
    }

    /// Polls once; returns what the body yielded.
    fn poll(body: &mut InstrumentedBody<Scripted>) -> Option<Item> {
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(body).poll_frame(&mut cx) {
            Poll::Ready(item) => item,
            Poll::Pending => panic!("scripted body never pends"),
        }
    }

    #[test]
    fn end_of_stream_ends_the_span_once_with_the_size() {
        let t = TestTelemetry::new();
        let mut body = wrap(&t, vec![data("ab"), data("cde")], false);
        assert!(poll(&mut body).is_some());
        assert!(poll(&mut body).is_some());
        assert!(
            t.finished_spans().is_empty(),
            "still open before the end of stream"
        );
        assert!(poll(&mut body).is_none());
        assert!(poll(&mut body).is_none());
        drop(body);
        t.assert_ended_once();
        assert_eq!(t.first_attr("http.response.body.size"), Some(Value::I64(5)));
        assert_eq!(t.first_attr(crate::CANCELLED_ATTRIBUTE), None);
    }

    #[test]
    fn exact_content_length_ends_after_the_last_data_frame() {
        let t = TestTelemetry::new();
        let mut body = wrap(&t, vec![data("abc")], true);
        assert!(poll(&mut body).is_some());
        assert_eq!(
            t.finished_spans().len(),
            1,
            "ended without polling for None"
        );
        drop(body);
        t.assert_ended_once();
        assert_eq!(t.first_attr("http.response.body.size"), Some(Value::I64(3)));
    }

    #[test]
    fn error_ends_the_span_as_a_body_error() {
        let t = TestTelemetry::new();
        let broken = Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
        let mut body = wrap(&t, vec![data("a"), broken], false);
        assert!(poll(&mut body).is_some());
        assert!(matches!(poll(&mut body), Some(Err(_))));
        drop(body);
        t.assert_ended_once();
        assert_eq!(t.first_attr("error.type"), Some(Value::from("body")));
        let span = &t.finished_spans()[0];
        assert!(matches!(
            span.status,
            opentelemetry::trace::Status::Error { .. }
        ));
        assert!(span.events.iter().any(|e| e.name == "exception"));
    }

    #[test]
    fn drop_before_the_end_is_cancelled_not_an_error() {
        let t = TestTelemetry::new();
        let mut body = wrap(&t, vec![data("a"), data("b")], false);
        assert!(poll(&mut body).is_some());
        drop(body);
        t.assert_ended_once();
        assert_eq!(
            t.first_attr(crate::CANCELLED_ATTRIBUTE),
            Some(Value::Bool(true))
        );
        assert_eq!(t.first_attr("error.type"), None);
        assert_eq!(
            t.finished_spans()[0].status,
            opentelemetry::trace::Status::Unset
        );
    }

    #[test]
    fn already_empty_body_ends_at_once() {
        let t = TestTelemetry::new();
        let mut body = wrap(&t, vec![], true);
        assert_eq!(t.finished_spans().len(), 1, "ended when wrapped");
        assert!(poll(&mut body).is_none());
        drop(body);
        t.assert_ended_once();
        assert_eq!(t.first_attr("http.response.body.size"), Some(Value::I64(0)));
    }

    #[test]
    fn trailers_end_the_span() {
        let t = TestTelemetry::new();
        let trailers = Ok(Frame::trailers(HeaderMap::new()));
        let mut body = wrap(&t, vec![data("x"), trailers, data("never")], false);
        assert!(poll(&mut body).is_some());
        assert!(poll(&mut body).is_some());
        assert_eq!(t.finished_spans().len(), 1);
        drop(body);
        t.assert_ended_once();
    }

    #[test]
    fn data_passes_through_unchanged() {
        let t = TestTelemetry::new();
        let mut body = wrap(&t, vec![data("hello "), data("world")], false);
        let mut seen = Vec::new();
        while let Some(Ok(frame)) = poll(&mut body) {
            seen.extend_from_slice(frame.data_ref().unwrap());
        }
        assert_eq!(seen, b"hello world");
    }
}
