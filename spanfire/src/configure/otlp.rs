//! OTLP destinations: a collector (code or `OTEL_EXPORTER_OTLP_*` env vars; HTTP/protobuf,
//! HTTP/JSON or, with the `grpc` feature, gRPC) and Pydantic Logfire (resolved in `logfire.rs`;
//! always OTLP/HTTP, HTTPS through rustls with the `tls` feature), each exporting traces and
//! metrics.
//!
//! Exports run on the SDK's own threads (batch span processor, periodic metric reader): HTTP
//! with a blocking client built on a thread of its own, gRPC through spanfire's own runtime (see
//! `export.rs`), so "no reactor running" cannot happen. Exporter traffic uses its own client,
//! never an instrumented one, inside a telemetry-suppressed context.

use std::collections::HashMap;

use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};

/// Env var with the Logfire write token.
pub const ENV_LOGFIRE_TOKEN: &str = "LOGFIRE_TOKEN";
/// Env var overriding the Logfire base URL (otherwise taken from the token's region).
pub const ENV_LOGFIRE_BASE_URL: &str = "LOGFIRE_BASE_URL";

/// Where one OTLP exporter pair sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Destination {
    /// Full traces URL; `None` lets opentelemetry-otlp read the `OTEL_EXPORTER_OTLP_*` env vars.
    pub(crate) traces: Option<String>,
    pub(crate) metrics: Option<String>,
    pub(crate) headers: HashMap<String, String>,
    /// Logfire takes OTLP/HTTP only, whatever protocol the collector destination uses.
    pub(crate) http_only: bool,
}

/// The destinations configured in code or by env vars; `logfire` is the resolved Logfire
/// destination (see `logfire::target`).
pub(crate) fn destinations(
    endpoint: Option<&str>,
    headers: &HashMap<String, String>,
    logfire: Option<&super::logfire::Target>,
    env: impl Fn(&str) -> Option<String>,
) -> Vec<Destination> {
    let mut out = Vec::new();
    let env_endpoint = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|v| env(v).is_some_and(|s| !s.trim().is_empty()));
    if endpoint.is_some() || env_endpoint {
        let base = endpoint.map(|e| e.trim_end_matches('/').to_owned());
        out.push(Destination {
            traces: base.as_ref().map(|b| format!("{b}/v1/traces")),
            metrics: base.as_ref().map(|b| format!("{b}/v1/metrics")),
            headers: headers.clone(),
            http_only: false,
        });
    }
    if let Some(target) = logfire {
        out.push(Destination::logfire(target));
    }
    out
}

/// The OTLP protocol of the collector destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// OTLP/HTTP with protobuf bodies (the default).
    HttpProtobuf,
    /// OTLP/HTTP with JSON bodies.
    HttpJson,
    /// OTLP/gRPC; needs the `grpc` feature.
    Grpc,
}

/// The protocol: the one set in code, else `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`, else
/// HTTP/protobuf.
pub(crate) fn protocol(
    in_code: Option<OtlpProtocol>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<OtlpProtocol, crate::Error> {
    if let Some(p) = in_code {
        return check_protocol(p);
    }
    let value =
        env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"));
    match value.as_deref().map(str::trim) {
        None | Some("") | Some("http/protobuf") => Ok(OtlpProtocol::HttpProtobuf),
        Some("http/json") => Ok(OtlpProtocol::HttpJson),
        Some("grpc") => check_protocol(OtlpProtocol::Grpc),
        Some(other) => Err(crate::Error::config(format!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={other} is not an OTLP protocol (grpc, http/protobuf, http/json)"
        ))),
    }
}

fn check_protocol(protocol: OtlpProtocol) -> Result<OtlpProtocol, crate::Error> {
    if protocol == OtlpProtocol::Grpc && !cfg!(feature = "grpc") {
        return Err(crate::Error::config(
            "OTLP over gRPC needs spanfire's `grpc` feature",
        ));
    }
    Ok(protocol)
}

