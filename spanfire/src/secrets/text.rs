//! Redacting secrets in free text: error messages, panic messages, span names, any attribute.
//!
//! Four passes, each a linear scan that only cuts at ASCII delimiters (so never inside a
//! multi-byte character), each leaving text it has nothing to say about byte for byte:
//! - JSON: the value of a secret key (`"password": …`, at any depth) becomes a marker string;
//! - pairs: the value of a secret key in `key=value` (a query, a form, a cookie, a log line)
//!   becomes `REDACTED`; the value runs to `&`, `#`, whitespace, a double quote, `<`, `>` or `\`
//!   — not to `,`, `)` or `'`, which values may contain;
//! - userinfo: `scheme://user:password@` becomes `scheme://REDACTED:REDACTED@`;
//! - lines: the rest of a `Secret-Name: value` line (a header dump, YAML) becomes `REDACTED`.

use std::borrow::Cow;

use super::names::Names;
use super::url::is_secret_key;
use super::REDACTED;

/// `text` with every secret the four passes find replaced; `json_marker(part)` is the string
/// put in place of a JSON value whose key matched `part`.
pub(crate) fn redact_text<'a>(
    text: &'a str,
    names: &Names,
    json_marker: &dyn Fn(&str) -> String,
) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    if text.contains('"') {
        out = then(out, |t| redact_json(t, names, json_marker));
    }
    if text.contains('=') {
        out = then(out, |t| redact_pairs(t, names));
    }
    if text.contains("://") {
        out = then(out, redact_userinfo);
    }
    if text.contains(": ") {
        out = then(out, |t| redact_lines(t, names));
    }
    out
}

/// JSON values of secret keys, at any depth, tolerant of cut and pretty-printed JSON.
fn redact_json<'a>(text: &'a str, names: &Names, marker: &dyn Fn(&str) -> String) -> Cow<'a, str> {
    super::json::scrub_json_values(text, |key| {
        if !key.contains('\\') {
            return names.secret_part(key).map(marker);
        }
        // an escaped key is judged by the name it spells
        let unescaped = serde_json::from_str::<String>(&format!("\"{key}\"")).ok()?;
        names.secret_part(&unescaped).map(marker)
    })
}

/// Applies `f` to the current text, keeping the borrow when `f` changed nothing.
fn then<'a>(text: Cow<'a, str>, f: impl FnOnce(&str) -> Cow<'_, str>) -> Cow<'a, str> {
    let changed = match f(&text) {
        Cow::Owned(s) => s,
        Cow::Borrowed(_) => return text,
    };
    Cow::Owned(changed)
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'%' | b'+' | b'[' | b']')
}

fn ends_pair_value(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'&' | b'#' | b'"' | b'<' | b'>' | b'\\')
}

/// A value that a redaction already replaced.
fn already_redacted(value: &str) -> bool {
    value.starts_with(REDACTED) || value.starts_with('[')
}

/// Replaces `text[start..end]` ranges (sorted, disjoint, on ASCII boundaries) by `REDACTED`.
fn replace_ranges<'a>(text: &'a str, ranges: &[(usize, usize)], with: &str) -> Cow<'a, str> {
    if ranges.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for &(start, end) in ranges {
        out.push_str(&text[copied..start]);
        out.push_str(with);
        copied = end;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

fn redact_pairs<'a>(text: &'a str, names: &Names) -> Cow<'a, str> {
    let bytes = text.as_bytes();
    let mut ranges = Vec::new();
    let mut i = 0;
    while let Some(eq) = bytes[i..].iter().position(|&b| b == b'=').map(|p| i + p) {
        let key_start = bytes[..eq]
            .iter()
            .rposition(|&b| !is_key_byte(b))
            .map_or(0, |p| p + 1);
        let value_end = bytes[eq + 1..]
            .iter()
            .position(|&b| ends_pair_value(b))
            .map_or(bytes.len(), |p| eq + 1 + p);
        let value = &text[eq + 1..value_end];
        if key_start < eq
            && !value.is_empty()
            && !already_redacted(value)
            && is_secret_key(&text[key_start..eq], names)
        {
            ranges.push((eq + 1, value_end));
        }
        i = value_end.max(eq + 1);
    }
    replace_ranges(text, &ranges, REDACTED)
}

