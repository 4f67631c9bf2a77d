//! Where the request span's parent comes from.
//!
//! Order of precedence, first match wins:
//!
//! 1. with the `tracing` feature: the current `tracing` span, when tracing-opentelemetry 0.34
//!    (OpenTelemetry 0.33, the generation spanfire uses) bridges it to a span;
//! 2. the current OpenTelemetry 0.33 [`Context`], when it has an active span;
//! 3. with the `logfire` feature: the current `tracing` span, when tracing-opentelemetry 0.33
//!    (OpenTelemetry 0.32, what the `logfire` crate 0.13 uses) bridges it to a valid span
//!    context. That span context (trace id, span id, trace flags with the sampled bit, trace
//!    state) is copied into an OpenTelemetry 0.33 span context (`is_remote = false`: the parent
//!    lives in this process) and set as the parent, so the request span joins the logfire trace,
//!    the sampler sees the logfire span's sampling decision, and the injected `traceparent`
//!    carries that trace;
//! 4. otherwise the current [`Context`] (no parent: the request span starts a trace).
//!
//! When step 2 finds a span, nothing after it runs. Without a current `tracing` span, steps 1
//! and 3 cost a thread-local look-up and allocate nothing.

use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;

/// The parent context of a new request span (see the module docs for the order of precedence).
pub(crate) fn current_parent() -> Context {
    #[cfg(feature = "tracing")]
    let span = tracing::Span::current();
    #[cfg(feature = "tracing")]
    if !span.is_none() {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let cx = span.context();
        if cx.has_active_span() {
            return cx;
        }
    }
    let cx = Context::current();
    if cx.has_active_span() {
        return cx;
    }
    #[cfg(feature = "logfire")]
    {
        #[cfg(not(feature = "tracing"))]
        let span = tracing::Span::current();
        if let Some(parent) = logfire_parent(&span, &cx) {
            return parent;
        }
    }
    cx
}

/// Step 3: the span context tracing-opentelemetry 0.33 (OpenTelemetry 0.32) keeps for `span`,
/// as the OpenTelemetry 0.33 parent of the request span, on top of `cx`.
#[cfg(feature = "logfire")]
fn logfire_parent(span: &tracing::Span, cx: &Context) -> Option<Context> {
    use opentelemetry_0_32::trace::TraceContextExt as _;
    use tracing_opentelemetry_0_33::OpenTelemetrySpanExt as _;
    if span.is_none() {
        return None;
    }
    let old_cx = span.context();
    let old_span = old_cx.span();
    let sc = old_span.span_context();
    if !sc.is_valid() {
        return None;
    }
    Some(cx.with_remote_span_context(convert_span_context(sc)))
}

/// An OpenTelemetry 0.32 span context as an OpenTelemetry 0.33 one, marked local.
#[cfg(feature = "logfire")]
fn convert_span_context(
    sc: &opentelemetry_0_32::trace::SpanContext,
) -> opentelemetry::trace::SpanContext {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    let old_state = sc.trace_state();
    let trace_state = if *old_state == opentelemetry_0_32::trace::TraceState::NONE {
        TraceState::NONE
    } else {
        // 0.33 accepts every header 0.32 writes (keeping the first 32 entries, as the W3C spec
        // says); the fallback (no trace state) only guards against that changing.
        old_state.header().parse().unwrap_or_default()
    };
    SpanContext::new(
        TraceId::from_bytes(sc.trace_id().to_bytes()),
        SpanId::from_bytes(sc.span_id().to_bytes()),
        TraceFlags::new(sc.trace_flags().to_u8()),
        false,
        trace_state,
    )
}

#[cfg(all(test, feature = "logfire"))]
mod tests {
    use super::convert_span_context;
    use opentelemetry_0_32::trace as old;

    #[test]
    fn span_context_survives_the_generation_change() {
        let state: old::TraceState = "vendor=a,other=b".parse().unwrap();
        let sc = old::SpanContext::new(
            old::TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            old::SpanId::from_hex("b7ad6b7169203331").unwrap(),
            old::TraceFlags::SAMPLED,
            true,
            state,
        );
        let new = convert_span_context(&sc);
        assert_eq!(
            new.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(new.span_id().to_string(), "b7ad6b7169203331");
        assert!(new.is_sampled());
        assert!(!new.is_remote());
        assert_eq!(new.trace_state().header(), "vendor=a,other=b");

        let unsampled = old::SpanContext::new(
            sc.trace_id(),
            sc.span_id(),
            old::TraceFlags::NOT_SAMPLED,
            false,
            old::TraceState::NONE,
        );
        let new = convert_span_context(&unsampled);
        assert!(!new.is_sampled());
        assert_eq!(new.trace_state(), &opentelemetry::trace::TraceState::NONE);
    }
}
