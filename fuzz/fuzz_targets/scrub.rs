//! configure()'s scrubber over arbitrary attributes, and over JSON bodies, forms and URLs built
//! from arbitrary keys, in which every value under a secret key is a marked secret.
//!
//! Checked: no panic; a captured body's seal changes nothing (configure()'s stage makes of the
//! sealed body what it makes of the same text unsealed); scrubbing twice changes nothing (but where
//! `common::PAIR_SCANNER_PASSES_OVER_PAIRS`, a known bug, applies); no marked secret reaches
//! the output.
//!
//! - One attribute of arbitrary key and value: a header attribute
//!   (`http.request.header.<name>`) is judged by its whole header name, dots included
//!   (`x-jwt.v2`), any other by its last dot-separated segment (`db.password`); a secret one
//!   becomes exactly `[Scrubbed due to '<matched>']` (unless it is `[REDACTED]`), where the
//!   matched part is a piece of the name that is itself a secret; URL attributes (`url.full`,
//!   `url.original`, `http.url`, URL-valued headers) are exactly what `Secrets::redact_url`
//!   makes of them (`link`: each `<URL>`); any other string without a `"` (so that the JSON
//!   markers, which differ, play no part) is exactly the policy's `redact_text` followed by the
//!   value patterns (JWTs, bearer tokens, AWS key ids, private keys).
//! - JSON (compact or pretty, an object or an array holding it, with strings, numbers,
//!   literals, arrays and objects nested at any depth): when the text gives the free-text
//!   passes nothing to do but the values of keys (no `=`, no `://`, no `Name: value`, no
//!   string holding JSON of its own, no value pattern), the output is
//!   exactly the same JSON in which the whole value of every secret key, at any depth, is the
//!   string `[Scrubbed due to '<matched>']` — everything else, whitespace included, unchanged.
//! - JSON cut as a capture limit cuts it: no secret; under the same condition, without the
//!   truncation marker, the output is a prefix of the scrubbed whole (whitespace aside), and
//!   without secret keys the text is unchanged.
//! - Forms as text: the value of each pair whose key (as the free-text scanner delimits it, see
//!   `scrubbed_form`) is a secret is `REDACTED`, every other pair is unchanged, then the value
//!   patterns.
//! - URL queries (`url.full`): the value of each secret key is `REDACTED`, every other pair is
//!   unchanged.
//!
//! Dropped by design: "any attribute that is not a body or `url.full` is left as it is" (every
//! string now goes through the free-text redaction and the value patterns, URL attributes
//! through the URL redaction), "JSON is exactly the scrubbed JSON" for texts that hold `=`,
//! `://` or `Name: value` (the free-text passes also run over JSON and may redact inside
//! strings and keys, and inside strings that hold JSON: only "no secret" and idempotence are
//! left there), and the marker in forms
//! and URLs (`key=value` text and URLs now get `REDACTED`, so they stay forms and URLs).
#![no_main]

mod common;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use opentelemetry::{KeyValue, Value};
use spanfire::__fuzz::{scrub, scrub_captured_body};
use spanfire::TRUNCATION_MARKER;

use common::{
    form_decode, has_value_pattern, is_secret_key, is_url_header, marker, model_redact_url,
    only_json_pass, passes_over_pairs, redact_url_header, replace_value_patterns, secret_part,
    secrets, without,
};

const SECRET: &str = "S3CR3T";
const KEYS: &[&str] = &[
    "password",
    "token",
    "api_key",
    "apiKey",
    "secret",
    "user",
    "q",
    "session_id",
    "n",
    "data",
    "access-control-allow-credentials",
    "password.old",
    ":api_key",
    "sig",
    "x-sig",
    "key",
    "monkey",
    "author",
];

#[derive(Arbitrary, Debug)]
enum Key {
    Known(u8),
    Raw(String),
}

impl Key {
    fn text(&self) -> String {
        match self {
            Key::Known(i) => KEYS[usize::from(*i) % KEYS.len()].to_owned(),
            Key::Raw(s) => without(s, SECRET),
        }
    }
}

