//! Oracles shared by the fuzz targets: a model of URL redaction written from the documentation
//! (not from the code), the matched part of a secret name as the scrubber reports it, the value
//! patterns of the scrubbing stage, and a leak check that cannot raise false alarms.
#![allow(dead_code)]

use std::ops::Range;
use std::sync::OnceLock;

use opentelemetry::{KeyValue, Value};
use spanfire::Secrets;

/// The default policy, compiled once (`Secrets::default()` compiles its regex each time).
pub fn secrets() -> &'static Secrets {
    static DEFAULT: OnceLock<Secrets> = OnceLock::new();
    DEFAULT.get_or_init(Secrets::default)
}

/// Names that match a pattern but are documented as not secret.
pub const NOT_SECRETS: &[&str] = &[
    "access-control-allow-credentials",
    "www-authenticate",
    "proxy-authenticate",
];

/// Words that make any name containing them a secret (documented patterns that are matched
/// anywhere in a name, without word boundaries): an independent lower bound of the policy.
pub const ANYWHERE: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "mysql_pwd",
    "secret",
    "credential",
    "session",
    "cookie",
    "token",
    "signature",
];

/// Whether the documented patterns say `name` must be a secret whatever surrounds the word.
pub fn must_be_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !NOT_SECRETS.iter().any(|n| n.eq_ignore_ascii_case(name))
        && ANYWHERE.iter().any(|w| lower.contains(w))
}

/// Query keys that the default policy must treat as secrets (some url-encoded: judged by the
/// name they spell).
pub const SECRET_KEYS: &[&str] = &[
    "token",
    "sig",
    "X-Amz-Signature",
    "access_token",
    "password",
    "api_key",
    "client_secret",
    "AWSAccessKeyId",
    "X-Goog-Signature",
    "Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "id_token",
    "refresh_token",
    "session",
    "key",
    "apikey",
    "auth",
    "api%5Fkey",
    "pass%77ord",
    "api+key",
    "x-sig",
];

/// A secret key from [`SECRET_KEYS`]; checks once that the policy agrees.
pub fn secret_key(index: u8) -> &'static str {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        for key in SECRET_KEYS {
            assert!(
                is_secret_key(secrets(), key),
                "{key} should be a secret key"
            );
        }
    });
    SECRET_KEYS[usize::from(index) % SECRET_KEYS.len()]
}

