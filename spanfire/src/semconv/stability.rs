//! `OTEL_SEMCONV_STABILITY_OPT_IN`: the stable HTTP conventions only (the default), or the stable
//! and the old (pre-1.21) names side by side (`http/dup`), as the OpenTelemetry instrumentations
//! define it for the migration.
//!
//! The old names and their mapping follow opentelemetry-python-contrib's
//! `opentelemetry/instrumentation/_semconv.py` (the `_set_http_*` helpers and
//! `_client_duration_attrs_old`), which Python's aiohttp-client, requests and httpx
//! instrumentations use in their dup mode, completed by the semantic conventions' HTTP migration
//! guide (`docs/non-normative/http-migration.md`) for the names Python has no helper for.
//! Every old attribute takes the value (and type) of its stable counterpart.

use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute as semattr;

/// Env var listing the semantic-conventions opt-ins, comma-separated; `http/dup` turns on
/// [`SemconvStability::Duplicate`].
pub const ENV_SEMCONV_STABILITY_OPT_IN: &str = "OTEL_SEMCONV_STABILITY_OPT_IN";

/// Which HTTP semantic conventions the spans and metrics follow.
///
/// | mode | `OTEL_SEMCONV_STABILITY_OPT_IN` | emitted |
/// |---|---|---|
/// | [`Stable`](Self::Stable) (default) | unset, `http`, anything without `http/dup` | the stable names only |
/// | [`Duplicate`](Self::Duplicate) | a list containing `http/dup` | the stable names and the old (pre-1.21) ones, and the old `http.client.duration` histogram (ms) beside `http.client.request.duration` (s) |
///
/// The old names (as opentelemetry-python's instrumentations emit them in `http/dup` mode):
///
/// | old attribute | value of | type |
/// |---|---|---|
/// | `http.method` | `http.request.method` (`_OTHER` for unknown methods) | string |
/// | `http.url` | `url.full` (redacted) | string |
/// | `http.host` | `server.address` | string |
/// | `net.peer.name` | `server.address` | string |
/// | `net.peer.port` | `server.port` | int |
/// | `http.scheme` | `url.scheme` | string |
/// | `http.status_code` | `http.response.status_code` | int |
/// | `http.flavor` | `network.protocol.version` (`1.1`, `2`) | string |
/// | `net.sock.peer.addr` | `network.peer.address` | string |
/// | `net.sock.peer.port` | `network.peer.port` | int |
/// | `http.request_content_length` | `http.request.body.size` (when request bodies are captured) | int |
/// | `http.response_content_length` | `http.response.body.size` | int |
///
/// `http.client.duration` (unit `ms`, buckets [`OLD_DURATION_BUCKETS_MS`]) has the attributes
/// `http.method`, `http.host`, `net.peer.name`, `net.peer.port`, `http.scheme`,
/// `http.status_code` and `http.flavor` (Python's `_client_duration_attrs_old`); `error.type`,
/// which the old conventions did not have, stays on the span and the stable histogram only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SemconvStability {
    /// The stable HTTP conventions only (`http`).
    #[default]
    Stable,
    /// The stable and the old HTTP conventions side by side (`http/dup`).
    Duplicate,
}

impl SemconvStability {
    /// The mode an `OTEL_SEMCONV_STABILITY_OPT_IN` value asks for: [`Duplicate`](Self::Duplicate)
    /// when its comma-separated list contains `http/dup` (entries are trimmed, matched exactly,
    /// and `http/dup` wins over `http`), else [`Stable`](Self::Stable).
    pub fn from_opt_in(value: Option<&str>) -> Self {
        let dup = value.is_some_and(|v| v.split(',').any(|entry| entry.trim() == "http/dup"));
        if dup {
            SemconvStability::Duplicate
        } else {
            SemconvStability::Stable
        }
    }

    /// The mode `OTEL_SEMCONV_STABILITY_OPT_IN` asks for, read through `lookup` (an env var
    /// reader such as `|k| std::env::var(k).ok()`, or a map in tests).
    pub fn from_env_with(lookup: impl FnOnce(&str) -> Option<String>) -> Self {
        Self::from_opt_in(lookup(ENV_SEMCONV_STABILITY_OPT_IN).as_deref())
    }

    /// Whether the old names are emitted too.
    pub fn duplicate(self) -> bool {
        self == SemconvStability::Duplicate
    }
}

