//! Capture HTTP headers: `capture_headers(true)` records the request and response headers as
//! `http.request.header.<name>` / `http.response.header.<name>` string-array attributes.
//! Values of sensitive headers (`authorization`, cookies, tokens, ...) become `[REDACTED]`.
//!
//! Mirrors Logfire's `instrument_aiohttp_client(capture_headers=True)`, against a local server:
//!
//! ```text
//! cargo run -p spanfire --example capture_headers
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
        .service_name("capture-headers")
        // Not needed for capturing: prints the captured headers under each console line.
        .with_span_processor(attributes::PrintAttributes::with_prefixes(&[
            "http.request.header.",
            "http.response.header.",
        ]))
        .finish()?;
    let client = HttpClientInstrumentation::new()
        .capture_headers(true)
        .instrument_reqwest(reqwest::Client::new());

    let response = client
        .get(format!("{base}/get"))
        .header(reqwest::header::ACCEPT, "application/json")
        .header(reqwest::header::AUTHORIZATION, "Bearer not-a-real-token")
        .send()
        .await?;
    let text = response.text().await?;
    println!("response body: {} bytes", text.len());

    telemetry.shutdown()?;
    Ok(())
}
