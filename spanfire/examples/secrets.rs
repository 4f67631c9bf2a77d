//! Secrets never leave: one policy redacts URLs, headers, bodies and error text, whatever a
//! request carries, and configure()'s scrubbing stage catches what hooks put on the span.
//!
//! A request with a token in the query, a password in the userinfo, an `Authorization` header
//! and a JSON body with nested secrets; a second request to a closed port whose error text
//! quotes the URL; a hook that (wrongly) records the raw URL. The policy is extended in one
//! place with an application-specific name (`pin`).
//!
//! ```text
//! cargo run -p spanfire --example secrets
//! ```

#[path = "support/attributes.rs"]
mod attributes;
#[path = "support/server.rs"]
mod server;

use spanfire::opentelemetry::KeyValue;
use spanfire::{HttpClientInstrumentation, Secrets};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = server::start().await?;

    // One place: the scrubbing stage uses this policy, and so does every instrumentation built
    // afterwards without a policy of its own.
    let secrets = Secrets::default().with_extra_patterns(["pin"])?;
    let telemetry = spanfire::configure()
        .service_name("secrets")
        .scrubbing(secrets)
        .with_span_processor(attributes::PrintAttributes::with_prefixes(&[
            "url.full",
            "http.request.header.authorization",
            "http.request.body.",
            "app.",
        ]))
        .finish()?;
    let client = HttpClientInstrumentation::new()
        .capture_all(true)
        // A hook is the application's code: what it records is caught by the scrubbing stage.
        .request_hook(|span, req| {
            span.set_attribute(KeyValue::new("app.raw_url", req.url().to_string()));
        })
        .instrument_reqwest(reqwest::Client::new());

    let with_credentials = base.replace("http://", "http://alice:hunter2@");
    let response = client
        .post(format!("{with_credentials}/post?token=s3cr3t&q=weather"))
        .bearer_auth("t0ken")
        .json(
            &serde_json::json!({ "user": { "name": "alice", "password": "hunter2", "pin": 1234 } }),
        )
        .send()
        .await?;
    let echo: serde_json::Value = response.json().await?;
    // The server got the real values; only the telemetry is redacted.
    println!("server received: {}", echo["json"]);

    let closed = client
        .get("http://127.0.0.1:9/get?api_key=k-123")
        .send()
        .await;
    println!(
        "request to a closed port failed as expected: {}",
        closed.is_err()
    );

    telemetry.shutdown()?;
    Ok(())
}
