//! The life of one request span, shared by every front end.
//!
//! A [`RequestSpan`] is created when a request starts ([`Inner::start_span`]), learns about the
//! response head ([`RequestSpan::on_response`]) and the body ([`RequestSpan::on_body_data`]), and
//! ends exactly once: by [`RequestSpan::end_body`], [`RequestSpan::fail`], or — when it is
//! dropped before either — as cancelled. Ownership enforces the "exactly once": every ending
//! consumes the state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, Method, StatusCode};
use opentelemetry::trace::{SpanBuilder, SpanKind, SpanRef, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semattr;
use url::Url;

use crate::capture::seal::Sealer;
use crate::capture::{BodyCapture, Payload};
use crate::exchange::Inner;
use crate::hooks::{catch, RequestInfo, ResponseHead, ResponseOutcome};
use crate::secrets::{self, REDACTED_VALUE};
use crate::semconv::{self, ErrorKind};

/// Attribute set to `true` on a span whose request future or response body was dropped before
/// the exchange completed. Such a span is not an error.
pub const CANCELLED_ATTRIBUTE: &str = "spanfire.cancelled";
/// Name of the event added when the response head (status and headers) arrives.
pub const RESPONSE_HEAD_EVENT: &str = "http.response.head";
/// Attribute holding the captured response body text.
pub const RESPONSE_BODY_TEXT: &str = "http.response.body.text";
/// Attribute holding the captured request body text.
pub const REQUEST_BODY_TEXT: &str = "http.request.body.text";
/// Attribute holding a captured url-encoded request body, as a JSON object.
pub const REQUEST_BODY_FORM: &str = "http.request.body.form";
/// Attribute recorded on every span when header and body capture were asked for but are off
/// because a secrets pattern did not compile; its value says which.
pub const CAPTURE_DISABLED_ATTRIBUTE: &str = "spanfire.capture.disabled";
/// Name of the event added when a hook, URL filter or propagator panicked.
pub const HOOK_PANIC_EVENT: &str = "spanfire.hook_panic";

/// One in-flight request's span; ends exactly once (see the module docs).
#[derive(Debug)]
pub(crate) struct RequestSpan {
    state: Option<State>,
}

#[derive(Debug)]
struct State {
    inner: Arc<Inner>,
    /// How the front end's errors are described.
    edge: &'static super::Edge,
    cx: Context,
    recording: bool,
    start: SystemTime,
    /// What the metric attributes are made of (made into attributes when recorded).
    metric: semconv::MetricFacts,
    /// The request's method is HEAD (its response has no body).
    head_request: bool,
    head_received: bool,
    empty_by_definition: bool,
    body_bytes: u64,
    /// Boxed: most requests capture nothing, and the state moves with the request.
    response_capture: Option<Box<BodyCapture>>,
    /// Whether captured bodies are sealed for the span's scrubbing stage.
    sealer: Sealer,
    request_body_size: Option<u64>,
    /// The connection the request went out on, held (`active`) until the span ends.
    #[cfg(feature = "tower")]
    connection: Option<crate::connect::Lease>,
}

/// How a request ended.
enum Ending<'a> {
    Complete,
    /// The head arrived; the client discarded the body unread.
    #[cfg_attr(not(any(feature = "ureq", feature = "reqwest")), allow(dead_code))]
    Discarded,
    Failed(Failure<'a>),
    Cancelled,
}

/// A transport or body error, with what the span needs to describe it.
pub(crate) struct Failure<'a> {
    pub(crate) error: &'a (dyn std::error::Error + 'static),
    pub(crate) kind: ErrorKind,
    pub(crate) type_name: &'static str,
    /// The URL the error quotes in its text, when the client says which (reqwest does).
    pub(crate) url: Option<&'a str>,
}

