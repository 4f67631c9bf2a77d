//! Trace-context injection into the outgoing request headers.
//!
//! The global text-map propagator is used when one is installed (`configure()` installs W3C
//! trace context and baggage). When the global one is the default no-op, W3C `traceparent` and
//! `tracestate` are written anyway, so that distributed traces work out of the box.
//! Invalid header names or values produced by a propagator are skipped, never a panic.

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::Injector;
use opentelemetry::Context;

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if value.is_empty() && key.eq_ignore_ascii_case("tracestate") {
            return; // an empty tracestate is the same as none; do not send the header
        }
        // Constants: `from_static` outside a const context validates the name on every call.
        const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
        const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
        const BAGGAGE: HeaderName = HeaderName::from_static("baggage");
        let name = match key {
            "traceparent" => TRACEPARENT,
            "tracestate" => TRACESTATE,
            "baggage" => BAGGAGE,
            other => match HeaderName::from_bytes(other.as_bytes()) {
                Ok(name) => name,
                Err(_) => return,
            },
        };
        // Takes the String's buffer: no copy.
        let Ok(value) = HeaderValue::from_maybe_shared(bytes::Bytes::from(value)) else {
            return;
        };
        self.0.insert(name, value);
    }
}

/// Injects `cx` into `headers`; returns the panic message if the propagator panicked.
pub(crate) fn inject(cx: &Context, headers: &mut HeaderMap) -> Result<(), String> {
    crate::hooks::catch(|| {
        opentelemetry::global::get_text_map_propagator(|propagator| {
            let mut injector = HeaderInjector(headers);
            if propagator.fields().next().is_some() {
                propagator.inject_context(cx, &mut injector);
            } else {
                crate::propagation::w3c::inject_trace_context(cx, &mut injector);
            }
        })
    })
}
