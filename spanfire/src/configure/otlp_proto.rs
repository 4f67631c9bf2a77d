//! The OTLP/protobuf bytes of a trace export request, written straight from the SDK's spans.
//!
//! [`encode_trace_request`] writes the `ExportTraceServiceRequest` that opentelemetry-otlp's
//! HTTP/protobuf exporter sends for a batch, byte for byte (for a batch whose spans share one
//! instrumentation scope; with several scopes, the same message with the scopes in the order
//! they first appear, where the exporter's order is a `HashMap`'s).
//!
//! Why: opentelemetry-otlp 0.33 builds the body (`OtlpHttpClient::build_trace_export_body`)
//! with `opentelemetry_proto`'s `group_spans_by_resource_and_scope`, which copies every key and
//! value of every span into `opentelemetry_proto` structs (an allocation or more per
//! attribute), then prost's `encode_to_vec`, which computes each nested message's length again
//! for every message that encloses it (an attribute value's six times), then frees the
//! structs. Measured with callgrind (`bench/src/bin/encode.rs`, batches of 512 spans), per
//! span with every capture on (31 attributes, two of them 1 KiB bodies): the transform about
//! 27,000 instructions (freeing the spans it consumes included), `encode_to_vec` 30,000,
//! freeing the structs 14,500, against 8,500 here; for a default span (12 attributes), 26,500
//! against 3,300. Here each span is walked twice (once to size it, once to write it), the
//! output grows once, and nothing else is allocated but one small entry per span.
//!
//! # The message
//!
//! As `opentelemetry_proto::transform` (0.33) maps the SDK's types, and as prost encodes the
//! result: fields in field-number order, proto3 defaults (0, empty strings and bytes) left
//! out, an `Option` message that is `Some` written even when empty (the request's one
//! `ResourceSpans`, its `resource`, each `ScopeSpans`' `scope`, each span's `status`, each
//! attribute's `value`), and oneof members (`AnyValue`'s value) written even when they are
//! the default (`false`, `0`, `""`). In particular:
//! - one `ResourceSpans`, also for an empty batch: the resource's attributes (in
//!   [`Resource::iter`]'s order), no dropped count, the resource's schema URL;
//! - one `ScopeSpans` per distinct instrumentation scope (by `InstrumentationScope`'s `==`,
//!   which ignores the order of the scope's attributes; the first span's scope is written):
//!   name, version, attributes and schema URL;
//! - per span: trace id (16 bytes) and span id (8 bytes) even when zero, the trace state in
//!   its header form, the parent span id only when valid, the flags as the transform's
//!   `build_span_flags` makes them (the W3C trace flags, plus `0x100` "has is-remote", plus
//!   `0x200` when the parent is remote), always written; times as Unix nanoseconds (0 before
//!   the epoch, truncated to 64 bits like the transform's `as u64`); the status always
//!   present, its message only for `Error`;
//! - links carry the linked context's trace state and flags (`0x100`, plus `0x200` when that
//!   context is remote).
//!
//! `Value` and `Array` are `#[non_exhaustive]`; the transform panics (`unreachable!`) on a
//! variant it does not know. Here a value of an unknown variant is written as an empty
//! `AnyValue` (no value: OTLP's empty value) and an array of an unknown kind as an empty
//! `ArrayValue`. opentelemetry 0.33 has no such variant.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceState};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use smallvec::SmallVec;

/// The key byte of field `field` (1 to 15) with wire type `wire`.
const fn key(field: u8, wire: u8) -> u8 {
    (field << 3) | wire
}
const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

// ExportTraceServiceRequest
const REQUEST_RESOURCE_SPANS: u8 = key(1, LEN);
// ResourceSpans
const RESOURCE_SPANS_RESOURCE: u8 = key(1, LEN);
const RESOURCE_SPANS_SCOPE_SPANS: u8 = key(2, LEN);
const RESOURCE_SPANS_SCHEMA_URL: u8 = key(3, LEN);
// Resource
const RESOURCE_ATTRIBUTES: u8 = key(1, LEN);
// ScopeSpans
const SCOPE_SPANS_SCOPE: u8 = key(1, LEN);
const SCOPE_SPANS_SPANS: u8 = key(2, LEN);
const SCOPE_SPANS_SCHEMA_URL: u8 = key(3, LEN);
// InstrumentationScope
const SCOPE_NAME: u8 = key(1, LEN);
const SCOPE_VERSION: u8 = key(2, LEN);
const SCOPE_ATTRIBUTES: u8 = key(3, LEN);
// Span
const SPAN_TRACE_ID: u8 = key(1, LEN);
const SPAN_SPAN_ID: u8 = key(2, LEN);
const SPAN_TRACE_STATE: u8 = key(3, LEN);
const SPAN_PARENT_SPAN_ID: u8 = key(4, LEN);
const SPAN_NAME: u8 = key(5, LEN);
const SPAN_KIND: u8 = key(6, VARINT);
const SPAN_START: u8 = key(7, I64);
const SPAN_END: u8 = key(8, I64);
const SPAN_ATTRIBUTES: u8 = key(9, LEN);
const SPAN_DROPPED_ATTRIBUTES: u8 = key(10, VARINT);
const SPAN_EVENTS: u8 = key(11, LEN);
const SPAN_DROPPED_EVENTS: u8 = key(12, VARINT);
const SPAN_LINKS: u8 = key(13, LEN);
const SPAN_DROPPED_LINKS: u8 = key(14, VARINT);
const SPAN_STATUS: u8 = key(15, LEN);
/// Field 16 (`flags`, fixed32): a two-byte key, `(16 << 3) | 5` as a varint.
const SPAN_FLAGS: [u8; 2] = [0x85, 0x01];
// Span.Event
const EVENT_TIME: u8 = key(1, I64);
const EVENT_NAME: u8 = key(2, LEN);
const EVENT_ATTRIBUTES: u8 = key(3, LEN);
const EVENT_DROPPED_ATTRIBUTES: u8 = key(4, VARINT);
// Span.Link
const LINK_TRACE_ID: u8 = key(1, LEN);
const LINK_SPAN_ID: u8 = key(2, LEN);
const LINK_TRACE_STATE: u8 = key(3, LEN);
const LINK_ATTRIBUTES: u8 = key(4, LEN);
const LINK_DROPPED_ATTRIBUTES: u8 = key(5, VARINT);
const LINK_FLAGS: u8 = key(6, I32);
// Status
const STATUS_MESSAGE: u8 = key(2, LEN);
const STATUS_CODE: u8 = key(3, VARINT);
// KeyValue
const KV_KEY: u8 = key(1, LEN);
const KV_VALUE: u8 = key(2, LEN);
// AnyValue
const ANY_STRING: u8 = key(1, LEN);
const ANY_BOOL: u8 = key(2, VARINT);
const ANY_INT: u8 = key(3, VARINT);
const ANY_DOUBLE: u8 = key(4, I64);
const ANY_ARRAY: u8 = key(5, LEN);
// ArrayValue
const ARRAY_VALUES: u8 = key(1, LEN);

