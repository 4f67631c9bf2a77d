//! [`HttpClientInstrumentation`]: the options, built once into a shared [`Inner`].

use std::fmt;
use std::sync::Arc;

use opentelemetry::global::{BoxedTracer, ObjectSafeTracerProvider};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::InstrumentationScope;

use crate::capture::headers::{HeaderCapture, Selection};
use crate::exchange::Metrics;
use crate::exchange::RequestTracer;
use crate::exchange::{ExcludedUrls, UrlTemplates};
use crate::hooks::{OnRequest, OnResponse, RequestInfo, ResponseOutcome, UrlFilter};
use crate::secrets::{self, Secrets};
use crate::semconv::SemconvStability;
use opentelemetry::trace::SpanRef;

/// Env var that turns on `capture_all` (`true`/`1`); an explicit setter wins over it.
pub const ENV_CAPTURE_ALL: &str = "SPANFIRE_HTTP_CLIENT_CAPTURE_ALL";

/// Options of the HTTP client instrumentation; the `instrument_*`, `reqwest_middleware` and
/// `layer` methods build it into a front end.
///
/// Everything is computed once when a front end is built (tracer, instruments, header and
/// URL lists), so a request costs one `Arc` clone of the shared state.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = spanfire::HttpClientInstrumentation::new()
///     .capture_headers(true)
///     .instrument_reqwest(reqwest::Client::new());
/// client.get("http://127.0.0.1:8080/get").send().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct HttpClientInstrumentation {
    capture_headers: Option<bool>,
    capture_request_body: Option<bool>,
    capture_response_body: Option<bool>,
    capture_all: Option<bool>,
    body_limit: Option<usize>,
    request_hook: Option<Arc<dyn OnRequest>>,
    response_hook: Option<Arc<dyn OnResponse>>,
    url_filter: Option<Arc<dyn UrlFilter>>,
    tracer: Option<Arc<dyn ObjectSafeTracerProvider + Send + Sync>>,
    #[cfg(feature = "configure")]
    sdk_tracer: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
    metrics: Option<Metrics>,
    pub(crate) opt_in_metrics: bool,
    /// Connection phases on the spans (see [`crate::connect`]); `None`: the front end decides.
    pub(crate) connection_phases: Option<bool>,
    /// The resolver `instrument_reqwest_builder` times (`None`: getaddrinfo).
    #[cfg(feature = "reqwest")]
    pub(crate) reqwest_resolver: Option<Arc<dyn reqwest::dns::Resolve>>,
    secrets: Option<Secrets>,
    sensitive_names: Vec<String>,
    excluded_urls: ExcludedUrls,
    url_templates: UrlTemplates,
    /// Redirects the reqwest front end follows itself (`None`: the client does).
    #[cfg(feature = "reqwest")]
    pub(crate) redirects: Option<crate::reqwest::Redirects>,
    propagation: Propagation,
    env: crate::env::Env,
    semconv_stability: Option<SemconvStability>,
}

/// Where trace context is injected.
#[derive(Debug, Clone, Default)]
pub(crate) enum Propagation {
    Off,
    #[default]
    AllHosts,
    Hosts(Arc<[String]>),
}

impl Propagation {
    pub(crate) fn allows(&self, host: Option<&str>) -> bool {
        match self {
            Propagation::Off => false,
            Propagation::AllHosts => true,
            Propagation::Hosts(hosts) => {
                host.is_some_and(|h| hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(h)))
            }
        }
    }
}

impl HttpClientInstrumentation {
    /// Default options: spans and metrics to the global providers, no header or body capture,
    /// trace context injected on every request, `SPANFIRE_*` and `OTEL_INSTRUMENTATION_HTTP_*`
    /// env vars honoured.
    pub fn new() -> Self {
        Self::default()
    }

    /// Captures request and response headers (sensitive values redacted) as span attributes.
    ///
    /// Default: off, unless `capture_all` or an `OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*`
    /// env var turns it on.
    pub fn capture_headers(mut self, on: bool) -> Self {
        self.capture_headers = Some(on);
        self
    }

