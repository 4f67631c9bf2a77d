//! Bounded body capture: keeps at most `limit` bytes of a body as it streams, counts the rest,
//! and decodes what it kept per the Content-Type charset.
//!
//! Pure: no I/O, no globals. The front ends feed it the bytes the application actually read
//! (response) or sent (request).

use bytes::Buf;

/// Appended to captured text that was cut at the limit.
pub const TRUNCATION_MARKER: &str = "...[truncated]";

/// The default capture limit: 64 KiB per body.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// What kind of payload a Content-Type announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Payload {
    /// Text (JSON, XML, text/*, ...) or unknown: decoded if the bytes allow it.
    Text(&'static encoding_rs::Encoding),
    /// `application/x-www-form-urlencoded`.
    Form,
    /// Multipart or binary: size only.
    Opaque,
}

impl Payload {
    /// Classifies a Content-Type header value (`None`: no header).
    pub(crate) fn of(content_type: Option<&str>) -> Payload {
        let Some(ct) = content_type else {
            return Payload::Text(encoding_rs::UTF_8);
        };
        let mut parts = ct.split(';');
        // Compared without case, in place: no lowercased copy per request.
        let essence = parts.next().unwrap_or("").trim();
        let charset = parts.find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| v.trim().trim_matches('"'))
        });
        if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Payload::Form;
        }
        if !is_textual(essence) {
            return Payload::Opaque;
        }
        let encoding = charset
            .and_then(|c| encoding_rs::Encoding::for_label(c.as_bytes()))
            .unwrap_or(encoding_rs::UTF_8);
        Payload::Text(encoding)
    }
}

/// Whether a media type (`type/subtype`, any case) is text that can be decoded.
fn is_textual(essence: &str) -> bool {
    let (kind, sub) = essence.split_once('/').unwrap_or((essence, ""));
    let ends_with = |suffix: &str| {
        sub.len() >= suffix.len()
            && sub.as_bytes()[sub.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };
    const APPLICATION_TEXT: &[&str] = &[
        "json",
        "xml",
        "javascript",
        "ecmascript",
        "graphql",
        "x-ndjson",
        "ndjson",
        "yaml",
        "x-yaml",
        "toml",
        "csv",
    ];
    kind.eq_ignore_ascii_case("text")
        || ends_with("+json")
        || ends_with("+xml")
        || kind.eq_ignore_ascii_case("application")
            && APPLICATION_TEXT.iter().any(|t| sub.eq_ignore_ascii_case(t))
}

/// Keeps the first `limit` bytes of a body and counts all of them.
#[derive(Debug)]
pub(crate) struct BodyCapture {
    kept: Vec<u8>,
    limit: usize,
    total: u64,
    payload: Payload,
    incomplete: bool,
}

impl BodyCapture {
    pub(crate) fn new(payload: Payload, limit: usize) -> Self {
        BodyCapture {
            kept: Vec::new(),
            limit,
            total: 0,
            payload,
            incomplete: false,
        }
    }

    /// Records one chunk.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        if self.payload == Payload::Opaque {
            return;
        }
        let room = self.limit.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    /// Records a `Buf` without consuming it.
    pub(crate) fn push_buf(&mut self, data: &impl Buf) {
        if data.chunk().len() == data.remaining() {
            return self.push(data.chunk());
        }
        let mut slices = [std::io::IoSlice::new(&[]); 32];
        let n = data.chunks_vectored(&mut slices);
        let mut seen = 0;
        for slice in &slices[..n] {
            seen += slice.len();
            self.push(slice);
        }
        self.total += (data.remaining() - seen) as u64;
    }

    /// All bytes seen.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    pub(crate) fn payload(&self) -> Payload {
        self.payload
    }

    /// Marks the body as not read (or sent) to its end: the text then ends with the marker,
    /// and a body of which nothing was seen records no text at all.
    pub(crate) fn mark_incomplete(&mut self) {
        self.incomplete = true;
    }

    fn truncated(&self) -> bool {
        self.incomplete || self.total > self.kept.len() as u64
    }

    /// The kept bytes decoded as text, cut on a character boundary and marked when truncated;
    /// `None` for opaque payloads and bytes that do not decode.
    pub(crate) fn text(&self) -> Option<String> {
        let encoding = match self.payload {
            Payload::Text(e) => e,
            Payload::Form => encoding_rs::UTF_8,
            Payload::Opaque => return None,
        };
        if self.incomplete && self.total == 0 {
            return None;
        }
        let mut text = decode(encoding, &self.kept, self.truncated())?;
        if self.truncated() {
            text.push_str(TRUNCATION_MARKER);
        }
        Some(text)
    }

    /// A url-encoded form as a JSON object (repeated keys become arrays); `None` unless the
    /// payload is a form that was captured whole.
    pub(crate) fn form_json(&self) -> Option<String> {
        if self.payload != Payload::Form || self.truncated() {
            return None;
        }
        let mut object = serde_json::Map::new();
        for (k, v) in url::form_urlencoded::parse(&self.kept) {
            let v = serde_json::Value::String(v.into_owned());
            match object.get_mut(k.as_ref()) {
                Some(serde_json::Value::Array(values)) => values.push(v),
                Some(first) => *first = serde_json::Value::Array(vec![first.take(), v]),
                None => {
                    object.insert(k.into_owned(), v);
                }
            }
        }
        Some(serde_json::Value::Object(object).to_string())
    }
}