/// The key of the one arbitrary attribute.
#[derive(Arbitrary, Debug)]
enum AttrKey {
    Raw(String),
    /// `http.{request,response}.header.<prefix><key>[.<suffix>]`.
    Header {
        response: bool,
        prefix: String,
        key: Key,
        dot: bool,
        suffix: String,
    },
    /// `<prefix>.<key><suffix>`.
    Dotted {
        prefix: String,
        key: Key,
        suffix: String,
    },
}

impl AttrKey {
    fn text(&self) -> String {
        match self {
            AttrKey::Raw(s) => s.clone(),
            AttrKey::Header {
                response,
                prefix,
                key,
                dot,
                suffix,
            } => {
                let direction = if *response { "response" } else { "request" };
                let dot = if *dot { "." } else { "" };
                format!(
                    "http.{direction}.header.{prefix}{}{dot}{suffix}",
                    key.text()
                )
            }
            AttrKey::Dotted {
                prefix,
                key,
                suffix,
            } => format!("{prefix}.{}{suffix}", key.text()),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Shape {
    /// A JSON object, as `serde_json::to_string` (or `to_string_pretty`) writes it; `wrap`
    /// puts it in an array; `cut` cuts the text the way a capture limit does.
    Json {
        pretty: bool,
        wrap: bool,
        cut: Option<Cut>,
    },
    /// `k=v&k2=v2`, url-encoded.
    Form,
    /// A URL whose query holds the pairs.
    Url,
}

#[derive(Arbitrary, Debug)]
struct Cut {
    /// Where, modulo the length plus one, moved back to a character boundary.
    at: u16,
    /// Whether the truncation marker follows, as in a captured body.
    marker: bool,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// One attribute of arbitrary key and value.
    key: AttrKey,
    value: String,
    shape: Shape,
    pairs: Vec<(Key, String)>,
    /// JSON shapes only: the shape of each pair's value (a string when missing).
    nesting: Vec<Nest>,
}

#[derive(Arbitrary, Debug)]
enum Nest {
    Text,
    Number(u32),
    /// `null`, `true` or `false`.
    Literal(u8),
    Array(Vec<Nest>),
    Object(Vec<(Key, Nest)>),
}

fn is_secret(name: &str) -> bool {
    secret_part(name).is_some()
}

/// A JSON value of shape `nest` made from `text`: every string in it is a marked secret when
/// it is under a secret key (`secret`), at any depth.
fn json_value(nest: &Nest, text: &str, secret: bool) -> serde_json::Value {
    use serde_json::Value as J;
    match nest {
        Nest::Text if secret => J::String(format!("{SECRET}{text}")),
        Nest::Text => J::String(text.to_owned()),
        Nest::Number(n) => J::from(*n),
        Nest::Literal(l) => [J::Null, J::Bool(true), J::Bool(false)][usize::from(*l) % 3].clone(),
        Nest::Array(items) => J::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| json_value(item, &format!("{text}{i}"), secret))
                .collect(),
        ),
        Nest::Object(entries) => J::Object(
            entries
                .iter()
                .map(|(key, item)| {
                    let key = key.text();
                    let secret = secret || is_secret(&key);
                    let value = json_value(item, text, secret);
                    (key, value)
                })
                .collect(),
        ),
    }
}

/// `value` as the scrubber must leave it: the whole value of every secret key, at any depth,
/// replaced by the marker.
fn scrubbed_json(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        J::Object(map) => J::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match secret_part(k) {
                        Some(m) => J::String(marker(&m)),
                        None => scrubbed_json(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        J::Array(items) => J::Array(items.iter().map(scrubbed_json).collect()),
        other => other.clone(),
    }
}

fn has_secret_key(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => {
            map.iter().any(|(k, v)| is_secret(k) || has_secret_key(v))
        }
        serde_json::Value::Array(items) => items.iter().any(has_secret_key),
        _ => false,
    }
}

/// Whether only the JSON pass can act on `text`: no `key=value`, no `scheme://`, no
/// `Name: value` (a `": "` after a closing quote, as pretty JSON writes it, has no name), no
/// value pattern.
fn json_only(text: &str) -> bool {
    only_json_pass(text) && !has_value_pattern(text)
}

fn scrubbed(key: &str, value: &str) -> String {
    let mut attrs = [KeyValue::new(key.to_owned(), value.to_owned())];
    scrub(&mut attrs);
    match &attrs[0].value {
        Value::String(s) => s.as_str().to_owned(),
        other => panic!("scrubbing changed the type: {other:?}"),
    }
}

/// The name an attribute key is judged by: a header attribute's whole header name, else the
/// key's last dot-separated segment.
fn attribute_name(key: &str) -> &str {
    header_name(key).unwrap_or_else(|| key.rsplit('.').next().unwrap_or(key))
}

fn header_name(key: &str) -> Option<&str> {
    ["http.request.header.", "http.response.header."]
        .iter()
        .find_map(|prefix| key.strip_prefix(prefix))
}

/// A body the instrumentation captured and redacted is sealed: configure()'s stage then skips
/// its name-based passes. That must change nothing: the stage makes of the sealed body exactly
/// what it makes of the same text unsealed.
/// Also with a JWT appended, so that the value patterns, which still run on sealed bodies, are
/// always exercised.
fn seal_changes_nothing(text: &str) {
    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
    for text in [text.to_owned(), format!("{text} {JWT}")] {
        let (sealed, unsealed) = scrub_captured_body(&text);
        assert_eq!(sealed, unsealed, "sealed vs unsealed body for {text:?}");
    }
}

fn check_attribute(key: &str, value: &str) {
    seal_changes_nothing(value);
    let once = scrubbed(key, value);
    if !passes_over_pairs(value) && !passes_over_pairs(&once) {
        assert_eq!(scrubbed(key, &once), once, "idempotent");
    }
    let want = match secret_part(attribute_name(key)) {
        Some(_) if value == "[REDACTED]" => value.to_owned(),
        Some(m) => marker(&m),
        None => match header_name(key) {
            Some(name) if is_url_header(name) => redact_url_header(name, value),
            None if matches!(key, "url.full" | "url.original" | "http.url") => {
                secrets().redact_url(value).into_owned()
            }
            _ if !value.contains('"') => replace_value_patterns(&secrets().redact_text(value)),
            _ => return,
        },
    };
    assert_eq!(
        once, want,
        "attribute {key:?} = {value:?}: expected {want:?}, got {once:?}"
    );
}

/// A url-encoded form (`k=v&k2=v2` from `pairs`, as `form_urlencoded` writes it) as the
/// free-text redaction must leave it: a pair's key is what precedes its `=` back to a byte that
/// no key holds — `&` (form encoding leaves `*` as it is, and `*` belongs to keys:
/// `token*=…`) — and the (non-empty) value of a pair whose decoded key is a secret becomes
/// `REDACTED`.
fn scrubbed_form(form: &str, pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return form.to_owned();
    }
    let pieces: Vec<&str> = form.split('&').collect();
    assert_eq!(pieces.len(), pairs.len(), "{form:?} holds {pairs:?}");
    let redacted: Vec<String> = pieces
        .iter()
        .map(|piece| {
            let (key, value) = piece.split_once('=').expect("k=v");
            let judged = key;
            let secret = !judged.is_empty()
                && !value.is_empty()
                && !value.starts_with("REDACTED")
                && secrets().is_secret(&form_decode(judged));
            if secret {
                format!("{key}=REDACTED")
            } else {
                (*piece).to_owned()
            }
        })
        .collect();
    replace_value_patterns(&redacted.join("&"))
}

