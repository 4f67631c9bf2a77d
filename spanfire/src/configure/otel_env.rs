//! The standard `OTEL_*` settings, read through `configure()`'s env source exactly the way
//! OpenTelemetry Rust 0.33 (`opentelemetry_sdk` and `opentelemetry-otlp`) reads them from the
//! process environment, so `finish()` can configure the SDK explicitly and an injected env
//! source (tests, embedding) sees the same behaviour as the real environment.
//!
//! | env var | SDK behaviour reproduced here |
//! |---|---|
//! | `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_SCHEDULE_DELAY` (ms), `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | parsed as integers (no trimming), unparsable = default (2048, 5000 ms, 512); the batch size is capped at the queue size |
//! | `OTEL_METRIC_EXPORT_INTERVAL` (ms) | default 60 s; `0` also gives the default (the SDK would export in a busy loop) |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio` (ratio from the arg, else 1.0); anything else, or unset: `parentbased_always_on` |
//! | `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, `OTEL_SPAN_EVENT_COUNT_LIMIT`, `OTEL_SPAN_LINK_COUNT_LIMIT` | integers, default 128 |
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | `k=v,k2=v2` (trimmed, not url-decoded, entries without `=` skipped); a `service.name` there wins over `OTEL_SERVICE_NAME` (as in the SDK), else `unknown_service:<executable>`; plus `telemetry.sdk.*` |
//! | `OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT` | OTLP/HTTP: the signal's var as it is, else the generic one with `/v1/traces` / `/v1/metrics` appended, else `http://localhost:4318/v1/...`; gRPC: the same without paths, default `http://localhost:4317`, a scheme-less endpoint gets `http://` with `OTEL_EXPORTER_OTLP_(TRACES_)INSECURE=true`, else `https://`. Empty = unset |
//! | `OTEL_EXPORTER_OTLP_{TRACES,METRICS}_HEADERS`, `OTEL_EXPORTER_OTLP_HEADERS` | the signal's var if set (even empty), else the generic one; `k=v,k2=v2`, trimmed, values url-decoded, empty keys or values skipped; added over the headers of the destination |
//! | `OTEL_EXPORTER_OTLP_{TRACES,METRICS}_TIMEOUT`, `OTEL_EXPORTER_OTLP_TIMEOUT` (ms) | the first that parses, else 10 s |
//! | `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` | `cumulative` (default), `delta`, `lowmemory` (any case); empty = unset, invalid = cumulative |

use std::borrow::Cow;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::resource::{Resource, TelemetryResourceDetector};
use opentelemetry_sdk::trace::{BatchConfig, BatchConfigBuilder, Sampler, SpanLimits};

/// The OpenTelemetry signals spanfire exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    fn var(self, suffix: &str) -> String {
        let signal = match self {
            Signal::Traces => "TRACES",
            Signal::Metrics => "METRICS",
        };
        format!("OTEL_EXPORTER_OTLP_{signal}_{suffix}")
    }

    fn path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
        }
    }
}

const HTTP_ENDPOINT_DEFAULT: &str = "http://localhost:4318";
const GRPC_ENDPOINT_DEFAULT: &str = "http://localhost:4317";
const EXPORT_TIMEOUT_DEFAULT: Duration = Duration::from_millis(10_000);
const METRIC_EXPORT_INTERVAL_DEFAULT: Duration = Duration::from_secs(60);
const SPAN_LIMIT_DEFAULT: u32 = 128;

/// `name`'s value parsed as `T`, `None` when unset or unparsable (the SDK's `usize::from_str`
/// etc. on the raw value: no trimming).
fn parsed<T: std::str::FromStr>(env: &impl Fn(&str) -> Option<String>, name: &str) -> Option<T> {
    env(name).and_then(|v| v.parse().ok())
}

/// A non-empty value (opentelemetry-otlp's `read_env_var`: empty counts as unset).
fn non_empty(env: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.is_empty())
}

/// The batch span processor settings (`OTEL_BSP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchSettings {
    pub(crate) max_queue_size: usize,
    pub(crate) scheduled_delay: Duration,
    pub(crate) max_export_batch_size: usize,
}