/// Decodes `bytes` without replacement characters; when `cut` (the bytes are a prefix), an
/// incomplete character at the end is dropped rather than treated as an error.
fn decode(encoding: &'static encoding_rs::Encoding, bytes: &[u8], cut: bool) -> Option<String> {
    if encoding == encoding_rs::UTF_8 {
        return match std::str::from_utf8(bytes) {
            Ok(s) => Some(s.to_owned()),
            Err(e) if cut && e.error_len().is_none() => {
                Some(String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned())
            }
            Err(_) => None,
        };
    }
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(decoder.max_utf8_buffer_length(bytes.len())?);
    let (result, _) = decoder.decode_to_string_without_replacement(bytes, &mut out, !cut);
    match result {
        encoding_rs::DecoderResult::InputEmpty => Some(out),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(ct: Option<&str>, limit: usize, chunks: &[&[u8]]) -> BodyCapture {
        let mut c = BodyCapture::new(Payload::of(ct), limit);
        for chunk in chunks {
            c.push(chunk);
        }
        c
    }

    #[test]
    fn content_types_are_classified() {
        let utf8 = Payload::Text(encoding_rs::UTF_8);
        let cases = [
            (None, utf8),
            (Some("application/json"), utf8),
            (Some("application/problem+json; charset=utf-8"), utf8),
            (
                Some("text/html; charset=ISO-8859-1"),
                Payload::Text(encoding_rs::WINDOWS_1252),
            ),
            (Some("application/x-www-form-urlencoded"), Payload::Form),
            (Some("multipart/form-data; boundary=x"), Payload::Opaque),
            (Some("image/png"), Payload::Opaque),
            (Some("application/octet-stream"), Payload::Opaque),
            // Case does not matter (RFC 9110 §8.3.1), and nothing is lowercased to check it.
            (Some("Application/JSON; Charset=UTF-8"), utf8),
            (Some("TEXT/Plain"), utf8),
            (Some("application/vnd.api+JSON"), utf8),
            (Some("APPLICATION/X-WWW-FORM-URLENCODED"), Payload::Form),
            (Some("Image/PNG"), Payload::Opaque),
            (
                Some("text/plain; charset=\"Shift_JIS\""),
                Payload::Text(encoding_rs::SHIFT_JIS),
            ),
            (Some("application/jsonx"), Payload::Opaque),
            (Some("json"), Payload::Opaque),
            (Some(""), Payload::Opaque),
            (Some("é/ü+json"), utf8),
        ];
        for (ct, want) in cases {
            assert_eq!(Payload::of(ct), want, "{ct:?}");
        }
    }

    #[test]
    fn text_is_kept_whole_under_the_limit() {
        let c = capture(Some("text/plain"), 10, &[b"hello ", b"you"]);
        assert_eq!(c.text().as_deref(), Some("hello you"));
        assert_eq!(c.total(), 9);
    }

    #[test]
    fn cut_on_a_character_boundary_with_a_marker() {
        // "é" is two bytes: the limit falls inside it.
        let c = capture(None, 4, &["abcé".as_bytes(), b"more"]);
        assert_eq!(c.text().unwrap(), format!("abc{TRUNCATION_MARKER}"));
        assert_eq!(c.total(), 9);
    }

    #[test]
    fn invalid_utf8_and_binary_record_no_text() {
        assert_eq!(capture(None, 100, &[b"ok\xffno"]).text(), None);
        assert_eq!(capture(Some("image/png"), 100, &[b"PNG"]).text(), None);
        assert_eq!(capture(Some("image/png"), 100, &[b"PNG"]).total(), 3);
    }

    #[test]
    fn charsets_are_decoded() {
        let c = capture(Some("text/plain; charset=latin1"), 100, &[b"caf\xe9"]);
        assert_eq!(c.text().as_deref(), Some("café"));
        let c = capture(
            Some("text/plain; charset=shift_jis"),
            3,
            &[b"\x82\xa0\x82\xa2"],
        );
        assert_eq!(c.text().unwrap(), format!("あ{TRUNCATION_MARKER}"));
    }

    #[test]
    fn incomplete_bodies_are_marked_and_empty_ones_record_nothing() {
        let mut c = capture(None, 100, &[b"half"]);
        c.mark_incomplete();
        assert_eq!(c.text().unwrap(), format!("half{TRUNCATION_MARKER}"));
        let mut c = capture(None, 100, &[]);
        c.mark_incomplete();
        assert_eq!(c.text(), None);
    }

    #[test]
    fn forms_become_json_objects() {
        let c = capture(
            Some("application/x-www-form-urlencoded"),
            100,
            &[b"a=1&b=x+y&a=2"],
        );
        assert_eq!(
            c.form_json().as_deref(),
            Some(r#"{"a":["1","2"],"b":"x y"}"#)
        );
    }
}
