//! `spanfire::redact_url` on arbitrary text and arbitrary keys.
//!
//! Checked for every input: no panic; nothing to redact means the input comes back borrowed and
//! unchanged; redacting twice changes nothing; in the output, every query pair whose key is
//! sensitive has the value `REDACTED`.
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
    if known_bug_separator_in_query(&input.url) {
        return;
    }
    check_text(&input.url, &keys);
    if let Ok(parsed) = url::Url::parse(&input.url) {
        if known_bug_separator_in_query(parsed.as_str()) {
            return;
        }
        check_text(parsed.as_str(), &keys);
        check_url(&parsed, &keys);
    }
});

fn sensitive(key: &str, keys: &[&str]) -> bool {
    keys.iter().any(|k| k.eq_ignore_ascii_case(key))
}

/// The query of `text` as redact_url defines it: after the first `?`, before the first `#`.
fn query(text: &str) -> Option<&str> {
    let before_fragment = &text[..text.find('#').unwrap_or(text.len())];
    before_fragment.find('?').map(|q| &before_fragment[q + 1..])
}

fn check_text(text: &str, keys: &[&str]) {
    let out = redact_url(text, keys);
    if let Cow::Borrowed(b) = &out {
        assert_eq!(*b, text, "borrowed output must be the input");
    }
    let again = redact_url(&out, keys);
    assert_eq!(again, out, "redaction is idempotent");
    if let Some(q) = query(&out) {
        for pair in q.split('&') {
            if let Some((k, v)) = pair.split_once('=') {
                if sensitive(k, keys) {
                    assert_eq!(v, "REDACTED", "value of {k:?} kept in {out:?}");
                }
            }
        }
    }
}

fn check_url(url: &url::Url, keys: &[&str]) {
    // Only hierarchical URLs have an authority; redact_url is a text function and may treat
    // `://` inside an opaque path as one, which over-redacts but never leaks.
    if url.cannot_be_a_base() || !url.has_authority() {
        return;
    }
    let text = url.as_str();
    let out = redact_url(text, keys);
    let redacted = url::Url::parse(&out).unwrap_or_else(|e| panic!("{out:?} no longer parses: {e}"));
    assert_eq!(redacted.scheme(), url.scheme());
    assert_eq!(redacted.host_str(), url.host_str());
    assert_eq!(redacted.port(), url.port());
    assert_eq!(redacted.path(), url.path());
    assert_eq!(redacted.fragment(), url.fragment());
    let had_credentials = !url.username().is_empty() || url.password().is_some();
    if had_credentials {
        assert_eq!(
            (redacted.username(), redacted.password()),
            ("REDACTED", Some("REDACTED")),
            "{text:?} -> {out:?}"
        );
    } else {
        assert_eq!((redacted.username(), redacted.password()), ("", None));
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
        (before, after) => panic!("query {before:?} became {after:?}"),
    }
}

/// KNOWN BUG (reported in issue 8, regression test `hostile::fuzz_regressions::
/// redact_url_with_a_url_inside_the_query_does_not_panic`): when the first `://` of the text
/// comes after its `?` (a url_filter returning `/path?next=http://u:p@h&sig=x`), redact_url
/// takes that embedded URL's userinfo for the text's own and panics slicing the query. Such
/// inputs are skipped until it is fixed; delete this function then.
fn known_bug_separator_in_query(text: &str) -> bool {
    let end = text.find('#').unwrap_or(text.len());
    match (text[..end].find('?'), text.find("://")) {
        (Some(q), Some(s)) => s > q,
        _ => false,
    }
}
