//! [`TeeBody`]: a request body that records what is sent while it streams.
//!
//! The bytes go to the wire unchanged and are never buffered before sending; a bounded copy
//! (at most the capture limit) is kept on the side. When the stream ends, fails or is dropped,
//! `http.request.body.*` is set on the request span from what was actually sent.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http_body::{Body, Frame, SizeHint};
use opentelemetry::trace::TraceContextExt;

use crate::exchange::RequestCapture;

pin_project_lite::pin_project! {
    /// A request body wrapper that captures the bytes sent. Data passes through unchanged.
    pub struct TeeBody<B> {
        #[pin]
        inner: B,
        recorder: Option<Recorder>,
    }
}

/// Records the capture on the span exactly once: at the end of the stream, or on drop (then
/// marked incomplete, since the body was not sent to its end).
#[derive(Debug)]
struct Recorder {
    capture: RequestCapture,
    cx: opentelemetry::Context,
    complete: bool,
}

impl Recorder {
    fn new(capture: RequestCapture, cx: opentelemetry::Context) -> Self {
        Recorder {
            capture,
            cx,
            complete: false,
        }
    }
}

/// Ends a recording: `complete` when the body was sent to its end.
fn finish(recorder: &mut Option<Recorder>, complete: bool) {
    if let Some(mut recorder) = recorder.take() {
        recorder.complete = complete;
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if !self.complete {
            self.capture.body.mark_incomplete();
        }
        self.capture.record(&self.cx.span());
    }
}

impl<B: Body> TeeBody<B> {
    /// A body that records nothing (capture off, or the request is not instrumented).
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn passthrough(inner: B) -> Self {
        TeeBody {
            inner,
            recorder: None,
        }
    }

    pub(crate) fn new(inner: B, capture: RequestCapture, cx: opentelemetry::Context) -> Self {
        TeeBody {
            inner,
            recorder: Some(Recorder::new(capture, cx)),
        }
    }
}

impl<B> TeeBody<B> {
    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// Unwraps the body; what was captured so far is recorded (marked incomplete).
    pub fn into_inner(self) -> B {
        self.inner
    }
}

/// A clone carries the same bytes and captures nothing: the capture belongs to the body that
/// is sent first (a retry layer keeps a clone for the next attempt, which records its own).
impl<B: Clone> Clone for TeeBody<B> {
    fn clone(&self) -> Self {
        TeeBody {
            inner: self.inner.clone(),
            recorder: None,
        }
    }
}

impl<B: Body> Body for TeeBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let polled = ready!(this.inner.as_mut().poll_frame(cx));
        if let (Some(Ok(frame)), Some(recorder)) = (&polled, this.recorder.as_mut()) {
            if let Some(data) = frame.data_ref() {
                recorder.capture.body.push_buf(data);
            }
        }
        let ended = polled.is_none() || this.inner.is_end_stream();
        if ended || matches!(polled, Some(Err(_))) {
            finish(this.recorder, ended);
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

/// [`TeeBody`] for a blocking client's request body, read through `std::io::Read`: the bytes
/// read (and so sent) are captured; the capture is recorded at the end of the stream (`Ok(0)`,
/// or the body's known length read: a client that frames the body by its length reads no
/// further), on an error, or on drop (then marked incomplete).
#[cfg(feature = "ureq")]
pub(crate) struct TeeReader<R> {
    inner: R,
    recorder: Option<Recorder>,
    length: Option<u64>,
}

#[cfg(feature = "ureq")]
impl<R: std::io::Read> TeeReader<R> {
    /// `length`: the body's length when it is known (its `Content-Length`).
    pub(crate) fn new(
        inner: R,
        capture: RequestCapture,
        cx: opentelemetry::Context,
        length: Option<u64>,
    ) -> Self {
        TeeReader {
            inner,
            recorder: Some(Recorder::new(capture, cx)),
            length,
        }
    }
}

#[cfg(feature = "ureq")]
impl<R: std::io::Read> std::io::Read for TeeReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf);
        match &read {
            Ok(0) if !buf.is_empty() => finish(&mut self.recorder, true),
            Ok(n) => {
                if let (Some(recorder), Some(data)) = (&mut self.recorder, buf.get(..*n)) {
                    recorder.capture.body.push(data);
                    if self.length == Some(recorder.capture.body.total()) {
                        finish(&mut self.recorder, true);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => finish(&mut self.recorder, false),
        }
        read
    }
}

#[cfg(feature = "ureq")]
impl<R> std::fmt::Debug for TeeReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeeReader")
            .field("inner", &std::any::type_name::<R>())
            .field("recording", &self.recorder.is_some())
            .finish()
    }
}

impl<B: std::fmt::Debug> std::fmt::Debug for TeeBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeeBody")
            .field("inner", &self.inner)
            .field("recording", &self.recorder.is_some())
            .finish()
    }
}