    /// Captures the request body as sent — buffered bodies as they are, streaming bodies through
    /// a tee as they stream (never buffered before sending) — into `http.request.body.text`
    /// (JSON, text), `http.request.body.form` (url-encoded forms, as a JSON object) and
    /// `http.request.body.size`. Multipart and binary bodies record their size only.
    ///
    /// Default: off, unless `capture_all` or `SPANFIRE_HTTP_CLIENT_CAPTURE_ALL` turns it on.
    pub fn capture_request_body(mut self, on: bool) -> Self {
        self.capture_request_body = Some(on);
        self
    }

    /// Captures the response body as the application reads it (`text()`, `json()`, `bytes()`,
    /// `chunk()`, `bytes_stream()` alike) into `http.response.body.text` on the request span,
    /// decoded per the Content-Type charset; binary bodies record no text. What the client
    /// decompressed is what is captured.
    ///
    /// Default: off, unless `capture_all` or `SPANFIRE_HTTP_CLIENT_CAPTURE_ALL` turns it on.
    pub fn capture_response_body(mut self, on: bool) -> Self {
        self.capture_response_body = Some(on);
        self
    }

    /// At most this many bytes of each body are kept; longer text is cut on a character
    /// boundary and ends with [`TRUNCATION_MARKER`](crate::TRUNCATION_MARKER). Sizes still count
    /// every byte.
    ///
    /// Default: 64 KiB ([`DEFAULT_BODY_LIMIT`](crate::DEFAULT_BODY_LIMIT)).
    pub fn body_capture_limit(mut self, bytes: usize) -> Self {
        self.body_limit = Some(bytes);
        self
    }

    /// Captures headers and both bodies.
    ///
    /// Default: off, or the value of the `SPANFIRE_HTTP_CLIENT_CAPTURE_ALL` env var.
    pub fn capture_all(mut self, on: bool) -> Self {
        self.capture_all = Some(on);
        self
    }

    /// Sets the hook called once before each request is sent (see [`crate::hooks`]): a closure
    /// `|span, request| …`, its argument types inferred.
    ///
    /// Default: none.
    pub fn request_hook<F>(self, hook: F) -> Self
    where
        F: Fn(&SpanRef<'_>, &RequestInfo<'_>) + Send + Sync + 'static,
    {
        self.with_request_hook(hook)
    }

    /// [`request_hook`](Self::request_hook) for a named type implementing [`OnRequest`].
    pub fn with_request_hook(mut self, hook: impl OnRequest) -> Self {
        self.request_hook = Some(Arc::new(hook));
        self
    }

    /// Sets the hook called once when the response head arrives or the request fails: a
    /// closure `|span, outcome| …`, its argument types inferred.
    ///
    /// Default: none.
    pub fn response_hook<F>(self, hook: F) -> Self
    where
        F: Fn(&SpanRef<'_>, &ResponseOutcome<'_>) + Send + Sync + 'static,
    {
        self.with_response_hook(hook)
    }

    /// [`response_hook`](Self::response_hook) for a named type implementing [`OnResponse`].
    pub fn with_response_hook(mut self, hook: impl OnResponse) -> Self {
        self.response_hook = Some(Arc::new(hook));
        self
    }

    /// Maps the request URL to the string recorded in `url.full` — a closure `|url| …`, its
    /// argument type inferred; the secrets policy still redacts the result.
    ///
    /// Default: the URL as sent.
    pub fn url_filter<F>(self, filter: F) -> Self
    where
        F: Fn(&url::Url) -> String + Send + Sync + 'static,
    {
        self.with_url_filter(filter)
    }

    /// [`url_filter`](Self::url_filter) for a named type implementing [`UrlFilter`].
    pub fn with_url_filter(mut self, filter: impl UrlFilter) -> Self {
        self.url_filter = Some(Arc::new(filter));
        self
    }

