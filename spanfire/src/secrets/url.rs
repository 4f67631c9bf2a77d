//! URL redaction: `url.full`, URL-valued headers, URLs in any text.
//!
//! Follows the HTTP semantic conventions (note on `url.full`): credentials in the userinfo become
//! `REDACTED:REDACTED`, and the values of secret query keys become `REDACTED` while the keys
//! and the rest of the URL stay byte for byte as they were (nothing is decoded or re-encoded),
//! so a redacted URL is still a URL. `key=value` pairs in the fragment (`#access_token=…`, the
//! OAuth implicit flow) are redacted the same way.
//!
//! Redaction works on the text of the URL, so it also applies to whatever string a
//! [`url_filter`](crate::HttpClientInstrumentation::url_filter) returned, and to relative URLs
//! (`/next?token=…` in a `Location` header).

use std::borrow::Cow;

use super::names::Names;
use super::{note, Found, REDACTED};

/// Returns `url` with credentials and secret query and fragment values replaced by `REDACTED`;
/// borrows (no allocation) when there is nothing to redact.
pub(crate) fn redact_url<'a>(url: &'a str, names: &Names) -> Cow<'a, str> {
    redact_url_noting(url, names, None)
}

/// [`redact_url`]; with `notes`, each replacement is noted (see [`Found`]).
pub(crate) fn redact_url_noting<'a>(
    url: &'a str,
    names: &Names,
    mut notes: Option<&mut Vec<Found>>,
) -> Cow<'a, str> {
    let userinfo = userinfo_range(url);
    let fragment = url.find('#');
    let query = query_range(url, fragment);
    let secret_query = query
        .clone()
        .is_some_and(|q| has_secret_pair(&url[q], names));
    let secret_fragment = fragment.is_some_and(|f| has_secret_pair(&url[f + 1..], names));
    if userinfo.is_none() && !secret_query && !secret_fragment {
        return Cow::Borrowed(url);
    }
    let mut out = String::with_capacity(url.len() + 16);
    let mut pos = 0;
    if let Some(range) = userinfo {
        out.push_str(&url[..range.start]);
        out.push_str("REDACTED:REDACTED");
        pos = range.end;
        if let Some(notes) = notes.as_deref_mut() {
            note(notes, Vec::new(), "userinfo");
        }
    }
    let mut copy_pairs = |range: std::ops::Range<usize>, secret: bool, out: &mut String| {
        if secret && range.start >= pos {
            out.push_str(&url[pos..range.start]);
            redact_pairs(&url[range.clone()], names, out, notes.as_deref_mut());
            pos = range.end;
        }
    };
    if let Some(q) = query {
        copy_pairs(q, secret_query, &mut out);
    }
    if let Some(f) = fragment {
        copy_pairs(f + 1..url.len(), secret_fragment, &mut out);
    }
    out.push_str(&url[pos..]);
    Cow::Owned(out)
}

/// [`redact_url`] for an already parsed URL: its accessors answer "credentials?", "which
/// query?" and "which fragment?" without scanning the text, so a clean URL costs only the
/// query-key checks.
pub(crate) fn redact_parsed<'a>(url: &'a url::Url, names: &Names) -> Cow<'a, str> {
    let creds = !url.username().is_empty() || url.password().is_some();
    let secret = |part: Option<&str>| part.is_some_and(|p| has_secret_pair(p, names));
    if creds || secret(url.query()) || secret(url.fragment()) {
        redact_url(url.as_str(), names)
    } else {
        Cow::Borrowed(url.as_str())
    }
}

/// A URL-valued header (`location`, `content-location`, `referer`, `link`): the URL, or for
/// `link` each `<URL>` in it, redacted.
pub(crate) fn redact_url_header<'a>(
    name: &str,
    value: &'a str,
    names: &Names,
    mut notes: Option<&mut Vec<Found>>,
) -> Cow<'a, str> {
    if !name.eq_ignore_ascii_case("link") {
        return redact_url_noting(value, names, notes);
    }
    let mut out = String::new();
    let mut copied = 0;
    let mut rest = 0;
    while let Some(open) = value[rest..].find('<').map(|i| rest + i) {
        let Some(close) = value[open..].find('>').map(|i| open + i) else {
            break;
        };
        if let Cow::Owned(redacted) =
            redact_url_noting(&value[open + 1..close], names, notes.as_deref_mut())
        {
            out.push_str(&value[copied..=open]);
            out.push_str(&redacted);
            copied = close;
        }
        rest = close + 1;
    }
    if copied == 0 {
        return Cow::Borrowed(value);
    }
    out.push_str(&value[copied..]);
    Cow::Owned(out)
}

/// Whether a header's value is a URL (or, for `link`, holds URLs).
pub(crate) fn is_url_header(name: &str) -> bool {
    ["location", "content-location", "referer", "link"]
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
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
fn query_range(url: &str, fragment: Option<usize>) -> Option<std::ops::Range<usize>> {
    let before_fragment = fragment.unwrap_or(url.len());
    let q = url[..before_fragment].find('?')? + 1;
    Some(q..before_fragment)
}

fn pairs(query: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    query.split('&').map(|pair| match pair.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (pair, None),
    })
}

