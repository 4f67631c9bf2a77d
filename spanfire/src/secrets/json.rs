//! Redacting values inside JSON text by key, tolerant of truncated and pretty-printed JSON.
//!
//! A small scanner, not a parser: it walks the text, recognises `"key":` pairs at any depth and,
//! when the key names a secret, replaces the whole value — a string, a number or literal, or a
//! nested object or array (balanced, or up to the end of a truncated text) — by a marker.
//! Everything else is copied byte for byte. All delimiters are ASCII, so every cut falls on a
//! UTF-8 character boundary.

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::{memchr, memchr2, memmem};

use super::names::Names;
use super::{note, Found, PathPart};

/// Replaces the values of keys that `names` says are secrets by `"<marker(part)>"`, `part`
/// being the matched part of the key. With `notes`, each replacement is noted with its JSON
/// path (keys and array indices, as far as a cut text lets them be known) and the matched part.
pub(crate) fn scrub_json_values<'t>(
    text: &'t str,
    names: &Names,
    marker: &dyn Fn(&str) -> String,
    mut notes: Option<&mut Vec<Found>>,
) -> Cow<'t, str> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    // Where the scanner is, kept only when noting: (object key so far | array index) per level.
    let mut path = Path::default();
    loop {
        let next = match notes {
            Some(_) => path.step_to_quote(bytes, i),
            None => memchr(b'"', &bytes[i..]).map(|at| i + at),
        };
        let Some(quote) = next else {
            break;
        };
        i = quote;
        let (key_end, escaped) = string_end(bytes, i);
        let colon = skip_whitespace(bytes, key_end);
        let is_key = colon < bytes.len() && bytes[colon] == b':' && key_end > i + 1;
        if !is_key {
            // A string value may hold JSON of its own (an echoed request body, a log line):
            // redacted inside, then written back as a JSON string.
            let mut inner_notes = notes.is_some().then(Vec::new);
            let nested = escaped
                .then(|| nested_json(&text[i..key_end], names, marker, inner_notes.as_mut()))
                .flatten();
            if let Some(nested) = nested {
                out.push_str(&text[copied..i]);
                out.push_str(&nested);
                copied = key_end;
                if let (Some(notes), Some(inner)) = (notes.as_deref_mut(), inner_notes) {
                    for found in inner {
                        note(
                            notes,
                            path.here(text).into_iter().chain(found.path).collect(),
                            found.matched,
                        );
                    }
                }
            }
            i = key_end;
            continue;
        }
        let raw_key = &text[i + 1..key_end - 1];
        if notes.is_some() {
            path.key(i + 1..key_end - 1);
        }
        let key = if escaped {
            unescaped(raw_key)
        } else {
            Cow::Borrowed(raw_key)
        };
        let Some(matched) = names.secret_part(&key).map(str::to_owned) else {
            i = key_end;
            continue;
        };
        let value_start = skip_whitespace(bytes, colon + 1);
        let value_end = value_end(bytes, value_start);
        // Noted also when already redacted (by the instrumentation): where it happened counts.
        if let Some(notes) = notes.as_deref_mut() {
            note(notes, path.at_key(text, &key), matched.clone());
        }
        if already_redacted(&text[value_start..value_end]) {
            i = value_end;
            continue;
        }
        out.push_str(&text[copied..value_start]);
        out.push('"');
        out.push_str(&marker(&matched));
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

/// Whether `text` holds a `\u` escape (at any level of escaping), which can spell any letter.
pub(crate) fn has_unicode_escape(text: &str) -> bool {
    static FINDER: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("\\u"));
    FINDER.find(text.as_bytes()).is_some()
}

/// A key as written (`"pass\u0077ord"`) is judged by the name it spells.
fn unescaped(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    match serde_json::from_str::<String>(&format!("\"{raw}\"")) {
        Ok(key) => Cow::Owned(key),
        Err(_) => Cow::Borrowed(raw),
    }
}

/// The JSON path of the scanner's position, for notes.
#[derive(Default)]
struct Path(Vec<Level>);

/// A level of a [`Path`]: an object and the byte range of its current key (as written), or an
/// array and the index of its current element.
enum Level {
    Object(Option<std::ops::Range<usize>>),
    Array(usize),
}

impl Path {
    /// Follows the structural bytes of `bytes[from..]` up to the next `"`; its index, if any.
    fn step_to_quote(&mut self, bytes: &[u8], from: usize) -> Option<usize> {
        for (at, &byte) in bytes.iter().enumerate().skip(from) {
            match byte {
                b'"' => return Some(at),
                b'{' | b'[' | b'}' | b']' | b',' => self.step(byte),
                _ => {}
            }
        }
        None
    }

    /// Follows a structural byte outside strings.
    fn step(&mut self, byte: u8) {
        match byte {
            b'{' => self.0.push(Level::Object(None)),
            b'[' => self.0.push(Level::Array(0)),
            b'}' | b']' => {
                self.0.pop();
            }
            b',' => match self.0.last_mut() {
                Some(Level::Array(n)) => *n += 1,
                Some(Level::Object(key)) => *key = None,
                None => {}
            },
            _ => {}
        }
    }

    /// Notes the key just read in the current object (its range in the text, as written).
    fn key(&mut self, raw: std::ops::Range<usize>) {
        if let Some(Level::Object(current)) = self.0.last_mut() {
            *current = Some(raw);
        }
    }

    /// The path of the value being read in `text`.
    fn here(&self, text: &str) -> Vec<PathPart> {
        self.0
            .iter()
            .filter_map(|level| match level {
                Level::Object(key) => key
                    .clone()
                    .map(|raw| PathPart::Key(unescaped(&text[raw]).into_owned().into())),
                Level::Array(n) => Some(PathPart::Index(*n)),
            })
            .collect()
    }

