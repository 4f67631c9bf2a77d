//! OTLP destinations: a collector (code or `OTEL_EXPORTER_OTLP_*` env vars) and Pydantic
//! Logfire (`LOGFIRE_TOKEN`), each exporting traces and metrics over OTLP/HTTP.
//!
//! Exports run on the SDK's own threads (batch span processor, periodic metric reader) with a
//! blocking HTTP client built on a thread of its own, so no async runtime is needed and none
//! can be missing ("no reactor running" cannot happen). Exporter traffic uses its own HTTP
//! client, never an instrumented one, inside a telemetry-suppressed context.

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
}

/// The destinations configured in code or by env vars.
pub(crate) fn destinations(
    endpoint: Option<&str>,
    headers: &HashMap<String, String>,
    logfire_token: Option<&str>,
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
        });
    }
    let token = logfire_token
        .map(str::to_owned)
        .or_else(|| env(ENV_LOGFIRE_TOKEN));
    if let Some(token) = token.filter(|t| !t.trim().is_empty()) {
        let base = env(ENV_LOGFIRE_BASE_URL).unwrap_or_else(|| logfire_base_url(&token).to_owned());
        let base = base.trim_end_matches('/');
        out.push(Destination {
            traces: Some(format!("{base}/v1/traces")),
            metrics: Some(format!("{base}/v1/metrics")),
            headers: HashMap::from([("Authorization".to_owned(), token.trim().to_owned())]),
        });
    }
    out
}

/// The Logfire base URL for a token: its region is the third `_`-separated part
/// (`pylf_v1_eu_...`); US when there is none.
pub(crate) fn logfire_base_url(token: &str) -> &'static str {
    match token.split('_').nth(2) {
        Some("eu") => "https://logfire-eu.pydantic.dev",
        _ => "https://logfire-us.pydantic.dev",
    }
}

/// The protocol from `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`.
pub(crate) fn protocol(env: impl Fn(&str) -> Option<String>) -> Result<Protocol, crate::Error> {
    let value =
        env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"));
    match value.as_deref().map(str::trim) {
        None | Some("") | Some("http/protobuf") => Ok(Protocol::HttpBinary),
        Some("http/json") => Ok(Protocol::HttpJson),
        Some(other) => Err(crate::Error::config(format!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={other} is not supported by this build (use http/protobuf or http/json)"
        ))),
    }
}

fn check_scheme(url: Option<&String>) -> Result<(), crate::Error> {
    match url {
        Some(u) if u.starts_with("https://") && !cfg!(feature = "tls") => Err(
            crate::Error::config(format!("{u} needs TLS: enable spanfire's `tls` feature")),
        ),
        _ => Ok(()),
    }
}

impl Destination {
    pub(crate) fn span_exporter(
        &self,
        protocol: Protocol,
    ) -> Result<opentelemetry_otlp::SpanExporter, crate::Error> {
        check_scheme(self.traces.as_ref())?;
        let mut builder = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(protocol);
        if let Some(url) = &self.traces {
            builder = builder.with_endpoint(url);
        }
        if !self.headers.is_empty() {
            builder = builder.with_headers(self.headers.clone());
        }
        builder
            .build()
            .map_err(|e| crate::Error::telemetry("building the OTLP span exporter", e))
    }

    pub(crate) fn metric_exporter(
        &self,
        protocol: Protocol,
    ) -> Result<opentelemetry_otlp::MetricExporter, crate::Error> {
        check_scheme(self.metrics.as_ref())?;
        let mut builder = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_protocol(protocol);
        if let Some(url) = &self.metrics {
            builder = builder.with_endpoint(url);
        }
        if !self.headers.is_empty() {
            builder = builder.with_headers(self.headers.clone());
        }
        builder
            .build()
            .map_err(|e| crate::Error::telemetry("building the OTLP metric exporter", e))
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
    fn logfire_region_comes_from_the_token_and_base_url_overrides() {
        let d = destinations(
            None,
            &HashMap::new(),
            None,
            env_of(&[("LOGFIRE_TOKEN", "pylf_v1_eu_abc")]),
        );
        assert_eq!(
            d[0].traces.as_deref(),
            Some("https://logfire-eu.pydantic.dev/v1/traces")
        );
        assert_eq!(d[0].headers["Authorization"], "pylf_v1_eu_abc");
        let d = destinations(
            None,
            &HashMap::new(),
            None,
            env_of(&[
                ("LOGFIRE_TOKEN", "pylf_v1_us_x"),
                ("LOGFIRE_BASE_URL", "http://127.0.0.1:9/"),
            ]),
        );
        assert_eq!(
            d[0].metrics.as_deref(),
            Some("http://127.0.0.1:9/v1/metrics")
        );
        assert_eq!(logfire_base_url("weird"), "https://logfire-us.pydantic.dev");
    }

    #[test]
    fn unsupported_protocols_are_clear_errors() {
        assert_eq!(protocol(env_of(&[])).unwrap(), Protocol::HttpBinary);
        let json = env_of(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
        assert_eq!(protocol(json).unwrap(), Protocol::HttpJson);
        let err = protocol(env_of(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])).unwrap_err();
        assert!(err.is_config() && err.to_string().contains("grpc"), "{err}");
    }
}