fn has_secret_pair(query: &str, names: &Names) -> bool {
    pairs(query).any(|(k, v)| v.is_some_and(|v| v != REDACTED) && is_secret_key(k, names))
}

/// A url-encoded key (`api%5Fkey`, `api+key`) is judged by the name it spells.
pub(crate) fn is_secret_key(key: &str, names: &Names) -> bool {
    secret_key_part(key, names).is_some()
}

/// The matched part of a url-encoded key, decoded.
pub(crate) fn secret_key_part(key: &str, names: &Names) -> Option<String> {
    let has = |byte: u8| key.bytes().any(|b| b == byte);
    let percent = has(b'%');
    if !percent && !has(b'+') {
        return names.secret_part(key).map(str::to_owned);
    }
    // Decoding `+` (a space) joins no letters: no need to decode what cannot name a secret.
    if !percent && !names.may_name_secret(key) {
        return None;
    }
    let decoded: String = url::form_urlencoded::parse(key.as_bytes())
        .map(|(k, _)| k)
        .collect();
    names.secret_part(&decoded).map(str::to_owned)
}

fn redact_pairs(query: &str, names: &Names, out: &mut String, mut notes: Option<&mut Vec<Found>>) {
    for (i, (key, value)) in pairs(query).enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(key);
        let secret = value
            .is_some()
            .then(|| secret_key_part(key, names))
            .flatten();
        match value {
            Some(v) if secret.is_some() => {
                out.push('=');
                out.push_str(REDACTED);
                if let (Some(notes), Some(matched)) = (notes.as_deref_mut(), secret) {
                    if v != REDACTED {
                        note(notes, Vec::new(), matched);
                    }
                }
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

    fn names() -> Names {
        Names::new(true, &[]).unwrap()
    }

    #[test]
    fn redacts_as_the_conventions_say() {
        let cases = [
            ("http://h/p", "http://h/p"),
            ("http://u:p@h:8/p", "http://REDACTED:REDACTED@h:8/p"),
            ("http://u@h/p", "http://REDACTED:REDACTED@h/p"),
            ("http://h/p?a=1&sig=x&b", "http://h/p?a=1&sig=REDACTED&b"),
            ("http://h/p?SIG=x#frag?sig=y", "http://h/p?SIG=REDACTED#frag?sig=REDACTED"),
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
                "http://u:p@127.0.0.1:1/x?X-Amz-Credential=c&X-Amz-Security-Token=t&token=k&q=1",
                "http://REDACTED:REDACTED@127.0.0.1:1/x?X-Amz-Credential=REDACTED&X-Amz-Security-Token=REDACTED&token=REDACTED&q=1",
            ),
            (
                "http://h/?sig=S1,x&X-Amz-Signature=S2(a)&q=1",
                "http://h/?sig=REDACTED&X-Amz-Signature=REDACTED&q=1",
            ),
            ("http://h/cb#access_token=t&state=s", "http://h/cb#access_token=REDACTED&state=s"),
            ("http://h/?api%5Fkey=k&pass%77ord=p", "http://h/?api%5Fkey=REDACTED&pass%77ord=REDACTED"),
            ("/next?password=p", "/next?password=REDACTED"),
            ("http://h/?token=REDACTED", "http://h/?token=REDACTED"),
            ("http://h/?é=1&token=ü#ä", "http://h/?é=1&token=REDACTED#ä"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_url(input, &names()), want, "input: {input}");
        }
    }

    #[test]
    fn parsed_urls_redact_like_text() {
        for text in [
            "http://h/p",
            "http://u:p@h/p?sig=1&q=2",
            "http://h/?a=1&Signature=x#f",
            "http://h/#id_token=x",
            "http://u@h/",
        ] {
            let url = url::Url::parse(text).unwrap();
            assert_eq!(
                redact_parsed(&url, &names()),
                redact_url(url.as_str(), &names()),
                "{text}"
            );
        }
        let clean = url::Url::parse("http://h/?q=1").unwrap();
        assert!(matches!(redact_parsed(&clean, &names()), Cow::Borrowed(_)));
    }

    #[test]
    fn url_headers_are_redacted_as_urls() {
        let cases = [
            ("location", "/get?sig=s&q=1", "/get?sig=REDACTED&q=1"),
            (
                "Referer",
                "http://h/?password=p",
                "http://h/?password=REDACTED",
            ),
            (
                "link",
                r#"<http://h/n?token=t>; rel="next", <http://h/p?q=1>; rel="prev""#,
                r#"<http://h/n?token=REDACTED>; rel="next", <http://h/p?q=1>; rel="prev""#,
            ),
            ("link", "<unclosed?token=t", "<unclosed?token=t"),
        ];
        for (name, value, want) in cases {
            assert_eq!(
                redact_url_header(name, value, &names(), None),
                want,
                "{value}"
            );
        }
        assert!(is_url_header("Content-Location"));
        assert!(!is_url_header("content-type"));
    }
}
