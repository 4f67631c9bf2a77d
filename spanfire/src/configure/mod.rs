//! [`configure()`]: one call that makes spans and metrics go somewhere useful, like
//! `logfire.configure()`.
//!
//! ```no_run
//! let telemetry = spanfire::configure().service_name("checkout").finish()?;
//! // ... instrument clients, make requests ...
//! telemetry.shutdown()?;
//! # Ok::<(), spanfire::Error>(())
//! ```
//!
//! `finish()` builds an OpenTelemetry SDK tracer provider and meter provider, installs them and
//! the W3C trace-context + baggage propagator ([`W3cPropagator`](crate::W3cPropagator)) as the
//! globals, and returns a [`Telemetry`] guard that owns them. Console output is on by default.

mod budget;
mod console;
mod console_writer;
mod export;
mod logfire;
mod logfire_attrs;
mod otel_env;
mod otlp;
mod otlp_http;
pub(crate) mod otlp_proto;
mod pipeline;
mod scrub;
mod shutdown;
mod split;

use std::fmt;

use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanProcessor};
use opentelemetry_sdk::Resource;

pub use console::ConsoleProcessor;
pub use otlp::{OtlpProtocol, ENV_LOGFIRE_BASE_URL, ENV_LOGFIRE_TOKEN};
#[cfg(feature = "__fuzz")]
pub(crate) use scrub::Scrubber;
pub use scrub::Scrubbing;

use std::collections::HashMap;
use std::path::PathBuf;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::PeriodicReader;

pub use export::ExportStats;
use export::{CountingProcessor, CountingSpanExporter, DrivenMetricExporter, Driver, Stats};
use opentelemetry_sdk::trace::BatchSpanProcessor;

/// Starts configuring spanfire's pipeline; every setter is optional.
pub fn configure() -> ConfigureBuilder {
    ConfigureBuilder::default()
}

/// Builder returned by [`configure()`].
pub struct ConfigureBuilder {
    service_name: Option<String>,
    console: Option<bool>,
    processors: Vec<Box<dyn SpanProcessor>>,
    install_globals: Option<bool>,
    otlp_endpoint: Option<String>,
    otlp_headers: HashMap<String, String>,
    logfire_token: Option<String>,
    scrubbing: Option<Scrubbing>,
    protocol: Option<OtlpProtocol>,
    logfire_attributes: Option<bool>,
    service_version: Option<String>,
    environment: Option<String>,
    send_to_logfire: Option<bool>,
    logfire_credentials_dir: Option<PathBuf>,
    env_source: Option<EnvSource>,
    export_memory_limit: Option<u64>,
    export_request_limit: Option<u64>,
    shutdown_timeout: Option<std::time::Duration>,
}

/// Where `finish()` reads env vars (the process environment unless a test injects a map).
type EnvSource = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

impl Default for ConfigureBuilder {
    fn default() -> Self {
        ConfigureBuilder {
            service_name: None,
            console: None,
            processors: Vec::new(),
            install_globals: None,
            otlp_endpoint: None,
            otlp_headers: HashMap::new(),
            logfire_token: None,
            scrubbing: Some(Scrubbing::default()),
            protocol: None,
            logfire_attributes: None,
            service_version: None,
            environment: None,
            send_to_logfire: None,
            logfire_credentials_dir: None,
            env_source: None,
            export_memory_limit: None,
            export_request_limit: None,
            shutdown_timeout: None,
        }
    }
}

impl ConfigureBuilder {
    /// Sets the `service.name` resource attribute.
    ///
    /// Default: `LOGFIRE_SERVICE_NAME`, else a `service.name` in `OTEL_RESOURCE_ATTRIBUTES`,
    /// else `OTEL_SERVICE_NAME`, else the SDK's `unknown_service:<executable>`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Prints one line per span to stdout, Logfire-style (coloured on a TTY).
    ///
    /// Default: `LOGFIRE_CONSOLE` (`true` / `false`) when set, else on when no other destination
    /// (OTLP endpoint, Logfire) is configured.
    pub fn console(mut self, on: bool) -> Self {
        self.console = Some(on);
        self
    }