fn http_protocol(protocol: OtlpProtocol) -> Protocol {
    match protocol {
        OtlpProtocol::HttpJson => Protocol::HttpJson,
        _ => Protocol::HttpBinary,
    }
}

fn check_scheme(url: Option<&String>) -> Result<(), crate::Error> {
    match url {
        Some(u) if u.starts_with("https://") && !cfg!(feature = "tls") => {
            Err(crate::Error::config(format!(
                "{u} needs TLS: enable spanfire's `tls` feature (on by default)"
            )))
        }
        _ => Ok(()),
    }
}

impl Destination {
    /// Pydantic Logfire: OTLP/HTTP to `<base>/v1/traces` and `/v1/metrics`,
    /// `Authorization: <token>`.
    pub(crate) fn logfire(target: &super::logfire::Target) -> Destination {
        let base = target.base_url.trim_end_matches('/');
        Destination {
            traces: Some(format!("{base}/v1/traces")),
            metrics: Some(format!("{base}/v1/metrics")),
            headers: HashMap::from([("Authorization".to_owned(), target.token.clone())]),
            http_only: true,
        }
    }

    /// The protocol this destination uses when `configured` is the configured one.
    pub(crate) fn protocol(&self, configured: OtlpProtocol) -> OtlpProtocol {
        if self.http_only && configured == OtlpProtocol::Grpc {
            OtlpProtocol::HttpProtobuf
        } else {
            configured
        }
    }

    /// The exporters of this destination; gRPC ones must be built inside spanfire's runtime.
    pub(crate) fn span_exporter(
        &self,
        protocol: OtlpProtocol,
    ) -> Result<opentelemetry_otlp::SpanExporter, crate::Error> {
        check_scheme(self.traces.as_ref())?;
        let builder = opentelemetry_otlp::SpanExporter::builder();
        let built = match protocol {
            #[cfg(feature = "grpc")]
            OtlpProtocol::Grpc => self.grpc(builder.with_tonic()).build(),
            _ => self
                .http(builder.with_http(), self.traces.as_ref(), protocol)
                .build(),
        };
        built.map_err(|e| crate::Error::telemetry("building the OTLP span exporter", e))
    }

    pub(crate) fn metric_exporter(
        &self,
        protocol: OtlpProtocol,
    ) -> Result<opentelemetry_otlp::MetricExporter, crate::Error> {
        check_scheme(self.metrics.as_ref())?;
        let builder = opentelemetry_otlp::MetricExporter::builder();
        let built = match protocol {
            #[cfg(feature = "grpc")]
            OtlpProtocol::Grpc => self.grpc(builder.with_tonic()).build(),
            _ => self
                .http(builder.with_http(), self.metrics.as_ref(), protocol)
                .build(),
        };
        built.map_err(|e| crate::Error::telemetry("building the OTLP metric exporter", e))
    }

    /// Applies this destination to an OTLP/HTTP exporter builder of either signal.
    fn http<B: WithExportConfig + WithHttpConfig>(
        &self,
        mut builder: B,
        url: Option<&String>,
        protocol: OtlpProtocol,
    ) -> B {
        builder = builder.with_protocol(http_protocol(protocol));
        if let Some(url) = url {
            builder = builder.with_endpoint(url);
        }
        if !self.headers.is_empty() {
            builder = builder.with_headers(self.headers.clone());
        }
        builder
    }

    /// Applies this destination to an OTLP/gRPC exporter builder of either signal.
    #[cfg(feature = "grpc")]
    fn grpc<B: WithExportConfig + opentelemetry_otlp::WithTonicConfig>(&self, mut builder: B) -> B {
        if let Some(url) = &self.grpc_endpoint() {
            builder = builder.with_endpoint(url);
        }
        builder.with_metadata(self.metadata())
    }

    /// gRPC has no per-signal path: the base URL set in code.
    #[cfg(feature = "grpc")]
    fn grpc_endpoint(&self) -> Option<String> {
        self.traces
            .as_ref()
            .map(|t| t.trim_end_matches("/v1/traces").to_owned())
    }

