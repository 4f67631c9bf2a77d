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
//! the W3C trace-context + baggage propagator as the globals, and returns a [`Telemetry`] guard
//! that owns them. Console output is on by default.

mod console;
mod otlp;
mod pipeline;
mod scrub;

use std::fmt;

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanProcessor};
use opentelemetry_sdk::Resource;

pub use console::ConsoleProcessor;
pub use otlp::{ENV_LOGFIRE_BASE_URL, ENV_LOGFIRE_TOKEN};
pub use scrub::{Scrubbing, DEFAULT_SCRUB_PATTERNS};

use std::collections::HashMap;

use opentelemetry_sdk::metrics::PeriodicReader;
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
}

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
        }
    }
}

impl ConfigureBuilder {
    /// Sets the `service.name` resource attribute.
    ///
    /// Default: `OTEL_SERVICE_NAME`, else the SDK's `unknown_service`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Prints one line per span to stdout, Logfire-style (coloured on a TTY).
    ///
    /// Default: on when no other destination (OTLP endpoint, Logfire token) is configured.
    pub fn console(mut self, on: bool) -> Self {
        self.console = Some(on);
        self
    }

    /// Exports traces and metrics over OTLP/HTTP to this collector base URL (for example
    /// `http://127.0.0.1:4318`; `/v1/traces` and `/v1/metrics` are appended).
    ///
    /// Default: the `OTEL_EXPORTER_OTLP_ENDPOINT` / `..._TRACES_ENDPOINT` env vars when set
    /// (with `..._HEADERS`, `..._PROTOCOL`, `..._TIMEOUT`), else no OTLP export.
    pub fn otlp_endpoint(mut self, base_url: impl Into<String>) -> Self {
        self.otlp_endpoint = Some(base_url.into());
        self
    }

    /// Adds a header to every OTLP export request of the collector destination.
    pub fn otlp_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.otlp_headers.insert(name.into(), value.into());
        self
    }

    /// Sends to Pydantic Logfire with this write token (region taken from the token;
    /// `LOGFIRE_BASE_URL` overrides the URL). HTTPS needs the `tls` feature.
    ///
    /// Default: the `LOGFIRE_TOKEN` env var, else not sent to Logfire.
    pub fn logfire_token(mut self, token: impl Into<String>) -> Self {
        self.logfire_token = Some(token.into());
        self
    }

    /// Sets the scrubbing of exported attributes; `None` turns it off.
    ///
    /// Default: [`Scrubbing::default()`] (the [`DEFAULT_SCRUB_PATTERNS`]).
    pub fn scrubbing(mut self, scrubbing: impl Into<Option<Scrubbing>>) -> Self {
        self.scrubbing = scrubbing.into();
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
    /// destination without the `tls` feature, or an invalid scrubbing pattern; a telemetry
    /// error when an exporter cannot be built.
    pub fn finish(self) -> Result<Telemetry, crate::Error> {
        let env = |k: &str| std::env::var(k).ok();
        let destinations = otlp::destinations(
            self.otlp_endpoint.as_deref(),
            &self.otlp_headers,
            self.logfire_token.as_deref(),
            env,
        );
        let protocol = otlp::protocol(env)?;
        let scrubber = self.scrubbing.as_ref().map(Scrubbing::build).transpose()?;
        let mut resource = Resource::builder();
        if let Some(name) = self.service_name {
            resource = resource.with_service_name(name);
        }
        let resource = resource.build();

        let mut processors: Vec<Box<dyn SpanProcessor>> = Vec::new();
        let mut meter = SdkMeterProvider::builder().with_resource(resource.clone());
        for destination in &destinations {
            let spans = destination.span_exporter(protocol)?;
            processors.push(Box::new(BatchSpanProcessor::builder(spans).build()));
            let metrics = destination.metric_exporter(protocol)?;
            meter = meter.with_reader(PeriodicReader::builder(metrics).build());
        }
        if self.console.unwrap_or(destinations.is_empty()) {
            processors.push(Box::new(ConsoleProcessor::stdout()));
        }
        processors.extend(self.processors);
        let tracer_provider = SdkTracerProvider::builder()
            .with_resource(resource)
            .with_span_processor(pipeline::Pipeline::new(scrubber, processors))
            .build();
        let meter_provider = meter.build();
        if self.install_globals.unwrap_or(true) {
            opentelemetry::global::set_tracer_provider(tracer_provider.clone());
            opentelemetry::global::set_meter_provider(meter_provider.clone());
            opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
                Box::new(TraceContextPropagator::new()),
                Box::new(BaggagePropagator::new()),
            ]));
        }
        Ok(Telemetry {
            tracer_provider,
            meter_provider,
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
    shut_down: bool,
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
        let traces = self.tracer_provider.shutdown();
        let metrics = self.meter_provider.shutdown();
        traces.map_err(|e| crate::Error::telemetry("shutting down traces", e))?;
        metrics.map_err(|e| crate::Error::telemetry("shutting down metrics", e))
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if !self.shut_down {
            let _ = self.tracer_provider.shutdown();
            let _ = self.meter_provider.shutdown();
        }
    }
}
