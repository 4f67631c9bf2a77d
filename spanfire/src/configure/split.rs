//! Export requests a collector accepts: a batch is split so that no OTLP export request exceeds
//! the export request limit.
//!
//! Collectors refuse requests over a size: OTLP/gRPC receivers take messages up to 4 MiB by
//! default (grpc-go's and tonic's default, the OpenTelemetry Collector's, rotel's), and HTTP
//! receivers and the proxies in front of them have body limits too. A batch of 512 spans with
//! captured bodies easily goes over, and would then be rejected whole. So the span exporter
//! wrapper (`export.rs`) hands every batch to [`RequestLimit::split`] first:
//!
//! - Each span's encoded size is bounded from above by [`RequestLimit::span_size`] (a walk over
//!   the span with constants per encoding, see below), and each request's by the sum of its
//!   spans plus the part every request repeats (the resource).
//! - Spans are cut, in order, into consecutive requests whose bound stays within the limit;
//!   the requests are exported one after another within the same `export` call. A request
//!   that fails does not stop the next ones; the first error is reported.
//! - A span too large for a request on its own has its body attributes
//!   ([`BODY_ATTRIBUTES`](super::budget::BODY_ATTRIBUTES)) cut further, largest first: a prefix
//!   is kept, followed by [`TRUNCATION_MARKER`](crate::TRUNCATION_MARKER) (as the capture code
//!   does), and the span is marked [`BODY_TRUNCATED`]` = true`. If it is still too large (large
//!   attributes that are not bodies), it is dropped and counted
//!   ([`ExportStats::too_large`](crate::ExportStats::too_large), within `dropped`).
//!
//! # The bound
//!
//! The size of a span is bounded per encoding with fixed costs (per span, including its
//! instrumentation scope, which a request carries once per scope; per attribute at any depth;
//! per array element; per number; per event and link) plus the lengths of its strings: for
//! protobuf (OTLP/gRPC and HTTP/protobuf) their byte length, for OTLP/HTTP JSON (which
//! opentelemetry-otlp pretty-prints, and in which ids are hex, 64-bit integers are strings and
//! control characters, quotes and backslashes are escaped) their escaped length. The constants
//! come from the encodings' layout (protobuf: tag and length prefix per field, at most 5 bytes
//! each; JSON: keys and indentation at the deepest nesting) with a margin, and the unit tests
//! check them against the real encodings (`opentelemetry-proto`'s prost messages, and their
//! `serde_json::to_string_pretty` as the HTTP/JSON exporter sends them) for spans with large
//! bodies, many attributes, arrays, events, links, unicode and escapes. A span with large
//! bodies is bounded within a few hundred bytes of its real size; small spans are
//! over-estimated (2-3×), which only makes requests of small spans smaller than they could be.
//!
//! The memory budget's estimate ([`budget::estimate`](super::budget::estimate)) is not used
//! for the split: it is an estimate of memory, not a bound of the encoding (array elements,
//! trace state and scope are not in it, and JSON is larger). The wrapper still releases
//! exactly the estimate it held for every span, truncated or dropped ones included (the
//! estimate of the span as it was handed over).

use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;

use super::budget::{self, BODY_ATTRIBUTES};
use crate::TRUNCATION_MARKER;

/// Default export request limit: 3.5 MiB, under the 4 MiB message limit of gRPC receivers,
/// with room to spare.
pub(crate) const DEFAULT_EXPORT_REQUEST_LIMIT: u64 = 3 * 1024 * 1024 + 512 * 1024;
/// Env var overriding the default export request limit (bytes, `0`: no limit).
pub(crate) const ENV_EXPORT_REQUEST_LIMIT: &str = "SPANFIRE_EXPORT_REQUEST_LIMIT";
/// Set to `true` on a span whose body attributes were cut to fit in one export request.
pub(crate) const BODY_TRUNCATED: &str = "spanfire.export.body_truncated";

/// How an OTLP destination encodes its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// OTLP/gRPC and OTLP/HTTP with protobuf bodies.
    Protobuf,
    /// OTLP/HTTP with (pretty-printed) JSON bodies.
    Json,
}

impl Encoding {
    fn costs(self) -> &'static Costs {
        match self {
            Encoding::Protobuf => &PROTOBUF,
            Encoding::Json => &JSON,
        }
    }
}