/// `SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`.
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
/// `SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`.
const FLAG_IS_REMOTE: u32 = 0x200;

/// The OTLP `ExportTraceServiceRequest` protobuf bytes of `spans`, under `resource`, appended
/// to `out`.
///
/// The bytes are those opentelemetry-otlp 0.33's HTTP/protobuf exporter sends for the same
/// batch (`group_spans_by_resource_and_scope` then prost): identical when the spans share one
/// instrumentation scope; with several scopes, one `ScopeSpans` per scope in order of first
/// appearance (the exporter's order is a `HashMap`'s). An empty batch gives one
/// `ResourceSpans` with the resource and no scopes, as the exporter's.
///
/// Two passes: the first computes every span's length and groups the spans by scope, the
/// second writes into `out`, grown once by the exact length. Nothing else is allocated but a
/// vector of one 40-byte entry per span (plus, with more than two scopes, one of the scopes),
/// and a trace state's header string for a span or link whose trace state is not empty.
/// Never panics (sizes are computed in `usize`, and a disagreement between the passes, which
/// the tests rule out, would give wrong bytes, not a panic, in release builds).
pub(crate) fn encode_trace_request(spans: &[SpanData], resource: &Resource, out: &mut Vec<u8>) {
    // Sizing pass: every span's length, the spans grouped by scope (chained in batch order).
    let mut entries: Vec<Entry> = Vec::with_capacity(spans.len());
    let mut groups: SmallVec<[Group<'_>; 2]> = SmallVec::new();
    let mut last = 0;
    for (i, span) in spans.iter().enumerate() {
        let start = nanos(span.start_time);
        let end = nanos(span.end_time);
        let len = span_len(span, start, end);
        entries.push(Entry {
            len,
            start,
            end,
            next: None,
        });
        let scope = &span.instrumentation_scope;
        let g = if groups.get(last).is_some_and(|g| same_scope(g.scope, scope)) {
            last
        } else if let Some(g) = groups.iter().position(|g| same_scope(g.scope, scope)) {
            g
        } else {
            groups.push(Group {
                scope,
                first: i,
                last: i,
                spans_len: 0,
                scope_len: scope_len(scope),
            });
            groups.len() - 1
        };
        let group = &mut groups[g];
        if group.last != i {
            entries[group.last].next = Some(i);
            group.last = i;
        }
        group.spans_len += field_len(len);
        last = g;
    }

    let resource_len: usize = resource
        .iter()
        .map(|(k, v)| field_len(key_value_len(k.as_str(), v)))
        .sum();
    let resource_schema = resource.schema_url().unwrap_or_default();
    let resource_spans_len = field_len(resource_len)
        + groups
            .iter()
            .map(|g| field_len(g.message_len()))
            .sum::<usize>()
        + str_field_len(resource_schema);
    let total = field_len(resource_spans_len);

    // Writing pass.
    let start = out.len();
    out.reserve(total);
    let mut w = Writer { out };
    w.byte(REQUEST_RESOURCE_SPANS);
    w.varint(resource_spans_len as u64);
    w.byte(RESOURCE_SPANS_RESOURCE);
    w.varint(resource_len as u64);
    for (k, v) in resource.iter() {
        put_key_value(&mut w, RESOURCE_ATTRIBUTES, k.as_str(), v);
    }
    for group in &groups {
        w.byte(RESOURCE_SPANS_SCOPE_SPANS);
        w.varint(group.message_len() as u64);
        w.byte(SCOPE_SPANS_SCOPE);
        w.varint(group.scope_len as u64);
        put_scope(&mut w, group.scope);
        let mut next = Some(group.first);
        while let Some(i) = next {
            let entry = &entries[i];
            w.byte(SCOPE_SPANS_SPANS);
            w.varint(entry.len as u64);
            put_span(&mut w, &spans[i], entry);
            next = entry.next;
        }
        w.str_field(SCOPE_SPANS_SCHEMA_URL, scope_schema(group.scope));
    }
    w.str_field(RESOURCE_SPANS_SCHEMA_URL, resource_schema);
    debug_assert_eq!(out.len() - start, total, "sizing and writing disagree");
}

/// The exact length of `span` as an OTLP `Span` message (without the tag and length prefix it
/// has within `ScopeSpans`): what prost's `encoded_len` gives for the transform's `Span`.
/// Tests only for now; `split.rs` bounds sizes per encoding (JSON too) without it.
#[cfg(test)]
pub(crate) fn encoded_span_len(span: &SpanData) -> usize {
    span_len(span, nanos(span.start_time), nanos(span.end_time))
}

/// [`encoded_span_len`], with the span's start and end times in Unix nanoseconds.
fn span_len(span: &SpanData, start: u64, end: u64) -> usize {
    let context = &span.span_context;
    let mut len = field_len(16) + field_len(8); // trace id, span id
    len += str_field_len(&trace_state(context.trace_state()));
    if span.parent_span_id != SpanId::INVALID {
        len += field_len(8);
    }
    len += str_field_len(&span.name);
    len += 2; // kind: never 0 (UNSPECIFIED), always one byte
    len += fixed64_field_len(start);
    len += fixed64_field_len(end);
    len += attributes_len(&span.attributes);
    len += u32_field_len(span.dropped_attributes_count);
    for event in span.events.iter() {
        len += field_len(event_len(event));
    }
    len += u32_field_len(span.events.dropped_count);
    for link in span.links.iter() {
        len += field_len(link_len(link));
    }
    len += u32_field_len(span.links.dropped_count);
    len += field_len(status_len(&span.status));
    len + SPAN_FLAGS.len() + 4 // flags: never 0 (the has-is-remote bit)
}

/// One span of the batch, from the sizing pass.
struct Entry {
    /// The `Span` message's length.
    len: usize,
    /// Start and end times, Unix nanoseconds.
    start: u64,
    end: u64,
    /// The next span of the same scope.
    next: Option<usize>,
}

/// The spans of one instrumentation scope.
struct Group<'a> {
    scope: &'a InstrumentationScope,
    /// First and last span of the group (indices into the batch).
    first: usize,
    last: usize,
    /// The `spans` fields of the `ScopeSpans`, prefixes included.
    spans_len: usize,
    /// The `InstrumentationScope` message.
    scope_len: usize,
}

