//! The tracer request spans are started with.
//!
//! Any tracer provider works through OpenTelemetry's boxed tracer. When the provider is the SDK's
//! own `SdkTracerProvider` (as `configure()` builds), its tracer is kept unboxed: one allocation
//! and one dynamic dispatch less per span.

use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{SpanBuilder, TraceContextExt, Tracer};
use opentelemetry::Context;

/// A tracer, concrete when it can be.
#[derive(Debug)]
pub(crate) enum RequestTracer {
    #[cfg(feature = "configure")]
    Sdk(opentelemetry_sdk::trace::SdkTracer),
    Boxed(BoxedTracer),
}

impl RequestTracer {
    /// Starts a span from `builder` under `parent` and returns the context that holds it.
    pub(crate) fn start(&self, builder: SpanBuilder, parent: &Context) -> Context {
        match self {
            #[cfg(feature = "configure")]
            RequestTracer::Sdk(tracer) => {
                parent.with_span(tracer.build_with_context(builder, parent))
            }
            RequestTracer::Boxed(tracer) => {
                parent.with_span(tracer.build_with_context(builder, parent))
            }
        }
    }
}

/// The SDK provider inside `provider`, if that is what it is.
#[cfg(feature = "configure")]
pub(crate) fn as_sdk<P: 'static>(
    provider: &P,
) -> Option<opentelemetry_sdk::trace::SdkTracerProvider> {
    (provider as &dyn std::any::Any)
        .downcast_ref::<opentelemetry_sdk::trace::SdkTracerProvider>()
        .cloned()
}
