//! W3C `traceparent` written without `std::fmt`, and [`W3cPropagator`], the propagator
//! [`configure()`](crate::configure) installs.
//!
//! The SDK's `TraceContextPropagator` builds `traceparent` with `format!`: on the request path
//! that was the largest single cost spanfire added (about a third of its instructions per
//! request, see BENCHMARKS.md). [`traceparent`] writes the same 55 bytes with a hex table into
//! one buffer of the exact size. [`W3cPropagator`] injects with it and delegates everything else
//! (extraction, baggage) to the SDK's propagators, so what it reads and writes is theirs.

use opentelemetry::propagation::Injector;
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags};
use opentelemetry::Context;

/// Injects the W3C trace context of `cx`'s span: `traceparent`, and `tracestate` when not empty.
/// Nothing for an invalid span context.
pub(crate) fn inject_trace_context(cx: &Context, injector: &mut dyn Injector) {
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return;
    }
    injector.set("traceparent", traceparent(sc));
    let state = sc.trace_state().header();
    if !state.is_empty() {
        injector.set("tracestate", state);
    }
}

/// The `traceparent` value of `sc` (version `00`, only the sampled flag), as the SDK's
/// `TraceContextPropagator` writes it: `00-{trace id}-{span id}-{flags}`, lowercase hex.
pub(crate) fn traceparent(sc: &SpanContext) -> String {
    let mut buf = [0u8; 55];
    buf[..3].copy_from_slice(b"00-");
    hex_into(&mut buf[3..35], &sc.trace_id().to_bytes());
    buf[35] = b'-';
    hex_into(&mut buf[36..52], &sc.span_id().to_bytes());
    buf[52] = b'-';
    hex_into(
        &mut buf[53..],
        &[(sc.trace_flags() & TraceFlags::SAMPLED).to_u8()],
    );
    // Hex digits and dashes only: always UTF-8.
    String::from_utf8(buf.to_vec()).unwrap_or_default()
}

/// The two lowercase hex digits of every byte value.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        pairs[b] = [HEX[b >> 4], HEX[b & 0x0f]];
        b += 1;
    }
    pairs
};

/// Lowercase hex of `bytes` into `out` (twice as long).
fn hex_into(out: &mut [u8], bytes: &[u8]) {
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
    }
}

#[cfg(feature = "configure")]
pub use propagator::W3cPropagator;

#[cfg(feature = "configure")]
mod propagator {
    use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
    use opentelemetry::Context;
    use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

    /// W3C Trace Context and W3C Baggage in one propagator: what the SDK's
    /// `TraceContextPropagator` and `BaggagePropagator` do in a `TextMapCompositePropagator`,
    /// with `traceparent` written without `std::fmt` (one allocation of exactly its 55 bytes).
    ///
    /// [`configure()`](crate::configure) installs it as the global propagator. Extraction and
    /// baggage are the SDK's own code. An empty `tracestate` is not injected.
    ///
    /// ```
    /// opentelemetry::global::set_text_map_propagator(spanfire::W3cPropagator::new());
    /// ```
    #[derive(Debug)]
    pub struct W3cPropagator {
        trace_context: TraceContextPropagator,
        baggage: BaggagePropagator,
        fields: [String; 3],
    }

    impl W3cPropagator {
        /// A new propagator for `traceparent`, `tracestate` and `baggage`.
        pub fn new() -> Self {
            W3cPropagator {
                trace_context: TraceContextPropagator::new(),
                baggage: BaggagePropagator::new(),
                fields: ["traceparent", "tracestate", "baggage"].map(str::to_owned),
            }
        }
    }

    impl Default for W3cPropagator {
        fn default() -> Self {
            Self::new()
        }
    }

    impl TextMapPropagator for W3cPropagator {
        fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
            super::inject_trace_context(cx, injector);
            self.baggage.inject_context(cx, injector);
        }

        fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
            let cx = self.trace_context.extract_with_context(cx, extractor);
            self.baggage.extract_with_context(&cx, extractor)
        }

        fn fields(&self) -> opentelemetry::propagation::text_map_propagator::FieldIter<'_> {
            opentelemetry::propagation::text_map_propagator::FieldIter::new(&self.fields)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceId, TraceState};

    fn context(trace: u128, span: u64, flags: u8) -> SpanContext {
        SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            TraceFlags::new(flags),
            false,
            TraceState::default(),
        )
    }

    #[test]
    fn traceparent_is_the_w3c_format() {
        let sc = context(0x0af7651916cd43dd8448eb211c80319c, 0xb7ad6b7169203331, 1);
        assert_eq!(
            traceparent(&sc),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
        // Only the sampled flag is written, as the SDK does.
        let sc = context(1, 2, 0xff);
        assert_eq!(
            traceparent(&sc),
            "00-00000000000000000000000000000001-0000000000000002-01"
        );
        let sc = context(u128::MAX, u64::MAX, 0);
        assert_eq!(
            traceparent(&sc),
            "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-00"
        );
    }

    #[cfg(feature = "configure")]
    mod propagator {
        use super::context;
        use crate::W3cPropagator;
        use opentelemetry::baggage::BaggageExt;
        use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
        use opentelemetry::trace::{SpanContext, TraceContextExt, TraceState};
        use opentelemetry::{Context, KeyValue};
        use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
        use std::collections::HashMap;

        fn sdk() -> TextMapCompositePropagator {
            TextMapCompositePropagator::new(vec![
                Box::new(TraceContextPropagator::new()),
                Box::new(BaggagePropagator::new()),
            ])
        }

        fn inject(p: &dyn TextMapPropagator, cx: &Context) -> HashMap<String, String> {
            let mut out = HashMap::new();
            p.inject_context(cx, &mut out);
            out.retain(|k, v| !(k == "tracestate" && v.is_empty()));
            out
        }

        /// Random span contexts (a fixed-seed xorshift), with and without trace state and
        /// baggage: the headers are the SDK composite's, byte for byte.
        #[test]
        fn injects_what_the_sdk_composite_injects() {
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            for i in 0..500 {
                let trace = (u128::from(next()) << 64) | u128::from(next());
                let sc = context(trace, next(), (next() & 0xff) as u8);
                let sc = if i % 3 == 0 {
                    let state = TraceState::from_key_value([("vendor", "v1"), ("k", "x")]).unwrap();
                    SpanContext::new(sc.trace_id(), sc.span_id(), sc.trace_flags(), false, state)
                } else {
                    sc
                };
                let mut cx = Context::new().with_remote_span_context(sc);
                if i % 2 == 0 {
                    cx = cx.with_baggage([KeyValue::new("user", format!("u {i}"))]);
                }
                assert_eq!(inject(&W3cPropagator::new(), &cx), inject(&sdk(), &cx));
            }
        }

        #[test]
        fn invalid_context_injects_nothing_and_extract_round_trips() {
            let p = W3cPropagator::new();
            assert!(inject(&p, &Context::new()).is_empty());
            let sc = context(7, 9, 1);
            let cx = Context::new()
                .with_remote_span_context(sc.clone())
                .with_baggage([KeyValue::new("a", "b")]);
            let headers = inject(&p, &cx);
            let back = p.extract(&headers);
            assert_eq!(back.span().span_context().trace_id(), sc.trace_id());
            assert_eq!(back.span().span_context().span_id(), sc.span_id());
            assert!(back.span().span_context().is_sampled());
            assert_eq!(back.baggage().get("a").map(|v| v.as_str()), Some("b"));
            let fields: Vec<_> = p.fields().collect();
            assert_eq!(fields, ["traceparent", "tracestate", "baggage"]);
        }
    }
}