impl Inner {
    /// Starts the span of a request, or returns `None` when the request is excluded or telemetry
    /// is suppressed.
    pub(crate) fn start_span(
        self: &Arc<Self>,
        method: &Method,
        url: &Url,
        extensions: &http::Extensions,
        edge: &'static super::Edge,
    ) -> Option<RequestSpan> {
        if Context::is_current_telemetry_suppressed() || self.excluded.is_excluded(url.as_str()) {
            return None;
        }
        let metric = semconv::MetricFacts::of_request(method, url, &super::intern::Interned);
        if self.opt_in_metrics {
            self.metrics.add_active(1, &metric.start_attributes());
        }
        let parent = crate::propagation::current_parent();
        let start = SystemTime::now();
        // The sampler sees the name and the start attributes: they are made unless it is
        // certain to drop the span whatever they are (nothing else would see them).
        let predicted_drop = self.tracer.drops(&parent);
        let (builder, mut filter_panic) = if predicted_drop {
            let name = semconv::span_name(metric.method());
            (SpanBuilder::from_name(name), None)
        } else {
            self.described(method, url, extensions, &metric)
        };
        let builder = builder
            .with_kind(if self.logical {
                SpanKind::Internal
            } else {
                SpanKind::Client
            })
            .with_start_time(start);
        let captures = self.capture_request_body || self.capture_response_body;
        if captures {
            Sealer::before_start();
        }
        let (cx, recording) = self.tracer.start(builder, &parent);
        if predicted_drop && recording {
            // The sampler was not what its `Debug` text said (see `SamplerView`): the span
            // records after all, so it gets its name and start attributes now.
            let (described, panic) = self.described(method, url, extensions, &metric);
            let span = cx.span();
            span.update_name(described.name);
            span.set_attributes(described.attributes.unwrap_or_default());
            filter_panic = panic;
        }
        let sealer = if captures {
            Sealer::after_start(&self.secrets)
        } else {
            Sealer::default()
        };
        let cx = if recording && self.connection_phases {
            crate::connect::Slot::install(&cx, url.scheme() == "https")
        } else {
            cx
        };
        if let Some(message) = filter_panic {
            record_panic(&cx.span(), "url_filter", &self.redact_text(&message));
        }
        Some(RequestSpan {
            state: Some(State {
                inner: Arc::clone(self),
                edge,
                cx,
                recording,
                start,
                metric,
                head_request: *method == Method::HEAD,
                head_received: false,
                empty_by_definition: false,
                body_bytes: 0,
                response_capture: None,
                sealer,
                request_body_size: None,
                #[cfg(feature = "tower")]
                connection: None,
            }),
        })
    }

    /// The span's name and start attributes (what the sampler sees), and the URL filter's
    /// panic message if it panicked.
    fn described(
        &self,
        method: &Method,
        url: &Url,
        extensions: &http::Extensions,
        metric: &semconv::MetricFacts,
    ) -> (SpanBuilder, Option<String>) {
        let (url_full, filter_panic) = self.url_full(url);
        let mut attrs =
            semconv::request_start_attributes(method, metric, url_full, self.span_attribute_room);
        let template: Option<StringValue> = match extensions.get::<crate::UrlTemplate>() {
            Some(t) => Some(self.redact_text(&t.0).into()),
            None if self.templates.is_empty() => None,
            None => self
                .templates
                .find_shared(url.path())
                .cloned()
                .map(StringValue::from),
        };
        let method_name = semconv::span_name(metric.method());
        let name: std::borrow::Cow<'static, str> = match template {
            Some(template) => {
                let name = format!("{method_name} {}", template.as_str());
                attrs.push(KeyValue::new(semattr::URL_TEMPLATE, template));
                name.into()
            }
            None => method_name.into(),
        };
        if let Some(count) = super::extensions::resend_count(extensions) {
            attrs.push(KeyValue::new(
                semattr::HTTP_REQUEST_RESEND_COUNT,
                i64::from(count),
            ));
        }
        if let Some(reason) = &self.capture_disabled {
            attrs.push(KeyValue::new(
                CAPTURE_DISABLED_ATTRIBUTE,
                Arc::clone(reason),
            ));
        }
        if self.semconv_duplicate {
            semconv::push_old_span_attributes(&mut attrs);
        }
        let builder = SpanBuilder::from_name(name).with_attributes(attrs);
        (builder, filter_panic)
    }

    /// `url.full`: the URL filter's output (or the URL) with default redaction applied, and the
    /// panic message if the filter panicked.
    fn url_full(&self, url: &Url) -> (StringValue, Option<String>) {
        let Some(filter) = &self.url_filter else {
            return (self.redacted_url(url), None);
        };
        match catch(|| filter.filter_url(url)) {
            Ok(filtered) => (self.secrets.redact_url(&filtered).into_owned().into(), None),
            Err(message) => (self.redacted_url(url), Some(message)),
        }
    }

    /// The URL with default redaction applied, shared with the last requests to the same URL
    /// on this thread when there is nothing to redact (see [`super::intern::url_full`]).
    fn redacted_url(&self, url: &Url) -> StringValue {
        let names = self.secrets.names();
        super::intern::url_full(self.id, url.as_str(), || secrets::redact_parsed(url, names))
    }

    /// Free text (a panic message, a template) as the secrets policy lets it be recorded.
    pub(crate) fn redact_text(&self, text: &str) -> String {
        self.secrets.redact_text(text).into_owned()
    }
}