    /// Creates spans with this tracer provider instead of the global one.
    ///
    /// Default: the global tracer provider, as it is when the front end is built (so call
    /// `spanfire::configure()` or `global::set_tracer_provider` first).
    pub fn tracer_provider<P>(mut self, provider: P) -> Self
    where
        P: ObjectSafeTracerProvider + Send + Sync + 'static,
    {
        #[cfg(feature = "configure")]
        {
            self.sdk_tracer = crate::exchange::as_sdk(&provider);
        }
        self.tracer = Some(Arc::new(provider));
        self
    }

    /// Records metrics with this meter provider instead of the global one.
    ///
    /// Default: the global meter provider, as it is when the front end is built.
    ///
    /// The instruments are created here, once, and shared by every client built from this
    /// instrumentation (and its clones).
    pub fn meter_provider<P: MeterProvider>(mut self, provider: P) -> Self {
        self.metrics = Some(Metrics::new(&provider.meter_with_scope(scope())));
        self
    }

    /// Also records the opt-in metrics: `http.client.request.body.size` (from the buffered body
    /// or `Content-Length`), `http.client.response.body.size` (bytes the application read) and
    /// `http.client.active_requests`.
    ///
    /// Default: off (only `http.client.request.duration`).
    pub fn opt_in_metrics(mut self, on: bool) -> Self {
        self.opt_in_metrics = on;
        self
    }

