//! Capture everything: `capture_all(true)` records request and response headers (sensitive
//! values redacted) and both bodies: the request body as sent, the response body as read.
//!
//! Mirrors Logfire's `instrument_aiohttp_client(capture_all=True)`, against a local server:
//!
//! ```text
//! cargo run -p spanfire --example capture_all
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
        .service_name("capture-all")
        // Not needed for capturing: prints the captured attributes under each console line.
        .with_span_processor(attributes::PrintAttributes::with_prefixes(&[
            "http.request.header.",
            "http.response.header.",
            "http.request.body.",
            "http.response.body.",
        ]))
        .finish()?;
    let client = HttpClientInstrumentation::new()
        .capture_all(true)
        .instrument_reqwest(reqwest::Client::new());

    // `.json(..)` on the instrumented client needs reqwest-middleware's `json` feature.
    let response = client
        .post(format!("{base}/post"))
        .json(&serde_json::json!({ "key": "value" }))
        .send()
        .await?;
    let echo: serde_json::Value = response.json().await?;
    println!("server received: {}", echo["json"]);

    telemetry.shutdown()?;
    Ok(())
}
