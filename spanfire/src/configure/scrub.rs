//! Scrubbing: the last stage before export, the second net behind the instrumentation's own
//! redaction (see [`crate::secrets`] for what each layer does).
//!
//! It runs the [`Secrets`] policy over every exit of a span — name, attributes (also those set
//! by hooks), event names and attributes, status description, link attributes:
//! - an attribute whose key names a secret (`db.password`, `http.request.header.x-api-key`) has
//!   its value replaced by `[Scrubbed due to '<matched part of the key>']`, element by element
//!   for arrays; values the instrumentation already redacted (`[REDACTED]`) are left as they are;
//! - URL attributes (`url.full`, `url.original`, `http.url`, URL-valued headers) are redacted as
//!   URLs: `REDACTED`, so they stay URLs — a `url_filter`'s output is never turned into
//!   something else;
//! - every other string goes through the free-text redaction (JSON values of secret keys get
//!   the marker, `key=value` pairs and `Secret-Name: value` lines `REDACTED`, userinfo
//!   `REDACTED:REDACTED`) and the value patterns (JWTs, bearer tokens, AWS access key ids,
//!   private key blocks), which need no key to be recognised.

use std::borrow::Cow;

use opentelemetry::trace::Status;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;
use regex::Regex;

use crate::secrets::{self, Secrets, REDACTED_VALUE};

/// Scrubbing options for [`ConfigureBuilder::scrubbing`](crate::ConfigureBuilder::scrubbing):
/// the [`Secrets`] policy (the same type; the name says where it is used).
pub type Scrubbing = Secrets;

/// Values that are secrets whatever their key: (name in the marker, pattern).
const VALUE_PATTERNS: &[(&str, &str)] = &[
    (
        "jwt",
        r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
    ),
    ("bearer", r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"),
    ("aws access key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    (
        "private key",
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
    ),
];

/// The compiled scrubbing stage.
#[derive(Debug)]
pub(crate) struct Scrubber {
    secrets: Secrets,
    values: Option<Regex>,
}

impl Scrubber {
    pub(crate) fn new(secrets: Secrets) -> Scrubber {
        let alternatives: Vec<String> = VALUE_PATTERNS
            .iter()
            .map(|(_, p)| format!("({p})"))
            .collect();
        Scrubber {
            secrets,
            values: Regex::new(&alternatives.join("|")).ok(),
        }
    }

    /// Scrubs every exit of `span` in place.
    pub(crate) fn scrub_span(&self, span: &mut SpanData) {
        if let Cow::Owned(name) = self.text(&span.name) {
            span.name = name.into();
        }
        self.scrub(&mut span.attributes);
        for event in span.events.events.iter_mut() {
            if let Cow::Owned(name) = self.text(&event.name) {
                event.name = name.into();
            }
            self.scrub(&mut event.attributes);
        }
        for link in span.links.links.iter_mut() {
            self.scrub(&mut link.attributes);
        }
        if let Status::Error { description } = &span.status {
            if let Cow::Owned(description) = self.text(description) {
                span.status = Status::error(description);
            }
        }
    }

    /// Scrubs every attribute in place.
    pub(crate) fn scrub(&self, attributes: &mut [KeyValue]) {
        for kv in attributes.iter_mut() {
            if let Some(value) = self.scrub_one(kv.key.as_str(), &kv.value) {
                kv.value = value;
            }
        }
    }

    /// The matched part of an attribute key that names a secret: header attributes are judged
    /// by the whole header name (which may contain dots), other attributes by their last
    /// segment (`db.password`).
    fn secret_key<'k>(&self, key: &'k str) -> Option<&'k str> {
        let name = header_name(key).unwrap_or_else(|| key.rsplit('.').next().unwrap_or(key));
        self.secrets.names().secret_part(name)
    }

    fn scrub_one(&self, key: &str, value: &Value) -> Option<Value> {
        if let Some(matched) = self.secret_key(key) {
            return scrub_whole(value, matched);
        }
        match value {
            Value::String(text) => self
                .string(key, text.as_str())
                .map(|s| Value::String(s.into())),
            Value::Array(Array::String(items)) => {
                let scrubbed: Vec<Option<String>> =
                    items.iter().map(|s| self.string(key, s.as_str())).collect();
                if scrubbed.iter().all(Option::is_none) {
                    return None;
                }
                let items: Vec<StringValue> = scrubbed
                    .into_iter()
                    .zip(items.iter())
                    .map(|(new, old)| new.map_or_else(|| old.clone(), StringValue::from))
                    .collect();
                Some(Value::Array(items.into()))
            }
            _ => None,
        }
    }

    /// A string attribute value, scrubbed as its key says; `None` when nothing changed.
    fn string(&self, key: &str, text: &str) -> Option<String> {
        let names = self.secrets.names();
        let scrubbed = match header_name(key) {
            Some(name) if secrets::is_url_header(name) => {
                secrets::redact_url_header(name, text, names)
            }
            None if is_url_key(key) => self.secrets.redact_url(text),
            _ => self.text(text),
        };
        match scrubbed {
            Cow::Owned(s) => Some(s),
            Cow::Borrowed(_) => None,
        }
    }

    /// Free text: the policy's text redaction, then the value patterns.
    fn text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let names = self.secrets.names();
        let redacted = secrets::redact_text(text, names, &marker);
        let Some(values) = &self.values else {
            return redacted;
        };
        if !values.is_match(&redacted) {
            return redacted;
        }
        let replaced = values.replace_all(&redacted, |caps: &regex::Captures<'_>| {
            let which = (1..caps.len())
                .find(|&i| caps.get(i).is_some())
                .and_then(|i| VALUE_PATTERNS.get(i - 1))
                .map_or("secret", |(name, _)| name);
            marker(which)
        });
        Cow::Owned(replaced.into_owned())
    }
}

