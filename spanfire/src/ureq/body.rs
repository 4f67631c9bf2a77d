//! ureq's bodies around the exchange: the response body rebuilt around an
//! [`InstrumentedReader`](crate::exchange::InstrumentedReader), and the request body teed.

use std::io::{self, Cursor, Read};
use std::sync::OnceLock;

use http::{header, HeaderMap, HeaderValue, Method};
use ureq::{Body, SendBody};

use crate::capture::TeeReader;
use crate::exchange::{Exchange, KnownBody, RequestCapture};
use crate::hooks::ResponseHead;

/// Request bodies up to this size, when captured, are read before sending so that they keep a
/// `Content-Length` (ureq does not tell a middleware a body's length).
const READ_AHEAD: u64 = 64 * 1024;

/// Hands the response head to the exchange and rebuilds the body around the instrumented
/// reader. The reader sits over ureq's own decoding (decompression, charset), so the new body
/// keeps the MIME type (text bodies stay text: `lossy_utf8`) and the charset unless ureq
/// already transcoded the text to UTF-8 (a second decoding would garble it). A body of
/// `Content-Length: 0` ends the span with the head, as on the other front ends.
pub(super) fn respond(head: &ResponseHead<'_>, body: Body, exchange: Exchange) -> Body {
    let transcoded = transcoded(&body);
    let mut builder = Body::builder();
    if let Some(mime) = body.mime_type() {
        builder = builder.mime_type(mime);
    }
    if let (false, Some(charset)) = (transcoded, body.charset()) {
        builder = builder.charset(charset);
    }
    let known = KnownBody {
        empty: body.content_length() == Some(0),
        utf8_text: transcoded,
    };
    let reader = exchange.respond_reader(head, None, body.into_reader(), known);
    builder.reader(reader)
}

/// Whether ureq hands this body's text out transcoded to UTF-8: a `text/*` body with a
/// charset other than UTF-8, and ureq built with its `charset` feature.
fn transcoded(body: &Body) -> bool {
    let text = body.mime_type().is_some_and(|m| m.starts_with("text/"));
    let foreign = body
        .charset()
        .and_then(|c| encoding_rs::Encoding::for_label(c.as_bytes()))
        .is_some_and(|e| e != encoding_rs::UTF_8);
    text && foreign && ureq_transcodes()
}

/// Whether the ureq this process was built with transcodes text (its `charset` feature, which
/// the application decides): asked once, of a one-byte ISO-8859-1 body.
fn ureq_transcodes() -> bool {
    static TRANSCODES: OnceLock<bool> = OnceLock::new();
    *TRANSCODES.get_or_init(|| {
        let mut probe = Body::builder()
            .mime_type("text/plain")
            .charset("iso-8859-1")
            .data(vec![0xE9]);
        probe.read_to_vec().is_ok_and(|bytes| bytes != [0xE9])
    })
}

/// The request body to send, teed into `capture` as ureq reads it.
///
/// ureq frames a body by its length, which a middleware cannot read, unless the headers say
/// how (`Content-Length`, `Transfer-Encoding`). So, when they do not, up to [`READ_AHEAD`]
/// bytes are read first: a body that ends within them is sent with its `Content-Length`
/// (as ureq sends a buffered body; an empty one as no body, `Content-Length: 0` for POST, PUT
/// and PATCH); a longer one is sent chunked.
pub(super) fn tee<'a>(
    body: SendBody<'a>,
    method: &Method,
    headers: &mut HeaderMap,
    capture: RequestCapture,
    cx: opentelemetry::Context,
) -> (TeeReader<Prefixed<impl Read + 'a>>, bool) {
    let mut rest = body.into_reader();
    let framed = headers.contains_key(header::CONTENT_LENGTH)
        || headers.contains_key(header::TRANSFER_ENCODING);
    let mut prefix = Vec::new();
    let mut failed = None;
    if !framed {
        if let Err(e) = (&mut rest).take(READ_AHEAD + 1).read_to_end(&mut prefix) {
            failed = Some(e);
        }
    }
    let whole = !framed && failed.is_none() && prefix.len() as u64 <= READ_AHEAD;
    let empty = whole && prefix.is_empty();
    if whole && (!empty || matches!(*method, Method::POST | Method::PUT | Method::PATCH)) {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(prefix.len()));
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .filter(|_| !headers.contains_key(header::TRANSFER_ENCODING))
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    let prefixed = Prefixed {
        prefix: Cursor::new(prefix),
        rest: (!whole).then_some(rest),
        failed,
    };
    (TeeReader::new(prefixed, capture, cx, length), empty)
}

/// What was read ahead, then the rest of the body, or the error reading ahead met (handed to
/// ureq where it would have met it).
pub(super) struct Prefixed<R> {
    prefix: Cursor<Vec<u8>>,
    rest: Option<R>,
    failed: Option<io::Error>,
}

impl<R: Read> Read for Prefixed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.prefix.read(buf)?;
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        match &mut self.rest {
            Some(rest) => rest.read(buf),
            None => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that fails after handing out `data`.
    struct Failing(&'static [u8]);

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other("the application's reader failed"));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn what_was_read_ahead_comes_first_then_the_error_it_met() {
        let mut source = Failing(b"abc");
        let mut prefix = Vec::new();
        let failed = (&mut source)
            .take(READ_AHEAD + 1)
            .read_to_end(&mut prefix)
            .err();
        assert_eq!(prefix, b"abc");
        let mut prefixed = Prefixed {
            prefix: Cursor::new(prefix),
            rest: Some(source),
            failed,
        };
        let mut out = Vec::new();
        let error = prefixed.read_to_end(&mut out).unwrap_err();
        assert_eq!(out, b"abc", "the bytes before the error are sent");
        assert_eq!(error.to_string(), "the application's reader failed");
    }

    #[test]
    fn a_whole_body_ends_after_its_prefix() {
        let mut prefixed = Prefixed::<Failing> {
            prefix: Cursor::new(b"whole".to_vec()),
            rest: None,
            failed: None,
        };
        let mut out = Vec::new();
        prefixed.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"whole");
    }
}
