//! [`Slot`]: where the connection phases of one request wait for the request's span.
//!
//! The exchange puts a `Slot` in the request's OpenTelemetry context when the span records and
//! connection phases are on. A connector that finishes a connect *while that context is
//! current* (the connect ran inside the request's future) hands its phases to the slot; the
//! exchange moves them onto the span when the response head arrives or the request fails, and
//! sets `spanfire.connection.reused`. A connect that finishes anywhere else (hyper-util's pool
//! finishing it in the background for a request that took an idle connection instead) finds
//! no slot, or another one, and records nothing. A slot belongs to its span: a request sent
//! inside another one's context with a span of its own (sampled or not) never sees the outer
//! slot. (A request that gets no span at all — an excluded URL, `suppress` — runs in its
//! caller's context: a connect it makes inside another instrumented request's future is
//! recorded on that request.)

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use opentelemetry::trace::{SpanId, SpanRef, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use super::CONNECTION_REUSED_ATTRIBUTE;

/// One phase, ready to become a span event: its name, when it started, its attributes.
#[derive(Debug)]
pub(crate) struct PhaseEvent {
    pub(crate) name: &'static str,
    pub(crate) start: SystemTime,
    pub(crate) attributes: Vec<KeyValue>,
}

/// The connection phases recorded for one request (shared by the request's context and the
/// connects that ran inside it).
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    inner: Arc<Mutex<Recorded>>,
    /// The span of the request the slot belongs to: a request sent inside it with a span of
    /// its own (an unsampled one included) does not see the slot.
    span: SpanId,
    /// The request is HTTPS: a connect made for it includes a TLS handshake (for reqwest's
    /// connector, which does not see the destination).
    #[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
    https: bool,
}

#[derive(Debug, Default)]
struct Recorded {
    /// A connect finished inside the request.
    connected: bool,
    events: Vec<PhaseEvent>,
}

impl Slot {
    /// `cx` with a fresh slot in it, for a request to an `https` URL or not.
    pub(crate) fn install(cx: &Context, https: bool) -> Context {
        cx.with_value(Slot {
            inner: Arc::default(),
            span: cx.span().span_context().span_id(),
            https,
        })
    }

    /// The request is HTTPS.
    #[cfg(feature = "reqwest")]
    pub(crate) fn https(&self) -> bool {
        self.https
    }

    /// The slot of the current context, if it belongs to the current span.
    pub(crate) fn current() -> Option<Slot> {
        Context::map_current(|cx| {
            cx.get::<Slot>()
                .filter(|s| s.span == cx.span().span_context().span_id())
                .cloned()
        })
    }

    /// Whether the current context holds this very slot (the connect finishes inside the
    /// request it started for).
    pub(crate) fn is_current(&self) -> bool {
        Context::map_current(|cx| {
            cx.get::<Slot>()
                .is_some_and(|s| Arc::ptr_eq(&s.inner, &self.inner))
        })
    }

    /// Hands over the phases of a finished connect (successful or not).
    pub(crate) fn connected(&self, events: Vec<PhaseEvent>) {
        if let Ok(mut recorded) = self.inner.lock() {
            recorded.connected = true;
            recorded.events.extend(events);
        }
    }

    /// Records what the slot holds on `span`: the phase events at their own times, and
    /// `spanfire.connection.reused` — false after a connect, true when `responded` without
    /// one. A failed request that made no connect gets no `reused` attribute (it may have
    /// failed before it reached the pool).
    pub(crate) fn record(&self, span: &SpanRef<'_>, responded: bool) {
        let Ok(mut recorded) = self.inner.lock() else {
            return;
        };
        let events = std::mem::take(&mut recorded.events);
        let connected = recorded.connected;
        drop(recorded);
        for event in events {
            span.add_event_with_timestamp(event.name, event.start, event.attributes);
        }
        if connected || responded {
            span.set_attribute(KeyValue::new(CONNECTION_REUSED_ATTRIBUTE, !connected));
        }
    }
}

/// Records the connection phases held by `cx` (see [`Slot::record`]); nothing without a slot.
pub(crate) fn record_phases(cx: &Context, span: &SpanRef<'_>, responded: bool) {
    if let Some(slot) = cx.get::<Slot>() {
        slot.record(span, responded);
    }
}