/// Captured body text with the values of secret JSON keys (and, for text, of secret
/// `key=value` pairs) redacted.
fn redact_body(secrets: &crate::Secrets, text: String) -> String {
    match secrets::redact_text(&text, secrets.names(), &|_| REDACTED_VALUE.to_owned(), None) {
        std::borrow::Cow::Owned(redacted) => redacted,
        std::borrow::Cow::Borrowed(_) => text,
    }
}

/// Records a redacted body as `key`, with a seal when configure()'s stage applies the same
/// policy (it then does not scan the body again; see [`crate::capture::seal`]).
fn record_body(span: &SpanRef<'_>, key: &'static str, text: String, sealer: Sealer) {
    let value = StringValue::from(text);
    if let Some(seal) = sealer.seal(&value) {
        span.set_attribute(seal);
    }
    span.set_attribute(KeyValue::new(key, value));
}

/// The capture of one request body, and the policy its text is recorded under.
#[derive(Debug)]
pub(crate) struct RequestCapture {
    pub(crate) body: BodyCapture,
    secrets: crate::Secrets,
    sealer: Sealer,
    /// `http/dup`: also `http.request_content_length`.
    semconv_duplicate: bool,
}

impl RequestCapture {
    /// Records the captured request body on `span`: its size, and its text or form, secrets
    /// redacted. An empty body (GET, or an empty stream) records nothing, whichever front end
    /// sent it.
    pub(crate) fn record(&self, span: &SpanRef<'_>) {
        let capture = &self.body;
        if capture.total() == 0 {
            return;
        }
        let size = i64::try_from(capture.total()).unwrap_or(i64::MAX);
        span.set_attribute(KeyValue::new(semattr::HTTP_REQUEST_BODY_SIZE, size));
        if self.semconv_duplicate {
            span.set_attribute(KeyValue::new(semconv::HTTP_REQUEST_CONTENT_LENGTH, size));
        }
        let recorded = match capture.payload() {
            Payload::Form => capture.form_json().map(|f| (REQUEST_BODY_FORM, f)),
            _ => capture.text().map(|t| (REQUEST_BODY_TEXT, t)),
        };
        if let Some((key, value)) = recorded {
            record_body(span, key, redact_body(&self.secrets, value), self.sealer);
        }
    }
}

fn record_panic(span: &SpanRef<'_>, hook: &'static str, message: &str) {
    span.add_event(
        HOOK_PANIC_EVENT,
        vec![
            KeyValue::new("spanfire.hook", hook),
            KeyValue::new(semattr::EXCEPTION_MESSAGE, message.to_owned()),
        ],
    );
}