    /// Exports traces and metrics over OTLP/HTTP to this collector base URL (for example
    /// `http://127.0.0.1:4318`; `/v1/traces` and `/v1/metrics` are appended).
    ///
    /// Default: the `OTEL_EXPORTER_OTLP_ENDPOINT` / `..._TRACES_ENDPOINT` env vars when set
    /// (the signal-specific `..._TRACES_ENDPOINT` / `..._METRICS_ENDPOINT` used as they are,
    /// the generic one with `/v1/traces` / `/v1/metrics` appended; with `..._HEADERS`,
    /// `..._PROTOCOL`, `..._TIMEOUT`), else no OTLP export.
    pub fn otlp_endpoint(mut self, base_url: impl Into<String>) -> Self {
        self.otlp_endpoint = Some(base_url.into());
        self
    }

    /// Sets the OTLP protocol of the collector destination; with [`OtlpProtocol::Grpc`]
    /// (feature `grpc`) the endpoint is the gRPC address, e.g. `http://127.0.0.1:4317`.
    /// Logfire always gets OTLP/HTTP.
    ///
    /// Default: `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`, else HTTP/protobuf.
    pub fn otlp_protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Adds a header to every OTLP export request of the collector destination (the value is
    /// url-decoded, as opentelemetry-otlp does with headers).
    ///
    /// Default: none; `OTEL_EXPORTER_OTLP_(TRACES_|METRICS_)HEADERS` (`k=v,k2=v2`, url-encoded
    /// values) are sent to every OTLP destination, and win over a header of the same name set
    /// here (opentelemetry-otlp adds them last).
    pub fn otlp_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.otlp_headers.insert(name.into(), value.into());
        self
    }

    /// Sends to Pydantic Logfire with this write token (region taken from the token;
    /// `LOGFIRE_BASE_URL` overrides the URL), over HTTPS (the `tls` feature, on by default).
    ///
    /// Default: the `LOGFIRE_TOKEN` env var, else the `token` of
    /// `.logfire/logfire_credentials.json` (see [`logfire_credentials_dir`]), else not sent to
    /// Logfire.
    ///
    /// [`logfire_credentials_dir`]: ConfigureBuilder::logfire_credentials_dir
    pub fn logfire_token(mut self, token: impl Into<String>) -> Self {
        self.logfire_token = Some(token.into());
        self
    }

    /// Whether to send to Logfire: `true` requires a token (no token is a configuration
    /// error), `false` never sends, even with a token.
    ///
    /// Default: `LOGFIRE_SEND_TO_LOGFIRE` (`true`, `false` or `if-token-present`), else
    /// if-token-present: sent when a token is found.
    pub fn send_to_logfire(mut self, on: bool) -> Self {
        self.send_to_logfire = Some(on);
        self
    }

