//! Redacting values inside JSON text by key, tolerant of truncated and pretty-printed JSON.
//!
//! A small scanner, not a parser: it walks the text, recognises `"key":` pairs at any depth and,
//! when the key names a secret, replaces the whole value — a string, a number or literal, or a
//! nested object or array (balanced, or up to the end of a truncated text) — by a marker.
//! Everything else is copied byte for byte. All delimiters are ASCII, so every cut falls on a
//! UTF-8 character boundary.

use std::borrow::Cow;

/// Replaces the values of keys for which `secret` returns a marker.
pub(crate) fn scrub_json_values<'t>(
    text: &'t str,
    secret: impl Fn(&str) -> Option<String>,
) -> Cow<'t, str> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let key_end = string_end(bytes, i);
        let colon = skip_whitespace(bytes, key_end);
        let is_key = colon < bytes.len() && bytes[colon] == b':' && key_end > i + 1;
        let marker = is_key.then(|| secret(&text[i + 1..key_end - 1])).flatten();
        let Some(marker) = marker else {
            i = key_end;
            continue;
        };
        let value_start = skip_whitespace(bytes, colon + 1);
        let value_end = value_end(bytes, value_start);
        if already_redacted(&text[value_start..value_end]) {
            i = value_end;
            continue;
        }
        out.push_str(&text[copied..value_start]);
        out.push('"');
        out.push_str(&marker);
        out.push('"');
        copied = value_end;
        i = value_end;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// A value some redaction already replaced (`"[REDACTED]"`, a scrubbing marker).
fn already_redacted(value: &str) -> bool {
    value == "\"[REDACTED]\"" || value == "\"REDACTED\"" || value.starts_with("\"[Scrubbed due to ")
}

/// The index just past the string starting at `start` (a `"`), or the end of a cut text.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

fn skip_whitespace(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The index just past the value starting at `start`.
fn value_end(bytes: &[u8], start: usize) -> usize {
    match bytes.get(start) {
        None => start,
        Some(b'"') => string_end(bytes, start),
        Some(b'{' | b'[') => container_end(bytes, start),
        Some(_) => {
            let mut i = start;
            while i < bytes.len()
                && !matches!(bytes[i], b',' | b'}' | b']')
                && !bytes[i].is_ascii_whitespace()
            {
                i += 1;
            }
            i
        }
    }
}

/// The index just past the balanced object or array at `start`, or the end of a cut text.
fn container_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i = string_end(bytes, i);
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(text: &str) -> String {
        let secret = |k: &str| {
            ["password", "token", "secret"]
                .iter()
                .find(|p| k.contains(*p))
                .map(|p| format!("X:{p}"))
        };
        scrub_json_values(text, secret).into_owned()
    }

    #[test]
    fn values_of_secret_keys_are_replaced_at_any_depth() {
        let cases = [
            (
                r#"{"user":"a","password":"p"}"#,
                r#"{"user":"a","password":"X:password"}"#,
            ),
            (
                r#"{"user":{"password":"S3"}}"#,
                r#"{"user":{"password":"X:password"}}"#,
            ),
            (
                r#"{"tokens":["a","S3"],"n":1}"#,
                r#"{"tokens":"X:token","n":1}"#,
            ),
            (
                "{\"password\": [ \"S3\" ]\n}",
                "{\"password\": \"X:password\"\n}",
            ),
            (
                r#"{"secret":{"a":1,"b":"S3"},"c":2}"#,
                r#"{"secret":"X:secret","c":2}"#,
            ),
            (
                r#"{"password": 12345, "n": 1}"#,
                r#"{"password": "X:password", "n": 1}"#,
            ),
            (r#"{"secret":"abc...[truncated]"#, r#"{"secret":"X:secret""#),
            (r#"{"secret":{"a":"b"#, r#"{"secret":"X:secret""#),
            (
                r#"[{"a":[1,2]},{":password":"S3"}]"#,
                r#"[{"a":[1,2]},{":password":"X:password"}]"#,
            ),
            (
                r#"{"q":"has \"password\": inside","x":1}"#,
                r#"{"q":"has \"password\": inside","x":1}"#,
            ),
            ("plain text, not json", "plain text, not json"),
            (
                r#"{"é":"ü","password":"ß"}"#,
                r#"{"é":"ü","password":"X:password"}"#,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(scrub(input), want, "{input}");
        }
    }

    #[test]
    fn untouched_text_is_borrowed() {
        let text = r#"{"a":1}"#;
        assert!(matches!(
            scrub_json_values(text, |_| None),
            Cow::Borrowed(_)
        ));
    }
}
