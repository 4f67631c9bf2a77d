//! Header capture: `http.request.header.<name>` / `http.response.header.<name>` attributes.
//!
//! Names are lowercased (as `http` stores them) with dashes kept; each value is a string array
//! with one element per header value. What the [secrets policy](crate::secrets) says is secret
//! is redacted: values of secret headers become `[REDACTED]`, URL-valued headers are redacted as
//! URLs, and other values lose the values of secret `key=value` pairs.

use http::HeaderMap;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use regex::{Regex, RegexBuilder};

use crate::secrets::{self, Secrets, REDACTED_VALUE};

/// The value recorded instead of a sensitive header's value (the same as
/// [`REDACTED_VALUE`](crate::REDACTED_VALUE)).
pub const REDACTED_HEADER_VALUE: &str = REDACTED_VALUE;

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
#[derive(Debug, Clone)]
pub(crate) struct HeaderCapture {
    pub(crate) request: Selection,
    pub(crate) response: Selection,
    secrets: Secrets,
    /// How each known header's values are recorded under `secrets`, computed once.
    known: Vec<Treatment>,
}

/// How a header's values are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Treatment {
    /// As they are, less the values of secret `key=value` pairs.
    Plain,
    /// Replaced by `[REDACTED]`.
    Secret,
    /// Redacted as URLs.
    Url,
}

impl Default for HeaderCapture {
    fn default() -> Self {
        HeaderCapture::new(Selection::Nothing, Selection::Nothing, Secrets::default())
    }
}

impl HeaderCapture {
    pub(crate) fn new(request: Selection, response: Selection, secrets: Secrets) -> Self {
        // Only needed when something is captured: building an instrumentation with capture
        // off (the default) stays cheap.
        let capturing = !(request.is_nothing() && response.is_nothing());
        let known = if capturing {
            KNOWN.iter().map(|name| treatment(&secrets, name)).collect()
        } else {
            Vec::new()
        };
        HeaderCapture {
            request,
            response,
            secrets,
            known,
        }
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
            let treatment = match known {
                Some(k) => self
                    .known
                    .get(k.index)
                    .copied()
                    .unwrap_or(Treatment::Secret),
                None => treatment(&self.secrets, name),
            };
            // Looked up by `HeaderName`, not by `&str` (which would be parsed again); one
            // value is the common case, so the array starts with room for one.
            let all = headers.get_all(header);
            let mut values = Vec::with_capacity(1);
            values.extend(
                all.iter()
                    .map(|v| self.header_value(treatment, name, v.as_bytes())),
            );
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

    /// Whether the value of the (lowercase) header `name` is replaced by `[REDACTED]`.
    #[cfg(any(test, feature = "__fuzz"))]
    pub(crate) fn is_sensitive(&self, name: &str) -> bool {
        treatment(&self.secrets, name) == Treatment::Secret
    }

    fn header_value(&self, treatment: Treatment, name: &str, bytes: &[u8]) -> StringValue {
        if treatment == Treatment::Secret {
            return REDACTED_VALUE.into();
        }
        // Almost every value is ASCII: the plain UTF-8 check is the fast path.
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(bytes),
        };
        let names = self.secrets.names();
        let redacted = match treatment {
            Treatment::Url => secrets::redact_url_header(name, &text, names, None),
            _ => secrets::redact_text(&text, names, &|_| REDACTED_VALUE.to_owned(), None),
        };
        match redacted {
            std::borrow::Cow::Owned(s) => s.into(),
            std::borrow::Cow::Borrowed(_) => text.into_owned().into(),
        }
    }
}

fn treatment(secrets: &Secrets, name: &str) -> Treatment {
    if secrets.is_secret(name) {
        Treatment::Secret
    } else if secrets::is_url_header(name) {
        Treatment::Url
    } else {
        Treatment::Plain
    }
}

/// The attribute keys of the known headers (request and response), for the scrubbing stage to
/// judge once.
#[cfg(feature = "configure")]
pub(crate) fn known_header_keys() -> impl Iterator<Item = &'static str> {
    KNOWN
        .iter()
        .filter_map(|name| known_header(name))
        .flat_map(|k| [k.request, k.response])
}

