//! Hide sensitive URL parameters: a URL filter maps the request URL to the string recorded as
//! `url.full` (and shown on the console). The request itself is sent unchanged.
//!
//! Mirrors the `mask_url` filter of Logfire's aiohttp client docs: the values of a few query
//! keys become `*****`. spanfire's default redaction (credentials in the URL, signature keys
//! such as `X-Amz-Signature`) still runs on the filter's output.
//!
//! ```text
//! cargo run -p spanfire --example url_filter
//! ```

#[path = "support/server.rs"]
mod server;

use spanfire::HttpClientInstrumentation;
use url::Url;

const SENSITIVE_KEYS: [&str; 6] = [
    "username",
    "password",
    "token",
    "api_key",
    "api_secret",
    "apikey",
];

/// Returns `url` with the values of sensitive query keys replaced by `*****`.
fn mask_url(url: &Url) -> String {
    if url.query().is_none() {
        return url.to_string();
    }
    let masked_query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(key, value)| {
            let value = if SENSITIVE_KEYS.contains(&key.as_ref()) {
                "*****".to_owned()
            } else {
                value.into_owned()
            };
            (key.into_owned(), value)
        })
        .collect();
    let mut masked = url.clone();
    masked.query_pairs_mut().clear().extend_pairs(masked_query);
    masked.into()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = server::start().await?;

    let telemetry = spanfire::configure().service_name("url-filter").finish()?;
    let client = HttpClientInstrumentation::new()
        .url_filter(mask_url)
        .instrument_reqwest(reqwest::Client::new());

    let url = format!("{base}/get?username=alice&token=s3cr3t&apikey=k-123&q=weather");
    let response = client.get(url).send().await?;
    let echo: serde_json::Value = response.json().await?;
    // The server got the real values; only the span's `url.full` is masked.
    println!("server received args: {}", echo["args"]);

    telemetry.shutdown()?;
    Ok(())
}
