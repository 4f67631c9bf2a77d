//! [`InstrumentedReader`]: the `std::io::Read` counterpart of
//! [`InstrumentedBody`](crate::InstrumentedBody), for blocking clients.
//!
//! The span ends exactly once, at whichever comes first:
//! - the end of the stream: a `read` into a non-empty buffer returns `Ok(0)`;
//! - an I/O error other than `Interrupted` (classified by the front end's edge, as a body
//!   error unless it was a timeout or a decoding failure);
//! - `Drop` before either: recorded as cancelled, not as an error.
//!
//! A body empty by definition (HEAD, 204, 304) or known to be empty (`Content-Length: 0`) ends
//! the span when it is wrapped. Every read
//! runs with the request's OpenTelemetry context attached.

use std::io::{self, Read};

use super::body::BodySpan;
use super::RequestSpan;

/// A response body reader that ends the request span when the body completes, fails or is
/// dropped. The bytes pass through unchanged.
pub(crate) struct InstrumentedReader<R> {
    inner: R,
    span: BodySpan,
}

impl<R: Read> InstrumentedReader<R> {
    /// Wraps `inner`; ends the span at once if the body is known to be `empty`.
    pub(crate) fn new(inner: R, span: RequestSpan, empty: bool) -> Self {
        InstrumentedReader {
            inner,
            span: BodySpan::new(Some(span), empty),
        }
    }
}

impl<R: Read> Read for InstrumentedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let _guard = self.span.attach();
        let read = self.inner.read(buf);
        match &read {
            Ok(0) if !buf.is_empty() => self.span.complete(),
            Ok(n) => self.span.data(&buf.get(..*n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => self.span.fail(e),
        }
        read
    }
}

impl<R> std::fmt::Debug for InstrumentedReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstrumentedReader")
            .field("inner", &std::any::type_name::<R>())
            .field("span_open", &self.span.is_open())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestTelemetry;
    use opentelemetry::Value;
    use std::collections::VecDeque;

    /// A reader that plays back a script of reads.
    struct Scripted(VecDeque<io::Result<&'static [u8]>>);

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if buf.is_empty() {
                return Ok(0);
            }
            match self.0.pop_front() {
                None => Ok(0),
                Some(Err(e)) => Err(e),
                Some(Ok(data)) => {
                    buf[..data.len()].copy_from_slice(data);
                    Ok(data.len())
                }
            }
        }
    }

    fn wrap(
        t: &TestTelemetry,
        method: http::Method,
        script: Vec<io::Result<&'static [u8]>>,
    ) -> InstrumentedReader<Scripted> {
        let inner = t.instrumentation().build();
        let url = url::Url::parse("http://127.0.0.1:1/x").unwrap();
        let edge = &crate::exchange::Edge::GENERIC;
        let mut span = inner
            .start_span(&method, &url, &http::Extensions::new(), edge)
            .unwrap();
        let headers = http::HeaderMap::new();
        let head = crate::hooks::ResponseHead {
            status: http::StatusCode::OK,
            version: http::Version::HTTP_11,
            headers: &headers,
            url: None,
        };
        span.on_response(&head, None);
        InstrumentedReader::new(Scripted(script.into()), span, false)
    }

    #[test]
    fn eof_ends_the_span_once_with_the_bytes_read() {
        let t = TestTelemetry::new();
        let mut reader = wrap(&t, http::Method::GET, vec![Ok(b"ab"), Ok(b"cde")]);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcde", "bytes pass through unchanged");
        assert_eq!(reader.read(&mut [0; 4]).unwrap(), 0);
        drop(reader);
        t.assert_ended_once();
        assert_eq!(t.first_attr("http.response.body.size"), Some(Value::I64(5)));
        assert_eq!(t.first_attr(crate::CANCELLED_ATTRIBUTE), None);
    }

    #[test]
    fn an_empty_buffer_read_is_not_the_end() {
        let t = TestTelemetry::new();
        let mut reader = wrap(&t, http::Method::GET, vec![Ok(b"ab")]);
        assert_eq!(reader.read(&mut []).unwrap(), 0);
        assert!(t.finished_spans().is_empty(), "still open");
        drop(reader);
        assert_eq!(
            t.first_attr(crate::CANCELLED_ATTRIBUTE),
            Some(Value::Bool(true))
        );
    }

    #[test]
    fn an_io_error_ends_the_span_as_a_body_error_and_interrupted_does_not() {
        let t = TestTelemetry::new();
        let script = vec![
            Ok(&b"a"[..]),
            Err(io::ErrorKind::Interrupted.into()),
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset")),
        ];
        let mut reader = wrap(&t, http::Method::GET, script);
        let mut buf = [0; 8];
        assert_eq!(reader.read(&mut buf).unwrap(), 1);
        assert!(reader.read(&mut buf).is_err());
        assert!(t.finished_spans().is_empty(), "Interrupted is retried");
        assert!(reader.read(&mut buf).is_err());
        drop(reader);
        t.assert_ended_once();
        assert_eq!(t.first_attr("error.type"), Some(Value::from("body")));
    }

    #[test]
    fn drop_before_eof_is_cancelled_not_an_error() {
        let t = TestTelemetry::new();
        let mut reader = wrap(&t, http::Method::GET, vec![Ok(b"a"), Ok(b"b")]);
        assert_eq!(reader.read(&mut [0; 1]).unwrap(), 1);
        drop(reader);
        t.assert_ended_once();
        assert_eq!(
            t.first_attr(crate::CANCELLED_ATTRIBUTE),
            Some(Value::Bool(true))
        );
        assert_eq!(t.first_attr("error.type"), None);
    }

    #[test]
    fn head_response_ends_when_wrapped() {
        let t = TestTelemetry::new();
        let reader = wrap(&t, http::Method::HEAD, vec![]);
        assert_eq!(t.finished_spans().len(), 1, "ended when wrapped");
        drop(reader);
        t.assert_ended_once();
    }
}
