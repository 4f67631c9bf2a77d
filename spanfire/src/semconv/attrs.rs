//! Attribute values of the HTTP client span, as the stable HTTP semantic conventions define them.

use http::{Method, StatusCode, Version};
use opentelemetry::trace::Status;
use opentelemetry::{KeyValue, StringValue};
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

/// What the metric attributes of a request are made of, kept small — it travels with the
/// request, moved from future to future — and made into [`MetricAttributes`] only when a
/// measurement is recorded.
#[derive(Debug, Clone)]
pub(crate) struct MetricFacts {
    /// `server.address` (shared with the span's attribute).
    host: Option<StringValue>,
    /// `url.scheme`.
    scheme: StringValue,
    /// `http.request.method`.
    method: &'static str,
    /// `server.port`.
    port: Option<u16>,
    /// `http.response.status_code` (and, for 4xx/5xx, `error.type`), once the head arrived.
    status: Option<StatusCode>,
    /// `network.protocol.version`, once the head arrived.
    version: Option<Version>,
    /// The `error.type` of a failed request without an error status.
    error: Option<super::ErrorKind>,
}

impl MetricFacts {
    /// The facts known when the request starts.
    pub(crate) fn of_request(method: &Method, url: &Url, strings: &impl Strings) -> Self {
        MetricFacts {
            // Shared: the span and the metric hold the same per-thread cached string.
            host: url
                .host_str()
                .map(|host| strings.host(host_without_brackets(host))),
            scheme: scheme_attr(url.scheme()),
            method: method_attr(method),
            port: url.port_or_known_default(),
            status: None,
            version: None,
            error: None,
        }
    }

    /// The response head arrived: its status and protocol.
    pub(crate) fn note_response(&mut self, status: StatusCode, version: Version) {
        self.status = Some(status);
        self.version = Some(version);
    }

    /// The request failed with this error (the `error.type` unless its status gives one).
    pub(crate) fn note_error(&mut self, kind: super::ErrorKind) {
        self.error.get_or_insert(kind);
    }

    /// `http.request.method`, as the span name needs it.
    pub(crate) fn method(&self) -> &'static str {
        self.method
    }

    /// The attributes known at start (those of `http.client.active_requests`).
    pub(crate) fn start_attributes(&self) -> MetricAttributes {
        let mut attrs = MetricAttributes::new();
        self.push_start(&mut attrs);
        attrs
    }

    /// Appends every attribute known so far, in this order: method, server address and port,
    /// scheme, status code, protocol version, error type.
    pub(crate) fn attributes_into(&self, attrs: &mut MetricAttributes) {
        self.push_start(attrs);
        if let Some(status) = self.status {
            let code = i64::from(status.as_u16());
            attrs.push(KeyValue::new(semattr::HTTP_RESPONSE_STATUS_CODE, code));
        }
        if let Some(v) = self.version.and_then(protocol_version) {
            attrs.push(KeyValue::new(semattr::NETWORK_PROTOCOL_VERSION, v));
        }
        match (self.status, self.error) {
            (Some(status), _) if status.as_u16() >= 400 => attrs.push(error_type_of_code(status)),
            (_, Some(kind)) => attrs.push(KeyValue::new(semattr::ERROR_TYPE, kind.as_str())),
            _ => {}
        }
    }

    /// Appends the start attributes: method, server address and port, scheme.
    fn push_start(&self, attrs: &mut impl Push) {
        attrs.push_kv(KeyValue::new(semattr::HTTP_REQUEST_METHOD, self.method));
        if let Some(host) = &self.host {
            attrs.push_kv(KeyValue::new(semattr::SERVER_ADDRESS, host.clone()));
        }
        if let Some(port) = self.port {
            attrs.push_kv(KeyValue::new(semattr::SERVER_PORT, i64::from(port)));
        }
        attrs.push_kv(KeyValue::new(semattr::URL_SCHEME, self.scheme.clone()));
    }
}

/// A list attributes are appended to, one at a time (no iterator moved around).
trait Push {
    fn push_kv(&mut self, kv: KeyValue);
}

impl Push for Vec<KeyValue> {
    fn push_kv(&mut self, kv: KeyValue) {
        self.push(kv);
    }
}

impl Push for MetricAttributes {
    fn push_kv(&mut self, kv: KeyValue) {
        self.push(kv);
    }
}

/// The attributes given when the span starts, so that samplers see them: the metric attributes
/// known at start (the same values, shared), `url.full` and, for an unknown method, its original.
///
/// `url_full` is the already filtered and redacted URL. `capacity` is the room to make for all
/// the span's attributes: the SDK keeps this `Vec` as the span's, so with room for those set
/// later (response head, body, captured headers) it does not grow on the request path.
pub(crate) fn request_start_attributes(
    method: &Method,
    facts: &MetricFacts,
    url_full: StringValue,
    capacity: usize,
) -> Vec<KeyValue> {
    let mut attrs = Vec::with_capacity(capacity);
    facts.push_start(&mut attrs);
    attrs.push(KeyValue::new(semattr::URL_FULL, url_full));
    if facts.method == "_OTHER" {
        attrs.push(KeyValue::new(
            semattr::HTTP_REQUEST_METHOD_ORIGINAL,
            method.as_str().to_owned(),
        ));
    }
    attrs
}

fn host_without_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

fn scheme_attr(scheme: &str) -> StringValue {
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

/// The attributes set when the response head arrives, as an iterator (no allocation) that makes
/// each attribute as it is asked for: it stays small, however far it is handed down.
pub(crate) fn response_attributes<'s>(
    status: StatusCode,
    version: Version,
    peer: Option<std::net::SocketAddr>,
    strings: &'s impl Strings,
) -> impl Iterator<Item = KeyValue> + 's {
    let code = i64::from(status.as_u16());
    (0..5u8).filter_map(move |i| match i {
        0 => Some(KeyValue::new(semattr::HTTP_RESPONSE_STATUS_CODE, code)),
        1 => protocol_version(version).map(|v| KeyValue::new(semattr::NETWORK_PROTOCOL_VERSION, v)),
        2 => peer.map(|p| KeyValue::new(semattr::NETWORK_PEER_ADDRESS, strings.ip(p.ip()))),
        3 => peer.map(|p| KeyValue::new(semattr::NETWORK_PEER_PORT, i64::from(p.port()))),
        _ => (code >= 400).then(|| error_type_of_code(status)),
    })
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
            let facts = MetricFacts::of_request(&Method::GET, &url, &Fresh);
            let attrs = request_start_attributes(&Method::GET, &facts, input.to_owned().into(), 12);
            let mut metric = MetricAttributes::new();
            facts.attributes_into(&mut metric);
            assert_eq!(metric.len(), 3 + usize::from(port.is_some()), "{input}");
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
        let facts = MetricFacts::of_request(&m, &url, &Fresh);
        let attrs = request_start_attributes(&m, &facts, String::new().into(), 12);
        let mut metric = MetricAttributes::new();
        facts.attributes_into(&mut metric);
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
