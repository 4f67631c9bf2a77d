//! URL redaction for `url.full`.
//!
//! Follows the HTTP semantic conventions (note on `url.full`): credentials in the userinfo become
//! `REDACTED:REDACTED`, and the values of sensitive query keys become `REDACTED` while the keys
//! and the rest of the URL stay byte for byte as they were (nothing is decoded or re-encoded).
//!
//! Redaction works on the text of the URL, so it also applies to whatever string a
//! [`url_filter`](crate::HttpClientInstrumentation::url_filter) returned.

use std::borrow::Cow;

/// The query keys whose values are redacted by default, as listed by the semantic conventions.
pub const DEFAULT_SENSITIVE_QUERY_KEYS: &[&str] = &[
    "AWSAccessKeyId",
    "Signature",
    "sig",
    "X-Goog-Signature",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
];

const REDACTED: &str = "REDACTED";

/// Returns `url` with credentials and sensitive query values replaced by `REDACTED`.
///
/// Keys are compared ASCII case-insensitively. Borrows (no allocation) when there is nothing to
/// redact.
///
/// ```
/// use spanfire::redact_url;
/// let keys = ["sig"];
/// assert_eq!(
///     redact_url("https://u:p@example.com/a?sig=xyz&q=a%20b", &keys),
///     "https://REDACTED:REDACTED@example.com/a?sig=REDACTED&q=a%20b"
/// );
/// assert!(matches!(redact_url("https://example.com/?q=1", &keys), std::borrow::Cow::Borrowed(_)));
/// ```
pub fn redact_url<'a, K: AsRef<str>>(url: &'a str, sensitive_keys: &[K]) -> Cow<'a, str> {
    let userinfo = userinfo_range(url);
    let query = query_range(url);
    let secret_query = query
        .clone()
        .is_some_and(|q| query_pairs(&url[q]).any(|(k, _)| is_sensitive(k, sensitive_keys)));
    if userinfo.is_none() && !secret_query {
        return Cow::Borrowed(url);
    }
    let mut out = String::with_capacity(url.len() + 16);
    let mut pos = 0;
    if let Some(range) = userinfo {
        out.push_str(&url[..range.start]);
        out.push_str("REDACTED:REDACTED");
        pos = range.end;
    }
    match query {
        Some(q) if secret_query && q.start >= pos => {
            out.push_str(&url[pos..q.start]);
            redact_query(&url[q.clone()], sensitive_keys, &mut out);
            out.push_str(&url[q.end..]);
        }
        _ => out.push_str(&url[pos..]),
    }
    Cow::Owned(out)
}

/// [`redact_url`] for an already parsed URL: its accessors answer "credentials?" and "which
/// query?" without scanning the text, so a clean URL costs only the query-key comparison.
pub(crate) fn redact_parsed<'a, K: AsRef<str>>(
    url: &'a url::Url,
    sensitive_keys: &[K],
) -> Cow<'a, str> {
    let creds = !url.username().is_empty() || url.password().is_some();
    let secret = url
        .query()
        .is_some_and(|q| query_pairs(q).any(|(k, _)| is_sensitive(k, sensitive_keys)));
    if creds || secret {
        redact_url(url.as_str(), sensitive_keys)
    } else {
        Cow::Borrowed(url.as_str())
    }
}

fn is_sensitive<K: AsRef<str>>(key: &str, keys: &[K]) -> bool {
    keys.iter().any(|k| k.as_ref().eq_ignore_ascii_case(key))
}

/// The byte range of `user[:password]` (without the `@`), if the URL has a non-empty one.
/// Only a URL that starts with `scheme://` has an authority: a `://` later in the text (say in
/// a query value) is not this URL's.
fn userinfo_range(url: &str) -> Option<std::ops::Range<usize>> {
    let colon = url.find("://")?;
    let scheme = &url[..colon];
    let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_scheme {
        return None;
    }
    let start = colon + 3;
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let at = url[start..authority_end].rfind('@')? + start;
    (at > start).then_some(start..at)
}

/// The byte range of the query (without `?` and without the fragment).
fn query_range(url: &str) -> Option<std::ops::Range<usize>> {
    let before_fragment = url.find('#').unwrap_or(url.len());
    let q = url[..before_fragment].find('?')? + 1;
    Some(q..before_fragment)
}

fn query_pairs(query: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    query.split('&').map(|pair| match pair.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (pair, None),
    })
}

fn redact_query<K: AsRef<str>>(query: &str, keys: &[K], out: &mut String) {
    for (i, (key, value)) in query_pairs(query).enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(key);
        match value {
            Some(_) if is_sensitive(key, keys) => {
                out.push('=');
                out.push_str(REDACTED);
            }
            Some(v) => {
                out.push('=');
                out.push_str(v);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_as_the_conventions_say() {
        let keys = DEFAULT_SENSITIVE_QUERY_KEYS;
        let cases = [
            ("http://h/p", "http://h/p"),
            ("http://u:p@h:8/p", "http://REDACTED:REDACTED@h:8/p"),
            ("http://u@h/p", "http://REDACTED:REDACTED@h/p"),
            ("http://h/p?a=1&sig=x&b", "http://h/p?a=1&sig=REDACTED&b"),
            ("http://h/p?SIG=x#frag?sig=y", "http://h/p?SIG=REDACTED#frag?sig=y"),
            ("http://h/p?q=a%20b&Signature=s%2F", "http://h/p?q=a%20b&Signature=REDACTED"),
            ("http://h/p?sig", "http://h/p?sig"),
            ("http://h/a@b", "http://h/a@b"),
            ("not a url", "not a url"),
            ("http://@h/", "http://@h/"),
            // a `://` inside the query is not this URL's authority (found by fuzzing: panicked)
            ("/get?next=http://u:p@evil.example/&sig=abc", "/get?next=http://u:p@evil.example/&sig=REDACTED"),
            ("?x=a://b@c&sig=1", "?x=a://b@c&sig=REDACTED"),
            ("1http://u:p@h/", "1http://u:p@h/"),
            (
                "http://u:p@127.0.0.1:1/x?X-Amz-Credential=c&X-Amz-Security-Token=t&token=keep",
                "http://REDACTED:REDACTED@127.0.0.1:1/x?X-Amz-Credential=REDACTED&X-Amz-Security-Token=REDACTED&token=keep",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(redact_url(input, keys), want, "input: {input}");
        }
    }

    #[test]
    fn parsed_urls_redact_like_text() {
        let keys = DEFAULT_SENSITIVE_QUERY_KEYS;
        for text in [
            "http://h/p",
            "http://u:p@h/p?sig=1&q=2",
            "http://h/?a=1&Signature=x#f",
            "http://u@h/",
        ] {
            let url = url::Url::parse(text).unwrap();
            assert_eq!(
                redact_parsed(&url, keys),
                redact_url(url.as_str(), keys),
                "{text}"
            );
        }
    }

    #[test]
    fn configured_keys_replace_the_defaults() {
        let got = redact_url("http://h/?token=t&sig=s", &["token"]);
        assert_eq!(got, "http://h/?token=REDACTED&sig=s");
    }
}
