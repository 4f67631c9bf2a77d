//! Capture HTTP response bodies, like Logfire's
//! `instrument_aiohttp_client(capture_response_body=True)`.
//!
//! The body is recorded into `http.response.body.text` on the request span as the application
//! reads it (`text()`, `json()`, `bytes()`, `chunk()`, `bytes_stream()` alike), at most 64 KiB
//! by default (`body_capture_limit`).
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
    let client = HttpClientInstrumentation::new()
        .capture_response_body(true)
        .instrument_reqwest(reqwest::Client::new());

    let response = client.get(format!("{base}/get?q=body")).send().await?;
    // The body is captured as it is read.
    let json: serde_json::Value = response.json().await?;
    println!("response args: {}", json["args"]);

    telemetry.shutdown()?;
    Ok(())
}
