//! The span processor `configure()` installs: scrubs each ended span once, adds the Logfire
//! attributes (when on), then hands it to every destination (console, OTLP batch processors,
//! user processors).

use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use opentelemetry_sdk::Resource;

use super::logfire_attrs;
use super::scrub::Scrubber;

#[derive(Debug)]
pub(crate) struct Pipeline {
    scrubber: Option<Scrubber>,
    processors: Vec<Box<dyn SpanProcessor>>,
    logfire_attributes: bool,
}

impl Pipeline {
    pub(crate) fn new(scrubber: Option<Scrubber>, processors: Vec<Box<dyn SpanProcessor>>) -> Self {
        Pipeline {
            scrubber,
            processors,
            logfire_attributes: false,
        }
    }

    /// Adds the Logfire attributes (see [`logfire_attrs`]) to every span.
    pub(crate) fn logfire_attributes(mut self, on: bool) -> Self {
        self.logfire_attributes = on;
        self
    }

    /// Runs `f` on every processor, in parallel (one scoped thread each but the last, which
    /// runs on the caller's thread), and returns the first error, after running all of them.
    /// Flush and shutdown of N destinations then take as long as the slowest, not the sum.
    fn each(&self, f: impl Fn(&dyn SpanProcessor) -> OTelSdkResult + Sync) -> OTelSdkResult {
        let Some((last, rest)) = self.processors.split_last() else {
            return Ok(());
        };
        let f = &f;
        std::thread::scope(|scope| {
            let handles: Vec<_> = rest
                .iter()
                .map(|p| {
                    let p: &dyn SpanProcessor = p.as_ref();
                    std::thread::Builder::new()
                        .name("spanfire-processor-shutdown".into())
                        .spawn_scoped(scope, move || f(p))
                        // No thread: run it here (sequentially).
                        .map_err(|_| f(p))
                })
                .collect();
            let last = f(last.as_ref());
            let mut first = Ok(());
            for handle in handles {
                let result = match handle {
                    Ok(handle) => handle.join().unwrap_or_else(|_| {
                        Err(OTelSdkError::InternalFailure(
                            "a span processor panicked".into(),
                        ))
                    }),
                    Err(result) => result,
                };
                if first.is_ok() {
                    first = result;
                }
            }
            first.and(last)
        })
    }
}