fn redact_userinfo(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut ranges = Vec::new();
    let mut i = 0;
    while let Some(sep) = text[i..].find("://").map(|p| i + p) {
        let start = sep + 3;
        let end = bytes[start..]
            .iter()
            .position(|&b| {
                b.is_ascii_whitespace() || matches!(b, b'/' | b'?' | b'#' | b'"' | b'<' | b'>')
            })
            .map_or(bytes.len(), |p| start + p);
        if let Some(at) = bytes[start..end].iter().rposition(|&b| b == b'@') {
            let userinfo = &text[start..start + at];
            if at > 0 && userinfo != "REDACTED:REDACTED" {
                ranges.push((start, start + at));
            }
        }
        i = end.max(start);
    }
    replace_ranges(text, &ranges, "REDACTED:REDACTED")
}

fn redact_lines<'a>(text: &'a str, names: &Names) -> Cow<'a, str> {
    let bytes = text.as_bytes();
    let mut ranges = Vec::new();
    let mut i = 0;
    while let Some(colon) = text[i..].find(": ").map(|p| i + p) {
        let key_start = bytes[..colon]
            .iter()
            .rposition(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')))
            .map_or(0, |p| p + 1);
        let value_start = colon + 2;
        let value_end = bytes[value_start..]
            .iter()
            .position(|&b| matches!(b, b'\r' | b'\n' | b'"' | b';' | b'&'))
            .map_or(bytes.len(), |p| value_start + p);
        let value = &text[value_start..value_end];
        if key_start < colon
            && !value.trim().is_empty()
            && !already_redacted(value)
            && names.is_secret(&text[key_start..colon])
        {
            ranges.push((value_start, value_end));
        }
        i = value_end.max(value_start);
    }
    replace_ranges(text, &ranges, REDACTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(text: &str) -> String {
        let names = Names::new(true, &[]).unwrap();
        redact_text(text, &names, &|_| "[REDACTED]".to_owned()).into_owned()
    }

    #[test]
    fn secrets_in_free_text_are_redacted() {
        let cases = [
            (
                "error sending request for url (http://u:p@h/x?sig=S1,x&X-Amz-Signature=S2(a)&q=1): timed out",
                "error sending request for url (http://REDACTED:REDACTED@h/x?sig=REDACTED&X-Amz-Signature=REDACTED&q=1): timed out",
            ),
            ("bad url 'http://h/?token=a'b' here", "bad url 'http://h/?token=REDACTED here"),
            ("GET /users/{id}?api_key=k", "GET /users/{id}?api_key=REDACTED"),
            (r#"{"user":{"password":"p"}}"#, r#"{"user":{"password":"[REDACTED]"}}"#),
            ("password=a\ntoken=b&q=1", "password=REDACTED\ntoken=REDACTED&q=1"),
            ("Authorization: Bearer abc\nAccept: */*", "Authorization: REDACTED\nAccept: */*"),
            ("tcp connect error: Connection refused (os error 111)", "tcp connect error: Connection refused (os error 111)"),
            ("é://ü:p@h/ and ünïcode=1 ://", "é://REDACTED:REDACTED@h/ and ünïcode=1 ://"),
            ("sig=REDACTED&token=[REDACTED]", "sig=REDACTED&token=[REDACTED]"),
            ("no secrets = here", "no secrets = here"),
            ("token=", "token="),
            ("=token", "=token"),
            ("a#access_token=t&state=s", "a#access_token=REDACTED&state=s"),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "input: {input}");
        }
    }

    #[test]
    fn clean_text_is_borrowed() {
        let names = Names::new(true, &[]).unwrap();
        let marker = |_: &str| String::new();
        let text = "client error (Connect): tcp connect error";
        assert!(matches!(
            redact_text(text, &names, &marker),
            Cow::Borrowed(_)
        ));
    }
}