impl BatchSettings {
    pub(crate) fn from_env(env: &impl Fn(&str) -> Option<String>) -> BatchSettings {
        let max_queue_size = parsed(env, "OTEL_BSP_MAX_QUEUE_SIZE").unwrap_or(2_048);
        let scheduled_delay = parsed(env, "OTEL_BSP_SCHEDULE_DELAY")
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_millis(5_000));
        let max_export_batch_size: usize =
            parsed(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE").unwrap_or(512);
        BatchSettings {
            max_queue_size,
            scheduled_delay,
            max_export_batch_size: max_export_batch_size.min(max_queue_size),
        }
    }

    /// The SDK config with every value the thread-based batch processor uses set explicitly
    /// (`OTEL_BSP_EXPORT_TIMEOUT` and `OTEL_BSP_MAX_CONCURRENT_EXPORTS` only matter to the
    /// async-runtime processor, which spanfire does not use).
    pub(crate) fn config(&self) -> BatchConfig {
        BatchConfigBuilder::default()
            .with_max_queue_size(self.max_queue_size)
            .with_scheduled_delay(self.scheduled_delay)
            .with_max_export_batch_size(self.max_export_batch_size)
            .build()
    }
}

/// `OTEL_METRIC_EXPORT_INTERVAL` (ms), else 60 s. `0` gives the default: the SDK's reader would
/// take it from the process env and export in a busy loop, and its `with_interval` ignores 0.
pub(crate) fn metric_export_interval(env: &impl Fn(&str) -> Option<String>) -> Duration {
    parsed::<u64>(env, "OTEL_METRIC_EXPORT_INTERVAL")
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
        .unwrap_or(METRIC_EXPORT_INTERVAL_DEFAULT)
}

/// `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, as the SDK's `Config::default()`.
pub(crate) fn sampler(env: &impl Fn(&str) -> Option<String>) -> Sampler {
    let parent_based = |s: Sampler| Sampler::ParentBased(Box::new(s));
    let ratio = || parsed::<f64>(env, "OTEL_TRACES_SAMPLER_ARG").unwrap_or(1.0);
    match env("OTEL_TRACES_SAMPLER").as_deref() {
        Some("always_on") => Sampler::AlwaysOn,
        Some("always_off") => Sampler::AlwaysOff,
        Some("traceidratio") => Sampler::TraceIdRatioBased(ratio()),
        Some("parentbased_always_off") => parent_based(Sampler::AlwaysOff),
        Some("parentbased_traceidratio") => parent_based(Sampler::TraceIdRatioBased(ratio())),
        // parentbased_always_on, the unimplemented jaeger_remote / xray, anything else, unset
        _ => parent_based(Sampler::AlwaysOn),
    }
}

/// `OTEL_SPAN_{ATTRIBUTE,EVENT,LINK}_COUNT_LIMIT`, as the SDK's `Config::default()`.
pub(crate) fn span_limits(env: &impl Fn(&str) -> Option<String>) -> SpanLimits {
    let limit = |name| parsed(env, name).unwrap_or(SPAN_LIMIT_DEFAULT);
    SpanLimits {
        max_attributes_per_span: limit("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT"),
        max_events_per_span: limit("OTEL_SPAN_EVENT_COUNT_LIMIT"),
        max_links_per_span: limit("OTEL_SPAN_LINK_COUNT_LIMIT"),
        ..SpanLimits::default()
    }
}

/// `OTEL_RESOURCE_ATTRIBUTES` as the SDK's `EnvResourceDetector` parses it.
fn resource_attributes(env: &impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let Some(value) = non_empty(env, "OTEL_RESOURCE_ATTRIBUTES") else {
        return Vec::new();
    };
    value
        .split_terminator(',')
        .filter_map(|entry| entry.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The SDK's `unknown_service:<executable name>`.
fn default_service_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| {
            p.file_name()?
                .to_str()
                .map(|n| format!("unknown_service:{n}"))
        })
        .unwrap_or_else(|| "unknown_service".to_owned())
}

/// What `Resource::builder()` detects, from `env` instead of the process environment:
/// `service.name` (`OTEL_SERVICE_NAME`, else `unknown_service:<exe>`), the `telemetry.sdk.*`
/// attributes, then `OTEL_RESOURCE_ATTRIBUTES` over them (a `service.name` there wins, as in
/// the SDK, whose env detector runs last).
pub(crate) fn resource(env: &impl Fn(&str) -> Option<String>) -> Resource {
    let attributes = resource_attributes(env);
    let service_name = non_empty(env, "OTEL_SERVICE_NAME")
        .or_else(|| {
            attributes
                .iter()
                .rev()
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| v.clone())
        })
        .unwrap_or_else(default_service_name);
    Resource::builder_empty()
        .with_service_name(service_name)
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_attributes(attributes.into_iter().map(|(k, v)| KeyValue::new(k, v)))
        .build()
}

