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
//!
//! A captured body that spanfire's instrumentation already redacted under this very policy
//! arrives *sealed* (see [`crate::capture::seal`]): it is not scanned for secret names a second
//! time, only for the value patterns (a secret key still has its whole value replaced). Keys of the HTTP conventions and of the known headers are
//! judged once, when the stage is built.

use std::borrow::Cow;

use opentelemetry::trace::Status;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;
use regex::Regex;

use crate::capture::seal;
pub(crate) use crate::secrets::PathPart;
use crate::secrets::{self, note, Secrets, REDACTED_VALUE};

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

/// No value pattern matches a text shorter than this (most attribute values are).
const VALUE_MIN_LEN: usize = 13;

/// The compiled scrubbing stage.
#[derive(Debug)]
pub(crate) struct Scrubber {
    secrets: Secrets,
    values: Option<Regex>,
    /// Those of [`KNOWN_KEYS`] that do not name a secret under this policy, sorted.
    clean_keys: Vec<&'static str>,
}

impl Scrubber {
    pub(crate) fn new(secrets: Secrets) -> Scrubber {
        let alternatives: Vec<String> = VALUE_PATTERNS
            .iter()
            .map(|(_, p)| format!("({p})"))
            .collect();
        let mut clean_keys: Vec<&'static str> = KNOWN_KEYS.to_vec();
        clean_keys.extend(crate::capture::headers::known_header_keys());
        clean_keys.retain(|key| secret_key(&secrets, key).is_none());
        clean_keys.sort_unstable();
        Scrubber {
            secrets,
            values: Regex::new(&alternatives.join("|")).ok(),
            clean_keys,
        }
    }

    /// The policy this stage applies.
    pub(crate) fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Scrubs every exit of `span` in place.
    pub(crate) fn scrub_span(&self, span: &mut SpanData) {
        self.scrub_span_noting(span, None);
    }

    /// [`Scrubber::scrub_span`], also returning what it replaced: one [`Scrubbed`] per
    /// replacement (deduplicated), with the Logfire-style path of the value and the part of
    /// the key (or the name of the value pattern) that made it a secret — never the value.
    pub(crate) fn scrub_span_recording(&self, span: &mut SpanData) -> Vec<Scrubbed> {
        let mut notes = Vec::new();
        self.scrub_span_noting(span, Some(&mut notes));
        notes
    }

    fn scrub_span_noting(&self, span: &mut SpanData, mut out: Option<&mut Vec<Scrubbed>>) {
        let mut found = out.is_some().then(Vec::new);
        if let Cow::Owned(name) = self.text_noting(&span.name, found.as_mut()) {
            span.name = name.into();
        }
        flush(&mut out, &mut found, &[PathPart::key("span_name")]);
        // Bodies the instrumentation redacted under this policy are not scanned for names
        // again — unless the scan's notes are wanted (they include what it had redacted).
        let seals = seal::take_seals(&mut span.attributes);
        let seals = if out.is_some() { &[][..] } else { &seals[..] };
        self.scrub_noting(
            &mut span.attributes,
            &mut out,
            &[PathPart::key("attributes")],
            seals,
        );
        for (i, event) in span.events.events.iter_mut().enumerate() {
            if let Cow::Owned(name) = self.text_noting(&event.name, found.as_mut()) {
                event.name = name.into();
            }
            let at = [PathPart::key("otel_events"), PathPart::Index(i)];
            flush(
                &mut out,
                &mut found,
                &[at[0].clone(), at[1].clone(), PathPart::key("name")],
            );
            let base = [at[0].clone(), at[1].clone(), PathPart::key("attributes")];
            self.scrub_noting(&mut event.attributes, &mut out, &base, &[]);
        }
        for (i, link) in span.links.links.iter_mut().enumerate() {
            let base = [
                PathPart::key("links"),
                PathPart::Index(i),
                PathPart::key("attributes"),
            ];
            self.scrub_noting(&mut link.attributes, &mut out, &base, &[]);
        }
        if let Status::Error { description } = &span.status {
            if let Cow::Owned(description) = self.text_noting(description, found.as_mut()) {
                span.status = Status::error(description);
            }
            flush(
                &mut out,
                &mut found,
                &[PathPart::key("otel_status_message")],
            );
        }
    }

