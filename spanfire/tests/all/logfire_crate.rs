//! Feature `logfire`: request spans nest under the spans of the real `logfire` crate (0.13,
//! OpenTelemetry 0.32 through tracing-opentelemetry 0.33), although spanfire records them with
//! OpenTelemetry 0.33.
//!
//! logfire is configured once per process (it installs the global `tracing` subscriber), without
//! console or export, with an in-memory exporter as an additional span processor; each test finds
//! its own spans there by trace id.

use std::sync::OnceLock;

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_0_32::trace::{self as old, TraceContextExt as _};
use opentelemetry_sdk_0_32::trace::{InMemorySpanExporter, SimpleSpanProcessor, SpanData};
use tracing::Instrument;
use tracing_opentelemetry_0_33::OpenTelemetrySpanExt as _;

use crate::support::{Telemetry, TestServer};

/// What the logfire pipeline exported.
fn logfire_spans() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let logfire = logfire::configure()
            .send_to_logfire(false)
            .with_console(None)
            .with_install_panic_handler(false)
            .with_default_level_filter(tracing::level_filters::LevelFilter::INFO)
            .with_additional_span_processor(SimpleSpanProcessor::new(exporter.clone()))
            .finish()
            .expect("logfire configures without a token when not sending");
        // Keep the pipeline for the rest of the process (a `Logfire` shuts nothing down on drop).
        std::mem::forget(logfire);
        exporter
    })
}

fn exported(trace_id: old::TraceId) -> Vec<SpanData> {
    logfire_spans()
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .filter(|s| s.span_context.trace_id() == trace_id)
        .collect()
}

/// The `traceparent` of the only request `server` received.
fn received_traceparent(server: &TestServer) -> String {
    let received = server.received();
    assert_eq!(received.len(), 1, "one request");
    received[0]
        .get("traceparent")
        .expect("traceparent injected")
        .to_str()
        .unwrap()
        .to_owned()
}

fn ids(sc: &old::SpanContext) -> (TraceId, SpanId) {
    (
        TraceId::from_bytes(sc.trace_id().to_bytes()),
        SpanId::from_bytes(sc.span_id().to_bytes()),
    )
}

#[tokio::test]
async fn logfire_crate_span_is_the_parent() {
    logfire_spans();
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .instrument_reqwest(reqwest::Client::new());
    let url = server.url("/get");

    let span = logfire::span!("checkout {order}", order = 42);
    assert!(
        !span.is_disabled(),
        "logfire disabled the INFO span (RUST_LOG={:?})",
        std::env::var("RUST_LOG")
    );
    let seen_inside = async {
        let cx = tracing::Span::current().context();
        let seen = cx.span().span_context().clone();
        let res = client.get(&url).send().await.unwrap();
        res.bytes().await.unwrap();
        seen
    }
    .instrument(span)
    .await;
    assert!(seen_inside.is_valid() && seen_inside.is_sampled());

    // What logfire itself exported (the span ended when the future above dropped it).
    let logfire_exported = exported(seen_inside.trace_id());
    let [parent] = logfire_exported.as_slice() else {
        panic!("one logfire span in the trace, got {logfire_exported:#?}");
    };
    assert_eq!(parent.name, "checkout {order}");
    assert_eq!(parent.span_context, seen_inside);
    let (trace_id, parent_span_id) = ids(&parent.span_context);

    let child = t.single();
    assert_eq!(child.name, "GET");
    assert_eq!(child.span_context.trace_id(), trace_id, "same trace");
    assert_eq!(child.parent_span_id, parent_span_id, "nested under logfire");
    assert!(child.span_context.is_sampled());
    assert!(!child.parent_span_is_remote);

    assert_eq!(
        received_traceparent(&server),
        format!("00-{trace_id}-{}-01", child.span_context.span_id()),
        "the downstream service joins the logfire trace"
    );
}

#[tokio::test]
async fn unsampled_logfire_parent_is_respected() {
    // logfire 0.13 has no sampler option, but its default `ParentBased` sampler drops a span
    // whose incoming (remote) parent was not sampled: the usual way a logfire span ends up
    // unsampled, e.g. a server handling a request with `traceparent: ...-00`.
    logfire_spans();
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let client = t
        .instrumentation()
        .instrument_reqwest(reqwest::Client::new());
    let url = server.url("/get");

    let incoming = old::SpanContext::new(
        old::TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        old::SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        old::TraceFlags::NOT_SAMPLED,
        true,
        old::TraceState::NONE,
    );
    let span = logfire::span!("handle request");
    span.set_parent(opentelemetry_0_32::Context::new().with_remote_span_context(incoming))
        .expect("logfire's tracing layer is installed");
    let seen_inside = async {
        let cx = tracing::Span::current().context();
        let seen = cx.span().span_context().clone();
        let res = client.get(&url).send().await.unwrap();
        res.bytes().await.unwrap();
        seen
    }
    .instrument(span)
    .await;
    assert!(seen_inside.is_valid(), "{seen_inside:?}");
    assert!(!seen_inside.is_sampled(), "logfire dropped its span");
    assert!(exported(seen_inside.trace_id()).is_empty());

    assert!(
        t.spans().is_empty(),
        "the request span follows the unsampled parent: {:#?}",
        t.spans()
    );
    let (trace_id, _) = ids(&seen_inside);
    let traceparent = received_traceparent(&server);
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")) && traceparent.ends_with("-00"),
        "same trace, not sampled: {traceparent}"
    );
}