/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`, as opentelemetry-otlp resolves it.
pub(crate) fn temporality(env: &impl Fn(&str) -> Option<String>) -> Temporality {
    non_empty(env, "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
        .and_then(|v| v.parse().ok())
        .unwrap_or_default()
}

/// One signal's exporter settings from the `OTEL_EXPORTER_OTLP_*` vars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignalEnv {
    /// The full OTLP/HTTP URL when no endpoint is set in code.
    pub(crate) http_endpoint: String,
    /// The gRPC endpoint when none is set in code (scheme applied).
    pub(crate) grpc_endpoint: String,
    /// `OTEL_EXPORTER_OTLP_(<SIGNAL>_)INSECURE=true`: a scheme-less gRPC endpoint gets `http://`.
    pub(crate) insecure: bool,
    /// Added over the destination's own headers; values already url-decoded.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
}

impl SignalEnv {
    pub(crate) fn from_env(env: &impl Fn(&str) -> Option<String>, signal: Signal) -> SignalEnv {
        let generic = non_empty(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
        let own = non_empty(env, &signal.var("ENDPOINT"));
        let http_endpoint = match (&own, &generic) {
            (Some(own), _) => own.clone(),
            (None, Some(base)) => with_path(base, signal.path()),
            (None, None) => with_path(HTTP_ENDPOINT_DEFAULT, signal.path()),
        };
        let insecure = env(&signal.var("INSECURE"))
            .or_else(|| env("OTEL_EXPORTER_OTLP_INSECURE"))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let grpc_endpoint = own
            .or(generic)
            .unwrap_or_else(|| GRPC_ENDPOINT_DEFAULT.to_owned());
        let headers = env(&signal.var("HEADERS"))
            .or_else(|| env("OTEL_EXPORTER_OTLP_HEADERS"))
            .map(|v| parse_headers(&v))
            .unwrap_or_default();
        let timeout = parsed(env, &signal.var("TIMEOUT"))
            .or_else(|| parsed(env, "OTEL_EXPORTER_OTLP_TIMEOUT"))
            .map(Duration::from_millis)
            .unwrap_or(EXPORT_TIMEOUT_DEFAULT);
        SignalEnv {
            grpc_endpoint: grpc_scheme(grpc_endpoint, insecure),
            http_endpoint,
            insecure,
            headers,
            timeout,
        }
    }
}

/// opentelemetry-otlp's `build_endpoint_uri`: `base` + `path`, without a doubled `/`.
fn with_path(base: &str, path: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{}", &path[1..])
    } else {
        format!("{base}{path}")
    }
}

/// opentelemetry-otlp's `apply_insecure_scheme`: a gRPC endpoint without a scheme gets
/// `http://` when insecure, else `https://`.
pub(crate) fn grpc_scheme(endpoint: String, insecure: bool) -> String {
    let has_scheme = endpoint
        .split_once("://")
        .is_some_and(|(scheme, _)| !scheme.contains(['/', '?', '#']));
    match (has_scheme, insecure) {
        (true, _) => endpoint,
        (false, true) => format!("http://{endpoint}"),
        (false, false) => format!("https://{endpoint}"),
    }
}

/// opentelemetry-otlp's header list parsing: `k=v` entries separated by `,`, trimmed, values
/// url-decoded (kept as they are when that fails), entries with an empty key or value skipped.
pub(crate) fn parse_headers(value: &str) -> Vec<(String, String)> {
    value
        .split_terminator(',')
        .map(str::trim)
        .filter_map(|entry| {
            let (key, raw) = entry.split_once('=')?;
            let (key, value) = (key.trim(), url_decode(raw.trim()).unwrap_or(raw.to_owned()));
            (!key.is_empty() && !value.is_empty()).then(|| (key.to_owned(), value))
        })
        .collect()
}