    /// Scrubs every attribute in place.
    #[cfg(any(test, feature = "__fuzz"))]
    pub(crate) fn scrub(&self, attributes: &mut [KeyValue]) {
        self.scrub_noting(attributes, &mut None, &[], &[]);
    }

    /// [`Scrubber::scrub`] as the stage runs over a span's attributes: seals honoured, then
    /// removed.
    #[cfg(feature = "__fuzz")]
    pub(crate) fn scrub_sealed(&self, attributes: &mut Vec<KeyValue>) {
        let seals = seal::take_seals(attributes);
        self.scrub_noting(attributes, &mut None, &[], &seals);
    }

    /// Scrubs every attribute in place; with `out`, notes what was replaced under `base`.
    /// Strings that `seals` name were redacted under this policy already: only the value
    /// patterns run on them.
    fn scrub_noting(
        &self,
        attributes: &mut [KeyValue],
        out: &mut Option<&mut Vec<Scrubbed>>,
        base: &[PathPart],
        seals: &[i64],
    ) {
        for kv in attributes.iter_mut() {
            if let Value::String(text) = &kv.value {
                // A key that names a secret still has its whole value replaced, sealed or not.
                if seal::is_sealed(seals, text.as_str(), &self.secrets)
                    && self.secret_key(kv.key.as_str()).is_none()
                {
                    if let Cow::Owned(v) = self.values_noting(Cow::Borrowed(text.as_str()), None) {
                        kv.value = Value::String(v.into());
                    }
                    continue;
                }
            }
            let mut found = out.is_some().then(Vec::new);
            if let Some(value) = self.scrub_one(kv.key.as_str(), &kv.value, found.as_mut()) {
                kv.value = value;
            }
            if found.as_ref().is_some_and(|f| !f.is_empty()) {
                let mut at = base.to_vec();
                at.push(PathPart::Key(kv.key.as_str().to_owned().into()));
                flush(out, &mut found, &at);
            }
        }
    }

