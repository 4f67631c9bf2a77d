//! Sending to Pydantic Logfire, offline: a local OTLP receiver stands in for Logfire and prints
//! what it got.
//!
//! The token and the Logfire URL come from `.logfire/logfire_credentials.json`, the file
//! `logfire projects use` writes (here a temporary one whose `logfire_api_url` points at the
//! local receiver). Against the real Logfire, `LOGFIRE_TOKEN=… cargo run` is all it takes.
//!
//! ```text
//! cargo run -p spanfire --example logfire
//! ```

#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;
#[path = "support/server.rs"]
mod server;

use otlp_receiver::Received;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = server::start().await?;
    let (logfire_url, inbox) = otlp_receiver::start().await?;

    let dir = std::env::temp_dir().join(format!("spanfire-logfire-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let credentials = serde_json::json!({
        "token": "pylf_v1_us_example-write-token",
        "project_name": "example",
        "project_url": "https://logfire.pydantic.dev/example/example",
        "logfire_api_url": logfire_url,
    });
    std::fs::write(
        dir.join("logfire_credentials.json"),
        credentials.to_string(),
    )?;

    let telemetry = spanfire::configure()
        .service_name("logfire-example")
        .logfire_credentials_dir(&dir)
        .finish()?;
    let client = spanfire::HttpClientInstrumentation::new()
        .capture_all(true)
        .instrument_reqwest(reqwest::Client::new());

    client
        .get(format!("{base}/get?page=2&token=s3cr3t"))
        .send()
        .await?
        .text()
        .await?;
    client
        .post(format!("{base}/post"))
        .json(&serde_json::json!({ "user": "alice", "password": "hunter2" }))
        .send()
        .await?
        .text()
        .await?;
    client.get(format!("{base}/status/500")).send().await?;

    // Flushes: the batch processor and the metric reader export before this returns.
    telemetry.shutdown()?;
    let _ = std::fs::remove_dir_all(&dir);

    let inbox = inbox.lock().map_err(|_| "receiver poisoned")?;
    for request in &inbox.requests {
        println!(
            "received POST {} (authorization: {})",
            request.path,
            request.authorization.as_deref().unwrap_or("none")
        );
    }
    for span in &inbox.spans {
        println!("span {}", span.name);
        for (key, value) in &span.attributes {
            let shown = match value {
                Received::Str(s) => format!("{s:?}"),
                other => format!("{other:?}"),
            };
            println!("    {key} = {shown}");
        }
    }
    println!("metrics: {}", inbox.metrics.join(", "));
    Ok(())
}