impl RequestSpan {
    /// How the front end's errors are described.
    pub(crate) fn edge(&self) -> &'static super::Edge {
        self.state
            .as_ref()
            .map_or(&super::Edge::GENERIC, |s| s.edge)
    }

    /// Whether the span records (it was sampled).
    #[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
    pub(crate) fn is_recording(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.recording)
    }

    /// Holds the request's connection (`active` for the metrics) until the span ends.
    #[cfg(feature = "tower")]
    pub(crate) fn hold_connection(&mut self, lease: crate::connect::Lease) {
        if let Some(s) = &mut self.state {
            s.connection = Some(lease);
        }
    }

    /// Whether the request's connection is to be found and held for the metrics.
    #[cfg(feature = "tower")]
    pub(crate) fn tracks_connections(&self) -> bool {
        self.state
            .as_ref()
            .is_some_and(|s| s.inner.connection_phases && s.inner.opt_in_metrics)
    }

    /// The request's context (its span is the current span inside it).
    pub(crate) fn context(&self) -> Option<&Context> {
        self.state.as_ref().map(|s| &s.cx)
    }

    /// Injects trace context into `headers`, unless turned off for all requests, for this host,
    /// or for this request (`disabled`).
    pub(crate) fn inject(&self, host: Option<&str>, disabled: bool, headers: &mut HeaderMap) {
        let Some(s) = &self.state else { return };
        if disabled || !s.inner.propagation.allows(host) {
            return;
        }
        if let Err(message) = crate::propagation::inject(&s.cx, headers) {
            record_panic(&s.cx.span(), "propagator", &s.inner.redact_text(&message));
        }
    }

    /// Records the request headers (when captured) and runs the request hook.
    pub(crate) fn on_request(&self, request: &RequestInfo<'_>) {
        let Some(s) = &self.state else { return };
        if !s.recording {
            return;
        }
        let span = s.cx.span();
        if !s.inner.headers.request.is_nothing() {
            let mut attrs = Vec::new();
            s.inner.headers.record(false, request.headers, &mut attrs);
            span.set_attributes(attrs);
        }
        if let Some(hook) = &s.inner.request_hook {
            if let Err(message) = catch(|| hook.on_request(&span, request)) {
                record_panic(&span, "request_hook", &s.inner.redact_text(&message));
            }
        }
    }

    /// Records the response head: status, protocol, peer, error status for 4xx/5xx, response
    /// headers, the head event; then runs the response hook.
    pub(crate) fn on_response(&mut self, head: &ResponseHead<'_>, peer: Option<SocketAddr>) {
        let Some(s) = &mut self.state else { return };
        s.head_received = true;
        s.empty_by_definition = s.head_request
            || head.status == StatusCode::NO_CONTENT
            || head.status == StatusCode::NOT_MODIFIED
            || head.status.is_informational()
            || head
                .headers
                .get(http::header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() == b"0");
        s.metric.note_response(head.status, head.version);
        if !s.recording {
            return;
        }
        let span = s.cx.span();
        crate::connect::record_phases(&s.cx, &span, true);
        span.add_event(RESPONSE_HEAD_EVENT, Vec::new());
        let attrs =
            semconv::response_attributes(head.status, head.version, peer, &super::intern::Interned);
        if s.inner.headers.response.is_nothing() {
            span.set_attributes(attrs);
        } else {
            let mut attrs: Vec<KeyValue> = attrs.collect();
            s.inner.headers.record(true, head.headers, &mut attrs);
            span.set_attributes(attrs);
        }
        if s.inner.semconv_duplicate {
            let stable = semconv::response_attributes(
                head.status,
                head.version,
                peer,
                &super::intern::Interned,
            );
            span.set_attributes(stable.flat_map(|kv| semconv::old_span_attributes(&kv)));
        }
        if head.status.as_u16() >= 400 {
            span.set_status(semconv::status_of_code(head.status));
        }
        if s.inner.capture_response_body {
            let payload = Payload::of(content_type(head.headers));
            let capture = BodyCapture::new(payload, s.inner.body_limit);
            s.response_capture = Some(Box::new(capture));
        }
        s.run_response_hook(&ResponseOutcome::Response(*head));
    }

    /// Whether the response body is empty by definition (HEAD, 204, 304, 1xx, or
    /// `Content-Length: 0`).
    pub(crate) fn body_empty_by_definition(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.empty_by_definition)
    }

    /// Counts (and, when capturing, keeps) response body bytes as the application reads them.
    pub(crate) fn on_body_data(&mut self, data: &impl bytes::Buf) {
        if let Some(s) = &mut self.state {
            s.body_bytes += data.remaining() as u64;
            if let Some(capture) = &mut s.response_capture {
                capture.push_buf(data);
            }
        }
    }

    /// Notes the request body size for `http.client.request.body.size`: the buffered body's
    /// length, else `Content-Length`.
    pub(crate) fn note_request_size(&mut self, known: Option<u64>, headers: &HeaderMap) {
        let Some(s) = &mut self.state else { return };
        if !s.inner.opt_in_metrics {
            return;
        }
        let declared = || {
            let value = headers.get(http::header::CONTENT_LENGTH)?;
            value.to_str().ok()?.trim().parse::<u64>().ok()
        };
        s.request_body_size = known.or_else(declared);
    }

    /// A capture for the request body, when request bodies are captured and the span records.
    pub(crate) fn request_body_capture(&self, headers: &HeaderMap) -> Option<RequestCapture> {
        let s = self.state.as_ref()?;
        (s.recording && s.inner.capture_request_body).then(|| RequestCapture {
            body: BodyCapture::new(Payload::of(content_type(headers)), s.inner.body_limit),
            secrets: s.inner.secrets.clone(),
            sealer: s.sealer,
            semconv_duplicate: s.inner.semconv_duplicate,
        })
    }

    /// Ends the span when the response body reached its end (`Ok`) or failed.
    pub(crate) fn end_body(mut self, result: Result<(), Failure<'_>>) {
        let Some(state) = self.state.take() else {
            return;
        };
        match result {
            Ok(()) => state.end(Ending::Complete),
            Err(failure) => state.end(Ending::Failed(failure)),
        }
    }

    /// The client delivers text bodies transcoded to UTF-8: a text capture decodes them so.
    #[cfg(feature = "ureq")]
    pub(crate) fn capture_text_as_utf8(&mut self) {
        let Some(s) = &mut self.state else { return };
        if let Some(capture) = &mut s.response_capture {
            if matches!(capture.payload(), Payload::Text(_)) {
                let utf8 = Payload::Text(encoding_rs::UTF_8);
                **capture = BodyCapture::new(utf8, s.inner.body_limit);
            }
        }
    }

    /// Ends the span of a response whose body was discarded unread by the client: complete,
    /// with no body size (nothing was read).
    #[cfg(any(feature = "ureq", feature = "reqwest"))]
    pub(crate) fn end_discarded(mut self) {
        if let Some(state) = self.state.take() {
            state.end(Ending::Discarded);
        }
    }

    /// Ends the span of a request that failed before a response head arrived; runs the response
    /// hook with the error first.
    pub(crate) fn fail(mut self, failure: Failure<'_>) {
        let Some(state) = self.state.take() else {
            return;
        };
        if state.recording {
            crate::connect::record_phases(&state.cx, &state.cx.span(), false);
            state.run_response_hook(&ResponseOutcome::Error(failure.error));
        }
        state.end(Ending::Failed(failure));
    }
}

