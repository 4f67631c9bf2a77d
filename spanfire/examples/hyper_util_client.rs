//! Instrument hyper-util's `Client` (or any tower HTTP client) with the tower layer: the same
//! spans, options and body handling as the reqwest front end.
//!
//! ```text
//! cargo run -p spanfire --features tower --example hyper_util_client
//! ```

#[path = "support/attributes.rs"]
mod attributes;
#[path = "support/server.rs"]
mod server;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use spanfire::HttpClientInstrumentation;
use tower::{Service, ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = server::start().await?;
    let telemetry = spanfire::configure()
        .service_name("hyper-util-client")
        // Not needed for capturing: prints the captured bodies under each console line.
        .with_span_processor(attributes::PrintAttributes::with_prefixes(&[
            "http.request.body.",
            "http.response.body.",
        ]))
        .finish()?;

    // The inner client takes spanfire's request body wrapper, which tees captured bodies.
    let client = Client::builder(TokioExecutor::new())
        .build_http::<spanfire::tower::RequestBody<Full<Bytes>>>();
    let mut service = ServiceBuilder::new()
        .layer(HttpClientInstrumentation::new().capture_all(true).layer())
        .service(client);

    let request = http::Request::post(format!("{base}/post"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(br#"{"key":"value"}"#)))?;
    let response = service.ready().await?.call(request).await?;
    println!("status: {}", response.status());
    // The span ends when the body has been read to its end.
    let body = response.into_body().collect().await?.to_bytes();
    println!("body: {}", String::from_utf8_lossy(&body));

    let request = http::Request::get(format!("{base}/status/503")).body(Full::new(Bytes::new()))?;
    let response = service.ready().await?.call(request).await?;
    response.into_body().collect().await?;

    telemetry.shutdown()?;
    Ok(())
}
