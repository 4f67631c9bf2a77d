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

use std::fmt;

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanProcessor};
use opentelemetry_sdk::Resource;

pub use console::ConsoleProcessor;

/// Starts configuring spanfire's pipeline; every setter is optional.
pub fn configure() -> ConfigureBuilder {
    ConfigureBuilder::default()
}

/// Builder returned by [`configure()`].
#[derive(Default)]
pub struct ConfigureBuilder {
    service_name: Option<String>,
    console: Option<bool>,
    processors: Vec<Box<dyn SpanProcessor>>,
    install_globals: Option<bool>,
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
    /// Default: on.
    pub fn console(mut self, on: bool) -> Self {
        self.console = Some(on);
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
    /// None is returned yet for this console-only pipeline; the `Result` leaves room for
    /// configuration errors of exporters.
    pub fn finish(self) -> Result<Telemetry, crate::Error> {
        let mut resource = Resource::builder();
        if let Some(name) = self.service_name {
            resource = resource.with_service_name(name);
        }
        let resource = resource.build();
        let mut tracer = SdkTracerProvider::builder().with_resource(resource.clone());
        if self.console.unwrap_or(true) {
            tracer = tracer.with_span_processor(ConsoleProcessor::stdout());
        }
        for processor in self.processors {
            tracer = tracer.with_span_processor(BoxedProcessor(processor));
        }
        let tracer_provider = tracer.build();
        let meter_provider = SdkMeterProvider::builder().with_resource(resource).build();
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
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct BoxedProcessor(Box<dyn SpanProcessor>);

impl SpanProcessor for BoxedProcessor {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.0.on_start(span, cx)
    }
    fn on_end(&self, span: opentelemetry_sdk::trace::SpanData) {
        self.0.on_end(span)
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource)
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