    /// The directory holding `logfire_credentials.json` (written by `logfire projects use` /
    /// `logfire projects new`; its `token` and `logfire_api_url` are used when no token is set
    /// in code or in `LOGFIRE_TOKEN`).
    ///
    /// Default: `LOGFIRE_CREDENTIALS_DIR`, else `.logfire` in the current directory.
    pub fn logfire_credentials_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.logfire_credentials_dir = Some(dir.into());
        self
    }

    /// Sets the `service.version` resource attribute.
    ///
    /// Default: `LOGFIRE_SERVICE_VERSION`, else `OTEL_SERVICE_VERSION`, else none.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// Sets the deployment environment (`production`, `staging`, …): the
    /// `deployment.environment.name` resource attribute, which Logfire shows and filters by.
    ///
    /// Default: `LOGFIRE_ENVIRONMENT`, else none.
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Where `finish()` reads its settings: every env var it uses — spanfire's `LOGFIRE_*` and
    /// `SPANFIRE_EXPORT_*` ones and the standard `OTEL_*` ones (`OTEL_EXPORTER_OTLP_*`, `OTEL_SERVICE_NAME`,
    /// `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_BSP_*`,
    /// `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_SPAN_*_COUNT_LIMIT`) — is looked up through `source`
    /// (`None`: unset), read the way the OpenTelemetry SDK reads them, and handed to the SDK as
    /// explicit settings. For tests (no `std::env::set_var`, which races with other threads)
    /// and for embedding (settings kept somewhere other than the process environment).
    ///
    /// One exception: for metrics, and for traces over HTTP/JSON or gRPC, opentelemetry-otlp
    /// 0.33 also adds the `OTEL_EXPORTER_OTLP_HEADERS` / `..._<SIGNAL>_HEADERS` of the
    /// *process* environment to its requests, and has no switch to stop it. Traces over
    /// HTTP/protobuf (the default) go through spanfire's own exporter, which does not.
    ///
    /// Default: the process environment.
    pub fn env_source(
        mut self,
        source: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.env_source = Some(Box::new(source));
        self
    }

    /// Sets the secrets policy ([`Scrubbing`] is [`Secrets`](crate::Secrets)) of the scrubbing
    /// stage every span goes through before any destination sees it (see [`crate::secrets`]);
    /// `None` turns the stage off. With `install_globals` (the default) the policy also becomes
    /// the one of every instrumentation built afterwards without a policy of its own, so it is
    /// set in one place.
    ///
    /// Default: [`Secrets::default()`](crate::Secrets) (the
    /// [`DEFAULT_SECRET_PATTERNS`](crate::DEFAULT_SECRET_PATTERNS)).
    pub fn scrubbing(mut self, scrubbing: impl Into<Option<Scrubbing>>) -> Self {
        self.scrubbing = scrubbing.into();
        self
    }

    /// Adds the Logfire attributes to every span, after scrubbing: `logfire.span_type`,
    /// `logfire.msg` (the console line's message), `logfire.level_num` (17 on error spans),
    /// `logfire.json_schema` (which body attributes hold JSON) and `logfire.scrubbed` (what
    /// the scrubbing stage replaced: paths and matched key parts, never values). Logfire's UI
    /// is built on them; other backends see them as ordinary attributes.
    ///
    /// Default: on when spans go to Logfire (a token is configured), else off.
    pub fn logfire_attributes(mut self, on: bool) -> Self {
        self.logfire_attributes = Some(on);
        self
    }

    /// Bounds the memory of spans waiting for OTLP export, in bytes, for all destinations
    /// together (split evenly between them); `0`: no byte limit (the span count is still
    /// bounded by `OTEL_BSP_MAX_QUEUE_SIZE`).
    ///
    /// A span's size is estimated cheaply: 512 bytes, plus its name, plus 64 bytes and the key
    /// and value lengths of each attribute (also of events and links; strings by length,
    /// numbers 8 bytes). When a span would exceed the limit, its bodies
    /// (`http.request.body.text`, `http.response.body.text`, `http.request.body.form`) are
    /// removed and it is marked `spanfire.export.body_dropped = true`; if it still does not
    /// fit, it is dropped. Both are counted ([`ExportStats::bodies_dropped`],
    /// [`ExportStats::dropped`]).
    ///
    /// Default: `SPANFIRE_EXPORT_MEMORY_LIMIT` (bytes), else 64 MiB.
    pub fn export_memory_limit(mut self, bytes: u64) -> Self {
        self.export_memory_limit = Some(bytes);
        self
    }

    /// Bounds the size of each OTLP export request, in bytes; `0`: no limit (a batch is one
    /// request, as the OpenTelemetry SDK sends it).
    ///
    /// Each batch (up to `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` spans, 512 by default) is split into
    /// consecutive requests within the limit, exported one after another; a request that fails
    /// does not stop the others. The size is an upper bound of the real encoding (protobuf, or
    /// the larger JSON for `http/json`), computed per span from its attributes, events and
    /// links. A span larger than the limit on its own has its bodies (`http.request.body.text`,
    /// `http.response.body.text`, `http.request.body.form`) cut, largest first, to a prefix
    /// ending with [`TRUNCATION_MARKER`](crate::TRUNCATION_MARKER), and is marked
    /// `spanfire.export.body_truncated = true`; if it still does not fit (large attributes
    /// that are not bodies), it is dropped. Both are counted
    /// ([`ExportStats::bodies_truncated`], [`ExportStats::too_large`]).
    ///
    /// The default is below the 4 MiB message limit OTLP/gRPC receivers apply by default
    /// (grpc-go, tonic, the OpenTelemetry Collector, rotel), which rejects a larger request
    /// whole. The same default applies to OTLP/HTTP, where receivers differ (the OpenTelemetry
    /// Collector accepts 20 MiB by default; proxies in front of a collector often less, nginx
    /// 1 MiB): a request of a few MiB is accepted widely and costs little over a larger one;
    /// set the limit to what your receiver accepts (e.g. lower behind a proxy).
    ///
    /// Default: `SPANFIRE_EXPORT_REQUEST_LIMIT` (bytes), else 3.5 MiB (3,670,016 bytes).
    pub fn export_request_limit(mut self, bytes: u64) -> Self {
        self.export_request_limit = Some(bytes);
        self
    }

    /// The deadline of [`Telemetry::shutdown`] (and of the shutdown on drop) as a whole: all
    /// destinations, traces and metrics, are shut down in parallel within it, even when a
    /// collector hangs (see [`Telemetry::shutdown`]).
    ///
    /// Default: 5 s.
    pub fn shutdown_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// Adds a span processor of your own (e.g. an in-memory exporter in tests).
    pub fn with_span_processor(mut self, processor: impl SpanProcessor + 'static) -> Self {
        self.processors.push(Box::new(processor));
        self
    }

    /// Whether `finish()` installs the providers and propagator as the OpenTelemetry globals.
    ///
    /// Default: on.
    pub fn install_globals(mut self, on: bool) -> Self {
        self.install_globals = Some(on);
        self
    }

    /// Builds the pipeline.
    ///
    /// # Errors
    /// A configuration error for an unsupported `OTEL_EXPORTER_OTLP_PROTOCOL`, an HTTPS
    /// destination without the `tls` feature, sending to Logfire switched on without a token,
    /// an invalid `LOGFIRE_SEND_TO_LOGFIRE` / `LOGFIRE_CONSOLE` value or credentials file, or an
    /// invalid scrubbing pattern; a telemetry error when an exporter cannot be built.
    pub fn finish(mut self) -> Result<Telemetry, crate::Error> {
        let process_env = |k: &str| std::env::var(k).ok();
        let env_source = self.env_source.take();
        let env: &(dyn Fn(&str) -> Option<String> + Send + Sync) = match &env_source {
            Some(source) => source.as_ref(),
            None => &process_env,
        };
        let logfire = logfire::target(
            self.logfire_token.as_deref(),
            self.send_to_logfire,
            self.logfire_credentials_dir.as_deref(),
            &env,
        )?;
        let destinations = otlp::destinations(
            self.otlp_endpoint.as_deref(),
            &self.otlp_headers,
            logfire.as_ref(),
            env,
        );
        let protocol = otlp::protocol(self.protocol, env)?;
        let console = self.console.or(logfire::console(&env)?);
        let scrubber = self.scrubbing.clone().map(scrub::Scrubber::new);
        let settings = logfire::resource_settings(
            self.service_name.as_deref(),
            self.service_version.as_deref(),
            self.environment.as_deref(),
            &env,
        );
        let otel = otel_env::OtelEnv::from_env(&env);
        let mut resource = Resource::builder_empty().with_attributes(
            otel.resource
                .iter()
                .map(|(k, v)| opentelemetry::KeyValue::new(k.clone(), v.clone())),
        );
        if let Some(name) = settings.service_name {
            resource = resource.with_service_name(name);
        }
        if let Some(version) = settings.service_version {
            resource = resource.with_attribute(opentelemetry::KeyValue::new(
                opentelemetry_semantic_conventions::attribute::SERVICE_VERSION,
                version,
            ));
        }
        if let Some(environment) = settings.environment {
            resource = resource.with_attribute(opentelemetry::KeyValue::new(
                opentelemetry_semantic_conventions::attribute::DEPLOYMENT_ENVIRONMENT_NAME,
                environment,
            ));
        }
        let resource = resource.build();
        let runtime = ExportRuntime::for_protocol(protocol, !destinations.is_empty())?;
        let stats = Arc::new(Stats::default());
        let memory_limit = match self.export_memory_limit {
            Some(limit) => limit,
            None => match env(budget::ENV_EXPORT_MEMORY_LIMIT) {
                Some(v) => budget::parse_limit(&v)?,
                None => budget::DEFAULT_EXPORT_MEMORY_LIMIT,
            },
        };
        let memory_limit = match memory_limit {
            0 => 0,
            limit => (limit / destinations.len().max(1) as u64).max(1),
        };
        let request_limit = match self.export_request_limit {
            Some(limit) => limit,
            None => match env(split::ENV_EXPORT_REQUEST_LIMIT) {
                Some(v) => split::parse_limit(&v)?,
                None => split::DEFAULT_EXPORT_REQUEST_LIMIT,
            },
        };
        let gate = Arc::new(shutdown::Gate::default());

        let mut processors: Vec<Box<dyn SpanProcessor>> = Vec::new();
        let mut meter = SdkMeterProvider::builder().with_resource(resource.clone());
        for destination in &destinations {
            let protocol = destination.protocol(protocol);
            let driver = runtime.driver(protocol);
            let _entered = runtime.enter();
            let budget = Arc::new(budget::Budget::new(memory_limit, otel.batch.max_queue_size));
            let spans = CountingSpanExporter {
                inner: destination.span_exporter(protocol, &otel.traces)?,
                stats: Arc::clone(&stats),
                driver: driver.clone(),
                budget: Arc::clone(&budget),
                gate: Arc::clone(&gate),
                requests: split::RequestLimit::new(
                    request_limit,
                    match protocol {
                        OtlpProtocol::HttpJson => split::Encoding::Json,
                        _ => split::Encoding::Protobuf,
                    },
                    &resource,
                ),
            };
            processors.push(Box::new(CountingProcessor {
                inner: BatchSpanProcessor::builder(spans)
                    .with_batch_config(otel.batch.config())
                    .build(),
                stats: Arc::clone(&stats),
                budget,
            }));
            let metrics = DrivenMetricExporter {
                inner: destination.metric_exporter(protocol, &otel.metrics, otel.temporality)?,
                driver,
                gate: Arc::clone(&gate),
            };
            meter = meter.with_reader(
                PeriodicReader::builder(metrics)
                    .with_interval(otel.metric_export_interval)
                    .build(),
            );
        }
        if console.unwrap_or(destinations.is_empty()) {
            processors.push(Box::new(ConsoleProcessor::stdout()));
        }
        processors.extend(self.processors);
        let tracer_provider = SdkTracerProvider::builder()
            .with_sampler(otel.sampler)
            .with_span_limits(otel.span_limits)
            .with_resource(resource)
            .with_span_processor(
                pipeline::Pipeline::new(scrubber, processors).logfire_attributes(
                    self.logfire_attributes
                        .unwrap_or_else(|| destinations.iter().any(|d| d.http_only)),
                ),
            )
            .build();
        let meter_provider = meter.build();
        if !destinations.is_empty() {
            observe_export_stats(&meter_provider, &stats);
        }
        if self.install_globals.unwrap_or(true) {
            if let Some(secrets) = self.scrubbing {
                crate::secrets::set_process_default(secrets);
            }
            opentelemetry::global::set_tracer_provider(tracer_provider.clone());
            opentelemetry::global::set_meter_provider(meter_provider.clone());
            opentelemetry::global::set_text_map_propagator(crate::W3cPropagator::new());
        }
        Ok(Telemetry {
            tracer_provider,
            meter_provider,
            stats,
            runtime,
            gate,
            shutdown_timeout: self
                .shutdown_timeout
                .unwrap_or(shutdown::DEFAULT_SHUTDOWN_TIMEOUT),
            shut_down: false,
        })
    }
}

