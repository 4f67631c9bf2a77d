//! The export scrubber of `configure()` over arbitrary attributes, and over JSON bodies, forms
//! and URLs built from arbitrary keys, in which every value under a secret key is a marked
//! secret.
//!
//! Checked: no panic; scrubbing twice changes nothing; no marked secret reaches the output; a
//! body without secret keys is left as it is.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use opentelemetry::{KeyValue, Value};
use spanfire::__fuzz::scrub;

const SECRET: &str = "S3CR3T";
const KEYS: &[&str] = &[
    "password", "token", "api_key", "apiKey", "secret", "user", "q", "session_id", "n",
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
            Key::Raw(s) => s.replace(SECRET, ""),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Shape {
    /// A compact JSON object, as `serde_json::to_string` writes it.
    Json,
    /// The same object pretty-printed.
    PrettyJson,
    /// `k=v&k2=v2`, url-encoded.
    Form,
    /// A URL whose query holds the pairs.
    Url,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// One attribute of arbitrary key and value: must not panic, must be idempotent.
    key: String,
    value: String,
    shape: Shape,
    pairs: Vec<(Key, String)>,
}

fn scrubbed(key: &str, value: &str) -> String {
    let mut attrs = [KeyValue::new(key.to_owned(), value.to_owned())];
    scrub(&mut attrs);
    match &attrs[0].value {
        Value::String(s) => s.as_str().to_owned(),
        other => panic!("scrubbing changed the type: {other:?}"),
    }
}

/// Whether the scrubber takes `key` for a secret: a default pattern matches (case-insensitively,
/// in the Unicode sense) its last dot-separated segment.
fn secret_key(key: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::RegexBuilder::new(&spanfire::DEFAULT_SCRUB_PATTERNS.join("|"))
            .case_insensitive(true)
            .build()
            .unwrap()
    });
    let last = key.rsplit('.').next().unwrap_or(key);
    re.is_match(last) && !last.eq_ignore_ascii_case("access-control-allow-credentials")
}

fuzz_target!(|input: Input| {
    let once = scrubbed(&input.key, &input.value);
    assert_eq!(scrubbed(&input.key, &once), once, "idempotent");

    let pairs: Vec<(String, String)> = input
        .pairs
        .iter()
        .map(|(k, v)| {
            let k = k.text();
            let v = if secret_key(&k) {
                format!("{SECRET}{}", v.replace(SECRET, ""))
            } else {
                v.replace(SECRET, "")
            };
            (k, v)
        })
        .collect();
    let any_secret = pairs.iter().any(|(k, _)| secret_key(k));
    let (key, text) = match input.shape {
        Shape::Json | Shape::PrettyJson => {
            let object: serde_json::Map<String, serde_json::Value> = pairs
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            let text = if matches!(input.shape, Shape::Json) {
                serde_json::to_string(&object).unwrap()
            } else {
                serde_json::to_string_pretty(&object).unwrap()
            };
            ("http.request.body.text", text)
        }
        Shape::Form => {
            let text = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&pairs)
                .finish();
            ("http.request.body.text", text)
        }
        Shape::Url => {
            let mut url = url::Url::parse("http://127.0.0.1:1/p").unwrap();
            url.query_pairs_mut().extend_pairs(&pairs);
            ("url.full", url.to_string())
        }
    };
    let out = scrubbed(key, &text);
    assert!(!out.contains(SECRET), "a secret survived: {text:?} -> {out:?}");
    if !any_secret {
        assert_eq!(out, text, "nothing secret, nothing changed");
    }
    assert_eq!(scrubbed(key, &out), out, "idempotent");
});