    /// Sets the secrets policy: which header names, query keys and JSON/form keys are secrets
    /// (see [`crate::secrets`] for where it applies).
    ///
    /// Default: the policy `configure()` installed (its `scrubbing` option), else
    /// [`Secrets::default()`](crate::Secrets). `sensitive_query_keys`, `sensitive_headers` and
    /// `OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS` add to it.
    pub fn secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Adds query keys (exact names, compared ASCII case-insensitively) whose values are
    /// redacted in `url.full` — and, since the policy is one, wherever else the name appears
    /// (headers, JSON and form keys).
    ///
    /// Default: none beyond the [secrets policy](Self::secrets), which already covers the keys
    /// the semantic conventions list and Logfire's names.
    pub fn sensitive_query_keys<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let exact = keys.into_iter().map(|k| regex::escape(k.as_ref()));
        self.sensitive_names.extend(exact);
        self
    }

    /// Adds names (case-insensitive regular expressions, matched in full) that are secrets:
    /// captured header values, query values and JSON/form values under these names are
    /// redacted, on top of the [secrets policy](Self::secrets).
    ///
    /// A pattern that does not compile turns header and body capture off (recorded on every
    /// span as `spanfire.capture.disabled`) and redacts every query value: capture never runs
    /// with a redaction you asked for silently dropped.
    ///
    /// Default: the policy and `OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS`.
    pub fn sensitive_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.sensitive_names
            .extend(names.into_iter().map(Into::into));
        self
    }

    /// Requests whose URL matches get no span, no metrics and no trace context.
    ///
    /// Default: nothing excluded but what `SPANFIRE_HTTP_CLIENT_EXCLUDED_URLS` lists; the two
    /// combine.
    pub fn excluded_urls(mut self, excluded: ExcludedUrls) -> Self {
        self.excluded_urls = excluded;
        self
    }

    /// Path templates (`/users/{id}`) matched against every request's path: the first match
    /// names the span `{method} {template}` and records `url.template`
    /// ([`UrlTemplates`](crate::UrlTemplates) says how paths match). A per-request
    /// [`UrlTemplate`](crate::UrlTemplate) wins over them.
    ///
    /// Default: none (the span is named `{method}`).
    ///
    /// ```
    /// let instrumentation = spanfire::HttpClientInstrumentation::new()
    ///     .url_templates(spanfire::UrlTemplates::new(["/users/{id}", "/orders/{id}/items"])?);
    /// # Ok::<(), spanfire::Error>(())
    /// ```
    pub fn url_templates(mut self, templates: UrlTemplates) -> Self {
        self.url_templates = templates;
        self
    }

    /// Turns trace-context injection on or off for all requests.
    ///
    /// Default: on. Per request, [`DisablePropagation`](crate::DisablePropagation) turns it off.
    pub fn propagation(mut self, on: bool) -> Self {
        self.propagation = if on {
            Propagation::AllHosts
        } else {
            Propagation::Off
        };
        self
    }

    /// Injects trace context only into requests to these hosts (compared ASCII
    /// case-insensitively), so that trace ids do not leak to third parties.
    ///
    /// Default: all hosts.
    pub fn propagate_to_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.propagation = Propagation::Hosts(hosts.into_iter().map(Into::into).collect());
        self
    }

    /// Which HTTP semantic conventions to follow: the stable names only, or the stable and the
    /// old (pre-1.21) names side by side plus the old `http.client.duration` histogram (ms), for
    /// dashboards written against the old names (see [`SemconvStability`] for the mapping).
    ///
    /// Default: what `OTEL_SEMCONV_STABILITY_OPT_IN` asks for (`http/dup` in its comma-separated
    /// list: [`SemconvStability::Duplicate`]), read once when the front end is built; else
    /// [`SemconvStability::Stable`]. An explicit setter wins over the env var.
    pub fn semconv_stability(mut self, stability: SemconvStability) -> Self {
        self.semconv_stability = Some(stability);
        self
    }

    /// Reads the environment settings (`SPANFIRE_HTTP_CLIENT_*`,
    /// `OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*`, `OTEL_SEMCONV_STABILITY_OPT_IN`) from
    /// `source` instead of the process environment — for tests (no `set_var`, which races with
    /// other threads) and for applications that keep their settings elsewhere. They are read
    /// once, when a front end is built.
    ///
    /// Default: the process environment.
    pub fn env_source<F>(mut self, source: F) -> Self
    where
        F: Fn(&str) -> Option<String> + Send + Sync + 'static,
    {
        self.env = crate::env::Env::new(source);
        self
    }

    /// Builds the shared state every front end uses.
    pub(crate) fn build(&self) -> Arc<Inner> {
        Arc::new(self.inner())
    }

    /// The state of a front end that records the logical request around a retry layer: an
    /// INTERNAL span named and described as the request (URL filter, redaction, templates,
    /// exclusions apply), with no hooks, capture, propagation or metrics of its own — those
    /// belong to the attempts.
    pub(crate) fn build_logical(&self) -> Arc<Inner> {
        let inner = self.inner();
        Arc::new(Inner {
            logical: true,
            opt_in_metrics: false,
            connection_phases: false,
            request_hook: None,
            response_hook: None,
            headers: HeaderCapture::new(
                Selection::Nothing,
                Selection::Nothing,
                inner.secrets.clone(),
            ),
            propagation: Propagation::Off,
            capture_request_body: false,
            capture_response_body: false,
            ..inner
        })
    }

    fn inner(&self) -> Inner {
        let env = &self.env;
        let env_all = env.flag(ENV_CAPTURE_ALL);
        let capture_all = self.capture_all.unwrap_or(env_all);
        let (secrets, capture_disabled) = match self.policy() {
            Ok(secrets) => (secrets, None),
            Err(err) => {
                warn(&err);
                let reason = format!("{err}; header and body capture are off");
                (Secrets::everything(), Some(Arc::<str>::from(reason)))
            }
        };
        let capture = capture_disabled.is_none();
        let headers = self.header_capture(capture && capture_all, secrets.clone(), capture);
        let capture_request_body = capture && self.capture_request_body.unwrap_or(capture_all);
        let capture_response_body = capture && self.capture_response_body.unwrap_or(capture_all);
        let excluded = ExcludedUrls::from_env_with(env).unwrap_or_else(|err| {
            warn(&err);
            ExcludedUrls::default()
        });
        let tracer = self.request_tracer();
        let metrics = self
            .metrics
            .clone()
            .unwrap_or_else(Metrics::for_global_provider);
        let semconv = self
            .semconv_stability
            .unwrap_or_else(|| SemconvStability::from_env_with(|k| env.var(k)));
        let metrics = if semconv.duplicate() {
            metrics.with_old_duration()
        } else {
            metrics
        };
        let span_attribute_room =
            span_attribute_room(&headers, capture_request_body || capture_response_body)
                + if semconv.duplicate() { 12 } else { 0 };
        Inner {
            id: next_id(),
            logical: false,
            span_attribute_room,
            tracer,
            metrics,
            opt_in_metrics: self.opt_in_metrics,
            connection_phases: self.connection_phases.unwrap_or(false),
            semconv_duplicate: semconv.duplicate(),
            request_hook: self.request_hook.clone(),
            response_hook: self.response_hook.clone(),
            url_filter: self.url_filter.clone(),
            headers,
            secrets,
            capture_disabled,
            excluded: self.excluded_urls.clone().or(excluded),
            templates: self.url_templates.clone(),
            propagation: self.propagation.clone(),
            capture_request_body,
            capture_response_body,
            body_limit: self
                .body_limit
                .unwrap_or(crate::capture::DEFAULT_BODY_LIMIT),
        }
    }

    /// The secrets policy with the names added in code and by env var.
    fn policy(&self) -> Result<Secrets, crate::Error> {
        let base = self
            .secrets
            .clone()
            .unwrap_or_else(secrets::process_default);
        let in_code = base.with_names_from("sensitive_headers", &self.sensitive_names)?;
        let from_env = self
            .env
            .list(crate::capture::headers::ENV_SANITIZE)
            .unwrap_or_default();
        in_code.with_names_from(crate::capture::headers::ENV_SANITIZE, &from_env)
    }

    /// Which headers are captured: everything when turned on in code (or by `capture_all`),
    /// else what the `OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_*` env vars select;
    /// nothing when `allowed` is false.
    fn header_capture(&self, capture_all: bool, secrets: Secrets, allowed: bool) -> HeaderCapture {
        let in_code = self.capture_headers.or(self.capture_all);
        let on = self.capture_headers.unwrap_or(capture_all);
        let select = |var: &str| match in_code {
            _ if !allowed => Selection::Nothing,
            Some(true) => Selection::All,
            Some(false) => Selection::Nothing,
            None => crate::capture::headers::selection_from_env(&self.env, var, on).unwrap_or_else(
                |err| {
                    warn(&err);
                    Selection::Nothing
                },
            ),
        };
        HeaderCapture::new(
            select(crate::capture::headers::ENV_CAPTURE_REQUEST),
            select(crate::capture::headers::ENV_CAPTURE_RESPONSE),
            secrets,
        )
    }
}

