//! Capture only the request headers, with a request hook: the hook runs once before each
//! request is sent and records every request header as an `http.request.header.<name>`
//! string-array attribute (one element per value).
//!
//! Mirrors the `capture_request_headers` request hook of Logfire's aiohttp client docs. Unlike
//! `capture_headers(true)`, a hook records exactly what you tell it to: nothing is redacted,
//! so filter out sensitive headers yourself.
//!
//! ```text
//! cargo run -p spanfire --example request_headers_hook
//! ```

#[path = "support/attributes.rs"]
mod attributes;
#[path = "support/server.rs"]
mod server;

use opentelemetry::trace::SpanRef;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use spanfire::{HttpClientInstrumentation, RequestInfo};

/// Records every header of the request. The hook sees the headers spanfire will send,
/// trace context included; reqwest may still add its own defaults (such as `accept`) later.
fn capture_request_headers(span: &SpanRef<'_>, req: &RequestInfo<'_>) {
    let headers = req.headers();
    for name in headers.keys() {
        let values: Vec<StringValue> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned().into())
            .collect();
        span.set_attribute(KeyValue::new(
            format!("http.request.header.{name}"),
            Value::Array(Array::String(values)),
        ));
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = server::start().await?;

    let telemetry = spanfire::configure()
        .service_name("request-headers-hook")
        // Not needed for the hook: prints the recorded headers under each console line.
        .with_span_processor(attributes::PrintAttributes::with_prefixes(&[
            "http.request.header.",
            "http.response.header.",
        ]))
        .finish()?;
    let client = HttpClientInstrumentation::new()
        .request_hook(capture_request_headers)
        .instrument_reqwest(reqwest::Client::new());

    let response = client
        .get(format!("{base}/get"))
        .header("x-request-id", "42")
        .header(reqwest::header::ACCEPT_LANGUAGE, "en")
        .header(reqwest::header::ACCEPT_LANGUAGE, "fr;q=0.5")
        .send()
        .await?;
    response.text().await?;

    telemetry.shutdown()?;
    Ok(())
}