/// A header common enough to have its attribute keys as constants (no allocation per request).
#[derive(Debug, Clone, Copy)]
struct KnownHeader {
    request: &'static str,
    response: &'static str,
    /// Position in [`KNOWN`].
    index: usize,
}

macro_rules! known_headers {
    ($($index:literal: $name:literal),* $(,)?) => {
        /// The known headers, in `index` order.
        const KNOWN: &[&str] = &[$($name),*];

        fn known_header(name: &str) -> Option<KnownHeader> {
            match name {
                $($name => Some(KnownHeader {
                    request: concat!("http.request.header.", $name),
                    response: concat!("http.response.header.", $name),
                    index: $index,
                }),)*
                _ => None,
            }
        }
    };
}

known_headers! {
    0: "accept", 1: "accept-encoding", 2: "accept-language", 3: "authorization",
    4: "cache-control", 5: "connection", 6: "content-encoding", 7: "content-length",
    8: "content-type", 9: "cookie", 10: "date", 11: "etag", 12: "host", 13: "location",
    14: "proxy-authorization", 15: "server", 16: "set-cookie", 17: "traceparent",
    18: "tracestate", 19: "baggage", 20: "transfer-encoding", 21: "user-agent", 22: "vary",
    23: "x-api-key", 24: "access-control-allow-origin", 25: "access-control-allow-credentials",
    26: "referer", 27: "content-location", 28: "link",
}

/// The headers one direction captures: those the env var lists (when set), else all or
/// nothing as `on` says.
pub(crate) fn selection_from_env(
    env: &crate::env::Env,
    var: &str,
    on: bool,
) -> Result<Selection, crate::Error> {
    match env.list(var) {
        Some(list) => names_regex(var, &list).map(Selection::Matching),
        None if on => Ok(Selection::All),
        None => Ok(Selection::Nothing),
    }
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
        HeaderCapture::new(Selection::All, Selection::All, Secrets::default())
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
            "x-sentry-auth",
            "x-upstream-key",
            "x-client-secret",
        ];
        for name in redacted {
            assert!(cap.is_sensitive(name), "{name} should be redacted");
        }
        for name in [
            "access-control-allow-credentials",
            "content-type",
            "user-agent",
            "accept",
            "location",
            "www-authenticate",
        ] {
            assert!(!cap.is_sensitive(name), "{name} should be kept");
        }
    }

    #[test]
    fn the_known_header_table_agrees_with_the_policy() {
        let cap = capture_all();
        for (index, name) in KNOWN.iter().enumerate() {
            let known = known_header(name).unwrap();
            assert_eq!(known.index, index, "{name}");
            assert_eq!(cap.known[index], treatment(&cap.secrets, name), "{name}");
            assert_eq!(known.request, format!("http.request.header.{name}"));
            assert_eq!(known.response, format!("http.response.header.{name}"));
        }
        // a policy that adds a known header's name makes it secret
        let policy = Secrets::default().with_names(["user-agent"]).unwrap();
        let cap = HeaderCapture::new(Selection::All, Selection::All, policy);
        assert!(cap.is_sensitive("user-agent"));
        assert_eq!(cap.known[21], Treatment::Secret);
    }

    #[test]
    fn values_are_string_arrays_one_per_value_with_secrets_redacted() {
        let mut headers = HeaderMap::new();
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        headers.append("cookie", HeaderValue::from_static("session=s3cret"));
        headers.append("x-bin", HeaderValue::from_bytes(b"ok\xff").unwrap());
        headers.append(
            "location",
            HeaderValue::from_static("/n?sig=S&q=1#access_token=T"),
        );
        headers.append("x-debug", HeaderValue::from_static("user=a&password=P"));
        headers.append(
            "x-sentry-auth",
            HeaderValue::from_static("Sentry sentry_key=K"),
        );
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
        assert_eq!(
            get("http.request.header.location"),
            Some(arr(&["/n?sig=REDACTED&q=1#access_token=REDACTED"]))
        );
        assert_eq!(
            get("http.request.header.x-debug"),
            Some(arr(&["user=a&password=REDACTED"]))
        );
        assert_eq!(
            get("http.request.header.x-sentry-auth"),
            Some(arr(&["[REDACTED]"]))
        );
        assert_eq!(out.len(), 6);
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