/// The header name of a header attribute key.
fn header_name(key: &str) -> Option<&str> {
    ["http.request.header.", "http.response.header."]
        .iter()
        .find_map(|prefix| key.strip_prefix(prefix))
}

/// Attributes whose value is a URL.
fn is_url_key(key: &str) -> bool {
    matches!(key, "url.full" | "url.original" | "http.url")
}

fn marker(matched: &str) -> String {
    format!("[Scrubbed due to '{matched}']")
}

fn scrub_whole(value: &Value, matched: &str) -> Option<Value> {
    match value {
        Value::Array(Array::String(items)) => {
            if items.iter().all(|s| s.as_str() == REDACTED_VALUE) {
                return None;
            }
            let scrubbed: Vec<StringValue> = items.iter().map(|_| marker(matched).into()).collect();
            Some(Value::Array(scrubbed.into()))
        }
        Value::String(s) if s.as_str() == REDACTED_VALUE => None,
        _ => Some(Value::String(marker(matched).into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrubber() -> Scrubber {
        Scrubber::new(Secrets::default())
    }

    fn scrubbed(key: &'static str, value: Value) -> Value {
        let mut attrs = [KeyValue::new(key, value)];
        scrubber().scrub(&mut attrs);
        attrs[0].value.clone()
    }

    #[test]
    fn secrets_are_scrubbed_and_never_echoed() {
        let cases = [
            ("db.password", "hunter2", "[Scrubbed due to 'password']"),
            (
                "http.request.body.text",
                r#"{"user":"a","password":"hunter2"}"#,
                r#"{"user":"a","password":"[Scrubbed due to 'password']"}"#,
            ),
            (
                "http.response.body.text",
                r#"{"api_key": 12345, "n": 1}"#,
                r#"{"api_key": "[Scrubbed due to 'api_key']", "n": 1}"#,
            ),
            (
                "http.request.body.form",
                r#"{"token":"t0k","q":"x"}"#,
                r#"{"token":"[Scrubbed due to 'token']","q":"x"}"#,
            ),
            (
                "http.response.body.text",
                r#"{"secret":"abc...[truncated]"#,
                r#"{"secret":"[Scrubbed due to 'secret']""#,
            ),
            (
                "url.full",
                "http://h/p?token=s3&q=1#f",
                "http://h/p?token=REDACTED&q=1#f",
            ),
            (
                "url.full",
                "http://h/p?sig=REDACTED",
                "http://h/p?sig=REDACTED",
            ),
            ("http.response.body.text", "plain text", "plain text"),
            (
                "http.response.body.text",
                "token=t0k&q=x",
                "token=REDACTED&q=x",
            ),
            (
                "app.raw_url",
                "http://u:p@h/?access_token=a&q=1",
                "http://REDACTED:REDACTED@h/?access_token=REDACTED&q=1",
            ),
            (
                "exception.message",
                "error sending request for url (http://h/?api_key=k): timed out",
                // a value runs to whitespace (values may hold `)`): without the exact URL
                // (the instrumentation replaces it first) the `):` goes with it
                "error sending request for url (http://h/?api_key=REDACTED timed out",
            ),
            (
                "app.note",
                "sent Authorization: Bearer abcdefghijkl",
                "sent Authorization: REDACTED",
            ),
            (
                "app.note",
                "got eyJhbGciOi.eyJzdWIiOiIx.sig and AKIAABCDEFGHIJKLMNOP",
                "got [Scrubbed due to 'jwt'] and [Scrubbed due to 'aws access key']",
            ),
        ];
        for (key, input, want) in cases {
            assert_eq!(
                scrubbed(key, Value::from(input)),
                Value::from(want),
                "{key}: {input}"
            );
        }
    }

    #[test]
    fn nested_json_and_dotted_header_names_are_scrubbed() {
        let nested = scrubbed(
            "http.request.body.text",
            Value::from(r#"{"user":{"password":"S3CR3T"}}"#),
        );
        assert!(!nested.as_str().contains("S3CR3T"), "{nested:?}");
        let arr = |v: &str| Value::Array(vec![StringValue::from(v.to_owned())].into());
        let dotted = scrubbed("http.request.header.x-jwt.v2", arr("eyJ"));
        assert_eq!(dotted, arr("[Scrubbed due to 'jwt']"));
    }

    #[test]
    fn header_arrays_are_scrubbed_but_cors_is_kept() {
        let arr = |v: &str| Value::Array(vec![StringValue::from(v.to_owned())].into());
        let got = scrubbed("http.request.header.x-api-key", arr("k"));
        assert_eq!(got, arr("[Scrubbed due to 'api-key']"));
        let cors = "http.response.header.access-control-allow-credentials";
        assert_eq!(scrubbed(cors, arr("true")), arr("true"));
        let already = "http.request.header.authorization";
        assert_eq!(scrubbed(already, arr("[REDACTED]")), arr("[REDACTED]"));
        let location = "http.response.header.location";
        assert_eq!(
            scrubbed(location, arr("/n?sig=s&q=1")),
            arr("/n?sig=REDACTED&q=1")
        );
    }

    #[test]
    fn every_exit_of_a_span_is_scrubbed() {
        use opentelemetry::trace::{Event, Link, SpanContext};
        use opentelemetry::trace::{SpanId, SpanKind};
        let now = std::time::SystemTime::now();
        let mut span = SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Client,
            name: "GET /u?token=T1".into(),
            start_time: now,
            end_time: now,
            attributes: vec![KeyValue::new("app.password", "T2")],
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::error("failed for http://h/?api_key=T3"),
            instrumentation_scope: opentelemetry::InstrumentationScope::builder("t").build(),
        };
        span.events.events.push(Event::new(
            "exception",
            std::time::SystemTime::now(),
            vec![KeyValue::new("exception.message", "password=T4")],
            0,
        ));
        span.links.links.push(Link::new(
            SpanContext::empty_context(),
            vec![KeyValue::new("app.secret", "T5")],
            0,
        ));
        scrubber().scrub_span(&mut span);
        let all = format!("{span:?}");
        for secret in ["T1", "T2", "T3", "T4", "T5"] {
            assert!(!all.contains(secret), "{secret} in {all}");
        }
        assert_eq!(span.name, "GET /u?token=REDACTED");
    }

    #[test]
    fn extra_patterns_extend_and_bad_ones_are_errors() {
        let s = Scrubbing::default().with_extra_patterns(["pin"]).unwrap();
        let mut attrs = [KeyValue::new("app.pin", "1234")];
        Scrubber::new(s).scrub(&mut attrs);
        assert_eq!(attrs[0].value, Value::from("[Scrubbed due to 'pin']"));
        let err = Scrubbing::default().with_extra_patterns(["("]).unwrap_err();
        assert!(err.is_invalid_pattern());
    }
}
