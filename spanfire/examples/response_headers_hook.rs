//! Capture only the response headers, with a response hook: the hook runs once when the
//! response head arrives (or the request fails) and records every response header as an
//! `http.response.header.<name>` string-array attribute (one element per value).
//!
//! Mirrors the `capture_response_headers` response hook of Logfire's aiohttp client docs.
//!
//! ```text
//! cargo run -p spanfire --example response_headers_hook
//! ```

#[path = "support/attributes.rs"]
mod attributes;
#[path = "support/server.rs"]
mod server;

use opentelemetry::trace::SpanRef;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use spanfire::{HttpClientInstrumentation, ResponseOutcome};

/// Records every header of the response; does nothing when the request failed before a
/// response arrived (`ResponseOutcome::Error`).
fn capture_response_headers(span: &SpanRef<'_>, outcome: &ResponseOutcome<'_>) {
    let ResponseOutcome::Response(head) = outcome else {
        return;
    };
    let headers = head.headers();
    for name in headers.keys() {
        let values: Vec<StringValue> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned().into())
            .collect();
        span.set_attribute(KeyValue::new(
            format!("http.response.header.{name}"),
            Value::Array(Array::String(values)),
        ));
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = server::start().await?;

    let telemetry = spanfire::configure()
        .service_name("response-headers-hook")
        // Not needed for the hook: prints the recorded headers under each console line.
        .with_span_processor(attributes::PrintAttributes::with_prefixes(&[
            "http.request.header.",
            "http.response.header.",
        ]))
        .finish()?;
    let client = HttpClientInstrumentation::new()
        .response_hook(capture_response_headers)
        .instrument_reqwest(reqwest::Client::new());

    let response = client.get(format!("{base}/get")).send().await?;
    response.text().await?;

    telemetry.shutdown()?;
    Ok(())
}
