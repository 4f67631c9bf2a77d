//! The memory budget of span export: spans waiting for an OTLP destination are bounded in
//! bytes as well as in count.
//!
//! # The size estimate
//!
//! [`estimate`] is cheap (no allocation, one pass over the attributes) and deterministic for a
//! given [`SpanData`], so the size added when a span is handed to the batch processor is exactly
//! the size released when the exporter has its batch back:
//!
//! - [`SPAN_OVERHEAD`] bytes per span (the `SpanData` itself, ids, timestamps, scope), plus the
//!   length of its name and status description;
//! - per attribute (span, event and link attributes): [`ATTRIBUTE_OVERHEAD`] bytes plus the key
//!   length plus the value: a string's length, 8 bytes per number / bool, the sum of the
//!   elements of an array (strings by length, others 8 bytes each);
//! - per event or link: [`ATTRIBUTE_OVERHEAD`] bytes plus the event name's length.
//!
//! # The accounting (per destination)
//!
//! - `slots`: spans handed to the SDK batch processor and not yet taken by its exporter. A span
//!   is only handed when `slots < max_queue_size` (reserved atomically), so the SDK's channel
//!   (capacity `max_queue_size`) can never be full and never drops a span silently: every span
//!   handed over reaches the exporter wrapper, which releases the slots of its batch when the
//!   export starts (the SDK takes spans from its channel and exports them at once).
//! - `bytes`: the estimated size of the spans handed over and whose batch has not finished
//!   exporting (delivered, failed or abandoned at the shutdown deadline). Added before the span
//!   is handed over, released after the export of its batch returns; since every handed span
//!   reaches the exporter and the estimate is deterministic, `bytes` returns to 0 whenever
//!   nothing is pending, and it never exceeds the limit.
//!
//! When a span would take `bytes` over the limit, its body attributes ([`BODY_ATTRIBUTES`]) are
//! removed and it is marked [`BODY_DROPPED`]` = true`; if it still does not fit it is dropped.

use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;

/// Default byte budget of all OTLP destinations together: 64 MiB.
pub(crate) const DEFAULT_EXPORT_MEMORY_LIMIT: u64 = 64 * 1024 * 1024;
/// Env var overriding the default byte budget (bytes, `0`: no byte limit).
pub(crate) const ENV_EXPORT_MEMORY_LIMIT: &str = "SPANFIRE_EXPORT_MEMORY_LIMIT";

/// Fixed cost of a span in the estimate.
pub(crate) const SPAN_OVERHEAD: u64 = 512;
/// Fixed cost of an attribute, event or link in the estimate.
pub(crate) const ATTRIBUTE_OVERHEAD: u64 = 64;

/// The attributes removed first when the budget is exceeded.
pub(crate) const BODY_ATTRIBUTES: [&str; 3] = [
    "http.request.body.text",
    "http.response.body.text",
    "http.request.body.form",
];
/// Set to `true` on a span whose body attributes were removed to stay within the budget.
pub(crate) const BODY_DROPPED: &str = "spanfire.export.body_dropped";

/// The estimated in-memory size of a span, in bytes (see the module docs).
pub(crate) fn estimate(span: &SpanData) -> u64 {
    let mut size = SPAN_OVERHEAD + span.name.len() as u64 + attributes(&span.attributes);
    if let opentelemetry::trace::Status::Error { description } = &span.status {
        size += description.len() as u64;
    }
    for event in span.events.iter() {
        size += ATTRIBUTE_OVERHEAD + event.name.len() as u64 + attributes(&event.attributes);
    }
    for link in span.links.iter() {
        size += ATTRIBUTE_OVERHEAD + attributes(&link.attributes);
    }
    size
}

fn attributes(attributes: &[KeyValue]) -> u64 {
    attributes
        .iter()
        .map(|kv| ATTRIBUTE_OVERHEAD + kv.key.as_str().len() as u64 + value(&kv.value))
        .sum()
}

fn value(value: &Value) -> u64 {
    match value {
        Value::String(s) => s.as_str().len() as u64,
        Value::Array(Array::String(items)) => items.iter().map(|s| s.as_str().len() as u64).sum(),
        Value::Array(Array::Bool(items)) => 8 * items.len() as u64,
        Value::Array(Array::I64(items)) => 8 * items.len() as u64,
        Value::Array(Array::F64(items)) => 8 * items.len() as u64,
        _ => 8,
    }
}

/// Removes the body attributes of `span` and marks it; `false` when it had none.
pub(crate) fn drop_bodies(span: &mut SpanData) -> bool {
    let before = span.attributes.len();
    span.attributes
        .retain(|kv| !BODY_ATTRIBUTES.contains(&kv.key.as_str()));
    if span.attributes.len() == before {
        return false;
    }
    span.attributes.push(KeyValue::new(BODY_DROPPED, true));
    true
}

/// Parses `SPANFIRE_EXPORT_MEMORY_LIMIT`: a number of bytes (`0`: no byte limit).
pub(crate) fn parse_limit(value: &str) -> Result<u64, crate::Error> {
    value.trim().parse::<u64>().map_err(|_| {
        crate::Error::config(format!(
            "{ENV_EXPORT_MEMORY_LIMIT}={value} is not a number of bytes"
        ))
    })
}

