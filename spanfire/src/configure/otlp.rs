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

use super::otel_env::SignalEnv;
use super::otlp_http::{ProtobufExporter, SpanTransport};

/// Env var with the Logfire write token.
pub const ENV_LOGFIRE_TOKEN: &str = "LOGFIRE_TOKEN";
/// Env var overriding the Logfire base URL (otherwise taken from the token's region).
pub const ENV_LOGFIRE_BASE_URL: &str = "LOGFIRE_BASE_URL";

/// Where one OTLP exporter pair sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Destination {
    /// Full traces URL; `None`: the one the `OTEL_EXPORTER_OTLP_*` env vars give (see
    /// `otel_env::SignalEnv`).
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

fn check_scheme(url: &str) -> Result<(), crate::Error> {
    if url.starts_with("https://") && !cfg!(feature = "tls") {
        return Err(crate::Error::config(format!(
            "{url} needs TLS: enable spanfire's `tls` feature (on by default)"
        )));
    }
    Ok(())
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
    /// `otel` holds the `OTEL_EXPORTER_OTLP_*` settings read from the env source: the endpoint
    /// when none is set here, the timeout, and headers added over this destination's.
    pub(crate) fn span_exporter(
        &self,
        protocol: OtlpProtocol,
        otel: &SignalEnv,
    ) -> Result<SpanTransport, crate::Error> {
        let builder = opentelemetry_otlp::SpanExporter::builder();
        let built = match protocol {
            #[cfg(feature = "grpc")]
            OtlpProtocol::Grpc => self.grpc(builder.with_tonic(), otel).build(),
            OtlpProtocol::HttpProtobuf => {
                let url = self.http_url(self.traces.as_ref(), otel);
                check_scheme(url)?;
                // Values url-decoded once, as opentelemetry-otlp's `with_headers` does.
                let headers: Vec<(String, String)> = self
                    .merged_headers(otel, true)
                    .into_iter()
                    .map(|(k, v)| (k, super::otel_env::url_decode(&v).unwrap_or(v)))
                    .collect();
                return ProtobufExporter::new(url, &headers, otel.timeout)
                    .map(SpanTransport::Protobuf);
            }
            _ => self
                .http(builder.with_http(), self.traces.as_ref(), protocol, otel)?
                .build(),
        };
        built
            .map(SpanTransport::Otlp)
            .map_err(|e| crate::Error::telemetry("building the OTLP span exporter", e))
    }

    pub(crate) fn metric_exporter(
        &self,
        protocol: OtlpProtocol,
        otel: &SignalEnv,
        temporality: opentelemetry_sdk::metrics::Temporality,
    ) -> Result<opentelemetry_otlp::MetricExporter, crate::Error> {
        let builder = opentelemetry_otlp::MetricExporter::builder().with_temporality(temporality);
        let built = match protocol {
            #[cfg(feature = "grpc")]
            OtlpProtocol::Grpc => self.grpc(builder.with_tonic(), otel).build(),
            _ => self
                .http(builder.with_http(), self.metrics.as_ref(), protocol, otel)?
                .build(),
        };
        built.map_err(|e| crate::Error::telemetry("building the OTLP metric exporter", e))
    }

    /// The OTLP/HTTP URL: the one of this destination, else the env's.
    pub(crate) fn http_url<'a>(&'a self, url: Option<&'a String>, otel: &'a SignalEnv) -> &'a str {
        url.map_or(otel.http_endpoint.as_str(), String::as_str)
    }

    /// The headers sent: this destination's, then the env's over them (opentelemetry-otlp adds
    /// the env headers last, so they win; names compared case-insensitively, and an env header
    /// that is not a valid HTTP header is skipped, as the exporter does). `escape` keeps env
    /// values from being url-decoded a second time by `with_headers`.
    pub(crate) fn merged_headers(&self, otel: &SignalEnv, escape: bool) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.sort();
        for (k, v) in &otel.headers {
            if http::HeaderName::from_bytes(k.as_bytes()).is_err()
                || http::HeaderValue::from_str(v).is_err()
            {
                continue;
            }
            out.retain(|(existing, _)| !existing.eq_ignore_ascii_case(k));
            let v = if escape {
                super::otel_env::escape_percent(v).into_owned()
            } else {
                v.clone()
            };
            out.push((k.clone(), v));
        }
        out
    }

    /// Applies this destination to an OTLP/HTTP exporter builder of either signal: protocol,
    /// endpoint, headers and timeout all explicit.
    fn http<B: WithExportConfig + WithHttpConfig>(
        &self,
        builder: B,
        url: Option<&String>,
        protocol: OtlpProtocol,
        otel: &SignalEnv,
    ) -> Result<B, crate::Error> {
        let url = self.http_url(url, otel);
        check_scheme(url)?;
        Ok(builder
            .with_protocol(http_protocol(protocol))
            .with_endpoint(url)
            .with_timeout(otel.timeout)
            .with_headers(self.merged_headers(otel, true).into_iter().collect()))
    }

    /// Applies this destination to an OTLP/gRPC exporter builder of either signal.
    #[cfg(feature = "grpc")]
    fn grpc<B: WithExportConfig + opentelemetry_otlp::WithTonicConfig>(
        &self,
        builder: B,
        otel: &SignalEnv,
    ) -> B {
        let endpoint = match self.grpc_endpoint() {
            Some(base) => super::otel_env::grpc_scheme(base, otel.insecure),
            None => otel.grpc_endpoint.clone(),
        };
        builder
            .with_endpoint(endpoint)
            .with_timeout(otel.timeout)
            .with_metadata(self.metadata(otel))
    }

    /// gRPC has no per-signal path: the base URL set in code.
    #[cfg(feature = "grpc")]
    fn grpc_endpoint(&self) -> Option<String> {
        self.traces
            .as_ref()
            .map(|t| t.trim_end_matches("/v1/traces").to_owned())
    }

    #[cfg(feature = "grpc")]
    fn metadata(&self, otel: &SignalEnv) -> opentelemetry_otlp::tonic_types::metadata::MetadataMap {
        let mut headers = http::HeaderMap::new();
        for (k, v) in self.merged_headers(otel, false) {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()),
                http::HeaderValue::from_str(&v),
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
    fn env_endpoint_comes_from_the_env_settings() {
        let d = destinations(
            None,
            &HashMap::new(),
            None,
            env_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]),
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].traces, None, "resolved by otel_env::SignalEnv");
        let env = env_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]);
        let otel = super::super::otel_env::OtelEnv::from_env(&env);
        assert_eq!(
            d[0].http_url(d[0].traces.as_ref(), &otel.traces),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            d[0].http_url(d[0].metrics.as_ref(), &otel.metrics),
            "http://c:4318/v1/metrics"
        );
    }

    /// Env headers go over the destination's (case-insensitively), invalid ones are skipped,
    /// and for OTLP/HTTP their `%` is escaped so `with_headers`' url-decoding is a no-op.
    #[test]
    fn env_headers_win_over_code_headers() {
        let code = HashMap::from([
            ("X-Team".to_owned(), "code".to_owned()),
            ("x-keep".to_owned(), "kept".to_owned()),
        ]);
        let d = destinations(Some("http://c:4318"), &code, None, env_of(&[]));
        let env = env_of(&[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-team=env,x-pct=a%2541,x-keep=bad%0Avalue",
        )]);
        let otel = super::super::otel_env::OtelEnv::from_env(&env);
        let http = d[0].merged_headers(&otel.traces, true);
        assert_eq!(
            http,
            [
                ("x-keep".to_owned(), "kept".to_owned()),
                ("x-team".to_owned(), "env".to_owned()),
                ("x-pct".to_owned(), "a%2541".to_owned()),
            ]
        );
        let grpc = d[0].merged_headers(&otel.traces, false);
        assert_eq!(grpc[2], ("x-pct".to_owned(), "a%41".to_owned()));
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
        let otel = super::super::otel_env::OtelEnv::from_env(&env_of(&[]));
        for protocol in [OtlpProtocol::HttpProtobuf, OtlpProtocol::HttpJson] {
            let spans = d.span_exporter(protocol, &otel.traces);
            let metrics = d.metric_exporter(protocol, &otel.metrics, otel.temporality);
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
