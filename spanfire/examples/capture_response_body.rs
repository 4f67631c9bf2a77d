//! Capture HTTP response bodies, like Logfire's
//! `instrument_aiohttp_client(capture_response_body=True)`.
//!
//! spanfire has no `capture_response_body` setter yet: it arrives with body capture. Until
//! then this example turns on `capture_all(true)`, which will include the response body once
//! body capture lands (today it captures the headers). The body is recorded as it is read, so
//! read it to the end.
//!
//! ```text
//! cargo run -p spanfire --example capture_response_body
//! ```

#[path = "support/attributes.rs"]
mod attributes;
#[path = "support/server.rs"]
mod server;

use spanfire::HttpClientInstrumentation;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = server::start().await?;

    let telemetry = spanfire::configure()
        .service_name("capture-response-body")
        // Not needed for capturing: prints the captured attributes under each console line.
        .with_span_processor(attributes::PrintAttributes::with_prefixes(&[
            "http.response.",
        ]))
        .finish()?;
    // TODO: `.capture_response_body(true)` once body capture lands.
    let client = HttpClientInstrumentation::new()
        .capture_all(true)
        .instrument_reqwest(reqwest::Client::new());

    let response = client.get(format!("{base}/get?q=body")).send().await?;
    // The body will be captured as it is read.
    let json: serde_json::Value = response.json().await?;
    println!("response args: {}", json["args"]);

    telemetry.shutdown()?;
    Ok(())
}
