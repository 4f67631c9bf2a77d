//! The export scrubber of `configure()` over arbitrary attributes, and over JSON bodies, forms
//! and URLs built from arbitrary keys, in which every value under a secret key is a marked
//! secret.
//!
//! Checked: no panic; scrubbing twice changes nothing; no marked secret reaches the output.
//!
//! - One attribute of arbitrary key and value: a header attribute
//!   (`http.request.header.<name>`) is judged by its whole header name, dots included
//!   (`x-jwt.v2`), any other by its last dot-separated segment (`db.password`); a secret one
//!   becomes exactly `[Scrubbed due to '<matched>']` (unless it is `[REDACTED]`), and any other
//!   attribute that is not a body or `url.full` is left as it is.
//! - JSON (compact or pretty, an object or an array holding it, with strings, numbers,
//!   literals, arrays and objects nested at any depth): the output is exactly the same JSON in
//!   which the whole value of every secret key, at any depth, is the string
//!   `[Scrubbed due to '<matched>']` — everything else, whitespace included, unchanged.
//! - JSON cut as a capture limit cuts it: no secret; without the truncation marker, the output
//!   is a prefix of the scrubbed whole (whitespace aside); without secret keys, unchanged.
//! - Forms and URL queries: the value of each secret key is the marker, every other pair is
//!   unchanged.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use opentelemetry::{KeyValue, Value};
use spanfire::__fuzz::scrub;
use spanfire::{DEFAULT_SCRUB_PATTERNS, TRUNCATION_MARKER};

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
            Key::Raw(s) => without_secret(s),
        }
    }
}

/// `text` with no `SECRET` left in it (removing one can join the halves of another).
fn without_secret(text: &str) -> String {
    let mut text = text.to_owned();
    while text.contains(SECRET) {
        text = text.replace(SECRET, "");
    }
    text
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
                    let secret = secret || secret_match(&key).is_some();
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
                    let v = match secret_match(k) {
                        Some(m) => J::String(marker(m)),
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
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(k, v)| secret_match(k).is_some() || has_secret_key(v)),
        serde_json::Value::Array(items) => items.iter().any(has_secret_key),
        _ => false,
    }
}

fn scrubbed(key: &str, value: &str) -> String {
    let mut attrs = [KeyValue::new(key.to_owned(), value.to_owned())];
    scrub(&mut attrs);
    match &attrs[0].value {
        Value::String(s) => s.as_str().to_owned(),
        other => panic!("scrubbing changed the type: {other:?}"),
    }
}

fn marker(matched: &str) -> String {
    format!("[Scrubbed due to '{matched}']")
}

/// What a default pattern matches (case-insensitively, in the Unicode sense) in the bare name
/// `name` (a JSON key, a query or form key, a header name), if `name` is a secret.
fn secret_match(name: &str) -> Option<&str> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::RegexBuilder::new(&DEFAULT_SCRUB_PATTERNS.join("|"))
            .case_insensitive(true)
            .build()
            .unwrap()
    });
    if name.eq_ignore_ascii_case("access-control-allow-credentials") {
        return None;
    }
    re.find(name).map(|m| m.as_str())
}

/// The name an attribute key is judged by: a header attribute's whole header name, else the
/// key's last dot-separated segment.
fn attribute_name(key: &str) -> &str {
    ["http.request.header.", "http.response.header."]
        .iter()
        .find_map(|prefix| key.strip_prefix(prefix))
        .unwrap_or_else(|| key.rsplit('.').next().unwrap_or(key))
}

fn check_attribute(key: &str, value: &str) {
    let once = scrubbed(key, value);
    assert_eq!(scrubbed(key, &once), once, "idempotent");
    let text_attribute = key == "url.full"
        || key.starts_with("http.request.body.")
        || key.starts_with("http.response.body.");
    let want = match secret_match(attribute_name(key)) {
        Some(_) if value == "[REDACTED]" => value.to_owned(),
        Some(m) => marker(m),
        None if text_attribute => return,
        None => value.to_owned(),
    };
    assert_eq!(
        once, want,
        "attribute {key:?} = {value:?}: expected {want:?}, got {once:?}"
    );
}

/// `query` (`k=v&k2=v2` as url-encoded from `pairs`) as the scrubber must leave it.
fn scrubbed_pairs(query: &str, pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return query.to_owned();
    }
    let pieces: Vec<&str> = query.split('&').collect();
    assert_eq!(pieces.len(), pairs.len(), "{query:?} holds {pairs:?}");
    pieces
        .iter()
        .zip(pairs)
        .map(|(piece, (k, _))| match secret_match(k) {
            Some(m) => {
                let (encoded_key, _) = piece.split_once('=').expect("k=v");
                format!(
                    "{encoded_key}={}",
                    marker(secret_match(encoded_key).unwrap_or(m))
                )
            }
            None => (*piece).to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// What the scrubbed text must be, beyond holding no secret.
enum Expect {
    Exactly(String),
    /// A prefix of this text, whitespace aside (JSON cut without the marker: the value of a
    /// secret key cut short is the whole marker, the whitespace after its colon may be cut).
    PrefixOf(String),
    /// Nothing more (JSON cut and followed by the truncation marker).
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
            let v = without_secret(v);
            let v = if secret_match(&k).is_some() {
                format!("{SECRET}{v}")
            } else {
                v
            };
            (k, v)
        })
        .collect();
    let (key, text, expect) = match &input.shape {
        Shape::Json { pretty, wrap, cut } => {
            let object: serde_json::Map<String, serde_json::Value> = input
                .pairs
                .iter()
                .enumerate()
                .map(|(i, (k, v))| {
                    let k = k.text();
                    let nest = input.nesting.get(i).unwrap_or(&Nest::Text);
                    let secret = secret_match(&k).is_some();
                    let v = json_value(nest, &without_secret(v), secret);
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
                None => ("http.request.body.text", text, Expect::Exactly(want)),
                Some(cut) => {
                    let mut at = usize::from(cut.at) % (text.len() + 1);
                    while !text.is_char_boundary(at) {
                        at -= 1;
                    }
                    let mut text = text[..at].to_owned();
                    if cut.marker {
                        text.push_str(TRUNCATION_MARKER);
                    }
                    let expect = if !has_secret_key(&value) {
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
            let want = scrubbed_pairs(&text, &pairs);
            ("http.request.body.text", text, Expect::Exactly(want))
        }
        Shape::Url => {
            let mut url = url::Url::parse("http://127.0.0.1:1/p").unwrap();
            url.query_pairs_mut().extend_pairs(&pairs);
            let text = url.to_string();
            let (base, query) = text.split_once('?').expect("a query");
            let want = format!("{base}?{}", scrubbed_pairs(query, &pairs));
            ("url.full", text, Expect::Exactly(want))
        }
    };
    let out = scrubbed(key, &text);
    assert!(
        !out.contains(SECRET),
        "a secret survived: {text:?} -> {out:?}"
    );
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
    assert_eq!(scrubbed(key, &out), out, "idempotent");
});