impl fmt::Debug for ConfigureBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigureBuilder")
            .field("service_name", &self.service_name)
            .field("console", &self.console)
            .field("processors", &self.processors.len())
            .field("otlp_endpoint", &self.otlp_endpoint)
            .field(
                "logfire_token",
                &self.logfire_token.as_ref().map(|_| "<set>"),
            )
            .field("scrubbing", &self.scrubbing)
            .field("service_version", &self.service_version)
            .field("environment", &self.environment)
            .field("send_to_logfire", &self.send_to_logfire)
            .field("logfire_credentials_dir", &self.logfire_credentials_dir)
            .finish_non_exhaustive()
    }
}

/// The configured pipeline; owns the tracer and meter providers.
///
/// Call [`Telemetry::shutdown`] before the process exits to flush everything; dropping the
/// guard also shuts down, best effort.
#[derive(Debug)]
pub struct Telemetry {
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    stats: Arc<Stats>,
    runtime: ExportRuntime,
    gate: Arc<shutdown::Gate>,
    shutdown_timeout: std::time::Duration,
    shut_down: bool,
}

/// `spanfire.export.spans{outcome=offered|exported|failed|dropped|body_dropped|body_truncated|
/// too_large}`: what the export pipeline did.
fn observe_export_stats(provider: &SdkMeterProvider, stats: &Arc<Stats>) {
    let stats = Arc::clone(stats);
    provider
        .meter_with_scope(crate::exchange::scope())
        .u64_observable_counter("spanfire.export.spans")
        .with_description("Spans handed to OTLP exporters, by outcome.")
        .with_callback(move |observer| {
            for (outcome, counter) in [
                ("offered", &stats.offered),
                ("exported", &stats.exported),
                ("failed", &stats.failed),
                ("dropped", &stats.dropped),
                ("body_dropped", &stats.bodies_dropped),
                ("body_truncated", &stats.bodies_truncated),
                ("too_large", &stats.too_large),
            ] {
                let value = counter.load(Ordering::Relaxed);
                observer.observe(value, &[opentelemetry::KeyValue::new("outcome", outcome)]);
            }
        })
        .build();
}

