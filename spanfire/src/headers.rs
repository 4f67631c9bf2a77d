//! Header capture: `http.request.header.<name>` / `http.response.header.<name>` attributes.
//!
//! Names are lowercased (as `http` stores them) with dashes kept; each value is a string array
//! with one element per header value. Values of sensitive headers become `[REDACTED]`.

use http::HeaderMap;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use regex::{Regex, RegexBuilder};

/// The value recorded instead of a sensitive header's value.
pub const REDACTED_HEADER_VALUE: &str = "[REDACTED]";

/// Substrings of header names whose values are always redacted.
///
/// Chosen so that `access-control-allow-credentials` and similar harmless names stay readable.
pub const DEFAULT_SENSITIVE_HEADER_PARTS: &[&str] = &[
    "authorization",
    "cookie",
    "token",
    "secret",
    "passw",
    "api-key",
    "apikey",
    "api_key",
    "x-auth",
    "session",
    "signature",
    "csrf",
    "xsrf",
    "private-key",
    "jwt",
    "credential",
];

/// Header names that contain a sensitive part but are not secrets.
const NOT_SENSITIVE: &[&str] = &["access-control-allow-credentials"];

/// Env var listing request header names (comma-separated, case-insensitive regexes) to capture.
pub const ENV_CAPTURE_REQUEST: &str = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST";
/// Env var listing response header names (comma-separated, case-insensitive regexes) to capture.
pub const ENV_CAPTURE_RESPONSE: &str = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE";
/// Env var listing extra header names (comma-separated, case-insensitive regexes) to redact.
pub const ENV_SANITIZE: &str = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS";

/// Which header names one direction captures.
#[derive(Debug, Clone, Default)]
pub(crate) enum Selection {
    #[default]
    Nothing,
    All,
    Matching(Regex),
}

impl Selection {
    fn selects(&self, name: &str) -> bool {
        match self {
            Selection::Nothing => false,
            Selection::All => true,
            Selection::Matching(re) => re.is_match(name),
        }
    }

    pub(crate) fn is_nothing(&self) -> bool {
        matches!(self, Selection::Nothing)
    }
}

/// Everything header capture needs, built once per instrumentation.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeaderCapture {
    pub(crate) request: Selection,
    pub(crate) response: Selection,
    pub(crate) extra_sensitive: Option<Regex>,
}

impl HeaderCapture {
    /// Capture settings from the `OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*` env vars.
    pub(crate) fn from_env(capture_all: bool) -> Result<Self, crate::Error> {
        let all = |on| {
            if on {
                Selection::All
            } else {
                Selection::Nothing
            }
        };
        let from = |var: &str, on| match env_list(var) {
            Some(list) => names_regex(var, &list).map(Selection::Matching),
            None => Ok(all(on)),
        };
        Ok(HeaderCapture {
            request: from(ENV_CAPTURE_REQUEST, capture_all)?,
            response: from(ENV_CAPTURE_RESPONSE, capture_all)?,
            extra_sensitive: env_list(ENV_SANITIZE)
                .map(|l| names_regex(ENV_SANITIZE, &l))
                .transpose()?,
        })
    }

    /// Adds `request`/`response` header attributes for the selected headers to `out`.
    pub(crate) fn record(&self, response: bool, headers: &HeaderMap, out: &mut Vec<KeyValue>) {
        let (selection, prefix) = if response {
            (&self.response, "http.response.header.")
        } else {
            (&self.request, "http.request.header.")
        };
        out.reserve(headers.keys_len());
        for header in headers.keys() {
            let name = header.as_str();
            if !selection.selects(name) {
                continue;
            }
            let known = known_header(name);
            let sensitive = match known {
                Some(k) => k.sensitive || self.extra_sensitive(name),
                None => self.is_sensitive(name),
            };
            // Looked up by `HeaderName`, not by `&str` (which would be parsed again); one
            // value is the common case, so the array starts with room for one.
            let all = headers.get_all(header);
            let mut values = Vec::with_capacity(1);
            values.extend(all.iter().map(|v| header_value(sensitive, v.as_bytes())));
            let key: opentelemetry::Key = match known {
                Some(k) if response => k.response.into(),
                Some(k) => k.request.into(),
                None => {
                    let mut key = String::with_capacity(prefix.len() + name.len());
                    key.push_str(prefix);
                    key.push_str(name);
                    key.into()
                }
            };
            out.push(KeyValue::new(key, Value::Array(Array::String(values))));
        }
    }

    fn extra_sensitive(&self, name: &str) -> bool {
        self.extra_sensitive
            .as_ref()
            .is_some_and(|re| re.is_match(name))
    }

    /// Whether the value of the (lowercase) header `name` must be redacted.
    pub(crate) fn is_sensitive(&self, name: &str) -> bool {
        let built_in = !NOT_SENSITIVE.contains(&name)
            && DEFAULT_SENSITIVE_HEADER_PARTS
                .iter()
                .any(|p| name.contains(p));
        built_in
            || self
                .extra_sensitive
                .as_ref()
                .is_some_and(|re| re.is_match(name))
    }
}