/// Fixed costs of an encoding, in bytes (see the module docs); string contents come on top.
#[derive(Debug)]
struct Costs {
    /// The request envelope and the resource's fixed part, once per request.
    request: u64,
    /// A span's fixed fields, and its instrumentation scope's.
    span: u64,
    /// A key-value (at any depth, with the key's and value's framing).
    attribute: u64,
    /// An array value's framing, on top of `attribute`.
    array: u64,
    /// An array element's framing.
    element: u64,
    /// A number or boolean value.
    number: u64,
    /// An event's fixed fields.
    event: u64,
    /// A link's fixed fields.
    link: u64,
    /// Strings are escaped (JSON).
    escaped: bool,
}

/// Protobuf: a field is a tag (1-2 bytes) and, for strings, bytes and messages, a length
/// (at most 5 bytes); numbers at most 10 bytes. A span's fixed fields (ids, flags, kind,
/// timestamps, counts, status, its own framing) take about 110 bytes, its scope about 40.
const PROTOBUF: Costs = Costs {
    request: 64,
    span: 256,
    attribute: 32,
    array: 16,
    element: 16,
    number: 11,
    event: 48,
    link: 64,
    escaped: false,
};

/// JSON, pretty-printed with two-space indentation: a span's fixed fields (hex ids, quoted
/// timestamps, the empty lists and counts, status) take about 770 bytes, a scope about 240, a
/// string attribute of an event or link (the deepest) 177 bytes besides its key and value, an
/// array element about 115.
const JSON: Costs = Costs {
    request: 1024,
    span: 1536,
    attribute: 256,
    array: 128,
    element: 160,
    number: 32,
    event: 384,
    link: 512,
    escaped: true,
};

/// Parses `SPANFIRE_EXPORT_REQUEST_LIMIT`: a number of bytes (`0`: no limit).
pub(crate) fn parse_limit(value: &str) -> Result<u64, crate::Error> {
    value.trim().parse::<u64>().map_err(|_| {
        crate::Error::config(format!(
            "{ENV_EXPORT_REQUEST_LIMIT}={value} is not a number of bytes"
        ))
    })
}

/// The export request limit of one destination (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct RequestLimit {
    /// Bytes (`u64::MAX`: none).
    limit: u64,
    encoding: Encoding,
    /// The bound of what every request repeats: envelope and resource.
    request: u64,
}

/// The requests one batch is split into.
#[derive(Debug, Default)]
pub(crate) struct Split {
    /// The requests to export, in order.
    pub(crate) requests: Vec<Request>,
    /// Spans dropped: over the limit even with their bodies cut.
    pub(crate) dropped: u64,
    /// The memory estimate of the dropped spans (as they were handed over).
    pub(crate) dropped_bytes: u64,
    /// Spans whose bodies were cut (and that are in a request).
    pub(crate) truncated: u64,
}

/// One export request.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) spans: Vec<SpanData>,
    /// The memory estimate of these spans as they were handed over, released when the
    /// request's export returns.
    pub(crate) bytes: u64,
    /// The bound of the request's encoded size (0 without a limit).
    pub(crate) size: u64,
}

impl RequestLimit {
    /// `limit` bytes (`0`: no limit) for requests in `encoding` carrying `resource`.
    pub(crate) fn new(limit: u64, encoding: Encoding, resource: &Resource) -> Self {
        let mut this = RequestLimit {
            limit: if limit == 0 { u64::MAX } else { limit },
            encoding,
            request: 0,
        };
        this.set_resource(resource);
        this
    }

    /// The resource every request carries.
    pub(crate) fn set_resource(&mut self, resource: &Resource) {
        let costs = self.encoding.costs();
        let mut size = costs.request;
        if let Some(url) = resource.schema_url() {
            size += string(costs, url);
        }
        for (key, value) in resource.iter() {
            size += attribute(costs, key.as_str(), value);
        }
        self.request = size;
    }

    /// Room for spans in one request.
    fn room(&self) -> u64 {
        self.limit.saturating_sub(self.request)
    }