#[cfg(feature = "grpc")]
type Entered<'a> = tokio::runtime::EnterGuard<'a>;
#[cfg(not(feature = "grpc"))]
type Entered<'a> = std::marker::PhantomData<&'a ()>;

/// The small runtime gRPC exports run on (nothing without the `grpc` feature).
#[derive(Debug, Default)]
struct ExportRuntime {
    #[cfg(feature = "grpc")]
    runtime: Option<tokio::runtime::Runtime>,
}

impl ExportRuntime {
    #[allow(unused_variables)]
    fn for_protocol(protocol: OtlpProtocol, needed: bool) -> Result<Self, crate::Error> {
        #[cfg(feature = "grpc")]
        if needed && protocol == OtlpProtocol::Grpc {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("spanfire-export")
                .enable_all()
                .build()
                .map_err(|e| crate::Error::telemetry("starting the gRPC export runtime", e))?;
            return Ok(ExportRuntime {
                runtime: Some(runtime),
            });
        }
        Ok(ExportRuntime::default())
    }

    #[allow(unused_variables)]
    fn driver(&self, protocol: OtlpProtocol) -> Driver {
        #[cfg(feature = "grpc")]
        if let (Some(rt), OtlpProtocol::Grpc) = (&self.runtime, protocol) {
            return Driver::Runtime(rt.handle().clone());
        }
        Driver::Inline
    }