/// Percent-decoding as opentelemetry-otlp does it: `None` for a truncated or non-hex escape or
/// decoded bytes that are not UTF-8.
pub(crate) fn url_decode(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut bytes = Vec::new();
    let mut chars = value.chars();
    loop {
        let ch = chars.next();
        if ch == Some('%') {
            let hex: String = [chars.next()?, chars.next()?].iter().collect();
            bytes.push(u8::from_str_radix(&hex, 16).ok()?);
            continue;
        }
        if !bytes.is_empty() {
            out.push_str(std::str::from_utf8(&bytes).ok()?);
            bytes.clear();
        }
        match ch {
            Some(c) => out.push(c),
            None => return Some(out),
        }
    }
}

/// Escapes `%` so that opentelemetry-otlp's `with_headers`, which url-decodes values, hands an
/// already decoded env header value through unchanged.
pub(crate) fn escape_percent(value: &str) -> Cow<'_, str> {
    if value.contains('%') {
        Cow::Owned(value.replace('%', "%25"))
    } else {
        Cow::Borrowed(value)
    }
}

/// Every `OTEL_*` setting `finish()` applies, read once from the env source.
#[derive(Debug)]
pub(crate) struct OtelEnv {
    pub(crate) batch: BatchSettings,
    pub(crate) metric_export_interval: Duration,
    pub(crate) sampler: Sampler,
    pub(crate) span_limits: SpanLimits,
    pub(crate) resource: Resource,
    pub(crate) temporality: Temporality,
    pub(crate) traces: SignalEnv,
    pub(crate) metrics: SignalEnv,
}