    /// An upper bound of `span`'s encoded size (with its scope), in bytes.
    pub(crate) fn span_size(&self, span: &SpanData) -> u64 {
        let costs = self.encoding.costs();
        let scope = &span.instrumentation_scope;
        let mut size = costs.span
            + string(costs, &span.name)
            + trace_state(costs, span.span_context.trace_state())
            + string(costs, scope.name())
            + scope.version().map_or(0, |v| string(costs, v))
            + scope.schema_url().map_or(0, |v| string(costs, v))
            + attributes(costs, scope.attributes())
            + attributes(costs, &span.attributes);
        if let opentelemetry::trace::Status::Error { description } = &span.status {
            size += string(costs, description);
        }
        for event in span.events.iter() {
            size += costs.event + string(costs, &event.name) + attributes(costs, &event.attributes);
        }
        for link in span.links.iter() {
            size += costs.link
                + trace_state(costs, link.span_context.trace_state())
                + attributes(costs, &link.attributes);
        }
        size
    }

    /// Splits `batch` into requests within the limit, in order (see the module docs).
    pub(crate) fn split(&self, batch: Vec<SpanData>) -> Split {
        let mut split = Split::default();
        if self.limit == u64::MAX {
            if !batch.is_empty() {
                let bytes = batch.iter().map(budget::estimate).sum();
                split.requests.push(Request {
                    spans: batch,
                    bytes,
                    size: 0,
                });
            }
            return split;
        }
        let room = self.room();
        let mut current = Request {
            spans: Vec::new(),
            bytes: 0,
            size: 0,
        };
        for mut span in batch {
            let held = budget::estimate(&span);
            let mut size = self.span_size(&span);
            if size > room {
                if self.truncate_bodies(&mut span, size - room) {
                    size = self.span_size(&span);
                }
                if size > room {
                    split.dropped += 1;
                    split.dropped_bytes += held;
                    continue;
                }
                split.truncated += 1;
            }
            if !current.spans.is_empty() && current.size + size > room {
                let full = std::mem::replace(
                    &mut current,
                    Request {
                        spans: Vec::new(),
                        bytes: 0,
                        size: 0,
                    },
                );
                split.requests.push(full);
            }
            current.spans.push(span);
            current.bytes += held;
            current.size += size;
        }
        if !current.spans.is_empty() {
            split.requests.push(current);
        }
        for request in &mut split.requests {
            request.size += self.request;
        }
        split
    }

    /// Cuts the body attributes of `span` (largest first) so that its size drops by at least
    /// `excess` bytes, and marks it; `false` (span unchanged) when its bodies cannot give that
    /// much.
    fn truncate_bodies(&self, span: &mut SpanData, excess: u64) -> bool {
        let costs = self.encoding.costs();
        let marker = TRUNCATION_MARKER.len() as u64;
        // The mark added, plus a marker after each cut body, must also fit.
        let mut need = excess + attribute(costs, BODY_TRUNCATED, &Value::Bool(true));
        let mut bodies: Vec<(usize, u64)> = span
            .attributes
            .iter()
            .enumerate()
            .filter(|(_, kv)| BODY_ATTRIBUTES.contains(&kv.key.as_str()))
            .filter_map(|(i, kv)| match &kv.value {
                Value::String(s) => Some((i, content(s.as_str()).len() as u64)),
                _ => None,
            })
            .filter(|(_, len)| *len > marker)
            .collect();
        // Cutting `n` bytes of content shrinks the encoded string by at least `n` (escaped
        // JSON by more), and the marker adds `marker`.
        let available: u64 = bodies.iter().map(|(_, len)| len - marker).sum();
        if available < need {
            return false;
        }
        bodies.sort_by_key(|(_, len)| std::cmp::Reverse(*len));
        for (i, len) in bodies {
            if need == 0 {
                break;
            }
            let cut = (need + marker).min(len);
            let Some(kv) = span.attributes.get_mut(i) else {
                continue;
            };
            let Value::String(s) = &kv.value else {
                continue;
            };
            let text = content(s.as_str());
            let mut keep = (len - cut) as usize;
            while keep > 0 && !text.is_char_boundary(keep) {
                keep -= 1;
            }
            let mut cut_text = String::with_capacity(keep + TRUNCATION_MARKER.len());
            cut_text.push_str(&text[..keep]);
            cut_text.push_str(TRUNCATION_MARKER);
            kv.value = Value::from(cut_text);
            need = need.saturating_sub(len - keep as u64 - marker);
        }
        span.attributes.push(KeyValue::new(BODY_TRUNCATED, true));
        true
    }
}

/// A body's content: without the marker the capture code may have put at its end already.
fn content(body: &str) -> &str {
    body.strip_suffix(TRUNCATION_MARKER).unwrap_or(body)
}