/// The bucket boundaries of the old `http.client.duration` histogram, in milliseconds (Python's
/// `HTTP_DURATION_HISTOGRAM_BUCKETS_OLD`).
pub const OLD_DURATION_BUCKETS_MS: &[f64] = &[
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// The old duration histogram's name.
pub(crate) const OLD_DURATION: &str = "http.client.duration";

pub(crate) const HTTP_METHOD: &str = "http.method";
pub(crate) const HTTP_URL: &str = "http.url";
pub(crate) const HTTP_HOST: &str = "http.host";
pub(crate) const NET_PEER_NAME: &str = "net.peer.name";
pub(crate) const NET_PEER_PORT: &str = "net.peer.port";
pub(crate) const HTTP_SCHEME: &str = "http.scheme";
pub(crate) const HTTP_STATUS_CODE: &str = "http.status_code";
pub(crate) const HTTP_FLAVOR: &str = "http.flavor";
pub(crate) const NET_SOCK_PEER_ADDR: &str = "net.sock.peer.addr";
pub(crate) const NET_SOCK_PEER_PORT: &str = "net.sock.peer.port";
pub(crate) const HTTP_REQUEST_CONTENT_LENGTH: &str = "http.request_content_length";
pub(crate) const HTTP_RESPONSE_CONTENT_LENGTH: &str = "http.response_content_length";

/// The old names of a stable attribute (at most two), and whether the old duration histogram
/// carries them.
fn old_names(stable: &str) -> ([Option<&'static str>; 2], bool) {
    match stable {
        semattr::HTTP_REQUEST_METHOD => ([Some(HTTP_METHOD), None], true),
        semattr::URL_FULL => ([Some(HTTP_URL), None], false),
        semattr::SERVER_ADDRESS => ([Some(HTTP_HOST), Some(NET_PEER_NAME)], true),
        semattr::SERVER_PORT => ([Some(NET_PEER_PORT), None], true),
        semattr::URL_SCHEME => ([Some(HTTP_SCHEME), None], true),
        semattr::HTTP_RESPONSE_STATUS_CODE => ([Some(HTTP_STATUS_CODE), None], true),
        semattr::NETWORK_PROTOCOL_VERSION => ([Some(HTTP_FLAVOR), None], true),
        semattr::NETWORK_PEER_ADDRESS => ([Some(NET_SOCK_PEER_ADDR), None], false),
        semattr::NETWORK_PEER_PORT => ([Some(NET_SOCK_PEER_PORT), None], false),
        semattr::HTTP_REQUEST_BODY_SIZE => ([Some(HTTP_REQUEST_CONTENT_LENGTH), None], false),
        semattr::HTTP_RESPONSE_BODY_SIZE => ([Some(HTTP_RESPONSE_CONTENT_LENGTH), None], false),
        _ => ([None, None], false),
    }
}

/// The old-name twins of a stable span attribute, with its value (the same type); none for
/// attributes the old conventions did not have.
pub(crate) fn old_span_attributes(stable: &KeyValue) -> impl Iterator<Item = KeyValue> {
    let (names, _) = old_names(stable.key.as_str());
    let value = &stable.value;
    names
        .map(|name| name.map(|n| KeyValue::new(n, value.clone())))
        .into_iter()
        .flatten()
}

/// Appends the old-name twins of every attribute in `attrs` to it.
pub(crate) fn push_old_span_attributes(attrs: &mut Vec<KeyValue>) {
    for i in 0..attrs.len() {
        let twins: smallvec::SmallVec<[KeyValue; 2]> = old_span_attributes(&attrs[i]).collect();
        attrs.extend(twins);
    }
}

/// The old duration histogram's attributes, from the stable metric attributes: the old names of
/// those Python's `_client_duration_attrs_old` lists (no `error.type`). Inline: no allocation.
pub(crate) fn old_metric_attributes(stable: &[KeyValue]) -> super::MetricAttributes {
    let mut old = super::MetricAttributes::new();
    for kv in stable {
        let (names, on_metric) = old_names(kv.key.as_str());
        if on_metric {
            old.extend(
                names
                    .into_iter()
                    .flatten()
                    .map(|n| KeyValue::new(n, kv.value.clone())),
            );
        }
    }
    old
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::Value;
    use std::collections::HashMap;

    #[test]
    fn semconv_opt_in_parsing() {
        let cases = [
            (None, SemconvStability::Stable),
            (Some(""), SemconvStability::Stable),
            (Some("http"), SemconvStability::Stable),
            (Some("http/dup"), SemconvStability::Duplicate),
            (Some(" http/dup "), SemconvStability::Duplicate),
            (Some("http,http/dup"), SemconvStability::Duplicate),
            (Some("database/dup, http/dup"), SemconvStability::Duplicate),
            (Some("database/dup"), SemconvStability::Stable),
            (Some("http/dupe"), SemconvStability::Stable),
            (Some("HTTP/DUP"), SemconvStability::Stable),
            (Some("http/dup/x"), SemconvStability::Stable),
        ];
        for (value, want) in cases {
            assert_eq!(SemconvStability::from_opt_in(value), want, "{value:?}");
        }
    }

    #[test]
    fn semconv_env_is_read_through_the_lookup() {
        let env = HashMap::from([(ENV_SEMCONV_STABILITY_OPT_IN, "gen_ai,http/dup")]);
        let mut asked = Vec::new();
        let mode = SemconvStability::from_env_with(|k| {
            asked.push(k.to_owned());
            env.get(k).map(|v| (*v).to_owned())
        });
        assert_eq!(mode, SemconvStability::Duplicate);
        assert_eq!(asked, [ENV_SEMCONV_STABILITY_OPT_IN]);
        assert_eq!(
            SemconvStability::from_env_with(|_| None),
            SemconvStability::Stable
        );
        assert_eq!(SemconvStability::default(), SemconvStability::Stable);
        assert!(SemconvStability::Duplicate.duplicate());
        assert!(!SemconvStability::Stable.duplicate());
    }

    #[test]
    fn semconv_old_names_keep_value_and_type() {
        let mut attrs = vec![
            KeyValue::new(semattr::HTTP_REQUEST_METHOD, "GET"),
            KeyValue::new(semattr::URL_FULL, "http://h:8080/p?q=1"),
            KeyValue::new(semattr::SERVER_ADDRESS, "h"),
            KeyValue::new(semattr::SERVER_PORT, 8080_i64),
            KeyValue::new(semattr::URL_SCHEME, "http"),
            KeyValue::new(semattr::HTTP_REQUEST_METHOD_ORIGINAL, "x"),
            KeyValue::new(semattr::URL_TEMPLATE, "/p"),
        ];
        push_old_span_attributes(&mut attrs);
        let got: HashMap<String, Value> = attrs
            .iter()
            .map(|kv| (kv.key.to_string(), kv.value.clone()))
            .collect();
        assert_eq!(attrs.len(), 7 + 6);
        assert_eq!(got["http.method"], Value::from("GET"));
        assert_eq!(got["http.url"], Value::from("http://h:8080/p?q=1"));
        assert_eq!(got["http.host"], Value::from("h"));
        assert_eq!(got["net.peer.name"], Value::from("h"));
        assert_eq!(got["net.peer.port"], Value::I64(8080));
        assert_eq!(got["http.scheme"], Value::from("http"));

        let head = [
            KeyValue::new(semattr::HTTP_RESPONSE_STATUS_CODE, 404_i64),
            KeyValue::new(semattr::NETWORK_PROTOCOL_VERSION, "2"),
            KeyValue::new(semattr::NETWORK_PEER_ADDRESS, "::1"),
            KeyValue::new(semattr::NETWORK_PEER_PORT, 443_i64),
            KeyValue::new(semattr::ERROR_TYPE, "404"),
            KeyValue::new(semattr::HTTP_REQUEST_BODY_SIZE, 3_i64),
            KeyValue::new(semattr::HTTP_RESPONSE_BODY_SIZE, 0_i64),
        ];
        let old: HashMap<String, Value> = head
            .iter()
            .flat_map(old_span_attributes)
            .map(|kv| (kv.key.to_string(), kv.value))
            .collect();
        let want = HashMap::from([
            ("http.status_code".to_owned(), Value::I64(404)),
            ("http.flavor".to_owned(), Value::from("2")),
            ("net.sock.peer.addr".to_owned(), Value::from("::1")),
            ("net.sock.peer.port".to_owned(), Value::I64(443)),
            ("http.request_content_length".to_owned(), Value::I64(3)),
            ("http.response_content_length".to_owned(), Value::I64(0)),
        ]);
        assert_eq!(old, want);
    }

    #[test]
    fn semconv_old_metric_attributes_are_pythons_list() {
        let stable = [
            KeyValue::new(semattr::HTTP_REQUEST_METHOD, "_OTHER"),
            KeyValue::new(semattr::SERVER_ADDRESS, "h"),
            KeyValue::new(semattr::SERVER_PORT, 80_i64),
            KeyValue::new(semattr::URL_SCHEME, "http"),
            KeyValue::new(semattr::HTTP_RESPONSE_STATUS_CODE, 500_i64),
            KeyValue::new(semattr::NETWORK_PROTOCOL_VERSION, "1.1"),
            KeyValue::new(semattr::ERROR_TYPE, "500"),
        ];
        let old = old_metric_attributes(&stable);
        assert!(!old.spilled(), "seven attributes stay inline");
        let got: HashMap<String, Value> = old
            .iter()
            .map(|kv| (kv.key.to_string(), kv.value.clone()))
            .collect();
        let want = HashMap::from([
            ("http.method".to_owned(), Value::from("_OTHER")),
            ("http.host".to_owned(), Value::from("h")),
            ("net.peer.name".to_owned(), Value::from("h")),
            ("net.peer.port".to_owned(), Value::I64(80)),
            ("http.scheme".to_owned(), Value::from("http")),
            ("http.status_code".to_owned(), Value::I64(500)),
            ("http.flavor".to_owned(), Value::from("1.1")),
        ]);
        assert_eq!(got, want);
    }
}