impl OtelEnv {
    pub(crate) fn from_env(env: &impl Fn(&str) -> Option<String>) -> OtelEnv {
        OtelEnv {
            batch: BatchSettings::from_env(env),
            metric_export_interval: metric_export_interval(env),
            sampler: sampler(env),
            span_limits: span_limits(env),
            resource: resource(env),
            temporality: temporality(env),
            traces: SignalEnv::from_env(env, Signal::Traces),
            metrics: SignalEnv::from_env(env, Signal::Metrics),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        move |k| map.get(k).map(|v| (*v).to_owned())
    }

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// The env of one table row.
    type Pairs<'a> = &'a [(&'a str, &'a str)];

    #[test]
    fn batch_settings_parse_like_the_sdk() {
        // (env, queue, delay, batch)
        let table: [(Pairs, usize, Duration, usize); 7] = [
            (&[], 2048, MS(5000), 512),
            (
                &[
                    ("OTEL_BSP_MAX_QUEUE_SIZE", "16"),
                    ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8"),
                    ("OTEL_BSP_SCHEDULE_DELAY", "50"),
                ],
                16,
                MS(50),
                8,
            ),
            (&[("OTEL_BSP_SCHEDULE_DELAY", "0")], 2048, MS(0), 512),
            (&[("OTEL_BSP_MAX_QUEUE_SIZE", "100")], 100, MS(5000), 100),
            (&[("OTEL_BSP_MAX_QUEUE_SIZE", " 16")], 2048, MS(5000), 512),
            (&[("OTEL_BSP_SCHEDULE_DELAY", "1s")], 2048, MS(5000), 512),
            (
                &[("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "")],
                2048,
                MS(5000),
                512,
            ),
        ];
        for (env, max_queue_size, scheduled_delay, max_export_batch_size) in table {
            let expected = BatchSettings {
                max_queue_size,
                scheduled_delay,
                max_export_batch_size,
            };
            assert_eq!(BatchSettings::from_env(&env_of(env)), expected, "{env:?}");
        }
    }

    #[test]
    fn sampler_span_limits_and_interval_parse_like_the_sdk() {
        let table: [(Pairs, &str); 12] = [
            (&[], "ParentBased(AlwaysOn)"),
            (&[("OTEL_TRACES_SAMPLER", "always_on")], "AlwaysOn"),
            (&[("OTEL_TRACES_SAMPLER", "always_off")], "AlwaysOff"),
            (
                &[("OTEL_TRACES_SAMPLER", "ALWAYS_OFF")],
                "ParentBased(AlwaysOn)",
            ),
            (&[("OTEL_TRACES_SAMPLER", "")], "ParentBased(AlwaysOn)"),
            (
                &[
                    ("OTEL_TRACES_SAMPLER", "traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
                ],
                "TraceIdRatioBased(0.25)",
            ),
            (
                &[("OTEL_TRACES_SAMPLER", "traceidratio")],
                "TraceIdRatioBased(1.0)",
            ),
            (
                &[
                    ("OTEL_TRACES_SAMPLER", "traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", "half"),
                ],
                "TraceIdRatioBased(1.0)",
            ),
            (
                &[("OTEL_TRACES_SAMPLER", "parentbased_always_on")],
                "ParentBased(AlwaysOn)",
            ),
            (
                &[("OTEL_TRACES_SAMPLER", "parentbased_always_off")],
                "ParentBased(AlwaysOff)",
            ),
            (
                &[
                    ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
                ],
                "ParentBased(TraceIdRatioBased(0.5))",
            ),
            (&[("OTEL_TRACES_SAMPLER", "xray")], "ParentBased(AlwaysOn)"),
        ];
        for (env, expected) in table {
            assert_eq!(format!("{:?}", sampler(&env_of(env))), expected, "{env:?}");
        }

        let limits = span_limits(&env_of(&[
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "7"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "x"),
            ("OTEL_SPAN_LINK_COUNT_LIMIT", "3"),
        ]));
        assert_eq!(
            (
                limits.max_attributes_per_span,
                limits.max_events_per_span,
                limits.max_links_per_span,
                limits.max_attributes_per_event,
            ),
            (7, 128, 3, 128)
        );

        for (value, expected) in [
            (None, MS(60_000)),
            (Some("250"), MS(250)),
            (Some("0"), MS(60_000)),
            (Some("-1"), MS(60_000)),
            (Some("1e3"), MS(60_000)),
        ] {
            let pairs: Vec<(&str, &str)> = value
                .map(|v| ("OTEL_METRIC_EXPORT_INTERVAL", v))
                .into_iter()
                .collect();
            assert_eq!(
                metric_export_interval(&env_of(&pairs)),
                expected,
                "{value:?}"
            );
        }

        for (value, expected) in [
            ("", Temporality::Cumulative),
            ("delta", Temporality::Delta),
            ("Delta", Temporality::Delta),
            ("lowmemory", Temporality::LowMemory),
            ("nonsense", Temporality::Cumulative),
        ] {
            let env = [("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", value)];
            assert_eq!(temporality(&env_of(&env)), expected, "{value:?}");
        }
    }

    fn attributes(resource: &Resource) -> Vec<String> {
        let mut out: Vec<String> = resource.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.sort();
        out
    }

    #[test]
    fn resource_is_what_the_sdk_detectors_give() {
        let sdk = [
            "telemetry.sdk.language=rust",
            "telemetry.sdk.name=opentelemetry",
        ];
        let name = |r: &Resource| {
            r.get(&opentelemetry::Key::from_static_str("service.name"))
                .map(|v| v.to_string())
                .unwrap()
        };
        // (env, service.name, other attributes besides telemetry.sdk.*)
        let table: [(Pairs, &str, &[&str]); 6] = [
            (&[("OTEL_SERVICE_NAME", "svc")], "svc", &[]),
            (
                &[(
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "deployment.environment=ci, team = obs ,novalue,a=x,a=z,b64=SGk=",
                )],
                "",
                &["a=z", "b64=SGk=", "deployment.environment=ci", "team=obs"],
            ),
            (
                &[
                    ("OTEL_SERVICE_NAME", "svc"),
                    ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"),
                ],
                "from-attrs",
                &[],
            ),
            (
                &[("OTEL_RESOURCE_ATTRIBUTES", "service.name=only-attrs,x=%20")],
                "only-attrs",
                &["x=%20"],
            ),
            (&[("OTEL_SERVICE_NAME", "")], "", &[]),
            (&[("OTEL_RESOURCE_ATTRIBUTES", "")], "", &[]),
        ];
        for (env, service, others) in table {
            let resource = resource(&env_of(env));
            let got = name(&resource);
            if service.is_empty() {
                assert!(got.starts_with("unknown_service:"), "{env:?}: {got}");
            } else {
                assert_eq!(got, service, "{env:?}");
            }
            let rest: Vec<String> = attributes(&resource)
                .into_iter()
                .filter(|a| !a.starts_with("service.name=") && !a.starts_with("telemetry.sdk."))
                .collect();
            assert_eq!(rest, others, "{env:?}");
            for attr in sdk {
                assert!(attributes(&resource).iter().any(|a| a == attr), "{attr}");
            }
        }
    }

    #[test]
    fn exporter_settings_resolve_like_opentelemetry_otlp() {
        // (env, signal, http endpoint, grpc endpoint, timeout)
        let table: [(Pairs, Signal, &str, &str, Duration); 10] = [
            (
                &[],
                Signal::Traces,
                "http://localhost:4318/v1/traces",
                "http://localhost:4317",
                MS(10_000),
            ),
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")],
                Signal::Traces,
                "http://c:4318/v1/traces",
                "http://c:4318",
                MS(10_000),
            ),
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/base/")],
                Signal::Metrics,
                "http://c:4318/base/v1/metrics",
                "http://c:4318/base/",
                MS(10_000),
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                    ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/custom"),
                ],
                Signal::Traces,
                "http://t:1/custom",
                "http://t:1/custom",
                MS(10_000),
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                    ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/custom"),
                ],
                Signal::Metrics,
                "http://c:4318/v1/metrics",
                "http://c:4318",
                MS(10_000),
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                    ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""),
                ],
                Signal::Traces,
                "http://c:4318/v1/traces",
                "http://c:4318",
                MS(10_000),
            ),
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "c:4317")],
                Signal::Traces,
                "c:4317/v1/traces",
                "https://c:4317",
                MS(10_000),
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "c:4317"),
                    ("OTEL_EXPORTER_OTLP_INSECURE", "TRUE"),
                    ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
                ],
                Signal::Traces,
                "c:4317/v1/traces",
                "http://c:4317",
                MS(2500),
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "c:4317"),
                    ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
                    ("OTEL_EXPORTER_OTLP_TRACES_INSECURE", ""),
                    ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
                    ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "100"),
                ],
                Signal::Traces,
                "c:4317/v1/traces",
                "https://c:4317",
                MS(100),
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
                    ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "soon"),
                ],
                Signal::Metrics,
                "http://localhost:4318/v1/metrics",
                "http://localhost:4317",
                MS(2500),
            ),
        ];
        for (env, signal, http, grpc, timeout) in table {
            let got = SignalEnv::from_env(&env_of(env), signal);
            assert_eq!(got.http_endpoint, http, "{env:?} {signal:?}");
            assert_eq!(got.grpc_endpoint, grpc, "{env:?} {signal:?}");
            assert_eq!(got.timeout, timeout, "{env:?} {signal:?}");
        }
    }

    #[test]
    fn headers_parse_like_opentelemetry_otlp() {
        let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        // (value, parsed)
        let table: [(&str, Vec<(String, String)>); 8] = [
            ("k=v,k2=v2", h(&[("k", "v"), ("k2", "v2")])),
            (" k = v , k2=v2 ,", h(&[("k", "v"), ("k2", "v2")])),
            ("auth=Bearer%20abc", h(&[("auth", "Bearer abc")])),
            ("a=b=c", h(&[("a", "b=c")])),
            ("novalue,=v,k=,k2=v2", h(&[("k2", "v2")])),
            ("k=%zz", h(&[("k", "%zz")])),
            ("k=%E2%82%AC", h(&[("k", "€")])),
            ("", h(&[])),
        ];
        for (value, expected) in table {
            assert_eq!(parse_headers(value), expected, "{value:?}");
        }
        // the signal's var wins even when empty; else the generic one
        let signal = SignalEnv::from_env(
            &env_of(&[
                ("OTEL_EXPORTER_OTLP_HEADERS", "g=1"),
                ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", ""),
                ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "m=2"),
            ]),
            Signal::Traces,
        );
        assert!(signal.headers.is_empty());
        let generic = SignalEnv::from_env(
            &env_of(&[("OTEL_EXPORTER_OTLP_HEADERS", "g=1")]),
            Signal::Metrics,
        );
        assert_eq!(generic.headers, h(&[("g", "1")]));
        for value in ["plain", "50%", "a%2541", "€%"] {
            assert_eq!(url_decode(&escape_percent(value)).as_deref(), Some(value));
        }
    }

    /// The env vars the differential test sets in a child process.
    const PROBE: &str = "SPANFIRE_OTEL_ENV_PROBE";

    /// Prints what the SDK and opentelemetry-otlp themselves read from the (child's) process
    /// environment. Runs only in the child `sdk_reads_the_process_env_the_same_way` starts.
    #[test]
    fn sdk_probe() {
        if std::env::var_os(PROBE).is_none() {
            return;
        }
        use opentelemetry_otlp::WithExportConfig as _;
        use opentelemetry_sdk::metrics::exporter::PushMetricExporter as _;
        let config = opentelemetry_sdk::trace::Config::default();
        println!("PROBE sampler {:?}", config.sampler);
        println!("PROBE limits {:?}", config.span_limits);
        println!("PROBE batch {:?}", BatchConfig::default());
        println!(
            "PROBE resource {}",
            attributes(&Resource::builder().build()).join("|")
        );
        let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(
            opentelemetry_sdk::metrics::InMemoryMetricExporter::default(),
        );
        println!("PROBE reader {reader:?}");
        let spans = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .build()
            .unwrap();
        println!("PROBE spans {spans:?}");
        let metrics = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .build()
            .unwrap();
        println!("PROBE temporality {:?}", metrics.temporality());
    }

    /// Differential: for each env, a child process (this test binary, running `sdk_probe` with
    /// the env set on the child only — this process's env is never touched) reports what the
    /// SDK and exporter read; spanfire's reading of the same env through an env source must
    /// agree.
    #[test]
    fn sdk_reads_the_process_env_the_same_way() {
        let table: [Pairs; 5] = [
            &[],
            &[
                ("OTEL_BSP_MAX_QUEUE_SIZE", "16"),
                ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64"),
                ("OTEL_BSP_SCHEDULE_DELAY", "50"),
                ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.3"),
                ("OTEL_SPAN_LINK_COUNT_LIMIT", "5"),
                ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
                ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"),
            ],
            &[
                ("OTEL_SERVICE_NAME", "svc"),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "service.name=attrs, team = obs,x",
                ),
                ("OTEL_TRACES_SAMPLER", "always_off"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/base/"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "k=v%20w,empty=,x-a=1"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "1234"),
            ],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:9/x"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "g=1"),
                ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "t=2"),
                ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "77"),
                ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ],
            &[
                ("OTEL_SERVICE_NAME", "only-name"),
                ("OTEL_TRACES_SAMPLER", "bogus"),
                ("OTEL_BSP_MAX_QUEUE_SIZE", "4"),
            ],
        ];
        let exe = std::env::current_exe().unwrap();
        for env in table {
            let mut child = std::process::Command::new(&exe);
            child.args([
                "--exact",
                "configure::otel_env::tests::sdk_probe",
                "--nocapture",
                "--test-threads=1",
            ]);
            for (k, _) in std::env::vars_os() {
                if k.to_string_lossy().starts_with("OTEL_") {
                    child.env_remove(k);
                }
            }
            child.env(PROBE, "1").envs(env.iter().copied());
            let out = child.output().expect("run the probe");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let probe = |what: &str| -> String {
                let prefix = format!("PROBE {what} ");
                stdout
                    .lines()
                    .find_map(|l| l.split_once(&prefix).map(|(_, rest)| rest))
                    .unwrap_or_else(|| panic!("no {what} in {stdout}"))
                    .to_owned()
            };
            let ours = OtelEnv::from_env(&env_of(env));
            assert_eq!(format!("{:?}", ours.sampler), probe("sampler"), "{env:?}");
            assert_eq!(
                format!("{:?}", ours.span_limits),
                probe("limits"),
                "{env:?}"
            );
            let batch = probe("batch");
            for part in [
                format!("max_queue_size: {},", ours.batch.max_queue_size),
                format!("scheduled_delay: {:?},", ours.batch.scheduled_delay),
                format!(
                    "max_export_batch_size: {},",
                    ours.batch.max_export_batch_size
                ),
            ] {
                assert!(batch.contains(&part), "{env:?}: {part} in {batch}");
            }
            let resource = attributes(&ours.resource).join("|");
            assert_eq!(resource, probe("resource"), "{env:?}");
            let interval = format!("interval: {:?},", ours.metric_export_interval);
            assert!(probe("reader").contains(&interval), "{env:?}: {interval}");
            assert_eq!(format!("{:?}", ours.temporality), probe("temporality"));
            let spans = probe("spans");
            let uri: http::Uri = ours.traces.http_endpoint.parse().unwrap();
            for part in [
                format!("collector_endpoint: {uri},"),
                format!("timeout: {:?},", ours.traces.timeout),
            ] {
                assert!(spans.contains(&part), "{env:?}: {part} in {spans}");
            }
            for (k, v) in &ours.traces.headers {
                let part = format!("{k:?}: {v:?}");
                assert!(spans.contains(&part), "{env:?}: {part} in {spans}");
            }
            let headers = spans.matches("\": \"").count();
            assert_eq!(
                headers,
                ours.traces.headers.len() + 1,
                "{env:?}: user-agent plus the env headers in {spans}"
            );
        }
    }
}