fn attributes<'a>(costs: &Costs, kvs: impl IntoIterator<Item = &'a KeyValue>) -> u64 {
    kvs.into_iter()
        .map(|kv| attribute(costs, kv.key.as_str(), &kv.value))
        .sum()
}

fn attribute(costs: &Costs, key: &str, value: &Value) -> u64 {
    costs.attribute + string(costs, key) + self::value(costs, value)
}

fn value(costs: &Costs, value: &Value) -> u64 {
    let elements = |n: usize, each: u64| costs.array + n as u64 * (costs.element + each);
    match value {
        Value::String(s) => string(costs, s.as_str()),
        Value::Array(Array::String(items)) => {
            elements(items.len(), 0) + items.iter().map(|s| string(costs, s.as_str())).sum::<u64>()
        }
        Value::Array(Array::Bool(items)) => elements(items.len(), costs.number),
        Value::Array(Array::I64(items)) => elements(items.len(), costs.number),
        Value::Array(Array::F64(items)) => elements(items.len(), costs.number),
        _ => costs.number,
    }
}

fn trace_state(costs: &Costs, state: &opentelemetry::trace::TraceState) -> u64 {
    // `key=value` entries joined by `,`: no allocation, unlike `TraceState::header`.
    state
        .into_iter()
        .map(|(k, v)| string(costs, k) + string(costs, v) + 2)
        .sum()
}