impl HttpClientInstrumentation {
    /// The meter metrics are recorded with (the global provider's unless one was given).
    #[cfg(feature = "tower")]
    pub(crate) fn meter(&self) -> opentelemetry::metrics::Meter {
        match &self.metrics {
            Some(metrics) => metrics.meter().clone(),
            None => Metrics::for_global_provider().meter().clone(),
        }
    }

    fn request_tracer(&self) -> RequestTracer {
        #[cfg(feature = "configure")]
        if let Some(sdk) = &self.sdk_tracer {
            return RequestTracer::sdk(sdk, scope());
        }
        RequestTracer::Boxed(match &self.tracer {
            Some(provider) => BoxedTracer::new(provider.boxed_tracer(scope())),
            None => opentelemetry::global::tracer_with_scope(scope()),
        })
    }
}

/// The instrumentation scope: this crate's name and version.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(env!("CARGO_PKG_NAME"))
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

fn warn(err: &crate::Error) {
    tracing::warn!(target: "spanfire", "ignoring invalid setting: {err}");
}

/// A number naming one built instrumentation for the life of the process (never reused, unlike
/// an address): the key of its entries in the per-thread caches of [`super::intern`].
fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The state shared by every request of one instrumentation.
pub(crate) struct Inner {
    /// This instrumentation's number (see [`next_id`]).
    pub(crate) id: u64,
    /// Spans of logical requests (around a retry layer), see
    /// [`HttpClientInstrumentation::build_logical`].
    pub(crate) logical: bool,
    pub(crate) tracer: RequestTracer,
    pub(crate) metrics: Metrics,
    pub(crate) opt_in_metrics: bool,
    /// Request spans collect connection phases (see [`crate::connect`]).
    pub(crate) connection_phases: bool,
    /// `http/dup`: the old attribute names are emitted beside the stable ones.
    pub(crate) semconv_duplicate: bool,
    pub(crate) request_hook: Option<Arc<dyn OnRequest>>,
    pub(crate) response_hook: Option<Arc<dyn OnResponse>>,
    pub(crate) url_filter: Option<Arc<dyn UrlFilter>>,
    pub(crate) headers: HeaderCapture,
    pub(crate) secrets: Secrets,
    /// Why header and body capture are off although asked for (an invalid secrets pattern);
    /// recorded on every span.
    pub(crate) capture_disabled: Option<Arc<str>>,
    pub(crate) excluded: ExcludedUrls,
    pub(crate) templates: UrlTemplates,
    pub(crate) propagation: Propagation,
    pub(crate) capture_request_body: bool,
    pub(crate) capture_response_body: bool,
    pub(crate) body_limit: usize,
    /// The capacity of a span's attribute `Vec`, see [`span_attribute_room`].
    pub(crate) span_attribute_room: usize,
}

