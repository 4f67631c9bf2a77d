//! A span processor that prints some attributes of each span under its console line, so that
//! an example can show what it captured (the console line itself shows only method, URL,
//! status and duration).

use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

/// Prints the attributes whose key starts with one of `prefixes`, sorted by key.
#[derive(Debug)]
pub struct PrintAttributes {
    prefixes: &'static [&'static str],
}

impl PrintAttributes {
    /// Prints the attributes whose key starts with one of `prefixes`.
    pub fn with_prefixes(prefixes: &'static [&'static str]) -> Self {
        PrintAttributes { prefixes }
    }
}

impl SpanProcessor for PrintAttributes {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        let mut lines: Vec<String> = span
            .attributes
            .iter()
            .filter(|kv| self.prefixes.iter().any(|p| kv.key.as_str().starts_with(p)))
            .map(|kv| format!("    {} = {}", kv.key, kv.value))
            .collect();
        lines.sort();
        for line in lines {
            println!("{line}");
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}