impl SpanProcessor for Pipeline {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        for p in &self.processors {
            p.on_start(span, cx);
        }
        // Last, right before the span is handed back: the instrumentation starting it learns
        // that its bodies will be scrubbed with this policy (and need no second scan). Not
        // when the scrubbing is recorded: its notes come from scanning every body.
        if let (Some(scrubber), false) = (&self.scrubber, self.logfire_attributes) {
            crate::capture::seal::note_stage(scrubber.secrets());
        }
    }

    fn on_end(&self, mut span: SpanData) {
        if self.logfire_attributes {
            let scrubbed = match &self.scrubber {
                Some(scrubber) => scrubber.scrub_span_recording(&mut span),
                None => Vec::new(),
            };
            logfire_attrs::add(&mut span, &scrubbed);
        } else if let Some(scrubber) = &self.scrubber {
            scrubber.scrub_span(&mut span);
        }
        let Some((last, rest)) = self.processors.split_last() else {
            return;
        };
        for p in rest {
            p.on_end(span.clone());
        }
        last.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.each(|p| p.force_flush())
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.each(|p| p.shutdown_with_timeout(timeout))
    }

    fn set_resource(&mut self, resource: &Resource) {
        for p in &mut self.processors {
            p.set_resource(resource);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry::KeyValue;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SimpleSpanProcessor};

    fn run(logfire_attributes: bool, scrub: bool) -> SpanData {
        let exporter = InMemorySpanExporter::default();
        let processors: Vec<Box<dyn SpanProcessor>> =
            vec![Box::new(SimpleSpanProcessor::new(exporter.clone()))];
        let scrubber = scrub.then(|| Scrubber::new(crate::Secrets::default()));
        let provider = SdkTracerProvider::builder()
            .with_span_processor(
                Pipeline::new(scrubber, processors).logfire_attributes(logfire_attributes),
            )
            .build();
        provider.tracer("t").in_span("work", |cx| {
            use opentelemetry::trace::TraceContextExt as _;
            cx.span()
                .set_attribute(KeyValue::new("app.secret", "S3CR3T"));
        });
        let mut spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 1);
        spans.remove(0)
    }

    fn keys(span: &SpanData) -> Vec<&str> {
        span.attributes.iter().map(|kv| kv.key.as_str()).collect()
    }

    /// A client whose server answers `response` (a tower service in memory).
    #[cfg(feature = "tower")]
    async fn exchange(provider: &SdkTracerProvider, request: &'static str, response: &'static str) {
        use bytes::Bytes;
        use http_body_util::{BodyExt as _, Full};
        use tower::ServiceExt as _;
        let layer = crate::HttpClientInstrumentation::new()
            .tracer_provider(provider.clone())
            .capture_all(true)
            .layer();
        let server = tower::service_fn(move |req: http::Request<crate::TeeBody<_>>| async move {
            // read as a server would: the request body is captured as it is sent
            let _sent = req.into_body().collect().await;
            let body = Full::new(Bytes::from_static(response.as_bytes()));
            let mut res = http::Response::new(body);
            res.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            Ok::<_, std::convert::Infallible>(res)
        });
        let req = http::Request::post("http://127.0.0.1:9/x")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(request.as_bytes())))
            .unwrap();
        let res = tower::Layer::layer(&layer, server)
            .oneshot(req)
            .await
            .unwrap();
        res.into_body().collect().await.unwrap();
    }

    #[cfg(feature = "tower")]
    #[tokio::test]
    async fn captured_bodies_are_sealed_for_the_stage_and_no_seal_leaves_it() {
        use crate::capture::seal::SEAL_ATTRIBUTE;
        let (raw, out) = (
            InMemorySpanExporter::default(),
            InMemorySpanExporter::default(),
        );
        let stage = |logfire: bool| {
            let scrubber = Scrubber::new(crate::Secrets::default());
            let destination = Box::new(SimpleSpanProcessor::new(out.clone()));
            Pipeline::new(Some(scrubber), vec![destination]).logfire_attributes(logfire)
        };
        for logfire in [false, true] {
            let provider = SdkTracerProvider::builder()
                .with_span_processor(SimpleSpanProcessor::new(raw.clone()))
                .with_span_processor(stage(logfire))
                .build();
            exchange(
                &provider,
                r#"{"token":"t0k3n","a":1}"#,
                r#"{"password":"hunter2"}"#,
            )
            .await;
            let raw = raw.get_finished_spans().unwrap().pop().unwrap();
            let seals = raw
                .attributes
                .iter()
                .filter(|kv| kv.key.as_str() == SEAL_ATTRIBUTE);
            // one per body; none when the stage notes what it scrubs (it scans every body)
            assert_eq!(seals.count(), if logfire { 0 } else { 2 }, "{raw:?}");
            let out = out.get_finished_spans().unwrap().pop().unwrap();
            let text = format!("{:?}", out.attributes);
            assert!(!text.contains(SEAL_ATTRIBUTE), "{text}");
            assert!(
                !text.contains("t0k3n") && !text.contains("hunter2"),
                "{text}"
            );
            assert!(text.contains(r#"{\"password\":\"[REDACTED]\"}"#), "{text}");
        }
    }

    #[test]
    fn logfire_attributes_only_when_on() {
        let off = run(false, true);
        assert_eq!(keys(&off), ["app.secret"]);
        let on = run(true, true);
        assert_eq!(
            keys(&on),
            [
                "app.secret",
                "logfire.span_type",
                "logfire.msg",
                "logfire.scrubbed"
            ]
        );
        assert!(!format!("{on:?}").contains("S3CR3T"));
        let unscrubbed = run(true, false);
        assert_eq!(
            keys(&unscrubbed),
            ["app.secret", "logfire.span_type", "logfire.msg"]
        );
    }
}