/// A header common enough to have its attribute keys as constants (no allocation per request).
#[derive(Debug, Clone, Copy)]
struct KnownHeader {
    request: &'static str,
    response: &'static str,
    sensitive: bool,
}

macro_rules! known_headers {
    ($($name:literal => $sensitive:literal),* $(,)?) => {
        fn known_header(name: &str) -> Option<KnownHeader> {
            match name {
                $($name => Some(KnownHeader {
                    request: concat!("http.request.header.", $name),
                    response: concat!("http.response.header.", $name),
                    sensitive: $sensitive,
                }),)*
                _ => None,
            }
        }
    };
}

known_headers! {
    "accept" => false, "accept-encoding" => false, "accept-language" => false,
    "authorization" => true, "cache-control" => false, "connection" => false,
    "content-encoding" => false, "content-length" => false, "content-type" => false,
    "cookie" => true, "date" => false, "etag" => false, "host" => false, "location" => false,
    "proxy-authorization" => true, "server" => false, "set-cookie" => true,
    "traceparent" => false, "tracestate" => false, "baggage" => false,
    "transfer-encoding" => false, "user-agent" => false, "vary" => false,
    "x-api-key" => true, "access-control-allow-origin" => false,
    "access-control-allow-credentials" => false,
}

fn header_value(sensitive: bool, bytes: &[u8]) -> StringValue {
    if sensitive {
        REDACTED_HEADER_VALUE.into()
    } else {
        // Almost every value is ASCII: the plain UTF-8 check is the fast path.
        match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned().into(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned().into(),
        }
    }
}

/// A comma-separated env var's non-empty items, or `None` when unset or empty.
pub(crate) fn env_list(var: &str) -> Option<Vec<String>> {
    let raw = std::env::var(var).ok()?;
    let items: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    (!items.is_empty()).then_some(items)
}

/// One case-insensitive regex matching any of `names` in full.
pub(crate) fn names_regex<S: AsRef<str>>(origin: &str, names: &[S]) -> Result<Regex, crate::Error> {
    let alternatives: Vec<String> = names
        .iter()
        .map(|n| format!("(?:{})", n.as_ref()))
        .collect();
    RegexBuilder::new(&format!("^(?:{})$", alternatives.join("|")))
        .case_insensitive(true)
        .build()
        .map_err(|e| crate::Error::invalid_pattern(origin, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn capture_all() -> HeaderCapture {
        HeaderCapture {
            request: Selection::All,
            response: Selection::All,
            extra_sensitive: None,
        }
    }

    #[test]
    fn sensitive_names_are_redacted_without_false_positives() {
        let cap = capture_all();
        let redacted = [
            "authorization",
            "proxy-authorization",
            "cookie",
            "set-cookie",
            "x-api-key",
            "x-auth-token",
            "x-amz-security-token",
            "x-csrf-token",
            "x-jwt-assertion",
            "x-client-credentials",
        ];
        for name in redacted {
            assert!(cap.is_sensitive(name), "{name} should be redacted");
        }
        for name in [
            "access-control-allow-credentials",
            "content-type",
            "user-agent",
            "accept",
        ] {
            assert!(!cap.is_sensitive(name), "{name} should be kept");
        }
    }

    #[test]
    fn the_known_header_table_agrees_with_the_rules() {
        let cap = capture_all();
        let names = [
            "accept",
            "authorization",
            "cookie",
            "set-cookie",
            "content-type",
            "x-api-key",
            "proxy-authorization",
            "traceparent",
            "access-control-allow-credentials",
            "host",
        ];
        for name in names {
            let known = known_header(name).unwrap();
            assert_eq!(known.sensitive, cap.is_sensitive(name), "{name}");
            assert_eq!(known.request, format!("http.request.header.{name}"));
            assert_eq!(known.response, format!("http.response.header.{name}"));
        }
    }

    #[test]
    fn values_are_string_arrays_one_per_value() {
        let mut headers = HeaderMap::new();
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        headers.append("cookie", HeaderValue::from_static("session=s3cret"));
        headers.append("x-bin", HeaderValue::from_bytes(b"ok\xff").unwrap());
        let mut out = Vec::new();
        capture_all().record(false, &headers, &mut out);
        let get = |k: &str| {
            out.iter()
                .find(|kv| kv.key.as_str() == k)
                .map(|kv| kv.value.clone())
        };
        let arr = |v: &[&str]| {
            Value::Array(Array::String(
                v.iter().map(|s| (*s).to_owned().into()).collect(),
            ))
        };
        assert_eq!(get("http.request.header.x-multi"), Some(arr(&["a", "b"])));
        assert_eq!(
            get("http.request.header.cookie"),
            Some(arr(&["[REDACTED]"]))
        );
        assert_eq!(get("http.request.header.x-bin"), Some(arr(&["ok\u{fffd}"])));
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn name_lists_match_whole_names_case_insensitively() {
        let re = names_regex("test", &["Content-Type", "x-.*-id"]).unwrap();
        assert!(re.is_match("content-type"));
        assert!(re.is_match("x-request-id"));
        assert!(!re.is_match("content-type-extra"));
        let err = names_regex("MY_VAR", &["("]).unwrap_err();
        assert!(err.to_string().contains("MY_VAR"), "{err}");
    }
}
