//! Attempts as spans: a retry middleware before spanfire's makes each attempt a span of its
//! own (`http.request.resend_count` 1, 2, … on the resends), and a client built by
//! `instrument_reqwest_builder` lets spanfire follow redirects hop by hop — with
//! `span_per_hop`, one span per hop — injecting trace context for each hop's own host.
//!
//! ```text
//! cargo run -p spanfire --example retries_and_redirects
//! ```

#[path = "support/server.rs"]
mod server;

use std::time::Duration;

use reqwest_retry::policies::ExponentialBackoff;
use reqwest_retry::RetryTransientMiddleware;
use spanfire::reqwest::Redirects;
use spanfire::HttpClientInstrumentation;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = server::start().await?;
    let telemetry = spanfire::configure().service_name("attempts").finish()?;

    // Retries: reqwest-retry first, spanfire second, so spanfire sees every attempt.
    // `/flaky` answers 503 twice, then 200: three spans, resend_count absent, 1, 2.
    let policy = ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(10), Duration::from_millis(50))
        .build_with_max_retries(3);
    let retrying = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RetryTransientMiddleware::new_with_policy(policy))
        .with(HttpClientInstrumentation::new().reqwest_middleware())
        .build();
    let response = retrying.get(format!("{base}/flaky")).send().await?;
    println!("after retries: {}", response.status());
    response.bytes().await?;

    // Redirects: spanfire follows them (the client is built with `Policy::none()`), one span
    // per hop: /redirect/2 -> /redirect/1 -> /get, resend_count absent, 1, 2.
    let following = HttpClientInstrumentation::new()
        .propagate_to_hosts(["127.0.0.1"])
        .redirects(Redirects::new().span_per_hop(true))
        .instrument_reqwest_builder(reqwest::Client::builder())?;
    let response = following.get(format!("{base}/redirect/2")).send().await?;
    println!("after redirects: {} {}", response.status(), response.url());
    response.bytes().await?;

    telemetry.shutdown()?;
    Ok(())
}
