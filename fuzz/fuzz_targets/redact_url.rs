//! `spanfire::redact_url` on arbitrary text and arbitrary keys.
//!
//! Checked for every input: no panic; the output is exactly what the semantic conventions ask
//! for, as `expected` below spells it out (credentials only in the authority of a text that
//! starts with `scheme://`, never in a `://` further on, say in a query value; the values of
//! sensitive query keys; nothing else); nothing to redact means the input comes back borrowed;
//! redacting twice changes nothing.
//!
//! Checked for every input that the `url` crate parses (what a request's `url.full` really is):
//! the output still parses to the same scheme, host, port, path and fragment; the userinfo is
//! `REDACTED:REDACTED` exactly when there were credentials; the query keeps its pairs in order,
//! byte for byte, except that the values of sensitive keys are `REDACTED`.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use spanfire::{redact_url, DEFAULT_SENSITIVE_QUERY_KEYS};

#[derive(Arbitrary, Debug)]
struct Input {
    url: String,
    /// Keys of the caller's own; the defaults when empty.
    keys: Vec<String>,
}

fuzz_target!(|input: Input| {
    let keys: Vec<&str> = if input.keys.is_empty() {
        DEFAULT_SENSITIVE_QUERY_KEYS.to_vec()
    } else {
        input.keys.iter().map(String::as_str).collect()
    };
    check_text(&input.url, &keys);
    if let Ok(parsed) = url::Url::parse(&input.url) {
        check_text(parsed.as_str(), &keys);
        check_url(&parsed, &keys);
    }
});

fn sensitive(key: &str, keys: &[&str]) -> bool {
    keys.iter().any(|k| k.eq_ignore_ascii_case(key))
}

/// What redact_url must return for `text`, read as `base[?query][#fragment]`: the query after
/// the first `?` that comes before the first `#`, the fragment from the first `#`. With it,
/// whether there is anything to redact (a userinfo, a sensitive query key), which is when
/// redact_url may allocate.
fn expected(text: &str, keys: &[&str]) -> (String, bool) {
    let (before_fragment, fragment) = text.split_at(text.find('#').unwrap_or(text.len()));
    let (base, query) = match before_fragment.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (before_fragment, None),
    };
    let (mut out, mut touched) = expected_base(base);
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| {
                let (k, value) = match pair.split_once('=') {
                    Some((k, v)) => (k, Some(v)),
                    None => (pair, None),
                };
                // A sensitive key without `=` has nothing to redact, but redact_url rebuilds
                // the query (unchanged) for it all the same: allowed to allocate then.
                touched |= sensitive(k, keys);
                match value {
                    Some(_) if sensitive(k, keys) => format!("{k}=REDACTED"),
                    _ => pair.to_owned(),
                }
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    out.push_str(fragment);
    (out, touched)
}

/// `base` (no `?`, no `#`) with its userinfo redacted: only when it starts with `scheme://`
/// (RFC 3986: a letter, then letters, digits, `+`, `-`, `.`), the userinfo being what comes
/// before the last `@` of the authority (up to the first `/`), when that is not empty.
fn expected_base(base: &str) -> (String, bool) {
    let Some((scheme, rest)) = base.split_once("://") else {
        return (base.to_owned(), false);
    };
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) if is_scheme && at > 0 => {
            (format!("{scheme}://REDACTED:REDACTED{}", &rest[at..]), true)
        }
        _ => (base.to_owned(), false),
    }
}

fn check_text(text: &str, keys: &[&str]) {
    let out = redact_url(text, keys);
    let (want, touched) = expected(text, keys);
    assert_eq!(
        out, want,
        "redact_url({text:?}, {keys:?}): expected {want:?}, got {out:?}"
    );
    match &out {
        Cow::Borrowed(b) => assert_eq!(*b, text, "borrowed output must be the input"),
        Cow::Owned(_) => assert!(touched, "{text:?}: allocated with nothing to redact"),
    }
    let again = redact_url(&out, keys);
    assert_eq!(again, out, "redaction is idempotent");
}

fn check_url(url: &url::Url, keys: &[&str]) {
    // Every URL, with an authority or not (`mailto:a?sig=x`, `foo:/p?n=http://u@h`): only a
    // text that starts with `scheme://` has its userinfo looked at, and for a parsed URL that
    // is exactly one with an authority.
    let text = url.as_str();
    let out = redact_url(text, keys);
    let redacted = url::Url::parse(&out)
        .unwrap_or_else(|e| panic!("{text:?} -> {out:?} no longer parses: {e}"));
    assert_eq!(redacted.scheme(), url.scheme(), "{text:?} -> {out:?}");
    assert_eq!(redacted.host_str(), url.host_str(), "{text:?} -> {out:?}");
    assert_eq!(redacted.port(), url.port(), "{text:?} -> {out:?}");
    assert_eq!(redacted.path(), url.path(), "{text:?} -> {out:?}");
    assert_eq!(redacted.fragment(), url.fragment(), "{text:?} -> {out:?}");
    let had_credentials = !url.username().is_empty() || url.password().is_some();
    if had_credentials {
        assert_eq!(
            (redacted.username(), redacted.password()),
            ("REDACTED", Some("REDACTED")),
            "{text:?} -> {out:?}"
        );
    } else {
        assert_eq!(
            (redacted.username(), redacted.password()),
            ("", None),
            "{text:?} -> {out:?}"
        );
    }
    match (url.query(), redacted.query()) {
        (None, None) => {}
        (Some(before), Some(after)) => {
            let before: Vec<&str> = before.split('&').collect();
            let after: Vec<&str> = after.split('&').collect();
            assert_eq!(before.len(), after.len(), "{text:?} -> {out:?}");
            for (b, a) in before.iter().zip(&after) {
                match b.split_once('=') {
                    Some((k, _)) if sensitive(k, keys) => {
                        assert_eq!(*a, format!("{k}=REDACTED"), "{text:?} -> {out:?}")
                    }
                    _ => assert_eq!(a, b, "{text:?} -> {out:?}"),
                }
            }
        }
        (before, after) => panic!("{text:?} -> {out:?}: query {before:?} became {after:?}"),
    }
}
