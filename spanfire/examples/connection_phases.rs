//! Connection phases: the first request on a fresh client shows where its connection time
//! went (DNS lookup, TCP connect); the second goes out on the pooled connection and says so.
//!
//! ```text
//! cargo run -p spanfire --example connection_phases
//! ```

#[path = "support/server.rs"]
mod server;

use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `localhost`, so that the client looks the name up
    let base = server::start().await?.replace("127.0.0.1", "localhost");
    let telemetry = spanfire::configure()
        .service_name("connection-phases")
        .with_span_processor(PrintPhases)
        .finish()?;

    // One call: the connector layer and the timed resolver are installed with the middleware.
    let client = spanfire::HttpClientInstrumentation::new()
        .instrument_reqwest_builder(reqwest::Client::builder())?;
    for _ in 0..2 {
        client
            .get(format!("{base}/get"))
            .send()
            .await?
            .bytes()
            .await?;
    }

    telemetry.shutdown()?;
    Ok(())
}

/// Prints each span's phase events and `spanfire.connection.reused` under its console line.
#[derive(Debug)]
struct PrintPhases;

impl SpanProcessor for PrintPhases {
    fn on_start(&self, _span: &mut Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        for event in span
            .events
            .iter()
            .filter(|e| e.name.starts_with("spanfire."))
        {
            let attrs: Vec<String> = event
                .attributes
                .iter()
                .map(|kv| format!("{}={}", kv.key, kv.value))
                .collect();
            println!("    {} {}", event.name, attrs.join(" "));
        }
        let reused = spanfire::connect::CONNECTION_REUSED_ATTRIBUTE;
        if let Some(kv) = span.attributes.iter().find(|kv| kv.key.as_str() == reused) {
            println!("    {reused} = {}", kv.value);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}
