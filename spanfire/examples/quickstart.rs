//! The quickstart: configure spanfire, instrument a reqwest client, make requests. Every
//! request becomes an OpenTelemetry CLIENT span, printed as one line on the console.
//!
//! This mirrors Logfire's minimal `instrument_aiohttp_client()` example, against a local
//! httpbin-like server instead of httpbin.org, so it runs offline:
//!
//! ```text
//! cargo run -p spanfire --example quickstart
//! ```

#[path = "support/server.rs"]
mod server;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = server::start().await?;

    // `logfire.configure()` + `logfire.instrument_aiohttp_client()`
    let telemetry = spanfire::configure().service_name("quickstart").finish()?;
    let client = spanfire::instrument_reqwest_client(reqwest::Client::new());

    // A GET with a query string. The span ends when the body has been read.
    let response = client
        .get(format!("{base}/get?q=spanfire&page=1"))
        .send()
        .await?;
    response.text().await?;

    // A POST with a JSON body (`.json(..)` needs reqwest-middleware's `json` feature).
    let response = client
        .post(format!("{base}/post"))
        .json(&serde_json::json!({ "key": "value" }))
        .send()
        .await?;
    response.bytes().await?;

    // A 404: not a transport error, but the span gets status Error and `error.type` 404.
    let response = client.get(format!("{base}/status/404")).send().await?;
    response.bytes().await?;

    // Flushes the pipeline (and prints anything still pending).
    telemetry.shutdown()?;
    Ok(())
}
