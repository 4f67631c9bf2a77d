//! `Secrets::redact_url` on arbitrary text, under the default policy or one extended (or
//! replaced) by arbitrary names.
//!
//! Checked for every input: no panic; the output is exactly what the documentation asks for,
//! as `common::model_redact_url` spells it out (credentials only in the authority of a text
//! that starts with `scheme://`, never in a `://` further on, say in a query value; in the
//! query and the fragment, the values of pairs whose url-decoded key `is_secret`; nothing
//! else, byte for byte); so no secret value survives (also checked on its own with
//! `common::leaks`); the input comes back borrowed exactly when there is nothing to redact;
//! redacting twice changes nothing.
//!
//! Checked for every input that the `url` crate parses (what a request's `url.full` really is):
//! the output still parses to the same scheme, host, port and path; the userinfo is
//! `REDACTED:REDACTED` exactly when there were credentials; the query and the fragment keep
//! their pairs in order, byte for byte, except that the values of secret keys are `REDACTED`.
//!
//! Dropped with the old API: the caller's list of keys compared ASCII case-insensitively
//! (`redact_url(text, keys)`): a policy now decides, so keys are added as whole names
//! (`with_names`) or patterns (`with_extra_patterns`), regex-escaped, or replace the defaults
//! (`Secrets::none().with_names`), and the oracle asks the policy (`is_secret`) about each
//! decoded key. The fragment is no longer kept as it was: its secret pairs are redacted too.
#![no_main]

mod common;

use std::borrow::Cow;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use spanfire::Secrets;

use common::{is_secret_key, leaks, model_redact_url, secrets};

#[derive(Arbitrary, Debug)]
enum Policy {
    Default,
    /// The defaults plus these whole names.
    WithNames(Vec<String>),
    /// Only these whole names.
    OnlyNames(Vec<String>),
    /// The defaults plus these (escaped) patterns, matched anywhere in a name.
    WithPatterns(Vec<String>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    url: String,
    policy: Policy,
}

/// A few short names, regex-escaped (the policy takes regular expressions).
fn escaped(names: &[String]) -> Vec<String> {
    names
        .iter()
        .take(8)
        .map(|n| regex::escape(&n.chars().take(32).collect::<String>()))
        .collect()
}

fuzz_target!(|input: Input| {
    let custom = match &input.policy {
        Policy::Default => None,
        Policy::WithNames(n) => Some(policy(0, escaped(n))),
        Policy::OnlyNames(n) => Some(policy(1, escaped(n))),
        Policy::WithPatterns(n) => Some(policy(2, escaped(n))),
    };
    let policy: &Secrets = custom.as_ref().unwrap_or_else(|| secrets());
    check_text(&input.url, policy);
    if let Ok(parsed) = url::Url::parse(&input.url) {
        check_text(parsed.as_str(), policy);
        check_url(&parsed, policy);
    }
});

/// The policy built from `names` (`kind` 0: defaults plus whole names, 1: only whole names, 2:
/// defaults plus patterns), remembered: compiling one takes most of the time of a run, and
/// the fuzzer mutates the URL far more often than the names.
fn policy(kind: u8, names: Vec<String>) -> Secrets {
    type Cache = std::collections::HashMap<(u8, Vec<String>), Secrets>;
    thread_local! {
        static BUILT: std::cell::RefCell<Cache> = Default::default();
    }
    BUILT.with(|built| {
        let mut built = built.borrow_mut();
        if let Some(policy) = built.get(&(kind, names.clone())) {
            return policy.clone();
        }
        if built.len() > 256 {
            built.clear();
        }
        let policy = match kind {
            0 => Secrets::default().with_names(&names),
            1 => Secrets::none().with_names(&names),
            _ => Secrets::default().with_extra_patterns(names.clone()),
        }
        .expect("escaped names compile");
        built.insert((kind, names), policy.clone());
        policy
    })
}

fn check_text(text: &str, policy: &Secrets) {
    let out = policy.redact_url(text);
    let model = model_redact_url(text, &|k| is_secret_key(policy, k));
    assert_eq!(
        out, model.out,
        "redact_url({text:?}): expected {:?}, got {out:?}",
        model.out
    );
    match &out {
        Cow::Borrowed(b) => {
            assert_eq!(*b, text, "borrowed output must be the input");
            assert!(!model.touched, "{text:?}: a secret was left borrowed");
        }
        Cow::Owned(_) => assert!(model.touched, "{text:?}: allocated with nothing to redact"),
    }
    for range in &model.secret_ranges {
        let secret = &text[range.clone()];
        assert_ne!(
            leaks(text, &out, secret, &model.secret_ranges),
            Some(true),
            "{text:?} -> {out:?} leaks {secret:?}"
        );
    }
    let again = policy.redact_url(&out);
    assert_eq!(again, out, "redaction is idempotent");
}

fn check_url(url: &url::Url, policy: &Secrets) {
    // Every URL, with an authority or not (`mailto:a?sig=x`, `foo:/p?n=http://u@h`): only a
    // text that starts with `scheme://` has its userinfo looked at, and for a parsed URL that
    // is exactly one with an authority.
    let text = url.as_str();
    let out = policy.redact_url(text);
    let redacted = url::Url::parse(&out)
        .unwrap_or_else(|e| panic!("{text:?} -> {out:?} no longer parses: {e}"));
    assert_eq!(redacted.scheme(), url.scheme(), "{text:?} -> {out:?}");
    assert_eq!(redacted.host_str(), url.host_str(), "{text:?} -> {out:?}");
    assert_eq!(redacted.port(), url.port(), "{text:?} -> {out:?}");
    assert_eq!(redacted.path(), url.path(), "{text:?} -> {out:?}");
    let had_credentials = !url.username().is_empty() || url.password().is_some();
    let want_credentials = if had_credentials {
        ("REDACTED", Some("REDACTED"))
    } else {
        ("", None)
    };
    assert_eq!(
        (redacted.username(), redacted.password()),
        want_credentials,
        "{text:?} -> {out:?}"
    );
    check_pairs(url.query(), redacted.query(), policy, text, &out);
    check_pairs(url.fragment(), redacted.fragment(), policy, text, &out);
}

/// The query (or fragment) after redaction: the same pairs in the same order, byte for byte,
/// but for the values of secret keys, which are `REDACTED`.
fn check_pairs(before: Option<&str>, after: Option<&str>, policy: &Secrets, text: &str, out: &str) {
    match (before, after) {
        (None, None) => {}
        (Some(before), Some(after)) => {
            let before: Vec<&str> = before.split('&').collect();
            let after: Vec<&str> = after.split('&').collect();
            assert_eq!(before.len(), after.len(), "{text:?} -> {out:?}");
            for (b, a) in before.iter().zip(&after) {
                match b.split_once('=') {
                    Some((k, _)) if is_secret_key(policy, k) => {
                        assert_eq!(*a, format!("{k}=REDACTED"), "{text:?} -> {out:?}")
                    }
                    _ => assert_eq!(a, b, "{text:?} -> {out:?}"),
                }
            }
        }
        (before, after) => panic!("{text:?} -> {out:?}: {before:?} became {after:?}"),
    }
}