/// `application/x-www-form-urlencoded` decoding of a key: `+` is a space, `%XX` a byte, the
/// bytes read as UTF-8 (lossily). Written here, not borrowed from the `url` crate.
pub fn form_decode(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i + 1..i + 3) {
            Some(&[hi, lo]) if bytes[i] == b'%' => hex(hi).zip(hex(lo)),
            _ => None,
        };
        match (bytes[i], escaped) {
            (_, Some((hi, lo))) => {
                out.push(hi * 16 + lo);
                i += 3;
                continue;
            }
            (b'+', None) => out.push(b' '),
            (b, None) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Whether a (possibly url-encoded) query or form key names a secret under `secrets`.
pub fn is_secret_key(secrets: &Secrets, key: &str) -> bool {
    secrets.is_secret(&form_decode(key))
}

/// RFC 3986 scheme: a letter, then letters, digits, `+`, `-`, `.`.
pub fn valid_scheme(scheme: &str) -> bool {
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// What redacting a URL must give, per the documentation of `Secrets::redact_url`.
pub struct UrlModel {
    /// The redacted text.
    pub out: String,
    /// Whether there was anything to redact (a userinfo, a secret pair whose value is not
    /// already `REDACTED`): exactly when the redactor may allocate.
    pub touched: bool,
    /// Byte ranges of the input that are secrets: the userinfo, the values of secret pairs.
    pub secret_ranges: Vec<Range<usize>>,
}

/// The model: `text` read as `base[?query][#fragment]` (the query after the first `?` that
/// comes before the first `#`, the fragment after the first `#`). The userinfo is redacted only
/// when the text starts with `scheme://` (a valid scheme): what comes before the last `@` of
/// the authority (which ends at the first `/`, `?` or `#`), when not empty, becomes
/// `REDACTED:REDACTED`. In the query and the fragment, `&`-separated pairs `key=value` whose
/// url-decoded key `is_secret` get the value `REDACTED`; everything else is kept byte for byte.
pub fn model_redact_url(text: &str, secret_key: &dyn Fn(&str) -> bool) -> UrlModel {
    let fragment_at = text.find('#');
    let before_fragment = &text[..fragment_at.unwrap_or(text.len())];
    let query_at = before_fragment.find('?');
    let base = &text[..query_at.unwrap_or(before_fragment.len())];
    let mut model = UrlModel {
        out: String::with_capacity(text.len()),
        touched: false,
        secret_ranges: Vec::new(),
    };
    match userinfo_range(base) {
        Some(range) => {
            model.out.push_str(&base[..range.start]);
            model.out.push_str("REDACTED:REDACTED");
            model.out.push_str(&base[range.end..]);
            model.touched = true;
            model.secret_ranges.push(range);
        }
        None => model.out.push_str(base),
    }
    if let Some(q) = query_at {
        model.out.push('?');
        model_pairs(text, q + 1..before_fragment.len(), secret_key, &mut model);
    }
    if let Some(f) = fragment_at {
        model.out.push('#');
        model_pairs(text, f + 1..text.len(), secret_key, &mut model);
    }
    model
}

/// The userinfo of `base` (no query, no fragment), per [`model_redact_url`].
pub fn userinfo_range(base: &str) -> Option<Range<usize>> {
    let (scheme, rest) = base.split_once("://")?;
    if !valid_scheme(scheme) {
        return None;
    }
    let start = scheme.len() + 3;
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let at = authority.rfind('@')?;
    (at > 0).then(|| start..start + at)
}

fn model_pairs(
    text: &str,
    range: Range<usize>,
    secret_key: &dyn Fn(&str) -> bool,
    model: &mut UrlModel,
) {
    let mut start = range.start;
    for (i, piece) in text[range].split('&').enumerate() {
        if i > 0 {
            model.out.push('&');
        }
        match piece.split_once('=') {
            Some((key, value)) if secret_key(key) => {
                model.out.push_str(key);
                model.out.push_str("=REDACTED");
                model.touched |= value != "REDACTED";
                let value_start = start + key.len() + 1;
                model
                    .secret_ranges
                    .push(value_start..value_start + value.len());
            }
            _ => model.out.push_str(piece),
        }
        start += piece.len() + 1;
    }
}

/// A `link` header value as redacted: each `<URL>` (from a `<` to the next `>`) redacted as a
/// URL, the rest kept.
pub fn model_link(value: &str, redact_url: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = value;
    loop {
        let Some(open) = rest.find('<') else { break };
        let Some(close) = rest[open..].find('>').map(|c| open + c) else {
            break;
        };
        out.push_str(&rest[..=open]);
        out.push_str(&redact_url(&rest[open + 1..close]));
        out.push('>');
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Whether a header's value is a URL (or holds URLs): redacted as URLs, not as text.
pub fn is_url_header(name: &str) -> bool {
    ["location", "content-location", "referer", "link"]
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
}

/// A header value (or URL attribute) as the URL redaction leaves it.
pub fn redact_url_header(name: &str, value: &str) -> String {
    let redact = |u: &str| secrets().redact_url(u).into_owned();
    if name.eq_ignore_ascii_case("link") {
        model_link(value, &redact)
    } else {
        redact(value)
    }
}

/// The scrubber's marker.
pub fn marker(part: &str) -> String {
    format!("[Scrubbed due to '{part}']")
}

/// The part of `name` that makes it a secret, as configure()'s scrubber reports it (read off
/// the marker it gives a header attribute, which is judged by the whole header name); checked
/// against the public policy: a secret name has a non-empty part that is a piece of the name
/// and itself a secret, any other name is left alone.
pub fn secret_part(name: &str) -> Option<String> {
    let key = format!("http.request.header.{name}");
    let mut attrs = [KeyValue::new(key, "v")];
    spanfire::__fuzz::scrub(&mut attrs);
    let Value::String(out) = &attrs[0].value else {
        panic!("scrubbing changed the type: {:?}", attrs[0].value);
    };
    let out = out.as_str();
    let is_secret = secrets().is_secret(name);
    let part = out
        .strip_prefix("[Scrubbed due to '")
        .and_then(|p| p.strip_suffix("']"));
    match part {
        Some(part) => {
            assert!(
                is_secret,
                "{name:?} is not a secret but was scrubbed: {out:?}"
            );
            assert!(
                !part.is_empty() && name.contains(part) && secrets().is_secret(part),
                "{name:?}: the marker {out:?} names no secret part of it"
            );
            Some(part.to_owned())
        }
        None => {
            assert!(
                !is_secret,
                "secret header name {name:?} kept its value: {out:?}"
            );
            assert_eq!(out, "v", "{name:?}");
            None
        }
    }
}

/// The value patterns of the scrubbing stage (secrets whatever their key), copied from
/// spanfire/src/configure/scrub.rs, where they are private.
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

fn value_regex() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let alternatives: Vec<String> = VALUE_PATTERNS
            .iter()
            .map(|(_, p)| format!("({p})"))
            .collect();
        regex::Regex::new(&alternatives.join("|")).unwrap()
    })
}

/// Whether `text` holds a value that the scrubbing stage replaces whatever its key.
pub fn has_value_pattern(text: &str) -> bool {
    value_regex().is_match(text)
}

/// `text` with every value-pattern match replaced by its marker.
pub fn replace_value_patterns(text: &str) -> String {
    value_regex()
        .replace_all(text, |caps: &regex::Captures<'_>| {
            let which = (1..caps.len())
                .find(|&i| caps.get(i).is_some())
                .map_or("secret", |i| VALUE_PATTERNS[i - 1].0);
            marker(which)
        })
        .into_owned()
}