    /// Enters the runtime (tonic clients must be built inside one).
    fn enter(&self) -> Option<Entered<'_>> {
        #[cfg(feature = "grpc")]
        return self.runtime.as_ref().map(|rt| rt.enter());
        #[cfg(not(feature = "grpc"))]
        None
    }

    /// Stops the runtime without blocking (allowed inside an async context).
    fn stop(&mut self) {
        #[cfg(feature = "grpc")]
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Telemetry {
    /// The tracer provider (to pass to `HttpClientInstrumentation::tracer_provider`, say).
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.tracer_provider
    }

    /// The meter provider.
    pub fn meter_provider(&self) -> &SdkMeterProvider {
        &self.meter_provider
    }

    /// Flushes and shuts down the pipeline, within the
    /// [`shutdown_timeout`](ConfigureBuilder::shutdown_timeout) (5 s by default) as a whole:
    /// traces and metrics, every destination, in parallel. Shortly before the deadline,
    /// exports still running are abandoned (counted as failed): gRPC ones are cancelled;
    /// an OTLP/HTTP request in flight cannot be interrupted, so its SDK worker thread stays
    /// blocked until the request times out (`OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s by default),
    /// then fails the spans queued behind it without sending them and exits.
    ///
    /// # Errors
    /// When the tracer or meter provider failed to flush or shut down, or did not finish
    /// before the deadline.
    pub fn shutdown(mut self) -> Result<(), crate::Error> {
        self.shut_down = true;
        self.shutdown_pipeline()
    }

    /// The span export counters: how many spans OTLP exporters were given, delivered, and
    /// lost (dropped from a full queue or in a failed export). The handle stays valid after
    /// [`Telemetry::shutdown`], when the counts are exact. Losses are also reported at shutdown as a
    /// `tracing` warning (target `spanfire`), and all counts as the `spanfire.export.spans` metric (`outcome` = `offered`,
    /// `exported`, `failed`, `dropped`, `body_dropped`, `body_truncated`, `too_large`).
    ///
    /// Once nothing is pending, `offered = exported + failed + dropped`; at any time
    /// `offered = exported + failed + dropped + pending`.
    pub fn export_stats(&self) -> ExportStats {
        ExportStats(Arc::clone(&self.stats))
    }

    fn shutdown_pipeline(&mut self) -> Result<(), crate::Error> {
        let timeout = self.shutdown_timeout;
        let [traces, metrics] = shutdown::shutdown(
            &self.tracer_provider,
            &self.meter_provider,
            &self.gate,
            timeout,
        );
        self.runtime.stop();
        let lost = self.stats.not_exported();
        let bodies = self.stats.bodies_dropped.load(Ordering::Relaxed);
        let truncated = self.stats.bodies_truncated.load(Ordering::Relaxed);
        if lost > 0 || bodies > 0 || truncated > 0 {
            let offered = self.stats.offered.load(Ordering::Relaxed);
            let dropped = self.stats.dropped.load(Ordering::Relaxed);
            let too_large = self.stats.too_large.load(Ordering::Relaxed);
            let failed = self.stats.failed.load(Ordering::Relaxed);
            let pending = self.stats.pending();
            tracing::warn!(
                target: "spanfire",
                "{lost} of {offered} spans were not exported ({dropped} dropped: export queue full, over the export memory limit, or {too_large} over the export request limit; {failed} in failed exports; {pending} abandoned at the shutdown deadline); {bodies} exported without their bodies (export memory limit), {truncated} with their bodies cut (export request limit)"
            );
        }
        let timed_out = || Err(opentelemetry_sdk::error::OTelSdkError::Timeout(timeout));
        traces
            .unwrap_or_else(timed_out)
            .map_err(|e| crate::Error::telemetry("shutting down traces", e))?;
        metrics
            .unwrap_or_else(timed_out)
            .map_err(|e| crate::Error::telemetry("shutting down metrics", e))
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if !self.shut_down {
            let _ = self.shutdown_pipeline();
        }
    }
}