impl Group<'_> {
    /// The `ScopeSpans` message.
    fn message_len(&self) -> usize {
        field_len(self.scope_len) + self.spans_len + str_field_len(scope_schema(self.scope))
    }
}

/// Whether `a` and `b` are the same scope as the transform's `HashMap` sees it (`==`),
/// without `==`'s two allocations when the attributes are in the same order.
fn same_scope(a: &InstrumentationScope, b: &InstrumentationScope) -> bool {
    (a.name() == b.name()
        && a.version() == b.version()
        && a.schema_url() == b.schema_url()
        && a.attributes().eq(b.attributes()))
        || a == b
}

fn scope_schema(scope: &InstrumentationScope) -> &str {
    scope.schema_url().unwrap_or_default()
}

fn scope_len(scope: &InstrumentationScope) -> usize {
    str_field_len(scope.name())
        + str_field_len(scope.version().unwrap_or_default())
        + scope
            .attributes()
            .map(|kv| field_len(key_value_len(kv.key.as_str(), &kv.value)))
            .sum::<usize>()
}

fn put_scope(w: &mut Writer<'_>, scope: &InstrumentationScope) {
    w.str_field(SCOPE_NAME, scope.name());
    w.str_field(SCOPE_VERSION, scope.version().unwrap_or_default());
    for kv in scope.attributes() {
        put_key_value(w, SCOPE_ATTRIBUTES, kv.key.as_str(), &kv.value);
    }
}

/// Writes the `Span` message of `span` (content only), `entry.len` bytes.
fn put_span(w: &mut Writer<'_>, span: &SpanData, entry: &Entry) {
    let start = w.written();
    let context = &span.span_context;
    w.ids(SPAN_TRACE_ID, SPAN_SPAN_ID, context);
    w.str_field(SPAN_TRACE_STATE, &trace_state(context.trace_state()));
    if span.parent_span_id != SpanId::INVALID {
        w.span_id(SPAN_PARENT_SPAN_ID, span.parent_span_id);
    }
    w.str_field(SPAN_NAME, &span.name);
    w.array([SPAN_KIND, kind(&span.span_kind)]);
    w.fixed64_field(SPAN_START, entry.start);
    w.fixed64_field(SPAN_END, entry.end);
    put_attributes(w, SPAN_ATTRIBUTES, &span.attributes);
    w.u32_field(SPAN_DROPPED_ATTRIBUTES, span.dropped_attributes_count);
    for event in span.events.iter() {
        w.byte(SPAN_EVENTS);
        w.varint(event_len(event) as u64);
        w.fixed64_field(EVENT_TIME, nanos(event.timestamp));
        w.str_field(EVENT_NAME, &event.name);
        put_attributes(w, EVENT_ATTRIBUTES, &event.attributes);
        w.u32_field(EVENT_DROPPED_ATTRIBUTES, event.dropped_attributes_count);
    }
    w.u32_field(SPAN_DROPPED_EVENTS, span.events.dropped_count);
    for link in span.links.iter() {
        let context = &link.span_context;
        w.byte(SPAN_LINKS);
        w.varint(link_len(link) as u64);
        w.ids(LINK_TRACE_ID, LINK_SPAN_ID, context);
        w.str_field(LINK_TRACE_STATE, &trace_state(context.trace_state()));
        put_attributes(w, LINK_ATTRIBUTES, &link.attributes);
        w.u32_field(LINK_DROPPED_ATTRIBUTES, link.dropped_attributes_count);
        let [a, b, c, d] = link_flags(context).to_le_bytes();
        w.array([LINK_FLAGS, a, b, c, d]);
    }
    w.u32_field(SPAN_DROPPED_LINKS, span.links.dropped_count);
    w.byte(SPAN_STATUS);
    w.varint(status_len(&span.status) as u64);
    if let Status::Error { description } = &span.status {
        w.str_field(STATUS_MESSAGE, description);
    }
    let code = status_code(&span.status);
    if code != 0 {
        w.array([STATUS_CODE, code]);
    }
    let flags = u32::from(context.trace_flags().to_u8())
        | FLAG_HAS_IS_REMOTE
        | if span.parent_span_is_remote {
            FLAG_IS_REMOTE
        } else {
            0
        };
    let [a, b, c, d] = flags.to_le_bytes();
    w.array([SPAN_FLAGS[0], SPAN_FLAGS[1], a, b, c, d]);
    debug_assert_eq!(
        w.written() - start,
        entry.len,
        "sizing and writing disagree"
    );
}

fn event_len(event: &opentelemetry::trace::Event) -> usize {
    fixed64_field_len(nanos(event.timestamp))
        + str_field_len(&event.name)
        + attributes_len(&event.attributes)
        + u32_field_len(event.dropped_attributes_count)
}

fn link_len(link: &opentelemetry::trace::Link) -> usize {
    field_len(16)
        + field_len(8)
        + str_field_len(&trace_state(link.span_context.trace_state()))
        + attributes_len(&link.attributes)
        + u32_field_len(link.dropped_attributes_count)
        + 5 // flags: never 0
}

/// A link's flags, as the transform's `build_span_flags(context.is_remote(), trace flags)`.
fn link_flags(context: &SpanContext) -> u32 {
    u32::from(context.trace_flags().to_u8())
        | FLAG_HAS_IS_REMOTE
        | if context.is_remote() {
            FLAG_IS_REMOTE
        } else {
            0
        }
}

