//! Where the request span's parent comes from.

use opentelemetry::Context;

/// The parent context of a new request span: with the `tracing` feature, the current `tracing`
/// span when it is bridged to OpenTelemetry by tracing-opentelemetry; otherwise the current
/// OpenTelemetry context.
pub(crate) fn current_parent() -> Context {
    #[cfg(feature = "tracing")]
    {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let span = tracing::Span::current();
        if !span.is_none() {
            let cx = span.context();
            if cx.has_active_span() {
                return cx;
            }
        }
    }
    Context::current()
}