/// How many attributes a span of this instrumentation usually ends with: the start, head and
/// end attributes (at most 12 with an error), plus room for captured bodies and a few headers —
/// at most 18, so that the buffer stays within 1 KiB (56-byte `KeyValue`s), where allocators
/// serve from their small-size caches. A span with more grows the SDK's `Vec` once, as it
/// would anyway.
fn span_attribute_room(headers: &HeaderCapture, bodies: bool) -> usize {
    let headers = !(headers.request.is_nothing() && headers.response.is_nothing());
    let room = 12 + if headers { 6 } else { 0 } + if bodies { 3 } else { 0 };
    room.min(18)
}

impl fmt::Debug for HttpClientInstrumentation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientInstrumentation")
            .field("capture_headers", &self.capture_headers)
            .field("capture_request_body", &self.capture_request_body)
            .field("capture_response_body", &self.capture_response_body)
            .field("capture_all", &self.capture_all)
            .field("body_limit", &self.body_limit)
            .field("request_hook", &self.request_hook.is_some())
            .field("response_hook", &self.response_hook.is_some())
            .field("url_filter", &self.url_filter.is_some())
            .field("tracer_provider", &self.tracer.is_some())
            .field("meter_provider", &self.metrics.is_some())
            .field("opt_in_metrics", &self.opt_in_metrics)
            .field("connection_phases", &self.connection_phases)
            .field("secrets", &self.secrets)
            .field("sensitive_names", &self.sensitive_names)
            .field("excluded_urls", &self.excluded_urls)
            .field("url_templates", &self.url_templates)
            .field("propagation", &self.propagation)
            .field("semconv_stability", &self.semconv_stability)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner")
            .field("headers", &self.headers)
            .field("excluded", &self.excluded)
            .field("propagation", &self.propagation)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_setting_is_a_tracing_warning() {
        let warnings = crate::testing::warnings_during(|| {
            let bad = HttpClientInstrumentation::new()
                .env_source(|name| (name == crate::ENV_EXCLUDED_URLS).then(|| "(".to_owned()));
            drop(bad.build());
            let good = HttpClientInstrumentation::new().env_source(|_| None);
            drop(good.build());
        });
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("ignoring invalid setting: ")
                && warnings[0].contains(crate::ENV_EXCLUDED_URLS),
            "{warnings:?}"
        );
    }
}