/// What the scrubbed text must be, beyond holding no secret.
enum Expect {
    Exactly(String),
    /// A prefix of this text, whitespace aside (JSON cut without the marker: the value of a
    /// secret key cut short is the whole marker, the whitespace after its colon may be cut).
    PrefixOf(String),
    /// Nothing more.
    NoSecret,
}

/// `text` without ASCII whitespace.
fn squash(text: &str) -> String {
    text.chars().filter(|c| !c.is_ascii_whitespace()).collect()
}

fuzz_target!(|input: Input| {
    check_attribute(&input.key.text(), &input.value);

    let pairs: Vec<(String, String)> = input
        .pairs
        .iter()
        .map(|(k, v)| {
            let k = k.text();
            let v = without(v, SECRET);
            let v = if is_secret(&k) {
                format!("{SECRET}{v}")
            } else {
                v
            };
            (k, v)
        })
        .collect();
    // Whether every marked secret must be gone.
    let no_secret = true;
    let (key, text, expect) = match &input.shape {
        Shape::Json { pretty, wrap, cut } => {
            let object: serde_json::Map<String, serde_json::Value> = input
                .pairs
                .iter()
                .enumerate()
                .map(|(i, (k, v))| {
                    let k = k.text();
                    let nest = input.nesting.get(i).unwrap_or(&Nest::Text);
                    let secret = is_secret(&k);
                    let v = json_value(nest, &without(v, SECRET), secret);
                    (k, v)
                })
                .collect();
            let mut value = serde_json::Value::Object(object);
            if *wrap {
                value = serde_json::Value::Array(vec![value]);
            }
            let to_text = |v: &serde_json::Value| {
                if *pretty {
                    serde_json::to_string_pretty(v).unwrap()
                } else {
                    serde_json::to_string(v).unwrap()
                }
            };
            let text = to_text(&value);
            let want = to_text(&scrubbed_json(&value));
            match cut {
                None if json_only(&text) => ("http.request.body.text", text, Expect::Exactly(want)),
                None => ("http.request.body.text", text, Expect::NoSecret),
                Some(cut) => {
                    let mut at = usize::from(cut.at) % (text.len() + 1);
                    while !text.is_char_boundary(at) {
                        at -= 1;
                    }
                    let mut text = text[..at].to_owned();
                    if cut.marker {
                        text.push_str(TRUNCATION_MARKER);
                    }
                    let expect = if !json_only(&text) {
                        Expect::NoSecret
                    } else if !has_secret_key(&value) {
                        Expect::Exactly(text.clone())
                    } else if cut.marker {
                        Expect::NoSecret
                    } else {
                        Expect::PrefixOf(want)
                    };
                    ("http.response.body.text", text, expect)
                }
            }
        }
        Shape::Form => {
            let text = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&pairs)
                .finish();
            let want = scrubbed_form(&text, &pairs);
            ("http.request.body.text", text, Expect::Exactly(want))
        }
        Shape::Url => {
            let mut url = url::Url::parse("http://127.0.0.1:1/p").unwrap();
            url.query_pairs_mut().extend_pairs(&pairs);
            let text = url.to_string();
            let want = model_redact_url(&text, &|k| is_secret_key(secrets(), k)).out;
            ("url.full", text, Expect::Exactly(want))
        }
    };
    let out = scrubbed(key, &text);
    seal_changes_nothing(&text);
    if no_secret {
        assert!(
            !out.contains(SECRET),
            "a secret survived: {text:?} -> {out:?}"
        );
    }
    match expect {
        Expect::Exactly(want) => assert_eq!(
            out, want,
            "{key} = {text:?}: expected {want:?}, got {out:?}"
        ),
        Expect::PrefixOf(whole) => assert!(
            squash(&whole).starts_with(&squash(&out)),
            "cut JSON {text:?}: expected a prefix of {whole:?}, got {out:?}"
        ),
        Expect::NoSecret => {}
    }
    if !passes_over_pairs(&text) && !passes_over_pairs(&out) {
        assert_eq!(scrubbed(key, &out), out, "idempotent");
    }
});