fn status_code(status: &Status) -> u8 {
    match status {
        Status::Unset => 0,
        Status::Ok => 1,
        Status::Error { .. } => 2,
    }
}

fn status_len(status: &Status) -> usize {
    match status {
        Status::Unset => 0,
        Status::Ok => 2,
        Status::Error { description } => str_field_len(description) + 2,
    }
}

/// `Span.SpanKind` (UNSPECIFIED = 0 is never produced).
fn kind(kind: &SpanKind) -> u8 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// The trace state's header form (`key=value,...`); borrowed (no allocation) when empty.
fn trace_state(state: &TraceState) -> Cow<'static, str> {
    if *state == TraceState::NONE {
        Cow::Borrowed("")
    } else {
        Cow::Owned(state.header())
    }
}

/// Unix nanoseconds as the transform's `to_nanos`: 0 before the epoch, the low 64 bits after.
fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn attributes_len(attributes: &[KeyValue]) -> usize {
    attributes
        .iter()
        .map(|kv| field_len(key_value_len(kv.key.as_str(), &kv.value)))
        .sum()
}

fn put_attributes(w: &mut Writer<'_>, tag: u8, attributes: &[KeyValue]) {
    for kv in attributes {
        put_key_value(w, tag, kv.key.as_str(), &kv.value);
    }
}

/// The `KeyValue` message (`key_strindex` is never set).
#[inline]
fn key_value_len(key: &str, value: &Value) -> usize {
    str_field_len(key) + field_len(any_value_len(value))
}

/// Writes the field `tag` holding the `KeyValue` message of `key` and `value`.
///
/// When the whole `KeyValue` is under 128 bytes (most attributes), every length in it is one
/// byte, and the bytes between the key and the value are written as one small array.
#[inline(always)]
fn put_key_value(w: &mut Writer<'_>, tag: u8, key: &str, value: &Value) {
    match value {
        Value::String(s) => {
            let s = s.as_str().as_bytes();
            put_key(w, tag, key, field_len(s.len()));
            put_string_value(w, KV_VALUE, s);
        }
        Value::Bool(b) => {
            put_key(w, tag, key, 2);
            w.array([KV_VALUE, 2, ANY_BOOL, u8::from(*b)]);
        }
        Value::I64(i) => {
            let i = *i as u64;
            let value_len = 1 + varint_len(i);
            put_key(w, tag, key, value_len);
            if i < 0x80 {
                w.array([KV_VALUE, 2, ANY_INT, i as u8]);
            } else {
                w.array([KV_VALUE, value_len as u8, ANY_INT]);
                w.varint(i);
            }
        }
        Value::F64(f) => {
            put_key(w, tag, key, 9);
            let [a, b, c, d, e, f, g, h] = f.to_le_bytes();
            w.array([KV_VALUE, 9, ANY_DOUBLE, a, b, c, d, e, f, g, h]);
        }
        Value::Array(array) => {
            let array_len = array_len(array);
            let value_len = field_len(array_len);
            if put_key(w, tag, key, value_len) {
                w.array([KV_VALUE, value_len as u8, ANY_ARRAY, array_len as u8]);
            } else {
                w.byte(KV_VALUE);
                w.varint(value_len as u64);
                w.byte(ANY_ARRAY);
                w.varint(array_len as u64);
            }
            put_array(w, array);
        }
        _ => {
            put_key(w, tag, key, 0);
            w.array([KV_VALUE, 0]);
        }
    }
}

/// Field `tag` holding an `AnyValue` with the string `s`.
#[inline(always)]
fn put_string_value(w: &mut Writer<'_>, tag: u8, s: &[u8]) {
    let value_len = field_len(s.len());
    if value_len < 0x80 {
        w.array([tag, value_len as u8, ANY_STRING, s.len() as u8]);
    } else {
        w.byte(tag);
        w.varint(value_len as u64);
        w.byte(ANY_STRING);
        w.varint(s.len() as u64);
    }
    w.bytes(s);
}

/// Writes the field `tag`, the `KeyValue`'s length and its key, for a value (`AnyValue`) of
/// `value_len` bytes; true when the `KeyValue` is under 128 bytes (all its lengths one byte).
#[inline(always)]
fn put_key(w: &mut Writer<'_>, tag: u8, key: &str, value_len: usize) -> bool {
    let kv_len = str_field_len(key) + field_len(value_len);
    let short = kv_len < 0x80;
    if short && !key.is_empty() {
        w.array([tag, kv_len as u8, KV_KEY, key.len() as u8]);
        w.bytes(key.as_bytes());
    } else {
        w.byte(tag);
        w.varint(kv_len as u64);
        w.str_field(KV_KEY, key);
    }
    short
}

/// The `AnyValue` message of `value` (its oneof is always set, so always written).
#[inline]
fn any_value_len(value: &Value) -> usize {
    match value {
        Value::Bool(_) => 2,
        Value::I64(i) => 1 + varint_len(*i as u64),
        Value::F64(_) => 9,
        Value::String(s) => field_len(s.as_str().len()),
        Value::Array(array) => field_len(array_len(array)),
        _ => 0,
    }
}

/// The `ArrayValue` message: each element an `AnyValue` message in field 1.
fn array_len(array: &Array) -> usize {
    match array {
        // [1 tag][1 len][ANY_BOOL][0 or 1]
        Array::Bool(v) => v.len() * 4,
        // [1 tag][1 len][ANY_INT][varint]: an AnyValue of 11 bytes at most
        Array::I64(v) => v.iter().map(|i| 3 + varint_len(*i as u64)).sum(),
        // [1 tag][1 len][ANY_DOUBLE][8 bytes]
        Array::F64(v) => v.len() * 11,
        Array::String(v) => v
            .iter()
            .map(|s| field_len(field_len(s.as_str().len())))
            .sum(),
        _ => 0,
    }
}

