//! Attribute values of the HTTP client span, as the stable HTTP semantic conventions define them.

use http::{Method, StatusCode, Version};
use opentelemetry::trace::Status;
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute as semattr;
use url::Url;

/// `http.request.method` for `method`: its canonical name, or `_OTHER` for methods the
/// conventions do not know (the caller then records `http.request.method_original`).
pub(crate) fn method_attr(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// The span name: `{method}`, or `HTTP` for unknown methods.
pub(crate) fn span_name(method_attr: &'static str) -> &'static str {
    if method_attr == "_OTHER" {
        "HTTP"
    } else {
        method_attr
    }
}

/// The metric attributes of a request: those known at start (method, server address and port,
/// scheme), then status, protocol version and error type. Kept inline: no allocation.
pub(crate) type MetricAttributes = smallvec::SmallVec<[KeyValue; 8]>;

/// The attributes given when the span starts, so that samplers see them, and the metric
/// attributes known at start (the same values, shared).
///
/// `url_full` is the already filtered and redacted URL. `capacity` is the room to make for all
/// the span's attributes: the SDK keeps this `Vec` as the span's, so with room for those set
/// later (response head, body, captured headers) it does not grow on the request path.
pub(crate) fn request_start_attributes(
    method: &Method,
    url: &Url,
    url_full: String,
    capacity: usize,
    strings: &impl Strings,
) -> (Vec<KeyValue>, MetricAttributes) {
    let method_attr = method_attr(method);
    let mut metric = MetricAttributes::new();
    metric.push(KeyValue::new(semattr::HTTP_REQUEST_METHOD, method_attr));
    if let Some(host) = url.host_str() {
        // Shared: the span and the metric hold the same per-thread cached string.
        let host = strings.host(host_without_brackets(host));
        metric.push(KeyValue::new(semattr::SERVER_ADDRESS, host));
    }
    if let Some(port) = url.port_or_known_default() {
        metric.push(KeyValue::new(semattr::SERVER_PORT, i64::from(port)));
    }
    metric.push(KeyValue::new(
        semattr::URL_SCHEME,
        scheme_attr(url.scheme()),
    ));
    let mut attrs = Vec::with_capacity(capacity);
    attrs.extend(metric.iter().cloned());
    attrs.push(KeyValue::new(semattr::URL_FULL, url_full));
    if method_attr == "_OTHER" {
        attrs.push(KeyValue::new(
            semattr::HTTP_REQUEST_METHOD_ORIGINAL,
            method.as_str().to_owned(),
        ));
    }
    (attrs, metric)
}

fn host_without_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

fn scheme_attr(scheme: &str) -> opentelemetry::Value {
    match scheme {
        "http" => "http".into(),
        "https" => "https".into(),
        other => other.to_owned().into(),
    }
}

/// `network.protocol.version` for an HTTP version.
pub(crate) fn protocol_version(version: Version) -> Option<&'static str> {
    match version {
        Version::HTTP_09 => Some("0.9"),
        Version::HTTP_10 => Some("1.0"),
        Version::HTTP_11 => Some("1.1"),
        Version::HTTP_2 => Some("2"),
        Version::HTTP_3 => Some("3"),
        _ => None,
    }
}

/// Where the strings of `server.address` and `network.peer.address` come from: the caller may
/// hand out shared copies from a cache (the values are the same either way).
pub(crate) trait Strings {
    /// The `server.address` string of `host`.
    fn host(&self, host: &str) -> opentelemetry::StringValue;
    /// The `network.peer.address` string of `ip`.
    fn ip(&self, ip: std::net::IpAddr) -> opentelemetry::StringValue;
}

/// Fresh strings, no cache.
#[cfg(test)]
pub(crate) struct Fresh;

#[cfg(test)]
impl Strings for Fresh {
    fn host(&self, host: &str) -> opentelemetry::StringValue {
        host.to_owned().into()
    }
    fn ip(&self, ip: std::net::IpAddr) -> opentelemetry::StringValue {
        ip.to_string().into()
    }
}

/// The attributes set when the response head arrives, as an iterator (no allocation).
pub(crate) fn response_attributes(
    status: StatusCode,
    version: Version,
    peer: Option<std::net::SocketAddr>,
    strings: &impl Strings,
) -> impl Iterator<Item = KeyValue> {
    let code = i64::from(status.as_u16());
    [
        Some(KeyValue::new(semattr::HTTP_RESPONSE_STATUS_CODE, code)),
        protocol_version(version).map(|v| KeyValue::new(semattr::NETWORK_PROTOCOL_VERSION, v)),
        peer.map(|p| {
            let ip = strings.ip(p.ip());
            KeyValue::new(semattr::NETWORK_PEER_ADDRESS, ip)
        }),
        peer.map(|p| KeyValue::new(semattr::NETWORK_PEER_PORT, i64::from(p.port()))),
        (code >= 400).then(|| error_type_of_code(status)),
    ]
    .into_iter()
    .flatten()
}

/// `error.type` for a 4xx/5xx status: the code as text.
pub(crate) fn error_type_of_code(status: StatusCode) -> KeyValue {
    KeyValue::new(semattr::ERROR_TYPE, status.as_str().to_owned())
}

/// Span status for a response status code: Error without description for 4xx and 5xx
/// (the code explains it), Unset otherwise.
pub(crate) fn status_of_code(status: StatusCode) -> Status {
    if status.as_u16() >= 400 {
        Status::Error {
            description: "".into(),
        }
    } else {
        Status::Unset
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::Value;

    fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
        attrs
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    #[test]
    fn start_attributes_have_types_of_the_conventions() {
        let cases = [
            ("http://h/p", Some(80), "http"),
            ("https://h/p", Some(443), "https"),
            ("http://[::1]:8080/", Some(8080), "http"),
            ("ftp://h/", Some(21), "ftp"),
            ("foo://h/", None, "foo"),
        ];
        for (input, port, scheme) in cases {
            let url = Url::parse(input).unwrap();
            let (attrs, metric) =
                request_start_attributes(&Method::GET, &url, input.to_owned(), 12, &Fresh);
            for kv in &metric {
                assert_eq!(get(&attrs, kv.key.as_str()), Some(&kv.value), "{input}");
            }
            assert_eq!(
                get(&attrs, "server.port"),
                port.map(Value::I64).as_ref(),
                "{input}"
            );
            assert_eq!(
                get(&attrs, "url.scheme"),
                Some(&Value::from(scheme)),
                "{input}"
            );
            let host = get(&attrs, "server.address").unwrap().as_str();
            assert!(!host.contains('['), "{input}: {host}");
        }
    }

    #[test]
    fn unknown_methods_are_other_with_the_original() {
        let url = Url::parse("http://h/").unwrap();
        let m = Method::from_bytes(b"PURGE").unwrap();
        let (attrs, metric) = request_start_attributes(&m, &url, String::new(), 12, &Fresh);
        assert_eq!(get(&metric, "http.request.method_original"), None);
        assert_eq!(
            get(&attrs, "http.request.method"),
            Some(&Value::from("_OTHER"))
        );
        assert_eq!(
            get(&attrs, "http.request.method_original"),
            Some(&Value::from("PURGE"))
        );
        assert_eq!(span_name(method_attr(&m)), "HTTP");
        assert_eq!(span_name(method_attr(&Method::PATCH)), "PATCH");
    }

    #[test]
    fn status_codes_map_to_status_and_error_type() {
        for (code, error) in [
            (200, false),
            (302, false),
            (399, false),
            (404, true),
            (503, true),
        ] {
            let status = StatusCode::from_u16(code).unwrap();
            let attrs: Vec<_> =
                response_attributes(status, Version::HTTP_11, None, &Fresh).collect();
            let want = error.then(|| Value::from(code.to_string()));
            assert_eq!(get(&attrs, "error.type"), want.as_ref(), "{code}");
            assert_eq!(
                matches!(status_of_code(status), Status::Error { .. }),
                error,
                "{code}"
            );
        }
    }
}
