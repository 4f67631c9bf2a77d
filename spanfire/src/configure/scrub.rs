//! Scrubbing: the last stage before export, which removes secrets from every attribute.
//!
//! A value is replaced by `[Scrubbed due to '<what matched>']` — the marker names the part of
//! the *key* that matched, never the value — when:
//! - the attribute key matches a pattern (`http.request.header.x-api-key`, `db.password`);
//! - a JSON key inside a body attribute (`http.request.body.text`, `http.response.body.text`,
//!   `http.request.body.form`) matches (`{"password": "..."}`), also in truncated JSON;
//! - a query key inside `url.full`, or a key of url-encoded body text, matches (`token=...`).
//!
//! Values already redacted at capture (`[REDACTED]`) are left as they are.
//! `access-control-allow-credentials` and similar CORS headers are not secrets and are kept.

use std::borrow::Cow;

use opentelemetry::{KeyValue, StringValue, Value};
use regex::{Regex, RegexBuilder};

/// The default patterns (case-insensitive regular expressions, matched anywhere in a key).
pub const DEFAULT_SCRUB_PATTERNS: &[&str] = &[
    "password",
    "passwd",
    "mysql_pwd",
    "secret",
    "authorization",
    "auth[_-]?token",
    "api[._ -]?key",
    "private[._ -]?key",
    "session",
    "cookie",
    "csrf",
    "xsrf",
    "jwt",
    "token",
    "credit[._ -]?card",
    "social[._ -]?security",
    "ssn",
    "credential",
];

/// Keys that match a pattern but are not secrets.
const SAFE_KEYS: &[&str] = &["access-control-allow-credentials"];

/// Scrubbing options for [`ConfigureBuilder::scrubbing`](crate::ConfigureBuilder::scrubbing).
#[derive(Debug, Clone)]
pub struct Scrubbing {
    extra: Vec<String>,
}

impl Default for Scrubbing {
    /// The default patterns only.
    fn default() -> Self {
        Scrubbing { extra: Vec::new() }
    }
}

impl Scrubbing {
    /// Adds patterns (case-insensitive regular expressions) to the defaults.
    pub fn with_extra_patterns<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extra.extend(patterns.into_iter().map(Into::into));
        self
    }

    pub(crate) fn build(&self) -> Result<Scrubber, crate::Error> {
        let all: Vec<String> = DEFAULT_SCRUB_PATTERNS
            .iter()
            .map(|p| (*p).to_owned())
            .chain(self.extra.iter().cloned())
            .collect();
        let keys = RegexBuilder::new(&all.join("|"))
            .case_insensitive(true)
            .build()
            .map_err(|e| crate::Error::invalid_pattern("scrubbing patterns", e))?;
        Ok(Scrubber { keys })
    }
}

/// The compiled scrubber.
#[derive(Debug)]
pub(crate) struct Scrubber {
    keys: Regex,
}

impl Scrubber {
    /// The matched part of `key`, if `key` names a secret.
    /// For an attribute key: header attributes are judged by the whole header name (which may
    /// contain dots), other attributes by their last segment (`db.password`).
    fn secret_key<'k>(&self, key: &'k str) -> Option<&'k str> {
        let name = ["http.request.header.", "http.response.header."]
            .iter()
            .find_map(|prefix| key.strip_prefix(prefix))
            .unwrap_or_else(|| key.rsplit('.').next().unwrap_or(key));
        self.secret_name(name)
    }

    /// The matched part of a bare name (a JSON key, a query key, a header name).
    fn secret_name<'k>(&self, name: &'k str) -> Option<&'k str> {
        if SAFE_KEYS.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            return None;
        }
        self.keys.find(name).map(|m| m.as_str())
    }

    /// Scrubs every attribute in place.
    pub(crate) fn scrub(&self, attributes: &mut [KeyValue]) {
        for kv in attributes.iter_mut() {
            if let Some(value) = self.scrub_one(kv.key.as_str(), &kv.value) {
                kv.value = value;
            }
        }
    }

    fn scrub_one(&self, key: &str, value: &Value) -> Option<Value> {
        if let Some(matched) = self.secret_key(key) {
            return scrub_whole(value, matched);
        }
        let Value::String(text) = value else {
            return None;
        };
        let scrubbed = match key {
            "url.full" => self.scrub_query(text.as_str()),
            k if k.starts_with("http.request.body.") || k.starts_with("http.response.body.") => {
                self.scrub_body(text.as_str())
            }
            _ => Cow::Borrowed(text.as_str()),
        };
        match scrubbed {
            Cow::Owned(s) => Some(Value::String(s.into())),
            Cow::Borrowed(_) => None,
        }
    }

    fn scrub_json<'t>(&self, text: &'t str) -> Cow<'t, str> {
        super::scrub_json::scrub_json_values(text, |key| {
            if !key.contains('\\') {
                return self.secret_name(key).map(marker);
            }
            // an escaped key is judged by the name it spells
            let unescaped = serde_json::from_str::<String>(&format!("\"{key}\"")).ok()?;
            self.secret_name(&unescaped).map(marker)
        })
    }

    fn scrub_query<'t>(&self, url: &'t str) -> Cow<'t, str> {
        let Some((base, rest)) = url.split_once('?') else {
            return Cow::Borrowed(url);
        };
        let (query, fragment) = match rest.split_once('#') {
            Some((q, f)) => (q, Some(f)),
            None => (rest, None),
        };
        let Cow::Owned(query) = self.scrub_pairs(query) else {
            return Cow::Borrowed(url);
        };
        let mut out = format!("{base}?{query}");
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
        Cow::Owned(out)
    }

    /// Scrubs the values of secret keys in `k=v&k2=v2` text (queries, url-encoded bodies).
    fn scrub_pairs<'t>(&self, pairs: &'t str) -> Cow<'t, str> {
        let mut changed = false;
        let scrubbed: Vec<Cow<'t, str>> = pairs
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if v != "REDACTED" => match self.secret_encoded_name(k) {
                    Some(m) => {
                        changed = true;
                        Cow::Owned(format!("{k}={m}"))
                    }
                    None => Cow::Borrowed(pair),
                },
                _ => Cow::Borrowed(pair),
            })
            .collect();
        if changed {
            Cow::Owned(scrubbed.join("&"))
        } else {
            Cow::Borrowed(pairs)
        }
    }

    /// The marker for a url-encoded key (`api+key`, `pa%73sword`), judged once decoded.
    fn secret_encoded_name(&self, key: &str) -> Option<String> {
        if !key.contains(['%', '+']) {
            return self.secret_name(key).map(marker);
        }
        let decoded: String = url::form_urlencoded::parse(key.as_bytes())
            .map(|(k, _)| k)
            .collect();
        self.secret_name(&decoded).map(marker)
    }

    /// Body text: JSON pairs anywhere, and the whole text when it is url-encoded.
    fn scrub_body<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let json = self.scrub_json(text);
        let form_like = text.contains('=')
            && !text.contains(char::is_whitespace)
            && !text.starts_with(['{', '[']);
        if !form_like {
            return json;
        }
        match self.scrub_pairs(&json) {
            Cow::Owned(s) => Cow::Owned(s),
            Cow::Borrowed(_) => json,
        }
    }
}