    /// The matched part of an attribute key that names a secret: header attributes are judged
    /// by the whole header name (which may contain dots), other attributes by their last
    /// segment (`db.password`).
    fn secret_key<'k>(&self, key: &'k str) -> Option<&'k str> {
        if self.clean_keys.binary_search(&key).is_ok() {
            return None;
        }
        secret_key(&self.secrets, key)
    }

    /// The scrubbed value, `None` when nothing changed; with `found`, notes the replacements
    /// (paths relative to the attribute).
    fn scrub_one(
        &self,
        key: &str,
        value: &Value,
        mut found: Option<&mut Vec<Scrubbed>>,
    ) -> Option<Value> {
        if let Some(matched) = self.secret_key(key) {
            // Noted also when the instrumentation already redacted it (`[REDACTED]`): Logfire's
            // UI shows where a value was scrubbed, whichever layer did it.
            if let Some(found) = found {
                note(found, Vec::new(), matched);
            }
            return scrub_whole(value, matched);
        }
        match value {
            Value::String(text) => self
                .string(key, text.as_str(), found)
                .map(|s| Value::String(s.into())),
            Value::Array(Array::String(items)) => {
                // Allocates only once an item changed (most arrays are one clean header value).
                let mut scrubbed: Option<Vec<StringValue>> = None;
                for (i, item) in items.iter().enumerate() {
                    let mut in_item = found.is_some().then(Vec::new);
                    let new = self.string(key, item.as_str(), in_item.as_mut());
                    if let (Some(found), Some(in_item)) = (found.as_deref_mut(), in_item) {
                        for n in in_item {
                            let mut path = vec![PathPart::Index(i)];
                            path.extend(n.path);
                            note(found, path, n.matched);
                        }
                    }
                    match (new, &mut scrubbed) {
                        (Some(new), None) => {
                            let mut copy: Vec<StringValue> = Vec::with_capacity(items.len());
                            copy.extend(items[..i].iter().cloned());
                            copy.push(new.into());
                            scrubbed = Some(copy);
                        }
                        (Some(new), Some(copy)) => copy.push(new.into()),
                        (None, Some(copy)) => copy.push(item.clone()),
                        (None, None) => {}
                    }
                }
                scrubbed.map(|items| Value::Array(items.into()))
            }
            _ => None,
        }
    }

    /// A string attribute value, scrubbed as its key says; `None` when nothing changed. With
    /// `found`, notes the replacements (paths relative to the value).
    fn string(&self, key: &str, text: &str, found: Option<&mut Vec<Scrubbed>>) -> Option<String> {
        let names = self.secrets.names();
        let scrubbed = match header_name(key) {
            Some(name) if secrets::is_url_header(name) => {
                secrets::redact_url_header(name, text, names, found)
            }
            None if is_url_key(key) => secrets::redact_url_noting(text, names, found),
            _ => self.text_noting(text, found),
        };
        match scrubbed {
            Cow::Owned(s) => Some(s),
            Cow::Borrowed(_) => None,
        }
    }

    /// Free text: the policy's text redaction, then the value patterns; with `found`, notes
    /// what was replaced (paths relative to the text; a value pattern is noted by its name).
    fn text_noting<'t>(
        &self,
        text: &'t str,
        mut found: Option<&mut Vec<Scrubbed>>,
    ) -> Cow<'t, str> {
        let names = self.secrets.names();
        let redacted = secrets::redact_text(text, names, &marker, found.as_deref_mut());
        self.values_noting(redacted, found)
    }

    /// The value patterns over `redacted`; with `found`, notes each replacement by the
    /// pattern's name.
    fn values_noting<'t>(
        &self,
        redacted: Cow<'t, str>,
        mut found: Option<&mut Vec<Scrubbed>>,
    ) -> Cow<'t, str> {
        let Some(values) = &self.values else {
            return redacted;
        };
        if redacted.len() < VALUE_MIN_LEN || !values.is_match(&redacted) {
            return redacted;
        }
        let replaced = values.replace_all(&redacted, |caps: &regex::Captures<'_>| {
            let which = (1..caps.len())
                .find(|&i| caps.get(i).is_some())
                .and_then(|i| VALUE_PATTERNS.get(i - 1))
                .map_or("secret", |(name, _)| name);
            if let Some(found) = found.as_deref_mut() {
                note(found, Vec::new(), which);
            }
            marker(which)
        });
        Cow::Owned(replaced.into_owned())
    }
}

/// See [`Scrubber::secret_key`].
fn secret_key<'k>(secrets: &Secrets, key: &'k str) -> Option<&'k str> {
    let name = header_name(key).unwrap_or_else(|| key.rsplit('.').next().unwrap_or(key));
    secrets.names().secret_part(name)
}

/// Attribute keys of the HTTP semantic conventions and of spanfire's own spans, judged once
/// when the stage is built rather than for every span (a user's pattern may still make one of
/// them a secret: `address`, say).
const KNOWN_KEYS: &[&str] = &[
    "error.type",
    "exception.message",
    "exception.type",
    "http.connection.state",
    "http.request.body.form",
    "http.request.body.size",
    "http.request.body.text",
    "http.request.method",
    "http.request.method_original",
    "http.request.resend_count",
    "http.response.body.size",
    "http.response.body.text",
    "http.response.status_code",
    "network.peer.address",
    "network.peer.port",
    "network.protocol.version",
    "server.address",
    "server.port",
    "spanfire.cancelled",
    "tls.next_protocol",
    "tls.protocol.name",
    "tls.protocol.version",
    "url.full",
    "url.scheme",
    "url.template",
    "user_agent.original",
];

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

