//! configure()'s OTLP/protobuf encoder (`configure/otlp_proto.rs`) over arbitrary spans.
//!
//! Checked: no panic, and for every batch whose spans share one instrumentation scope, the
//! bytes are exactly what opentelemetry-otlp 0.33 sends for it — its transform
//! (`group_spans_by_resource_and_scope`) then prost's `encode_to_vec`. The spans cover every
//! attribute value type (arrays of each, NaN and infinities, empty and multi-byte strings, lengths
//! around the one-byte varint boundary), events and links with attributes, every status and
//! kind, local, remote and missing parents, trace flags and trace states, times before the epoch,
//! dropped counts, and resources with attributes and a schema URL.
#![no_main]

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use opentelemetry_sdk::Resource;
use prost::Message;

#[derive(Arbitrary, Debug)]
enum V {
    Bool(bool),
    I64(i64),
    F64(f64),
    Str(String),
    /// A string of `n` bytes (around varint boundaries).
    Long(u8, u16),
    Bools(Vec<bool>),
    I64s(Vec<i64>),
    F64s(Vec<f64>),
    Strs(Vec<String>),
}

impl V {
    fn value(&self) -> Value {
        match self {
            V::Bool(b) => Value::Bool(*b),
            V::I64(i) => Value::I64(*i),
            V::F64(f) => Value::F64(*f),
            V::Str(s) => Value::String(s.clone().into()),
            V::Long(c, n) => Value::String(
                String::from_utf8(vec![b'a' + c % 26; usize::from(*n) % 20_000])
                    .unwrap_or_default()
                    .into(),
            ),
            V::Bools(v) => Value::Array(Array::Bool(v.clone())),
            V::I64s(v) => Value::Array(Array::I64(v.clone())),
            V::F64s(v) => Value::Array(Array::F64(v.clone())),
            V::Strs(v) => Value::Array(Array::String(
                v.iter().map(|s| StringValue::from(s.clone())).collect(),
            )),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Attr(String, V);

fn attrs(a: &[Attr]) -> Vec<KeyValue> {
    a.iter()
        .map(|Attr(k, v)| KeyValue::new(k.clone(), v.value()))
        .collect()
}

#[derive(Arbitrary, Debug)]
struct Ctx {
    trace: u128,
    span: u64,
    flags: u8,
    remote: bool,
    /// Trace state entries, keys and values from a small valid alphabet.
    state: Vec<(u8, u8)>,
}

impl Ctx {
    fn context(&self) -> SpanContext {
        let entries = self
            .state
            .iter()
            .take(4)
            .map(|(k, v)| (format!("k{}", k % 16), format!("v{v}")));
        SpanContext::new(
            TraceId::from(self.trace),
            SpanId::from(self.span),
            TraceFlags::new(self.flags),
            self.remote,
            TraceState::from_key_value(entries).unwrap_or_default(),
        )
    }
}

#[derive(Arbitrary, Debug)]
struct Ev {
    name: String,
    at: i64,
    attrs: Vec<Attr>,
    dropped: u32,
}

#[derive(Arbitrary, Debug)]
struct Ln {
    ctx: Ctx,
    attrs: Vec<Attr>,
    dropped: u32,
}

#[derive(Arbitrary, Debug)]
struct Sp {
    ctx: Ctx,
    parent: u64,
    parent_remote: bool,
    kind: u8,
    name: String,
    start: i64,
    end: i64,
    attrs: Vec<Attr>,
    dropped_attrs: u32,
    events: Vec<Ev>,
    dropped_events: u32,
    links: Vec<Ln>,
    dropped_links: u32,
    status: u8,
    message: String,
}

/// `nanos` from the epoch, before it when negative.
fn time(nanos: i64) -> SystemTime {
    let d = Duration::from_nanos(nanos.unsigned_abs());
    if nanos < 0 {
        UNIX_EPOCH.checked_sub(d).unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH + d
    }
}

impl Sp {
    fn span(&self, scope: &InstrumentationScope) -> SpanData {
        let mut events = SpanEvents::default();
        events.events = self
            .events
            .iter()
            .take(4)
            .map(|e| Event::new(e.name.clone(), time(e.at), attrs(&e.attrs), e.dropped))
            .collect();
        events.dropped_count = self.dropped_events;
        let mut links = SpanLinks::default();
        links.links = self
            .links
            .iter()
            .take(4)
            .map(|l| {
                let mut link = Link::new(l.ctx.context(), attrs(&l.attrs), l.dropped);
                link.dropped_attributes_count = l.dropped;
                link
            })
            .collect();
        links.dropped_count = self.dropped_links;
        SpanData {
            span_context: self.ctx.context(),
            parent_span_id: SpanId::from(self.parent),
            parent_span_is_remote: self.parent_remote,
            span_kind: match self.kind % 5 {
                0 => SpanKind::Internal,
                1 => SpanKind::Server,
                2 => SpanKind::Client,
                3 => SpanKind::Producer,
                _ => SpanKind::Consumer,
            },
            name: Cow::Owned(self.name.clone()),
            start_time: time(self.start),
            end_time: time(self.end),
            attributes: attrs(&self.attrs),
            dropped_attributes_count: self.dropped_attrs,
            events,
            links,
            status: match self.status % 3 {
                0 => Status::Unset,
                1 => Status::Ok,
                _ => Status::error(self.message.clone()),
            },
            instrumentation_scope: scope.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    resource: Vec<(String, String)>,
    schema: Option<String>,
    scope_name: String,
    scope_version: Option<String>,
    scope_attrs: Vec<(String, i64)>,
    spans: Vec<Sp>,
}

fuzz_target!(|input: Input| {
    let resource = {
        let kvs = input
            .resource
            .iter()
            .take(8)
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()));
        match &input.schema {
            Some(url) => Resource::builder_empty()
                .with_schema_url(kvs, url.clone())
                .build(),
            None => Resource::builder_empty().with_attributes(kvs).build(),
        }
    };
    let mut scope = InstrumentationScope::builder(input.scope_name.clone()).with_attributes(
        input
            .scope_attrs
            .iter()
            .take(4)
            .map(|(k, v)| KeyValue::new(k.clone(), *v)),
    );
    if let Some(v) = &input.scope_version {
        scope = scope.with_version(v.clone());
    }
    let scope = scope.build();
    let spans: Vec<SpanData> = input.spans.iter().take(8).map(|s| s.span(&scope)).collect();

    let mut ours = Vec::new();
    spanfire::__fuzz::encode_trace_request(&spans, &resource, &mut ours);
    let theirs = ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(
            spans,
            &ResourceAttributesWithSchema::from(&resource),
        ),
    }
    .encode_to_vec();
    assert!(
        ours == theirs,
        "bytes differ from opentelemetry-otlp's:\nours   {ours:02x?}\ntheirs {theirs:02x?}"
    );
});