#[inline(always)]
fn put_array(w: &mut Writer<'_>, array: &Array) {
    match array {
        Array::Bool(v) => {
            for b in v {
                w.array([ARRAY_VALUES, 2, ANY_BOOL, u8::from(*b)]);
            }
        }
        Array::I64(v) => {
            for i in v {
                let i = *i as u64;
                w.array([ARRAY_VALUES, 1 + varint_len(i) as u8, ANY_INT]);
                w.varint(i);
            }
        }
        Array::F64(v) => {
            for f in v {
                let [a, b, c, d, e, f, g, h] = f.to_le_bytes();
                w.array([ARRAY_VALUES, 9, ANY_DOUBLE, a, b, c, d, e, f, g, h]);
            }
        }
        Array::String(v) => {
            for s in v {
                put_string_value(w, ARRAY_VALUES, s.as_str().as_bytes());
            }
        }
        _ => {}
    }
}

/// The bytes of a varint (prost's `encoded_len_varint`).
#[inline]
fn varint_len(v: u64) -> usize {
    ((((v | 1).leading_zeros() ^ 63) * 9 + 73) / 64) as usize
}

/// A length-delimited field of `len` bytes with a one-byte key.
#[inline]
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// A string field: left out when empty.
#[inline]
fn str_field_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        field_len(s.len())
    }
}

/// A `uint32` field: left out when 0.
fn u32_field_len(v: u32) -> usize {
    if v == 0 {
        0
    } else {
        1 + varint_len(u64::from(v))
    }
}

/// A `fixed64` field: left out when 0.
fn fixed64_field_len(v: u64) -> usize {
    if v == 0 {
        0
    } else {
        9
    }
}