/// One replacement made by the scrubbing stage, as Logfire records it in `logfire.scrubbed`:
/// the path of the replaced value (`["attributes", "<key>", <JSON keys and indices>…]`,
/// `["otel_events", i, "attributes", "<key>"]`, `["links", i, "attributes", "<key>"]`,
/// `["span_name"]`, `["otel_events", i, "name"]`, `["otel_status_message"]`) and the part of
/// the key that named a secret — or, for a secret found by its value, the name of the value
/// pattern (`jwt`, `bearer`, …), `userinfo` for URL credentials. Never the value. The secrets
/// module's redactions note what they replace; this stage puts their notes under the path of
/// the value they were in.
pub(crate) type Scrubbed = secrets::Found;

/// Moves the notes in `found` (relative paths) to `out`, under `base`.
fn flush(
    out: &mut Option<&mut Vec<Scrubbed>>,
    found: &mut Option<Vec<Scrubbed>>,
    base: &[PathPart],
) {
    let (Some(out), Some(found)) = (out.as_deref_mut(), found.as_mut()) else {
        return;
    };
    for n in found.drain(..) {
        let mut path = base.to_vec();
        path.extend(n.path);
        note(out, path, n.matched);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrubber() -> Scrubber {
        Scrubber::new(Secrets::default())
    }

    #[test]
    fn no_value_pattern_matches_a_text_shorter_than_the_minimum() {
        for (name, pattern) in VALUE_PATTERNS {
            let hir = regex_syntax::parse(pattern).unwrap();
            let shortest = hir.properties().minimum_len().unwrap();
            assert!(shortest >= VALUE_MIN_LEN, "{name}: {shortest}");
        }
        let jwt = "eyJa1b2.c3d4.";
        assert_eq!(jwt.len(), VALUE_MIN_LEN);
        assert_ne!(
            scrubbed("app.note", jwt.into()),
            Value::from(jwt),
            "the minimum is reached"
        );
    }

    #[test]
    fn string_arrays_are_scrubbed_item_by_item() {
        let list = |items: &[&'static str]| {
            let items: Vec<StringValue> = items.iter().map(|s| StringValue::from(*s)).collect();
            Value::Array(items.into())
        };
        let clean = list(&["a", "b"]);
        assert_eq!(scrubbed("app.list", clean.clone()), clean);
        let mixed = list(&["a", "token=abc", "b", "x=1"]);
        let want = list(&["a", "token=REDACTED", "b", "x=1"]);
        assert_eq!(scrubbed("app.list", mixed), want);
    }

    #[test]
    fn known_keys_are_judged_by_the_stage_policy() {
        let address = || [KeyValue::new("server.address", "example.com")];
        let mut kept = address();
        scrubber().scrub(&mut kept);
        assert_eq!(kept[0].value.as_str(), "example.com");
        let policy = Secrets::default().with_extra_patterns(["address"]).unwrap();
        let mut scrubbed = address();
        Scrubber::new(policy).scrub(&mut scrubbed);
        assert_eq!(scrubbed[0].value.as_str(), "[Scrubbed due to 'address']");
        let sorted = KNOWN_KEYS.windows(2).all(|w| w[0] < w[1]);
        assert!(sorted, "KNOWN_KEYS sorted, without duplicates");
        // known header keys too: secret ones stay secret, the others are kept
        let headers = || {
            [
                KeyValue::new("http.request.header.authorization", "Basic dTpw"),
                KeyValue::new("http.response.header.content-type", "text/plain"),
            ]
        };
        let mut attrs = headers();
        scrubber().scrub(&mut attrs);
        assert_eq!(attrs[0].value.as_str(), "[Scrubbed due to 'auth']");
        assert_eq!(attrs[1].value.as_str(), "text/plain");
        assert!(scrubber()
            .clean_keys
            .contains(&"http.response.header.content-type"));
        assert!(!scrubber()
            .clean_keys
            .contains(&"http.request.header.authorization"));
    }

    #[test]
    fn a_sealed_body_is_not_scanned_for_names_again_but_for_values() {
        use crate::capture::seal;
        // Not what the instrumentation would record (it redacts first): shows the skip.
        let text = r#"{"password":"hunter2","t":"eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"}"#;
        let body = |value: StringValue| KeyValue::new("http.response.body.text", value);
        // the seal and the very string it names (a clone is another string)
        let sealed = |policy: &Secrets| {
            let value = StringValue::from(text.to_owned());
            vec![seal::seal_for_tests(&value, policy), body(value)]
        };
        let scrub = |attributes: Vec<KeyValue>, noting: bool| {
            let mut span = crate::testing::span_data("GET", attributes, Status::Unset);
            if noting {
                scrubber().scrub_span_recording(&mut span);
            } else {
                scrubber().scrub_span(&mut span);
            }
            span.attributes
        };
        let mut attrs = sealed(&Secrets::default());
        attrs.push(body(StringValue::from(text.to_owned())));
        let out = scrub(attrs, false);
        assert_eq!(out.len(), 2, "the seal is removed: {out:?}");
        let jwt = r#""t":"[Scrubbed due to 'jwt']""#;
        let skipped = out[0].value.as_str();
        assert!(
            skipped.contains("hunter2") && skipped.contains(jwt),
            "{skipped}"
        );
        let copy = out[1].value.as_str();
        assert!(
            !copy.contains("hunter2") && copy.contains(jwt),
            "unsealed: {copy}"
        );
        // a policy under which the body's key itself names a secret: the whole value goes
        let by_key = Secrets::default().with_extra_patterns(["text"]).unwrap();
        let mut span = crate::testing::span_data("GET", sealed(&by_key), Status::Unset);
        Scrubber::new(by_key).scrub_span(&mut span);
        assert_eq!(span.attributes.len(), 1, "{:?}", span.attributes);
        assert_eq!(
            span.attributes[0].value.as_str(),
            "[Scrubbed due to 'text']"
        );
        for (attrs, noting, why) in [
            (sealed(&Secrets::none()), false, "another policy"),
            (sealed(&Secrets::default()), true, "notes wanted"),
        ] {
            let out = scrub(attrs, noting);
            let value = out.last().map(|kv| kv.value.as_str()).unwrap_or_default();
            assert!(!value.contains("hunter2"), "{why}: {value}");
            assert!(
                out.iter().all(|kv| kv.key.as_str() != seal::SEAL_ATTRIBUTE),
                "{why}"
            );
        }
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
        let mut span = crate::testing::span_data(
            "GET /u?token=T1",
            vec![KeyValue::new("app.password", "T2")],
            Status::error("failed for http://h/?api_key=T3"),
        );
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

    fn path(parts: &[&str]) -> Vec<PathPart> {
        parts
            .iter()
            .map(|p| match p.parse::<usize>() {
                Ok(n) => PathPart::Index(n),
                Err(_) => PathPart::Key(std::borrow::Cow::Owned((*p).to_owned())),
            })
            .collect()
    }

    fn notes(list: &[(&[&str], &str)]) -> Vec<Scrubbed> {
        list.iter()
            .map(|(p, m)| Scrubbed {
                path: path(p),
                matched: (*m).to_owned(),
            })
            .collect()
    }

    #[test]
    fn recording_notes_paths_and_matched_parts_never_values() {
        use opentelemetry::trace::Event;
        let arr = |v: &[&str]| {
            let items: Vec<StringValue> =
                v.iter().map(|s| StringValue::from(s.to_string())).collect();
            Value::Array(items.into())
        };
        let mut span = crate::testing::span_data(
            "POST",
            vec![
                KeyValue::new("app.password", "V1secret"),
                KeyValue::new(
                    "http.request.body.text",
                    r#"{"user":{"password":"V2secret"},"items":[{"a":1},{"api_key":"V3secret"}],"n":1}"#,
                ),
                KeyValue::new("http.request.header.x-api-key", arr(&["V4secret"])),
                KeyValue::new("http.request.header.authorization", arr(&["[REDACTED]"])),
                KeyValue::new(
                    "http.response.header.x-note",
                    arr(&["ok", "token=V5secret"]),
                ),
                KeyValue::new("url.full", "http://h/p?q=1&access_token=V6secret"),
                KeyValue::new(
                    "app.note",
                    "jwt eyJhbGciOi.eyJzdWIiOiIx.V7secret; Cookie: V8secret",
                ),
                KeyValue::new("http.response.body.text", r#"{"password":"[REDACTED]"}"#),
                KeyValue::new("app.clean", "nothing here"),
            ],
            Status::Unset,
        );
        span.events.events.push(Event::new(
            "exception",
            std::time::SystemTime::now(),
            vec![KeyValue::new(
                "exception.message",
                "login with secret=V9secret",
            )],
            0,
        ));
        span.status = Status::error("failed: password=V10secret");
        let before = span.clone();
        let got = scrubber().scrub_span_recording(&mut span);
        let want = notes(&[
            (&["attributes", "app.password"], "password"),
            (
                &["attributes", "http.request.body.text", "user", "password"],
                "password",
            ),
            (
                &[
                    "attributes",
                    "http.request.body.text",
                    "items",
                    "1",
                    "api_key",
                ],
                "api_key",
            ),
            (&["attributes", "http.request.header.x-api-key"], "api-key"),
            // already `[REDACTED]` by the instrumentation: listed, left as it is
            (&["attributes", "http.request.header.authorization"], "auth"),
            (&["attributes", "http.response.header.x-note", "1"], "token"),
            (&["attributes", "url.full"], "token"),
            (&["attributes", "app.note"], "Cookie"),
            (&["attributes", "app.note"], "jwt"),
            (
                &["attributes", "http.response.body.text", "password"],
                "password",
            ),
            (
                &["otel_events", "0", "attributes", "exception.message"],
                "secret",
            ),
            (&["otel_status_message"], "password"),
        ]);
        assert_eq!(got, want);
        let listed = format!("{got:?}");
        for n in 1..=10 {
            let value = format!("V{n}secret");
            assert!(!listed.contains(&value), "{value} in {listed}");
            assert!(!format!("{span:?}").contains(&value), "{value} in the span");
        }
        // recording changes nothing about the scrubbing itself
        let mut plain = before;
        scrubber().scrub_span(&mut plain);
        assert_eq!(format!("{plain:?}"), format!("{span:?}"));
    }

    #[test]
    fn recording_tracks_json_paths_in_cut_and_nested_text() {
        let cases: [(&str, Vec<Scrubbed>); 5] = [
            (
                r#"{"a":{"secret":"abc...[truncated]"#,
                notes(&[(&["a", "secret"], "secret")]),
            ),
            (
                r#"[{"x":[1,2]},{"token":{"deep":1}},{"y":{"pwd":"p"}}]"#,
                notes(&[(&["1", "token"], "token"), (&["2", "y", "pwd"], "pwd")]),
            ),
            (
                // a string holding `"secret": value` is scanned as the JSON it may be
                r#"{"q":"has \"password\": inside","n":{"passwd":1}}"#,
                notes(&[
                    (&["q", "password"], "password"),
                    (&["n", "passwd"], "passwd"),
                ]),
            ),
            (
                r#"{"api\u005fkey":"k","ok":"token=[REDACTED]"}"#,
                notes(&[(&["api_key"], "api_key")]),
            ),
            (
                r#"log line "password": "p" and key=1"#,
                notes(&[(&["password"], "password"), (&[], "key")]),
            ),
        ];
        for (text, want) in cases {
            let mut found = Vec::new();
            let out = scrubber().text_noting(text, Some(&mut found));
            assert!(matches!(out, Cow::Owned(_)), "{text}");
            assert_eq!(found, want, "{text}");
        }
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