/// A string's encoded length: its bytes, escaped for JSON (`"`, `\` and control characters,
/// as serde_json escapes them).
fn string(costs: &Costs, s: &str) -> u64 {
    let len = s.len() as u64;
    if !costs.escaped {
        return len;
    }
    len + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 1,
            0..=0x1f => 5,
            _ => 0,
        })
        .sum::<u64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry::InstrumentationScope;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use prost::Message as _;
    use std::borrow::Cow;
    use std::time::{Duration, SystemTime};

    const KIB: usize = 1024;

    fn scope() -> InstrumentationScope {
        InstrumentationScope::builder("spanfire")
            .with_version("0.1.0")
            .with_schema_url("https://opentelemetry.io/schemas/1.37.0")
            .build()
    }

    fn span(attributes: Vec<KeyValue>) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef_u128),
                SpanId::from(0x0123_4567_89ab_cdef_u64),
                TraceFlags::SAMPLED,
                false,
                TraceState::NONE,
            ),
            parent_span_id: SpanId::from(0xfedc_ba98_7654_3210_u64),
            parent_span_is_remote: true,
            span_kind: SpanKind::Client,
            name: Cow::Borrowed("POST"),
            start_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000),
            end_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_001),
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: scope(),
        }
    }

    /// A capture_all-like span with a request and a response body of `body` bytes each.
    fn capture_all(body: usize, fill: &str) -> SpanData {
        let text: String = fill.repeat(body / fill.len().max(1));
        span(vec![
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("url.full", "http://127.0.0.1:8080/post?q=1"),
            KeyValue::new("server.address", "127.0.0.1"),
            KeyValue::new("server.port", 8080),
            KeyValue::new("http.response.status_code", 200),
            KeyValue::new("http.request.body.text", text.clone()),
            KeyValue::new("http.response.body.text", text),
            KeyValue::new("http.response.body.size", body as i64),
        ])
    }

    fn resource() -> Resource {
        Resource::builder_empty()
            .with_service_name("checkout")
            .with_attributes([
                KeyValue::new("service.version", "1.2.3"),
                KeyValue::new("deployment.environment.name", "production"),
                KeyValue::new("telemetry.sdk.language", "rust"),
            ])
            .build()
    }

    fn request(spans: Vec<SpanData>, resource: &Resource) -> ExportTraceServiceRequest {
        let resource = ResourceAttributesWithSchema::from(resource);
        ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(spans, &resource),
        }
    }

    /// The real encoded size of `spans` in one request, as the exporters send it.
    fn encoded(spans: Vec<SpanData>, encoding: Encoding, resource: &Resource) -> u64 {
        let request = request(spans, resource);
        match encoding {
            Encoding::Protobuf => request.encode_to_vec().len() as u64,
            Encoding::Json => serde_json::to_string_pretty(&request).unwrap().len() as u64,
        }
    }

    /// Spans that stress every part of the bound.
    fn representative() -> Vec<(&'static str, SpanData)> {
        let mut out = vec![
            ("minimal", span(Vec::new())),
            ("capture_all 300 KiB", capture_all(300 * KIB, "b")),
            ("capture_all 1 KiB", capture_all(KIB, "b")),
            ("unicode bodies", capture_all(64 * KIB, "あ€ü")),
            ("JSON bodies", capture_all(64 * KIB, r#"{"k":"v\n"},"#)),
            (
                "control characters",
                capture_all(16 * KIB, "\u{1}\u{2}\"\\\t"),
            ),
        ];
        let many: Vec<KeyValue> = (0..200)
            .flat_map(|i| {
                [
                    KeyValue::new(format!("app.int.{i}"), -1_i64 - i),
                    KeyValue::new(format!("app.f.{i}"), f64::MIN_POSITIVE * i as f64),
                    KeyValue::new(format!("app.b.{i}"), i % 2 == 0),
                    KeyValue::new(format!("a{i}"), ""),
                ]
            })
            .collect();
        out.push(("800 small attributes", span(many)));
        let arrays = vec![
            KeyValue::new(
                "a.strings",
                Value::Array(Array::String(vec!["".into(); 500])),
            ),
            KeyValue::new("a.ints", Value::Array(Array::I64(vec![i64::MIN; 500]))),
            KeyValue::new("a.floats", Value::Array(Array::F64(vec![-1.5e-300; 500]))),
            KeyValue::new("a.bools", Value::Array(Array::Bool(vec![true; 500]))),
        ];
        out.push(("arrays", span(arrays.clone())));
        let mut full = capture_all(4 * KIB, "x");
        let state = TraceState::from_key_value((0..32).map(|i| (format!("k{i}"), "v".repeat(200))))
            .unwrap();
        full.span_context = SpanContext::new(
            TraceId::from(1_u128),
            SpanId::from(2_u64),
            TraceFlags::SAMPLED,
            true,
            state.clone(),
        );
        full.status = Status::error("x".repeat(1000));
        full.instrumentation_scope = InstrumentationScope::builder("a-long-scope-name".repeat(10))
            .with_version("1.0.0-alpha.1")
            .with_attributes(arrays.clone())
            .build();
        full.events = SpanEvents::default();
        full.events.events = (0..50)
            .map(|i| {
                opentelemetry::trace::Event::new(
                    format!("event-{i}"),
                    SystemTime::UNIX_EPOCH,
                    arrays.clone(),
                    3,
                )
            })
            .collect();
        full.links = SpanLinks::default();
        full.links.links = (0..20)
            .map(|_| {
                let context = SpanContext::new(
                    TraceId::from(3_u128),
                    SpanId::from(4_u64),
                    TraceFlags::SAMPLED,
                    true,
                    state.clone(),
                );
                Link::new(context, arrays.clone(), 0)
            })
            .collect();
        out.push(("state, status, scope, events, links", full));
        out
    }

    /// The bound holds for the real encodings, span by span and for all of them in one
    /// request; prints the ratios (bound / encoded) and those of the memory estimate.
    #[test]
    fn split_bound_holds_for_the_real_encodings() {
        let resource = resource();
        for encoding in [Encoding::Protobuf, Encoding::Json] {
            let limit = RequestLimit::new(DEFAULT_EXPORT_REQUEST_LIMIT, encoding, &resource);
            for (name, span) in representative() {
                let bound = limit.request + limit.span_size(&span);
                let estimate = budget::estimate(&span);
                let real = encoded(vec![span], encoding, &resource);
                eprintln!(
                    "{encoding:?} {name}: encoded {real}, bound {bound} ({:.3}×), memory estimate {estimate} ({:.3}×)",
                    bound as f64 / real as f64,
                    estimate as f64 / real as f64,
                );
                assert!(bound >= real, "{encoding:?} {name}: {bound} < {real}");
            }
            let spans: Vec<SpanData> = representative().into_iter().map(|(_, s)| s).collect();
            let bound = limit.request + spans.iter().map(|s| limit.span_size(s)).sum::<u64>();
            let real = encoded(spans, encoding, &resource);
            assert!(bound >= real, "{encoding:?} all: {bound} < {real}");
        }
    }

    #[test]
    fn split_keeps_order_and_every_request_within_the_limit() {
        let resource = resource();
        for encoding in [Encoding::Protobuf, Encoding::Json] {
            let limit = RequestLimit::new(256 * KIB as u64, encoding, &resource);
            // 30 spans of ~40 KiB of bodies: ~1.2 MiB, 6 per request (40 KiB × 6 = 240 KiB).
            let batch: Vec<SpanData> = (0..30)
                .map(|i| {
                    let mut s = capture_all(20 * KIB, "b");
                    s.attributes.push(KeyValue::new("seq", i as i64));
                    s
                })
                .collect();
            let held: u64 = batch.iter().map(budget::estimate).sum();
            let size = limit.span_size(&batch[0]);
            let per_request = (limit.room() / size) as usize;
            let split = limit.split(batch);
            assert_eq!((split.dropped, split.truncated), (0, 0));
            let lens: Vec<usize> = split.requests.iter().map(|r| r.spans.len()).collect();
            let expected: Vec<usize> = (0..30)
                .step_by(per_request)
                .map(|start| per_request.min(30 - start))
                .collect();
            assert_eq!(lens, expected, "{encoding:?}: greedy, in order");
            assert!(lens.len() > 1);
            let mut seq = 0;
            for request in &split.requests {
                for span in &request.spans {
                    let got = span.attributes.iter().find(|kv| kv.key.as_str() == "seq");
                    assert_eq!(got.map(|kv| kv.value.clone()), Some(Value::I64(seq)));
                    seq += 1;
                }
                assert!(request.size <= 256 * KIB as u64);
                let real = encoded(request.spans.clone(), encoding, &resource);
                assert!(real <= 256 * KIB as u64, "{encoding:?}: {real}");
            }
            assert_eq!(split.requests.iter().map(|r| r.bytes).sum::<u64>(), held);
        }
    }

    #[test]
    fn split_truncates_the_bodies_of_a_span_too_large_on_its_own() {
        let resource = resource();
        for encoding in [Encoding::Protobuf, Encoding::Json] {
            let limit = RequestLimit::new(256 * KIB as u64, encoding, &resource);
            let small = capture_all(KIB, "s");
            // Bodies of 300 KiB and 100 KiB: the largest is cut first.
            let mut large = capture_all(100 * KIB, "é");
            if let Some(kv) = large
                .attributes
                .iter_mut()
                .find(|kv| kv.key.as_str() == "http.response.body.text")
            {
                kv.value = Value::from(format!("{}{TRUNCATION_MARKER}", "r".repeat(300 * KIB)));
            }
            let held = budget::estimate(&small) * 2 + budget::estimate(&large);
            let split = limit.split(vec![small.clone(), large, small]);
            assert_eq!((split.dropped, split.truncated), (0, 1), "{encoding:?}");
            assert_eq!(split.requests.iter().map(|r| r.bytes).sum::<u64>(), held);
            let spans: Vec<&SpanData> = split.requests.iter().flat_map(|r| &r.spans).collect();
            assert_eq!(spans.len(), 3);
            let cut = spans[1];
            let get = |key: &str| {
                cut.attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == key)
                    .map(|kv| kv.value.clone())
            };
            assert_eq!(get(BODY_TRUNCATED), Some(Value::Bool(true)));
            let response = get("http.response.body.text").unwrap().to_string();
            assert!(response.starts_with("rrrr") && response.ends_with(TRUNCATION_MARKER));
            assert_eq!(response.matches(TRUNCATION_MARKER).count(), 1);
            assert!(response.len() < 300 * KIB);
            let request_body = get("http.request.body.text").unwrap().to_string();
            assert!(
                request_body.starts_with("éé"),
                "a prefix, on a char boundary"
            );
            for request in &split.requests {
                let real = encoded(request.spans.clone(), encoding, &resource);
                assert!(real <= 256 * KIB as u64, "{encoding:?}: {real}");
            }
            // Close to the limit: not cut more than needed.
            let alone = encoded(vec![cut.clone()], encoding, &resource);
            assert!(alone > 200 * KIB as u64, "{encoding:?}: {alone}");
        }
    }

    #[test]
    fn split_drops_a_span_too_large_without_bodies_and_accounts_its_bytes() {
        let resource = resource();
        let limit = RequestLimit::new(64 * KIB as u64, Encoding::Protobuf, &resource);
        let mut hopeless = capture_all(KIB, "b");
        hopeless
            .attributes
            .push(KeyValue::new("app.blob", "z".repeat(100 * KIB)));
        let ok = capture_all(KIB, "b");
        let held = [&ok, &hopeless, &ok].map(budget::estimate);
        let split = limit.split(vec![ok.clone(), hopeless, ok]);
        assert_eq!((split.dropped, split.truncated), (1, 0));
        assert_eq!(split.dropped_bytes, held[1]);
        assert_eq!(split.requests.len(), 1);
        assert_eq!(split.requests[0].spans.len(), 2);
        assert_eq!(split.requests[0].bytes, held[0] + held[2]);
        assert!(
            split.requests[0].spans.iter().all(|s| s
                .attributes
                .iter()
                .all(|kv| kv.key.as_str() != BODY_TRUNCATED)),
            "nothing cut in the spans that fit"
        );
    }

    /// An exporter that records the size of each request and fails the `fail`-th.
    #[derive(Debug)]
    struct Recording {
        calls: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
        fail: usize,
    }

    impl opentelemetry_sdk::trace::SpanExporter for Recording {
        async fn export(&self, batch: Vec<SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
            let mut calls = self.calls.lock().unwrap();
            calls.push(batch.len());
            if calls.len() == self.fail {
                return Err(opentelemetry_sdk::error::OTelSdkError::InternalFailure(
                    "rejected".into(),
                ));
            }
            Ok(())
        }
    }

    /// The wrapper exports the requests one after another, goes on after one fails and
    /// reports it, counts everything, and releases exactly the budget it held.
    #[test]
    fn split_exports_every_request_counts_and_releases_the_budget() {
        use super::super::budget::{Admission, Budget};
        use super::super::export::{CountingSpanExporter, Driver, Stats};
        use opentelemetry_sdk::trace::SpanExporter as _;
        use std::sync::{atomic::Ordering, Arc, Mutex};

        let calls = Arc::new(Mutex::new(Vec::new()));
        let budget = Arc::new(Budget::new(0, 100));
        let stats = Arc::new(Stats::default());
        let exporter = CountingSpanExporter {
            inner: Recording {
                calls: Arc::clone(&calls),
                fail: 2,
            },
            stats: Arc::clone(&stats),
            driver: Driver::Inline,
            budget: Arc::clone(&budget),
            gate: Arc::default(),
            requests: RequestLimit::new(256 * KIB as u64, Encoding::Protobuf, &resource()),
        };
        // 12 spans with 2 × 60 KiB of bodies (2 per request), one hopeless span in the middle.
        let mut batch: Vec<SpanData> = (0..12).map(|_| capture_all(60 * KIB, "b")).collect();
        let mut hopeless = capture_all(KIB, "b");
        hopeless
            .attributes
            .push(KeyValue::new("app.blob", "z".repeat(300 * KIB)));
        batch.insert(5, hopeless);
        for span in &mut batch {
            assert_eq!(budget.admit(span), Admission::Whole);
        }
        assert!(budget.bytes() > 12 * 120 * KIB as u64);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let result = runtime.block_on(exporter.export(batch));
        let err = result.unwrap_err().to_string();
        assert!(err.contains("1 of 6 export requests failed"), "{err}");
        assert!(err.contains("rejected"), "{err}");
        assert_eq!(*calls.lock().unwrap(), [2; 6], "every request attempted");
        let count = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        assert_eq!(count(&stats.exported), 10);
        assert_eq!(count(&stats.failed), 2);
        assert_eq!(count(&stats.dropped), 1);
        assert_eq!(count(&stats.too_large), 1);
        assert_eq!(count(&stats.bodies_truncated), 0);
        assert_eq!(budget.bytes(), 0, "every byte held is released");
        for _ in 0..100 {
            assert_eq!(
                budget.admit(&mut span(Vec::new())),
                Admission::Whole,
                "slots free"
            );
        }
    }

    #[test]
    fn split_without_limit_is_one_request() {
        let limit = RequestLimit::new(0, Encoding::Protobuf, &resource());
        let batch: Vec<SpanData> = (0..20).map(|_| capture_all(300 * KIB, "b")).collect();
        let held: u64 = batch.iter().map(budget::estimate).sum();
        let split = limit.split(batch);
        assert_eq!(split.requests.len(), 1);
        assert_eq!(split.requests[0].spans.len(), 20);
        assert_eq!(split.requests[0].bytes, held);
        assert!(limit.split(Vec::new()).requests.is_empty());
    }

    #[test]
    fn split_limit_parses_bytes() {
        assert_eq!(parse_limit(" 262144 ").unwrap(), 256 * KIB as u64);
        assert!(parse_limit("256KiB").unwrap_err().is_config());
    }
}