fn marker(matched: &str) -> String {
    format!("[Scrubbed due to '{matched}']")
}

fn scrub_whole(value: &Value, matched: &str) -> Option<Value> {
    let redacted = crate::REDACTED_HEADER_VALUE;
    match value {
        Value::Array(opentelemetry::Array::String(items)) => {
            if items.iter().all(|s| s.as_str() == redacted) {
                return None;
            }
            let scrubbed: Vec<StringValue> = items.iter().map(|_| marker(matched).into()).collect();
            Some(Value::Array(scrubbed.into()))
        }
        Value::String(s) if s.as_str() == redacted => None,
        _ => Some(Value::String(marker(matched).into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrubbed(key: &'static str, value: Value) -> Value {
        let mut attrs = [KeyValue::new(key, value)];
        Scrubbing::default().build().unwrap().scrub(&mut attrs);
        attrs[0].value.clone()
    }

    #[test]
    fn secrets_are_scrubbed_and_never_echoed() {
        let cases = [
            ("db.password", "hunter2", "[Scrubbed due to 'password']"),
            (
                "http.request.body.text",
                r#"{"user":"a","password":"hunter2"}"#,
                r#"{"user":"a","password":"[Scrubbed due to 'password']"}"#,
            ),
            (
                "http.response.body.text",
                r#"{"api_key": 12345, "n": 1}"#,
                r#"{"api_key": "[Scrubbed due to 'api_key']", "n": 1}"#,
            ),
            (
                "http.request.body.form",
                r#"{"token":"t0k","q":"x"}"#,
                r#"{"token":"[Scrubbed due to 'token']","q":"x"}"#,
            ),
            (
                "http.response.body.text",
                r#"{"secret":"abc...[truncated]"#,
                r#"{"secret":"[Scrubbed due to 'secret']""#,
            ),
            (
                "url.full",
                "http://h/p?token=s3&q=1#f",
                "http://h/p?token=[Scrubbed due to 'token']&q=1#f",
            ),
            (
                "url.full",
                "http://h/p?sig=REDACTED",
                "http://h/p?sig=REDACTED",
            ),
            ("http.response.body.text", "plain text", "plain text"),
            (
                "http.response.body.text",
                "token=t0k&q=x",
                "token=[Scrubbed due to 'token']&q=x",
            ),
        ];
        for (key, input, want) in cases {
            assert_eq!(
                scrubbed(key, Value::from(input)),
                Value::from(want),
                "{key}: {input}"
            );
        }
    }

    #[test]
    fn nested_json_and_dotted_header_names_are_scrubbed() {
        let nested = scrubbed(
            "http.request.body.text",
            Value::from(r#"{"user":{"password":"S3CR3T"}}"#),
        );
        assert!(!nested.as_str().contains("S3CR3T"), "{nested:?}");
        let arr = |v: &str| Value::Array(vec![StringValue::from(v.to_owned())].into());
        let dotted = scrubbed("http.request.header.x-jwt.v2", arr("eyJ"));
        assert_eq!(dotted, arr("[Scrubbed due to 'jwt']"));
    }

    #[test]
    fn header_arrays_are_scrubbed_but_cors_is_kept() {
        let arr = |v: &str| Value::Array(vec![StringValue::from(v.to_owned())].into());
        let got = scrubbed("http.request.header.x-api-key", arr("k"));
        assert_eq!(got, arr("[Scrubbed due to 'api-key']"));
        let cors = "http.response.header.access-control-allow-credentials";
        assert_eq!(scrubbed(cors, arr("true")), arr("true"));
        let already = "http.request.header.authorization";
        assert_eq!(scrubbed(already, arr("[REDACTED]")), arr("[REDACTED]"));
    }

    #[test]
    fn extra_patterns_extend_and_bad_ones_are_errors() {
        let s = Scrubbing::default()
            .with_extra_patterns(["pin"])
            .build()
            .unwrap();
        let mut attrs = [KeyValue::new("app.pin", "1234")];
        s.scrub(&mut attrs);
        assert_eq!(attrs[0].value, Value::from("[Scrubbed due to 'pin']"));
        let err = Scrubbing::default()
            .with_extra_patterns(["("])
            .build()
            .unwrap_err();
        assert!(err.is_invalid_pattern());
    }
}
