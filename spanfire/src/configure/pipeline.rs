//! The span processor `configure()` installs: scrubs each ended span once, then hands it to
//! every destination (console, OTLP batch processors, user processors).

use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use opentelemetry_sdk::Resource;

use super::scrub::Scrubber;

#[derive(Debug)]
pub(crate) struct Pipeline {
    scrubber: Option<Scrubber>,
    processors: Vec<Box<dyn SpanProcessor>>,
}

impl Pipeline {
    pub(crate) fn new(scrubber: Option<Scrubber>, processors: Vec<Box<dyn SpanProcessor>>) -> Self {
        Pipeline {
            scrubber,
            processors,
        }
    }

    /// Runs `f` on every processor and returns the first error, after running all of them.
    fn each(&self, f: impl Fn(&dyn SpanProcessor) -> OTelSdkResult) -> OTelSdkResult {
        let mut first = Ok(());
        for p in &self.processors {
            let result = f(p.as_ref());
            if first.is_ok() {
                first = result;
            }
        }
        first
    }
}

impl SpanProcessor for Pipeline {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        for p in &self.processors {
            p.on_start(span, cx);
        }
    }

    fn on_end(&self, mut span: SpanData) {
        if let Some(scrubber) = &self.scrubber {
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
