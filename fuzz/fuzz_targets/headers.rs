//! Header capture and sanitising: `http.request.header.<name>` attributes from arbitrary header
//! names and values (non-UTF-8 and control bytes included), then the export scrubber over them.
//!
//! Checked: no panic; one attribute per distinct name, keyed by the lowercase name; one string
//! per value, in order; a name containing a sensitive part (`access-control-allow-credentials`
//! excepted) records only `[REDACTED]`; any other name records its values (lossily decoded)
//! unchanged; after scrubbing, `[REDACTED]` is left as it is, every other value of a header
//! whose whole name (dots included: `x-api.key`) matches a scrub pattern is exactly the marker
//! `[Scrubbed due to '<matched>']`, and every value of any other header is unchanged.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use spanfire::__fuzz::{capture_headers, header_is_sensitive, scrub};
use spanfire::{DEFAULT_SCRUB_PATTERNS, DEFAULT_SENSITIVE_HEADER_PARTS, REDACTED_HEADER_VALUE};

/// Names a client really sends, so that inputs reach the interesting branches quickly.
const NAMES: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
    "access-control-allow-credentials",
    "content-type",
    "traceparent",
    "x-custom",
    "x-amz-security-token",
    "x-csrf-token",
    "x-jwt-assertion",
    "x-client-credentials",
    // Dotted names: the scrubber judges the whole header name, not its last segment.
    "x-jwt.v2",
    "x-api.key",
    "x-private.key.v1",
    "x-ssn.last4",
];

#[derive(Arbitrary, Debug)]
enum Name {
    Known {
        index: u8,
        upper: bool,
    },
    Affixed {
        prefix: String,
        index: u8,
        suffix: String,
    },
    Raw(Vec<u8>),
}

impl Name {
    fn bytes(&self) -> Vec<u8> {
        let known = |i: &u8| NAMES[usize::from(*i) % NAMES.len()];
        match self {
            Name::Known { index, upper } if *upper => {
                known(index).to_ascii_uppercase().into_bytes()
            }
            Name::Known { index, .. } => known(index).as_bytes().to_vec(),
            Name::Affixed {
                prefix,
                index,
                suffix,
            } => format!("{prefix}{}{suffix}", known(index)).into_bytes(),
            Name::Raw(bytes) => bytes.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    headers: Vec<(Name, Vec<u8>)>,
}

fuzz_target!(|input: Input| {
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = input
        .headers
        .iter()
        .map(|(n, v)| (n.bytes(), v.clone()))
        .collect();
    // What a client could send: the pairs `http` accepts, grouped by lowercase name.
    let mut sent: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for (name, value) in &pairs {
        if let (Ok(n), Ok(_)) = (
            http::HeaderName::from_bytes(name),
            http::HeaderValue::from_bytes(value),
        ) {
            sent.entry(n.as_str().to_owned())
                .or_default()
                .push(value.clone());
        }
    }
    let captured = capture_headers(&pairs);
    assert_eq!(captured.len(), sent.len(), "one attribute per name");
    let mut attributes = Vec::new();
    for (key, values) in &captured {
        let name = key
            .strip_prefix("http.request.header.")
            .unwrap_or_else(|| panic!("unexpected key {key:?}"));
        let raw = sent
            .get(name)
            .unwrap_or_else(|| panic!("{name:?} was not sent"));
        assert_eq!(values.len(), raw.len(), "one string per value of {name:?}");
        let is_sensitive = name != "access-control-allow-credentials"
            && DEFAULT_SENSITIVE_HEADER_PARTS
                .iter()
                .any(|p| name.contains(p));
        assert_eq!(header_is_sensitive(name), is_sensitive, "{name:?}");
        for (value, raw) in values.iter().zip(raw) {
            if is_sensitive {
                assert_eq!(value, REDACTED_HEADER_VALUE, "{name:?} leaked");
            } else {
                assert_eq!(*value, String::from_utf8_lossy(raw), "{name:?} altered");
            }
        }
        let array: Vec<StringValue> = values.iter().map(|v| v.clone().into()).collect();
        attributes.push(KeyValue::new(
            key.clone(),
            Value::Array(Array::String(array)),
        ));
    }
    scrub(&mut attributes);
    for (kv, (_, before)) in attributes.iter().zip(&captured) {
        let Value::Array(Array::String(after)) = &kv.value else {
            panic!("scrubbing changed the type of {}", kv.key);
        };
        assert_eq!(after.len(), before.len(), "{}", kv.key);
        let name = &kv.key.as_str()["http.request.header.".len()..];
        let matched = scrub_match(name);
        let all_redacted = before.iter().all(|b| b == REDACTED_HEADER_VALUE);
        for (a, b) in after.iter().zip(before) {
            let a = a.as_str();
            let want = match matched {
                Some(m) if !all_redacted => format!("[Scrubbed due to '{m}']"),
                _ => b.clone(),
            };
            // A client's own literal `[REDACTED]` among other values of a secret header may be
            // scrubbed with them or kept: either way nothing leaks.
            let literal_redacted = b == REDACTED_HEADER_VALUE && a == b;
            assert!(
                a == want || literal_redacted,
                "header {name:?}, values {before:?}: expected {want:?} for {b:?}, got {a:?}"
            );
        }
    }
});

/// What the scrubber's default patterns match in the whole header name, if it is a secret.
fn scrub_match(name: &str) -> Option<&str> {
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
