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

mod console;
mod console_writer;
mod export;
mod logfire;
mod logfire_attrs;
mod otel_env;
mod otlp;
mod pipeline;
mod scrub;

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
    /// the standard `OTEL_*` ones (`OTEL_EXPORTER_OTLP_*`, `OTEL_SERVICE_NAME`,
    /// `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_BSP_*`,
    /// `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_SPAN_*_COUNT_LIMIT`) — is looked up through `source`
    /// (`None`: unset), read the way the OpenTelemetry SDK reads them, and handed to the SDK as
    /// explicit settings. For tests (no `std::env::set_var`, which races with other threads)
    /// and for embedding (settings kept somewhere other than the process environment).
    ///
    /// One exception: opentelemetry-otlp 0.33 also adds the `OTEL_EXPORTER_OTLP_HEADERS` /
    /// `..._<SIGNAL>_HEADERS` of the *process* environment to its requests, and has no switch
    /// to stop it.
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

        let mut processors: Vec<Box<dyn SpanProcessor>> = Vec::new();
        let mut meter = SdkMeterProvider::builder().with_resource(resource.clone());
        for destination in &destinations {
            let protocol = destination.protocol(protocol);
            let driver = runtime.driver(protocol);
            let _entered = runtime.enter();
            let spans = CountingSpanExporter {
                inner: destination.span_exporter(protocol, &otel.traces)?,
                stats: Arc::clone(&stats),
                driver: driver.clone(),
            };
            processors.push(Box::new(CountingProcessor {
                inner: BatchSpanProcessor::builder(spans)
                    .with_batch_config(otel.batch.config())
                    .build(),
                stats: Arc::clone(&stats),
            }));
            let metrics = DrivenMetricExporter {
                inner: destination.metric_exporter(protocol, &otel.metrics, otel.temporality)?,
                driver,
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
    shut_down: bool,
}

/// `spanfire.export.spans{outcome=offered|exported|failed}`: what the export pipeline did.
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

    /// Flushes and shuts down the pipeline.
    ///
    /// # Errors
    /// When the tracer or meter provider failed to flush or shut down.
    pub fn shutdown(mut self) -> Result<(), crate::Error> {
        self.shut_down = true;
        self.shutdown_pipeline()
    }

    /// The span export counters: how many spans OTLP exporters were given, delivered, and
    /// lost (dropped from a full queue or in a failed export). The handle stays valid after
    /// [`Telemetry::shutdown`], when the counts are exact. Losses are also reported on stderr at
    /// shutdown, and all counts as the `spanfire.export.spans` metric (`outcome` = `offered`,
    /// `exported`, `failed`).
    pub fn export_stats(&self) -> ExportStats {
        ExportStats(Arc::clone(&self.stats))
    }

    fn shutdown_pipeline(&mut self) -> Result<(), crate::Error> {
        let traces = self.tracer_provider.shutdown();
        let metrics = self.meter_provider.shutdown();
        self.runtime.stop();
        let lost = self.stats.not_exported();
        if lost > 0 {
            let offered = self.stats.offered.load(Ordering::Relaxed);
            eprintln!(
                "spanfire: {lost} of {offered} spans were not exported (export queue full or export failed)"
            );
        }
        traces.map_err(|e| crate::Error::telemetry("shutting down traces", e))?;
        metrics.map_err(|e| crate::Error::telemetry("shutting down metrics", e))
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if !self.shut_down {
            let _ = self.shutdown_pipeline();
        }
    }
}