/// One destination's budget (see the module docs).
#[derive(Debug)]
pub(crate) struct Budget {
    /// Byte limit (`u64::MAX`: none).
    limit: u64,
    bytes: AtomicU64,
    /// The SDK batch processor's `max_queue_size`.
    queue_limit: u64,
    slots: AtomicU64,
}

/// What [`Budget::admit`] decided for a span.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Handed over as it is.
    Whole,
    /// Handed over without its body attributes.
    BodiesDropped,
    /// Not handed over: the queue is full (by count).
    QueueFull,
    /// Not handed over: over the byte budget even without bodies.
    OverBudget,
}

impl Budget {
    /// `limit` bytes (`0`: no byte limit) and `queue_limit` spans.
    pub(crate) fn new(limit: u64, queue_limit: usize) -> Self {
        Budget {
            limit: if limit == 0 { u64::MAX } else { limit },
            bytes: AtomicU64::new(0),
            queue_limit: queue_limit as u64,
            slots: AtomicU64::new(0),
        }
    }

    /// Reserves a queue slot and the bytes of `span` (dropping its bodies if needed); on
    /// `Whole` / `BodiesDropped` the caller must hand the span to the batch processor.
    pub(crate) fn admit(&self, span: &mut SpanData) -> Admission {
        if self.slots.fetch_add(1, Ordering::AcqRel) >= self.queue_limit {
            self.release_slots(1);
            return Admission::QueueFull;
        }
        if self.reserve(estimate(span)) {
            return Admission::Whole;
        }
        if drop_bodies(span) && self.reserve(estimate(span)) {
            return Admission::BodiesDropped;
        }
        self.release_slots(1);
        Admission::OverBudget
    }

    fn reserve(&self, size: u64) -> bool {
        let limit = self.limit;
        self.bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                current.checked_add(size).filter(|total| *total <= limit)
            })
            .is_ok()
    }

    /// The exporter took `n` spans out of the queue.
    pub(crate) fn release_slots(&self, n: u64) {
        let _ = self
            .slots
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                Some(c.saturating_sub(n))
            });
    }

    /// The export of spans of estimated total size `size` returned.
    pub(crate) fn release_bytes(&self, size: u64) {
        let _ = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                Some(c.saturating_sub(size))
            });
    }

    /// Bytes currently accounted.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SimpleSpanProcessor};

    fn span(body: usize) -> SpanData {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(SimpleSpanProcessor::new(exporter.clone()))
            .build();
        provider.tracer("t").in_span("POST", |cx| {
            use opentelemetry::trace::TraceContextExt as _;
            cx.span()
                .set_attribute(KeyValue::new("http.request.body.text", "x".repeat(body)));
            cx.span()
                .set_attribute(KeyValue::new("http.response.body.text", "y".repeat(body)));
            cx.span()
                .set_attribute(KeyValue::new("http.response.status_code", 200));
        });
        exporter.get_finished_spans().unwrap().remove(0)
    }

    #[test]
    fn estimate_counts_strings_and_fixed_overheads() {
        let s = span(1000);
        let keys = "http.request.body.text".len()
            + "http.response.body.text".len()
            + "http.response.status_code".len();
        assert_eq!(
            estimate(&s),
            SPAN_OVERHEAD + 4 + 3 * ATTRIBUTE_OVERHEAD + keys as u64 + 2000 + 8
        );
    }

    #[test]
    fn over_budget_drops_bodies_then_spans_and_releases_exactly() {
        let budget = Budget::new(10_000, 100);
        let mut first = span(4000);
        assert_eq!(budget.admit(&mut first), Admission::Whole);
        let mut second = span(4000);
        assert_eq!(budget.admit(&mut second), Admission::BodiesDropped);
        assert!(second
            .attributes
            .iter()
            .all(|kv| !BODY_ATTRIBUTES.contains(&kv.key.as_str())));
        assert!(second
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == BODY_DROPPED && kv.value == Value::Bool(true)));
        let mut many = Vec::new();
        loop {
            let mut s = span(4000);
            match budget.admit(&mut s) {
                Admission::BodiesDropped => many.push(s),
                Admission::OverBudget => break,
                other => panic!("{other:?}"),
            }
        }
        assert!(budget.bytes() <= 10_000);
        let total: u64 = [&first, &second]
            .into_iter()
            .chain(&many)
            .map(estimate)
            .sum();
        assert_eq!(budget.bytes(), total, "exactly what was admitted");
        budget.release_slots(2 + many.len() as u64);
        budget.release_bytes(total);
        assert_eq!(budget.bytes(), 0);
    }

    #[test]
    fn queue_limit_by_count() {
        let budget = Budget::new(0, 2);
        for _ in 0..2 {
            assert_eq!(budget.admit(&mut span(10)), Admission::Whole);
        }
        assert_eq!(budget.admit(&mut span(10)), Admission::QueueFull);
        budget.release_slots(1);
        assert_eq!(budget.admit(&mut span(10)), Admission::Whole);
    }

    #[test]
    fn limit_parses_bytes() {
        assert_eq!(parse_limit(" 2097152 ").unwrap(), 2 * 1024 * 1024);
        assert!(parse_limit("2MiB").unwrap_err().is_config());
    }
}