/// Characters of what redaction writes in place of a secret (`REDACTED`, `REDACTED:REDACTED`,
/// `"[REDACTED]"`): a secret that starts or ends with one could be found straddling a
/// replacement and the text next to it, though nothing leaked.
const VOCABULARY: &[char] = &['R', 'E', 'D', 'A', 'C', 'T', ':', '[', ']', '"'];

/// Whether `output` leaks `secret` (`Some(true)`), or it does not (`Some(false)`), or the check
/// does not apply (`None`): the secret is short (under 4 characters), or could be found in the
/// output without having leaked (it contains `REDACTED`, or starts or ends with a character of
/// the replacements, or the input holds a JSON escape `\u`/`\/` that a rewritten JSON string
/// would write as plain text), or occurs in `input` anywhere but inside one of the `secret`
/// ranges (then it is also text that is no secret), or does not occur at all.
///
/// Sound because redaction only ever replaces ranges of the input by the vocabulary: an
/// occurrence in the output lies wholly in kept input (where, by the conditions, it can only be
/// one of the secret occurrences) or overlaps a replacement (excluded by the conditions).
pub fn leaks(
    input: &str,
    output: &str,
    secret: &str,
    secret_ranges: &[Range<usize>],
) -> Option<bool> {
    // A JSON string that holds JSON is written back after redaction (`\u0041` as `A`): an
    // escape that reads as other text could make the secret appear where it was not.
    if secret.chars().count() < 4
        || input.contains("\\u")
        || input.contains("\\/")
        || secret.contains("REDACTED")
        || secret.starts_with(VOCABULARY)
        || secret.ends_with(VOCABULARY)
    {
        return None;
    }
    let mut found = false;
    for (at, _) in input.char_indices() {
        if input[at..].starts_with(secret) {
            let inside = secret_ranges
                .iter()
                .any(|r| r.start <= at && at + secret.len() <= r.end);
            if !inside {
                return None;
            }
            found = true;
        }
    }
    found.then(|| output.contains(secret))
}

/// Whether only the JSON pass of the free-text redaction can act on `text`, and only on the
/// values of keys: no `=` (`key=value`), no `://` (userinfo), no `Name: value` (a `": "` right
/// after a closing quote, as pretty JSON writes it, has no name), no `\"` (a string holding
/// JSON of its own, which is redacted inside).
pub fn only_json_pass(text: &str) -> bool {
    let named_line = text
        .match_indices(": ")
        .any(|(at, _)| !text[..at].ends_with('"'));
    !text.contains('=') && !text.contains("://") && !named_line && !text.contains("\\\"")
}

/// `text` with every `needle` removed (removing one can join the halves of another).
pub fn without(text: &str, needle: &str) -> String {
    let mut text = text.to_owned();
    while !needle.is_empty() && text.contains(needle) {
        text = text.replace(needle, "");
    }
    text
}

/// Known bug, reported: the `key=value` scanner of the free-text redaction passes over the
/// value of a pair it does not redact, and the value runs to `&`, `#`, whitespace, `"`, `<`,
/// `>` or `\` — not to `?`, `,`, `;`, `@` — so a secret pair inside it is never looked at:
/// `GET /q=1?token=t` keeps `t` (and redacting twice finds more than once, when another pass
/// removed the `=` in between). While this is `true`, the oracles that it breaks (idempotence,
/// secrets found by free text alone) skip the texts where it happens ([`passes_over_pairs`]);
/// set it to `false` once spanfire looks inside such values.
pub const PAIR_SCANNER_PASSES_OVER_PAIRS: bool = false;

/// Whether the free-text `key=value` scanner, walking `text` as documented, passes over an `=`
/// inside the value of a pair it leaves as it is: the known bug above applies to `text`.
pub fn passes_over_pairs(text: &str) -> bool {
    if !PAIR_SCANNER_PASSES_OVER_PAIRS {
        return false;
    }
    let key_byte = |b: u8| {
        b.is_ascii_alphanumeric()
            || matches!(b, b'_' | b'-' | b'.' | b'%' | b'+' | b'[' | b']' | b'*')
    };
    let ends_value =
        |b: u8| b.is_ascii_whitespace() || matches!(b, b'&' | b'#' | b'"' | b'<' | b'>' | b'\\');
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(eq) = bytes[i..].iter().position(|&b| b == b'=').map(|p| i + p) {
        let key_start = bytes[..eq]
            .iter()
            .rposition(|&b| !key_byte(b))
            .map_or(0, |p| p + 1);
        let value_end = bytes[eq + 1..]
            .iter()
            .position(|&b| ends_value(b))
            .map_or(bytes.len(), |p| eq + 1 + p);
        let value = &text[eq + 1..value_end];
        let redacted = key_start < eq
            && !value.is_empty()
            && !value.starts_with("REDACTED")
            && !value.starts_with('[')
            && is_secret_key(secrets(), &text[key_start..eq]);
        if !redacted && value.contains('=') {
            return true;
        }
        i = value_end.max(eq + 1);
    }
    false
}
