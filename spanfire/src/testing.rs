//! Test support: an instrumentation wired to in-memory exporters.

use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};

use crate::HttpClientInstrumentation;

pub(crate) struct TestTelemetry {
    pub(crate) spans: InMemorySpanExporter,
    metrics: InMemoryMetricExporter,
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
}

impl TestTelemetry {
    pub(crate) fn new() -> Self {
        let spans = InMemorySpanExporter::default();
        let metrics = InMemoryMetricExporter::default();
        TestTelemetry {
            tracer_provider: SdkTracerProvider::builder()
                .with_simple_exporter(spans.clone())
                .build(),
            meter_provider: SdkMeterProvider::builder()
                .with_reader(PeriodicReader::builder(metrics.clone()).build())
                .build(),
            spans,
            metrics,
        }
    }

    pub(crate) fn instrumentation(&self) -> HttpClientInstrumentation {
        HttpClientInstrumentation::new()
            .tracer_provider(self.tracer_provider.clone())
            .meter_provider(self.meter_provider.clone())
    }

    pub(crate) fn finished_spans(&self) -> Vec<SpanData> {
        self.spans.get_finished_spans().unwrap_or_default()
    }

    /// Attribute `key` of the first finished span.
    pub(crate) fn first_attr(&self, key: &str) -> Option<opentelemetry::Value> {
        let spans = self.finished_spans();
        let span = spans.first()?;
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    }

    /// Exactly one span ended and exactly one duration was recorded.
    pub(crate) fn assert_ended_once(&self) {
        assert_eq!(self.finished_spans().len(), 1, "exactly one span exported");
        assert_eq!(self.duration_count(), 1, "exactly one duration recorded");
    }

    /// How many durations `http.client.request.duration` recorded (cumulative).
    pub(crate) fn duration_count(&self) -> u64 {
        self.meter_provider.force_flush().expect("flush metrics");
        let exported = self.metrics.get_finished_metrics().expect("metrics");
        let Some(last) = exported.last() else {
            return 0;
        };
        last.scope_metrics()
            .flat_map(|s| s.metrics())
            .filter(|m| m.name() == "http.client.request.duration")
            .map(|m| match m.data() {
                AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                    h.data_points().map(|p| p.count()).sum()
                }
                _ => 0,
            })
            .sum()
    }
}

/// A finished CLIENT span with these parts, a fixed trace id 1 / span id 2, start time
/// 14:10:23.123 UTC and duration 2.149 ms: for tests of what happens to ended spans.
pub(crate) fn span_data(
    name: impl Into<std::borrow::Cow<'static, str>>,
    attributes: Vec<opentelemetry::KeyValue>,
    status: opentelemetry::trace::Status,
) -> SpanData {
    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState};
    use std::time::{Duration, UNIX_EPOCH};
    let start = UNIX_EPOCH + Duration::from_millis(51_023_123);
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(1),
            SpanId::from(2),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Client,
        name: name.into(),
        start_time: start,
        end_time: start + Duration::from_micros(2_149),
        attributes,
        dropped_attributes_count: 0,
        events: Default::default(),
        links: Default::default(),
        status,
        instrumentation_scope: opentelemetry::InstrumentationScope::builder("spanfire").build(),
    }
}

/// The messages of the `tracing` warnings (target `spanfire`) emitted on this thread while `f`
/// runs.
pub(crate) fn warnings_during(f: impl FnOnce()) -> Vec<String> {
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::{Context, SubscriberExt};

    #[derive(Default)]
    struct Message(String);
    impl tracing::field::Visit for Message {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }
    struct Collect(Arc<Mutex<Vec<String>>>);
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Collect {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let meta = event.metadata();
            if meta.target() == "spanfire" && *meta.level() == tracing::Level::WARN {
                let mut message = Message::default();
                event.record(&mut message);
                self.0.lock().unwrap().push(message.0);
            }
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(Collect(Arc::clone(&seen)));
    tracing::subscriber::with_default(subscriber, f);
    let seen = seen.lock().unwrap().clone();
    seen
}