/// The writing pass's output. The sizing pass reserved the message's length, so the appends
/// never reallocate; fixed-size pieces (ids, numbers, and a `KeyValue`'s bytes between its
/// key and its value) go in one append each.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    /// The bytes written so far.
    fn written(&self) -> usize {
        self.out.len()
    }

    #[inline(always)]
    fn byte(&mut self, b: u8) {
        self.out.push(b);
    }

    /// Bytes of a size known at compile time.
    #[inline(always)]
    fn array<const N: usize>(&mut self, bytes: [u8; N]) {
        self.out.extend_from_slice(&bytes);
    }

    /// Bytes of any length (strings).
    #[inline(always)]
    fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    #[inline(always)]
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    /// The trace id and span id fields of `context` (always written, even when zero).
    #[inline(always)]
    fn ids(&mut self, trace_tag: u8, span_tag: u8, context: &SpanContext) {
        let mut ids = [0; 28];
        ids[0] = trace_tag;
        ids[1] = 16;
        ids[2..18].copy_from_slice(&context.trace_id().to_bytes());
        ids[18] = span_tag;
        ids[19] = 8;
        ids[20..].copy_from_slice(&context.span_id().to_bytes());
        self.array(ids);
    }

    /// A span id field.
    #[inline(always)]
    fn span_id(&mut self, tag: u8, id: SpanId) {
        let [a, b, c, d, e, f, g, h] = id.to_bytes();
        self.array([tag, 8, a, b, c, d, e, f, g, h]);
    }

    /// A string field, left out when empty.
    #[inline(always)]
    fn str_field(&mut self, tag: u8, s: &str) {
        if !s.is_empty() {
            self.byte(tag);
            self.varint(s.len() as u64);
            self.bytes(s.as_bytes());
        }
    }

    /// A `uint32` field, left out when 0.
    #[inline(always)]
    fn u32_field(&mut self, tag: u8, v: u32) {
        if v != 0 {
            self.byte(tag);
            self.varint(u64::from(v));
        }
    }

    /// A `fixed64` field, left out when 0.
    #[inline(always)]
    fn fixed64_field(&mut self, tag: u8, v: u64) {
        if v != 0 {
            let [a, b, c, d, e, f, g, h] = v.to_le_bytes();
            self.array([tag, a, b, c, d, e, f, g, h]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Event, Link, SpanId, TraceFlags, TraceId};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::Span as ProtoSpan;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use prost::Message as _;
    use std::time::Duration;

    /// What opentelemetry-otlp's HTTP/protobuf exporter builds for `spans`.
    fn oracle(spans: &[SpanData], resource: &Resource) -> ExportTraceServiceRequest {
        let resource = ResourceAttributesWithSchema::from(resource);
        ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(spans.to_vec(), &resource),
        }
    }

    fn ours(spans: &[SpanData], resource: &Resource) -> Vec<u8> {
        let mut out = Vec::new();
        encode_trace_request(spans, resource, &mut out);
        out
    }

    /// Byte equality with the exporter's bytes (one scope), and each span's length.
    #[track_caller]
    fn assert_identical(spans: &[SpanData], resource: &Resource) {
        let expected = oracle(spans, resource).encode_to_vec();
        let actual = ours(spans, resource);
        if actual != expected {
            let decoded = ExportTraceServiceRequest::decode(actual.as_slice());
            panic!(
                "bytes differ (ours {} bytes, prost {} bytes; first difference at {:?})\n\
                 ours decoded: {decoded:?}\nexpected: {:?}",
                actual.len(),
                expected.len(),
                actual.iter().zip(&expected).position(|(a, b)| a != b),
                oracle(spans, resource)
            );
        }
        for span in spans {
            assert_eq!(
                encoded_span_len(span),
                ProtoSpan::from(span.clone()).encoded_len(),
                "encoded_span_len of {span:?}"
            );
        }
    }

    fn scope() -> InstrumentationScope {
        InstrumentationScope::builder("spanfire")
            .with_version("0.1.0")
            .with_schema_url("https://opentelemetry.io/schemas/1.37.0")
            .with_attributes([KeyValue::new("scope.attr", 7_i64)])
            .build()
    }

    fn resource() -> Resource {
        Resource::builder_empty()
            .with_schema_url(
                [
                    KeyValue::new("service.name", "checkout"),
                    KeyValue::new("service.version", "1.2.3"),
                    KeyValue::new("host.cpus", 8_i64),
                    KeyValue::new("tags", Value::Array(Array::String(vec!["a".into()]))),
                ],
                "https://opentelemetry.io/schemas/1.26.0",
            )
            .build()
    }

    fn at(nanos: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(nanos)
    }

    fn context(trace: u128, span: u64, flags: u8, remote: bool, state: &str) -> SpanContext {
        SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            TraceFlags::new(flags),
            remote,
            state.parse().expect("a valid trace state"),
        )
    }

    fn base() -> SpanData {
        SpanData {
            span_context: context(
                0x0123_4567_89ab_cdef_0123_4567_89ab_cdef,
                0x42,
                1,
                false,
                "",
            ),
            parent_span_id: SpanId::from(0xfedc_ba98_7654_3210),
            parent_span_is_remote: false,
            span_kind: SpanKind::Client,
            name: Cow::Borrowed("GET"),
            start_time: at(1_764_000_000_000_000_000),
            end_time: at(1_764_000_000_123_456_789),
            attributes: vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("server.port", 443_i64),
            ],
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: scope(),
        }
    }

    fn with(f: impl FnOnce(&mut SpanData)) -> SpanData {
        let mut span = base();
        f(&mut span);
        span
    }

    fn events(events: Vec<Event>, dropped: u32) -> SpanEvents {
        let mut out = SpanEvents::default();
        out.events = events;
        out.dropped_count = dropped;
        out
    }

    fn links(links: Vec<Link>, dropped: u32) -> SpanLinks {
        let mut out = SpanLinks::default();
        out.links = links;
        out.dropped_count = dropped;
        out
    }

    fn every_value() -> Vec<KeyValue> {
        vec![
            KeyValue::new("bool.true", true),
            KeyValue::new("bool.false", false),
            KeyValue::new("int.zero", 0_i64),
            KeyValue::new("int.one", 1_i64),
            KeyValue::new("int.127", 127_i64),
            KeyValue::new("int.128", 128_i64),
            KeyValue::new("int.neg", -1_i64),
            KeyValue::new("int.min", i64::MIN),
            KeyValue::new("int.max", i64::MAX),
            KeyValue::new("f.zero", 0.0_f64),
            KeyValue::new("f.negzero", -0.0_f64),
            KeyValue::new("f.nan", f64::NAN),
            KeyValue::new("f.inf", f64::NEG_INFINITY),
            KeyValue::new("f.pi", std::f64::consts::PI),
            KeyValue::new("s.empty", ""),
            KeyValue::new("s.static", "value"),
            KeyValue::new("s.owned", String::from("owned ü")),
            KeyValue::new("s.127", "x".repeat(127)),
            KeyValue::new("s.128", "x".repeat(128)),
            KeyValue::new("", "empty key"),
            KeyValue::new(String::from("owned.key"), 3_i64),
            KeyValue::new("a.bool", Value::Array(Array::Bool(vec![true, false, true]))),
            KeyValue::new("a.bool.empty", Value::Array(Array::Bool(vec![]))),
            KeyValue::new(
                "a.int",
                Value::Array(Array::I64(vec![0, 1, -1, 300, i64::MIN, i64::MAX])),
            ),
            KeyValue::new("a.int.empty", Value::Array(Array::I64(vec![]))),
            KeyValue::new(
                "a.f64",
                Value::Array(Array::F64(vec![0.0, -0.0, 1.5, f64::NAN, f64::INFINITY])),
            ),
            KeyValue::new("a.f64.empty", Value::Array(Array::F64(vec![]))),
            KeyValue::new(
                "a.string",
                Value::Array(Array::String(vec![
                    "".into(),
                    "a".into(),
                    String::from("ünï€😀").into(),
                    "y".repeat(200).into(),
                ])),
            ),
            KeyValue::new("a.string.empty", Value::Array(Array::String(vec![]))),
        ]
    }

    fn hand_built() -> Vec<(&'static str, SpanData)> {
        let mut spans = vec![
            ("base", base()),
            ("every value type", with(|s| s.attributes = every_value())),
            ("no attributes", with(|s| s.attributes.clear())),
            ("empty name", with(|s| s.name = Cow::Borrowed(""))),
            ("unicode name", with(|s| s.name = "GET /ünï€😀".into())),
            ("long name", with(|s| s.name = "n".repeat(20_000).into())),
            (
                "100 KiB strings",
                with(|s| {
                    s.attributes.push(KeyValue::new(
                        "http.request.body.text",
                        "{".repeat(100 * 1024),
                    ));
                    s.attributes
                        .push(KeyValue::new("http.response.body.text", "é".repeat(60_000)));
                }),
            ),
            ("no parent", with(|s| s.parent_span_id = SpanId::INVALID)),
            ("remote parent", with(|s| s.parent_span_is_remote = true)),
            (
                "remote flag without parent",
                with(|s| {
                    s.parent_span_id = SpanId::INVALID;
                    s.parent_span_is_remote = true;
                }),
            ),
            (
                "unsampled",
                with(|s| s.span_context = context(7, 8, 0, false, "")),
            ),
            (
                "all trace flag bits",
                with(|s| s.span_context = context(7, 8, 0xff, true, "")),
            ),
            (
                "zero ids",
                with(|s| s.span_context = context(0, 0, 0, false, "")),
            ),
            (
                "trace state",
                with(|s| s.span_context = context(7, 8, 1, false, "vendor=a,other=b-c")),
            ),
            (
                "empty but present trace state",
                with(|s| {
                    s.span_context = SpanContext::new(
                        TraceId::from(7),
                        SpanId::from(8),
                        TraceFlags::SAMPLED,
                        false,
                        TraceState::from_key_value(Vec::<(&str, &str)>::new()).unwrap(),
                    )
                }),
            ),
            (
                "before the epoch",
                with(|s| {
                    s.start_time = UNIX_EPOCH - Duration::from_secs(1);
                    s.end_time = UNIX_EPOCH;
                }),
            ),
            (
                "past 2^64 ns",
                with(|s| {
                    s.start_time = UNIX_EPOCH + Duration::from_secs(1 << 40);
                    s.end_time = UNIX_EPOCH + Duration::new(1 << 40, 999_999_999);
                }),
            ),
            (
                "dropped counts",
                with(|s| {
                    s.dropped_attributes_count = 3;
                    s.events = events(vec![], 200);
                    s.links = links(vec![], u32::MAX);
                }),
            ),
            (
                "events",
                with(|s| {
                    s.events = events(
                        vec![
                            Event::new("http.response.head", at(1), vec![], 0),
                            Event::new("", UNIX_EPOCH, vec![], 0),
                            Event::new(
                                "exception",
                                at(1_764_000_000_100_000_000),
                                every_value(),
                                4,
                            ),
                        ],
                        1,
                    )
                }),
            ),
            (
                "links",
                with(|s| {
                    s.links = links(
                        vec![
                            Link::new(context(1, 2, 1, true, "k=v"), vec![], 0),
                            Link::new(context(3, 4, 0, false, ""), every_value(), 9),
                            Link::new(SpanContext::NONE, vec![], 0),
                        ],
                        2,
                    )
                }),
            ),
            ("status ok", with(|s| s.status = Status::Ok)),
            (
                "status error",
                with(|s| s.status = Status::error("connection refused")),
            ),
            (
                "status error without message",
                with(|s| s.status = Status::error("")),
            ),
            (
                "default scope",
                with(|s| s.instrumentation_scope = InstrumentationScope::default()),
            ),
            (
                "scope with name only",
                with(|s| s.instrumentation_scope = InstrumentationScope::builder("x").build()),
            ),
        ];
        for kind in [
            SpanKind::Internal,
            SpanKind::Server,
            SpanKind::Client,
            SpanKind::Producer,
            SpanKind::Consumer,
        ] {
            spans.push(("kind", with(|s| s.span_kind = kind)));
        }
        spans
    }

    #[test]
    fn hand_built_spans_alone_and_together() {
        let resources = [
            resource(),
            Resource::builder_empty().build(),
            Resource::builder().build(),
        ];
        for resource in &resources {
            for (name, span) in hand_built() {
                let spans = [span];
                let expected = oracle(&spans, resource).encode_to_vec();
                assert_eq!(ours(&spans, resource), expected, "{name}");
                assert_identical(&spans, resource);
            }
            // One batch of the spans that share a scope.
            let batch: Vec<SpanData> = hand_built()
                .into_iter()
                .map(|(_, s)| s)
                .filter(|s| s.instrumentation_scope == scope())
                .collect();
            assert!(batch.len() > 20);
            assert_identical(&batch, resource);
        }
    }

    #[test]
    fn empty_batch() {
        for resource in [resource(), Resource::builder_empty().build()] {
            let expected = oracle(&[], &resource);
            // The exporter sends the resource, with no scopes.
            assert_eq!(expected.resource_spans.len(), 1);
            assert!(expected.resource_spans[0].resource.is_some());
            assert_identical(&[], &resource);
        }
        // Even an empty resource is one (empty) `resource` in one `ResourceSpans`.
        assert_eq!(
            ours(&[], &Resource::builder_empty().build()),
            [REQUEST_RESOURCE_SPANS, 2, RESOURCE_SPANS_RESOURCE, 0]
        );
    }

    #[test]
    fn appends_to_out() {
        let spans = [base()];
        // One instance: a resource's attributes are in its `HashMap`'s order.
        let resource = resource();
        let mut out = b"prefix".to_vec();
        encode_trace_request(&spans, &resource, &mut out);
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(out[6..], oracle(&spans, &resource).encode_to_vec());
    }

    #[test]
    fn resource_attributes_and_schema_url() {
        let resource = resource();
        let decoded = ExportTraceServiceRequest::decode(ours(&[base()], &resource).as_slice())
            .expect("valid protobuf");
        let resource_spans = &decoded.resource_spans[0];
        assert_eq!(
            resource_spans.schema_url,
            "https://opentelemetry.io/schemas/1.26.0"
        );
        let attributes = &resource_spans.resource.as_ref().unwrap().attributes;
        assert_eq!(attributes.len(), 4);
        assert!(attributes.iter().any(|kv| kv.key == "service.name"));
        assert_identical(&[base()], &resource);
    }

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }
        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len() as u64) as usize]
        }
        fn string(&mut self) -> String {
            let len = match self.below(10) {
                0 => 0,
                1 => 120 + self.below(20),
                2 if self.chance(5) => 16_370 + self.below(30),
                _ => self.below(24),
            };
            let alphabet = [
                "a", "z", "-", ".", " ", "é", "€", "あ", "😀", "\"", "\n", "\0",
            ];
            (0..len).map(|_| *self.pick(&alphabet)).collect()
        }
        fn number(&mut self) -> i64 {
            match self.below(6) {
                0 => 0,
                1 => -(self.below(1000) as i64),
                2 => *self.pick(&[i64::MIN, i64::MAX, 127, 128, 16_383, 16_384]),
                _ => self.next() as i64 >> self.below(64),
            }
        }
        fn float(&mut self) -> f64 {
            match self.below(6) {
                0 => *self.pick(&[0.0, -0.0, f64::NAN, f64::INFINITY, f64::MIN_POSITIVE]),
                1 => f64::from_bits(self.next()),
                _ => self.number() as f64 / 7.0,
            }
        }
        fn value(&mut self) -> Value {
            let n = self.below(5) as usize;
            match self.below(9) {
                0 => Value::Bool(self.chance(50)),
                1 | 2 => Value::I64(self.number()),
                3 => Value::F64(self.float()),
                4 => Value::Array(Array::Bool((0..n).map(|_| self.chance(50)).collect())),
                5 => Value::Array(Array::I64((0..n).map(|_| self.number()).collect())),
                6 => Value::Array(Array::F64((0..n).map(|_| self.float()).collect())),
                7 => Value::Array(Array::String(
                    (0..n).map(|_| self.string().into()).collect(),
                )),
                _ => Value::String(self.string().into()),
            }
        }
        fn attributes(&mut self, max: u64) -> Vec<KeyValue> {
            (0..self.below(max + 1))
                .map(|_| {
                    let key = if self.chance(5) {
                        String::new()
                    } else {
                        format!("k.{}", self.string())
                    };
                    KeyValue::new(key, self.value())
                })
                .collect()
        }
        fn count(&mut self) -> u32 {
            match self.below(4) {
                0 => self.next() as u32,
                1 => self.below(300) as u32,
                _ => 0,
            }
        }
        fn time(&mut self) -> SystemTime {
            match self.below(8) {
                0 => UNIX_EPOCH,
                1 => UNIX_EPOCH - Duration::from_nanos(self.below(1 << 40) + 1),
                2 => UNIX_EPOCH + Duration::new(self.below(1 << 42), 7),
                _ => at(1_700_000_000_000_000_000 + self.below(1 << 50)),
            }
        }
        fn context(&mut self) -> SpanContext {
            let trace = if self.chance(5) {
                0
            } else {
                u128::from(self.next()) << 64 | u128::from(self.next())
            };
            let span = if self.chance(5) { 0 } else { self.next() };
            let state = *self.pick(&["", "", "", "a=b", "vendor=x,rojo=00f067aa0ba902b7"]);
            context(trace, span, self.next() as u8, self.chance(30), state)
        }
        fn span(&mut self, scope: InstrumentationScope) -> SpanData {
            let status = match self.below(4) {
                0 => Status::Ok,
                1 => Status::error(self.string()),
                _ => Status::Unset,
            };
            let events = (0..self.below(3))
                .map(|_| Event::new(self.string(), self.time(), self.attributes(3), self.count()))
                .collect();
            let links = (0..self.below(3))
                .map(|_| Link::new(self.context(), self.attributes(3), self.count()))
                .collect();
            SpanData {
                span_context: self.context(),
                parent_span_id: if self.chance(40) {
                    SpanId::INVALID
                } else {
                    SpanId::from(self.next())
                },
                parent_span_is_remote: self.chance(30),
                span_kind: self
                    .pick(&[
                        SpanKind::Internal,
                        SpanKind::Server,
                        SpanKind::Client,
                        SpanKind::Producer,
                        SpanKind::Consumer,
                    ])
                    .clone(),
                name: self.string().into(),
                start_time: self.time(),
                end_time: self.time(),
                attributes: self.attributes(40),
                dropped_attributes_count: self.count(),
                events: events_of(events, self.count()),
                links: links_of(links, self.count()),
                status,
                instrumentation_scope: scope,
            }
        }
    }

    fn events_of(list: Vec<Event>, dropped: u32) -> SpanEvents {
        events(list, dropped)
    }

    fn links_of(list: Vec<Link>, dropped: u32) -> SpanLinks {
        links(list, dropped)
    }

    #[test]
    fn random_single_scope_batches() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let resource = resource();
        let mut total = 0;
        for batch in 0..40 {
            let spans: Vec<SpanData> = (0..rng.below(120)).map(|_| rng.span(scope())).collect();
            total += spans.len();
            if batch % 2 == 0 {
                assert_identical(&spans, &resource);
            } else {
                assert_identical(&spans, &Resource::builder_empty().build());
            }
        }
        assert!(total > 2000, "{total} spans");
    }

    /// The message with the scopes sorted (the exporter's order is a `HashMap`'s), compared as
    /// bytes (NaN attributes are not `==` to themselves).
    fn sorted_scopes(mut request: ExportTraceServiceRequest) -> Vec<u8> {
        for resource_spans in &mut request.resource_spans {
            resource_spans.scope_spans.sort_by_cached_key(|s| {
                (
                    s.scope.as_ref().map(|s| s.encode_to_vec()),
                    s.schema_url.clone(),
                )
            });
        }
        request.encode_to_vec()
    }

    #[test]
    fn several_scopes() {
        let scopes = [
            scope(),
            InstrumentationScope::builder("other").build(),
            InstrumentationScope::default(),
            InstrumentationScope::builder("spanfire").build(),
            InstrumentationScope::builder("spanfire")
                .with_version("0.1.0")
                .with_schema_url("https://opentelemetry.io/schemas/1.37.0")
                .with_attributes([KeyValue::new("scope.attr", 8_i64)])
                .build(),
            InstrumentationScope::builder("attrs")
                .with_attributes([KeyValue::new("a", 1_i64), KeyValue::new("b", true)])
                .build(),
            // Equal to the one above (attribute order does not count): the same group.
            InstrumentationScope::builder("attrs")
                .with_attributes([KeyValue::new("b", true), KeyValue::new("a", 1_i64)])
                .build(),
        ];
        let mut rng = Rng(42);
        let resource = resource();
        for round in 0..30 {
            let spans: Vec<SpanData> = (0..rng.below(80))
                .map(|_| {
                    let scope = if round % 3 == 0 {
                        // Three scopes or more: past the inline groups.
                        rng.pick(&scopes).clone()
                    } else {
                        rng.pick(&scopes[..2]).clone()
                    };
                    rng.span(scope)
                })
                .collect();
            let actual = ExportTraceServiceRequest::decode(ours(&spans, &resource).as_slice())
                .expect("valid protobuf");
            let expected = oracle(&spans, &resource);
            assert_eq!(
                actual.resource_spans[0].scope_spans.len(),
                expected.resource_spans[0].scope_spans.len()
            );
            assert_eq!(sorted_scopes(actual.clone()), sorted_scopes(expected));
            // Scopes in order of first appearance, spans in batch order.
            let firsts: Vec<&[u8]> = actual.resource_spans[0]
                .scope_spans
                .iter()
                .map(|s| s.spans[0].span_id.as_slice())
                .collect();
            let mut seen: Vec<&InstrumentationScope> = Vec::new();
            let mut want = Vec::new();
            for span in &spans {
                if !seen.contains(&&span.instrumentation_scope) {
                    seen.push(&span.instrumentation_scope);
                    want.push(span.span_context.span_id().to_bytes());
                }
            }
            let want: Vec<&[u8]> = want.iter().map(|id| id.as_slice()).collect();
            assert_eq!(firsts, want);
        }
    }

    #[test]
    fn equal_scopes_in_another_attribute_order_are_one_group_with_the_first_ones_order() {
        let ab = InstrumentationScope::builder("attrs")
            .with_attributes([KeyValue::new("a", 1_i64), KeyValue::new("b", true)])
            .build();
        let ba = InstrumentationScope::builder("attrs")
            .with_attributes([KeyValue::new("b", true), KeyValue::new("a", 1_i64)])
            .build();
        let spans = [
            with(|s| s.instrumentation_scope = ab.clone()),
            with(|s| s.instrumentation_scope = ba.clone()),
            with(|s| s.instrumentation_scope = ab.clone()),
        ];
        assert_identical(&spans, &resource());
        let spans = [
            with(|s| s.instrumentation_scope = ba.clone()),
            with(|s| s.instrumentation_scope = ab.clone()),
        ];
        assert_identical(&spans, &resource());
    }
}