    #[cfg(feature = "grpc")]
    fn metadata(&self) -> opentelemetry_otlp::tonic_types::metadata::MetadataMap {
        let mut headers = http::HeaderMap::new();
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                headers.insert(k, v);
            }
        }
        opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn nothing_configured_means_no_destination() {
        assert!(destinations(None, &HashMap::new(), None, env_of(&[])).is_empty());
    }

    #[test]
    fn env_endpoint_is_left_to_the_exporter() {
        let d = destinations(
            None,
            &HashMap::new(),
            None,
            env_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]),
        );
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].traces, None,
            "opentelemetry-otlp appends /v1/traces itself"
        );
    }

    #[test]
    fn code_endpoint_gets_signal_paths() {
        let d = destinations(
            Some("http://127.0.0.1:4318/"),
            &HashMap::new(),
            None,
            env_of(&[]),
        );
        assert_eq!(
            d[0].traces.as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        assert_eq!(
            d[0].metrics.as_deref(),
            Some("http://127.0.0.1:4318/v1/metrics")
        );
    }

    #[test]
    fn logfire_target_becomes_an_http_destination_with_the_token() {
        let target = super::super::logfire::Target {
            token: "pylf_v1_eu_abc".to_owned(),
            base_url: "https://logfire-eu.pydantic.dev/".to_owned(),
        };
        let d = destinations(None, &HashMap::new(), Some(&target), env_of(&[]));
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].traces.as_deref(),
            Some("https://logfire-eu.pydantic.dev/v1/traces")
        );
        assert_eq!(
            d[0].metrics.as_deref(),
            Some("https://logfire-eu.pydantic.dev/v1/metrics")
        );
        assert_eq!(d[0].headers["Authorization"], "pylf_v1_eu_abc");
        assert_eq!(
            d[0].protocol(OtlpProtocol::Grpc),
            OtlpProtocol::HttpProtobuf
        );
        let both = destinations(
            Some("http://c:4318"),
            &HashMap::new(),
            Some(&target),
            env_of(&[]),
        );
        assert_eq!(both.len(), 2, "collector and Logfire side by side");
    }

    /// The default feature set (with `tls`) builds the Logfire exporters for an https URL: the
    /// blocking reqwest client with rustls (aws-lc-rs provider, no process-level provider
    /// installed) builds without panicking. No network is needed to build.
    #[test]
    fn https_logfire_exporters_build_with_tls_or_fail_clearly_without() {
        let target = super::super::logfire::Target {
            token: "pylf_v1_us_abc".to_owned(),
            base_url: "https://logfire-us.pydantic.dev".to_owned(),
        };
        let d = Destination::logfire(&target);
        for protocol in [OtlpProtocol::HttpProtobuf, OtlpProtocol::HttpJson] {
            let spans = d.span_exporter(protocol);
            let metrics = d.metric_exporter(protocol);
            if cfg!(feature = "tls") {
                assert!(spans.is_ok(), "{:?}", spans.err());
                assert!(metrics.is_ok(), "{:?}", metrics.err());
            } else {
                let err = spans.unwrap_err();
                assert!(err.is_config(), "{err}");
                assert!(err.to_string().contains("needs TLS"), "{err}");
                assert!(metrics.unwrap_err().is_config());
            }
        }
    }

    #[test]
    fn unsupported_protocols_are_clear_errors() {
        let proto = OtlpProtocol::HttpProtobuf;
        assert_eq!(protocol(None, env_of(&[])).unwrap(), proto);
        let json = env_of(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
        assert_eq!(protocol(None, json).unwrap(), OtlpProtocol::HttpJson);
        let code_wins = env_of(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
        assert_eq!(protocol(Some(proto), code_wins).unwrap(), proto);
        let err = protocol(None, env_of(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "smoke")])).unwrap_err();
        assert!(
            err.is_config() && err.to_string().contains("smoke"),
            "{err}"
        );
        let grpc = protocol(
            None,
            env_of(&[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")]),
        );
        assert_eq!(grpc.is_ok(), cfg!(feature = "grpc"), "{grpc:?}");
    }
}