    /// The path of the value of `key` (also when a cut text has no enclosing object).
    fn at_key(&self, text: &str, key: &str) -> Vec<PathPart> {
        let mut path = self.here(text);
        if !matches!(self.0.last(), Some(Level::Object(_))) {
            path.push(PathPart::Key(key.to_owned().into()));
        }
        path
    }
}

/// `literal` (a JSON string with its quotes, perhaps cut off) redacted inside, when it holds
/// escaped JSON with a secret key; `None` when there is nothing to redact.
fn nested_json(
    literal: &str,
    names: &Names,
    marker: &dyn Fn(&str) -> String,
    notes: Option<&mut Vec<Found>>,
) -> Option<String> {
    static ESCAPED_QUOTE: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new("\\\""));
    ESCAPED_QUOTE.find(literal.as_bytes())?;
    // Unescaping (without `\u`) keeps letters and never joins them: no name in the inner
    // text, at any depth, can be a secret if none spelled in the literal can.
    if !has_unicode_escape(literal) && !names.may_name_secret(literal) {
        return None;
    }
    // A cut-off literal (truncated capture) is closed first, without a dangling escape.
    let closed = literal.len() >= 2
        && literal.ends_with('"')
        && !ends_in_escape(&literal[..literal.len() - 1]);
    let mut owned;
    let complete: &str = if closed {
        literal
    } else {
        owned = literal.to_owned();
        while ends_in_escape(&owned) || owned.ends_with('\\') {
            owned.pop();
        }
        owned.push('"');
        &owned
    };
    let inner: String = serde_json::from_str(complete).ok()?;
    let redacted = match scrub_json_values(&inner, names, marker, notes) {
        Cow::Owned(redacted) => redacted,
        Cow::Borrowed(_) => return None,
    };
    let mut written = serde_json::to_string(&redacted).ok()?;
    if !closed {
        written.pop();
    }
    Some(written)
}

/// Whether `text` ends inside an escape sequence (an odd number of trailing backslashes).
fn ends_in_escape(text: &str) -> bool {
    text.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// A value some redaction already replaced (`"[REDACTED]"`, a scrubbing marker).
fn already_redacted(value: &str) -> bool {
    value == "\"[REDACTED]\"" || value == "\"REDACTED\"" || value.starts_with("\"[Scrubbed due to ")
}

/// The index just past the string starting at `start` (a `"`), or the end of a cut text; and
/// whether the string holds a backslash.
fn string_end(bytes: &[u8], start: usize) -> (usize, bool) {
    let mut escaped = false;
    let mut i = start + 1;
    while let Some(at) = bytes.get(i..).and_then(|rest| memchr2(b'"', b'\\', rest)) {
        if bytes[i + at] == b'"' {
            return (i + at + 1, escaped);
        }
        escaped = true;
        i += at + 2;
    }
    (bytes.len(), escaped)
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
        Some(b'"') => string_end(bytes, start).0,
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
                i = string_end(bytes, i).0;
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

    /// Keys holding `password`, `token` or `secret` are secrets.
    fn secret() -> Names {
        let words = ["password", "token", "secret"].map(str::to_owned);
        Names::new(false, &words).unwrap()
    }

    fn scrub(text: &str) -> String {
        scrub_json_values(text, &secret(), &|p| format!("X:{p}"), None).into_owned()
    }

    #[test]
    fn notes_say_where_and_which_part_never_the_value() {
        let mut notes = Vec::new();
        let text =
            r#"{"a":[{"x":1},{"password":"S1"}],"data":"{\"token\":\"S2\"}","secret":{"n":"S3"}}"#;
        let out = scrub_json_values(text, &secret(), &|p| format!("X:{p}"), Some(&mut notes));
        assert!(
            !out.contains("S1") && !out.contains("S2") && !out.contains("S3"),
            "{out}"
        );
        let key = |k: &str| PathPart::Key(k.to_owned().into());
        assert_eq!(
            notes,
            [
                Found {
                    path: vec![key("a"), PathPart::Index(1), key("password")],
                    matched: "password".into()
                },
                Found {
                    path: vec![key("data"), key("token")],
                    matched: "token".into()
                },
                Found {
                    path: vec![key("secret")],
                    matched: "secret".into()
                },
            ]
        );
        let listed = format!("{notes:?}");
        assert!(
            !listed.contains("S1") && !listed.contains("S2") && !listed.contains("S3"),
            "{listed}"
        );
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
                // a string that holds `"secret": value` is scanned as the JSON it may be
                r#"{"q":"has \"password\": inside","x":1}"#,
                r#"{"q":"has \"password\": \"X:password\"","x":1}"#,
            ),
            ("plain text, not json", "plain text, not json"),
            (
                r#"{"data":"{\"password\":\"hunter2\",\"n\":1}","x":1}"#,
                r#"{"data":"{\"password\":\"X:password\",\"n\":1}","x":1}"#,
            ),
            (
                r#"{"data":"{\"user\":{\"token\":\"S3\"},\"q\":\"a\\\"b\"}"}"#,
                r#"{"data":"{\"user\":{\"token\":\"X:token\"},\"q\":\"a\\\"b\"}"}"#,
            ),
            (
                r#"{"data":"{\"password\":\"hun...[truncated]"#,
                r#"{"data":"{\"password\":\"X:password\""#,
            ),
            (r#"{"data":"say \"hi\""}"#, r#"{"data":"say \"hi\""}"#),
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
            scrub_json_values(
                text,
                &Names::new(false, &[]).unwrap(),
                &|p| p.to_owned(),
                None
            ),
            Cow::Borrowed(_)
        ));
    }
}