impl Drop for RequestSpan {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            state.end(Ending::Cancelled);
        }
    }
}

impl State {
    fn run_response_hook(&self, outcome: &ResponseOutcome<'_>) {
        if let Some(hook) = &self.inner.response_hook {
            let span = self.cx.span();
            if let Err(message) = catch(|| hook.on_response(&span, outcome)) {
                record_panic(&span, "response_hook", &self.inner.redact_text(&message));
            }
        }
    }

    fn end(mut self, ending: Ending<'_>) {
        // One clock read at each end: the span's timestamps and the metric share them.
        let elapsed = SystemTime::now()
            .duration_since(self.start)
            .unwrap_or_default();
        let span = self.cx.span();
        let body_read = self.head_received && !matches!(ending, Ending::Discarded);
        if let Some(capture) = &mut self.response_capture {
            if !matches!(ending, Ending::Complete) {
                capture.mark_incomplete();
            }
            if let Some(text) = capture.text().filter(|t| !t.is_empty()) {
                let text = redact_body(&self.inner.secrets, text);
                record_body(&span, RESPONSE_BODY_TEXT, text, self.sealer);
            }
        }
        match ending {
            Ending::Complete if self.head_received && self.recording => {
                let size = i64::try_from(self.body_bytes).unwrap_or(i64::MAX);
                span.set_attribute(KeyValue::new(semattr::HTTP_RESPONSE_BODY_SIZE, size));
                if self.inner.semconv_duplicate {
                    let old = semconv::HTTP_RESPONSE_CONTENT_LENGTH;
                    span.set_attribute(KeyValue::new(old, size));
                }
            }
            Ending::Complete | Ending::Discarded => {}
            Ending::Failed(failure) => {
                self.metric.note_error(failure.kind);
                if self.recording {
                    record_failure(&span, &failure, self.inner.secrets.names());
                }
            }
            Ending::Cancelled => {
                if self.recording {
                    span.set_attribute(KeyValue::new(CANCELLED_ATTRIBUTE, true));
                }
            }
        }
        let metrics = &self.inner.metrics;
        let mut attrs = semconv::MetricAttributes::new();
        self.metric.attributes_into(&mut attrs);
        if !self.inner.logical {
            // the attempts of a logical request record their own
            metrics.record_duration(elapsed.as_secs_f64(), &attrs);
            metrics.record_old_duration(elapsed.as_secs_f64(), &attrs);
        }
        if self.inner.opt_in_metrics {
            metrics.add_active(-1, &self.metric.start_attributes());
            if let Some(size) = self.request_body_size {
                metrics.record_request_size(size, &attrs);
            }
            if body_read {
                metrics.record_response_size(self.body_bytes, &attrs);
            }
        }
        span.end_with_timestamp(self.start + elapsed);
    }
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// `error.type`, status Error with the redacted message, and an `exception` event.
fn record_failure(span: &SpanRef<'_>, failure: &Failure<'_>, names: &secrets::Names) {
    let message = secrets::error_message(failure.error, failure.url, names);
    span.set_attribute(KeyValue::new(semattr::ERROR_TYPE, failure.kind.as_str()));
    span.add_event(
        "exception",
        vec![
            KeyValue::new(semattr::EXCEPTION_TYPE, short_type_name(failure.type_name)),
            KeyValue::new(semattr::EXCEPTION_MESSAGE, message.clone()),
        ],
    );
    span.set_status(Status::error(message));
}

/// `crate::Type` for `crate::module::Type` (the public path of most errors, and the same name
/// whichever front end reported it); `std`/`core` paths are kept whole.
fn short_type_name(full: &'static str) -> opentelemetry::Value {
    let base = full.split('<').next().unwrap_or(full);
    match (base.split_once("::"), base.rsplit_once("::")) {
        (Some((first, _)), Some((_, last))) if !matches!(first, "std" | "core" | "alloc") => {
            format!("{first}::{last}").into()
        }
        _ => full.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_types_are_short_public_paths() {
        let cases = [
            ("reqwest::error::Error", "reqwest::Error"),
            (
                "hyper_util::client::legacy::client::Error",
                "hyper_util::Error",
            ),
            ("std::io::error::Error", "std::io::error::Error"),
            ("Plain", "Plain"),
        ];
        for (full, want) in cases {
            assert_eq!(
                short_type_name(full),
                opentelemetry::Value::from(want),
                "{full}"
            );
        }
    }
}

/// What the sampler sees and what an unsampled exchange still records.
#[cfg(all(test, feature = "configure"))]
mod sampling_tests {
    use crate::exchange::{Edge, Outgoing};
    use crate::hooks::ResponseHead;
    use http::{HeaderMap, Method, StatusCode, Version};
    use opentelemetry::trace::{Link, SpanKind, TraceId};
    use opentelemetry::{Context, KeyValue};
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    use opentelemetry_sdk::trace::{
        InMemorySpanExporter, Sampler, SamplingDecision, SamplingResult, SdkTracerProvider,
        ShouldSample, SpanData,
    };

    /// Samples the spans whose start attributes have a `url.full` with `/sampled` in it.
    #[derive(Debug, Clone)]
    struct ByUrl;

    impl ShouldSample for ByUrl {
        fn should_sample(
            &self,
            _: Option<&Context>,
            _: TraceId,
            name: &str,
            _: &SpanKind,
            attributes: &[KeyValue],
            _: &[Link],
        ) -> SamplingResult {
            let wanted = attributes
                .iter()
                .any(|kv| kv.key.as_str() == "url.full" && kv.value.as_str().contains("/sampled"));
            assert_eq!(name, "GET");
            SamplingResult {
                decision: if wanted {
                    SamplingDecision::RecordAndSample
                } else {
                    SamplingDecision::Drop
                },
                attributes: Vec::new(),
                trace_state: Default::default(),
            }
        }
    }

    /// One GET to `url` (response 200, body read): the exported spans' names, the
    /// `traceparent` sent, and the attributes of the recorded durations.
    fn exchange(
        sampler: impl ShouldSample + 'static,
        url: &str,
    ) -> (Vec<SpanData>, Option<String>, Vec<Vec<KeyValue>>) {
        let spans = InMemorySpanExporter::default();
        let metrics = InMemoryMetricExporter::default();
        let tracer = SdkTracerProvider::builder()
            .with_sampler(sampler)
            .with_simple_exporter(spans.clone())
            .build();
        let meter = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build();
        let inner = crate::HttpClientInstrumentation::new()
            .tracer_provider(tracer)
            .meter_provider(meter.clone())
            .env_source(|_| None)
            .build();
        let url = url::Url::parse(url).unwrap();
        let mut headers = HeaderMap::new();
        let extensions = http::Extensions::new();
        let begun = inner
            .begin(
                &Edge::GENERIC,
                Outgoing {
                    method: &Method::GET,
                    url: &url,
                    headers: &mut headers,
                    extensions: &extensions,
                    buffered_body: None,
                    body_size: None,
                },
            )
            .unwrap();
        let response_headers = HeaderMap::new();
        let head = ResponseHead {
            status: StatusCode::OK,
            version: Version::HTTP_11,
            headers: &response_headers,
            url: None,
        };
        let body =
            begun
                .exchange
                .respond(&head, None, http_body_util::Full::new(bytes::Bytes::new()));
        drop(body);
        meter.force_flush().unwrap();
        let durations = metrics
            .get_finished_metrics()
            .unwrap()
            .last()
            .map(|rm| {
                rm.scope_metrics()
                    .flat_map(|s| s.metrics())
                    .filter(|m| m.name() == "http.client.request.duration")
                    .flat_map(|m| match m.data() {
                        AggregatedMetrics::F64(MetricData::Histogram(h)) => h
                            .data_points()
                            .map(|p| p.attributes().cloned().collect())
                            .collect::<Vec<Vec<KeyValue>>>(),
                        _ => Vec::new(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let traceparent = headers
            .get("traceparent")
            .map(|v| v.to_str().unwrap().to_owned());
        (spans.get_finished_spans().unwrap(), traceparent, durations)
    }

    /// A custom sampler whose `Debug` text is the SDK's `AlwaysOff`, and which samples all.
    #[derive(Debug, Clone)]
    struct AlwaysOff;

    impl ShouldSample for AlwaysOff {
        fn should_sample(
            &self,
            _: Option<&Context>,
            _: TraceId,
            _: &str,
            _: &SpanKind,
            _: &[KeyValue],
            _: &[Link],
        ) -> SamplingResult {
            SamplingResult {
                decision: SamplingDecision::RecordAndSample,
                attributes: Vec::new(),
                trace_state: Default::default(),
            }
        }
    }

    #[test]
    fn a_sampler_that_is_not_what_its_debug_text_says_still_gets_whole_spans() {
        let (spans, traceparent, _) = exchange(AlwaysOff, "http://127.0.0.1:1/get?token=t");
        assert_eq!(spans.len(), 1);
        assert!(traceparent.unwrap().ends_with("-01"));
        let url = spans[0]
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == "url.full")
            .map(|kv| kv.value.as_str().into_owned());
        assert_eq!(
            url.as_deref(),
            Some("http://127.0.0.1:1/get?token=REDACTED")
        );
        assert_eq!(spans[0].name, "GET");
    }

    #[test]
    fn a_sampler_of_unknown_kind_sees_the_start_attributes() {
        let (spans, traceparent, _) = exchange(ByUrl, "http://127.0.0.1:1/sampled?x=1");
        assert_eq!(spans.len(), 1);
        assert!(traceparent.unwrap().ends_with("-01"));
        let (spans, traceparent, durations) = exchange(ByUrl, "http://127.0.0.1:1/other");
        assert!(spans.is_empty());
        assert!(traceparent.unwrap().ends_with("-00"));
        assert_eq!(durations.len(), 1);
    }

    #[test]
    fn an_unsampled_request_still_propagates_and_records_its_duration() {
        for sampler in [
            Sampler::AlwaysOff,
            Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        ] {
            let (spans, traceparent, durations) = exchange(sampler, "http://127.0.0.1:1/get");
            assert!(spans.is_empty());
            let traceparent = traceparent.expect("trace context injected");
            assert_eq!(traceparent.len(), 55);
            assert!(traceparent.ends_with("-00"), "{traceparent}");
            let mut keys: Vec<String> = durations[0]
                .iter()
                .map(|kv| format!("{}={}", kv.key, kv.value))
                .collect();
            keys.sort();
            assert_eq!(
                keys,
                [
                    "http.request.method=GET",
                    "http.response.status_code=200",
                    "network.protocol.version=1.1",
                    "server.address=127.0.0.1",
                    "server.port=1",
                    "url.scheme=http",
                ]
            );
        }
    }
}
