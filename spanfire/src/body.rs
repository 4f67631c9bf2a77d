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

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};

use crate::semconv::ErrorKind;
use crate::span::{Failure, RequestSpan};

pin_project_lite::pin_project! {
    /// A response body wrapper that ends the request span when the body completes, fails or is
    /// dropped. Data passes through unchanged.
    pub struct InstrumentedBody<B> {
        #[pin]
        inner: B,
        span: Option<RequestSpan>,
    }
}

impl<B: Body> InstrumentedBody<B>
where
    B::Error: std::error::Error + 'static,
{
    /// Wraps `inner`; ends the span at once if the body is already finished.
    pub(crate) fn new(inner: B, span: Option<RequestSpan>) -> Self {
        let mut body = InstrumentedBody { inner, span };
        let done = body.inner.is_end_stream()
            || body.span.as_ref().is_some_and(RequestSpan::body_empty_by_definition);
        if done {
            if let Some(span) = body.span.take() {
                span.end_body(Ok(()));
            }
        }
        body
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
        let _guard = this.span.as_ref().and_then(|s| s.context()).map(|c| c.clone().attach());
        let polled = ready!(this.inner.as_mut().poll_frame(cx));
        let Some(span) = this.span.as_mut() else {
            return Poll::Ready(polled);
        };
        let done = match &polled {
            None => Some(Ok(())),
            Some(Err(error)) => Some(Err(body_failure(error))),
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    span.on_body_data(data.remaining());
                }
                (frame.is_trailers() || this.inner.is_end_stream()).then_some(Ok(()))
            }
        };
        if let Some(result) = done {
            if let Some(span) = this.span.take() {
                span.end_body(result);
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

fn body_failure<E: std::error::Error + 'static>(error: &E) -> Failure<'_> {
    let kind = match crate::semconv::classify(error) {
        ErrorKind::Other | ErrorKind::Request | ErrorKind::Connect => ErrorKind::Body,
        kind => kind,
    };
    Failure {
        error,
        kind,
        type_name: std::any::type_name::<E>(),
    }
}

impl<B: fmt::Debug> fmt::Debug for InstrumentedBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedBody")
            .field("inner", &self.inner)
            .field("span_open", &self.span.is_some())
            .finish()
    }
}
