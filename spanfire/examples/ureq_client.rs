//! Instrument a blocking ureq 3 agent: the same spans and options as the async front ends, with
//! no async runtime in the application. The loopback server is a plain `std::net` thread.
//!
//! ```text
//! cargo run -p spanfire --features ureq --example ureq_client
//! ```

#[path = "support/attributes.rs"]
mod attributes;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;

use spanfire::HttpClientInstrumentation;

/// Answers `requests` connections on a thread: `/status/{code}` with that status, anything else
/// with a small JSON body; one request per connection.
fn start_server(requests: usize) -> std::io::Result<(String, thread::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = thread::spawn(move || {
        for stream in listener.incoming().take(requests).flatten() {
            let mut stream = stream;
            let mut head = Vec::new();
            let mut buf = [0; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head);
            let path = head.split(' ').nth(1).unwrap_or("/");
            let status = path.strip_prefix("/status/").unwrap_or("200");
            let body = r#"{"hello":"ureq"}"#;
            let response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    Ok((base, server))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (base, server) = start_server(3)?;
    let telemetry = spanfire::configure()
        .service_name("ureq-client")
        // Not needed for capturing: prints the captured bodies under each console line.
        .with_span_processor(attributes::PrintAttributes::with_prefixes(&[
            "http.request.body.",
            "http.response.body.",
        ]))
        .finish()?;

    // The one-liner, default options:
    let agent = spanfire::instrument_ureq_agent(ureq::Agent::config_builder());
    let body = agent
        .get(format!("{base}/get?q=1"))
        .call()?
        .body_mut()
        .read_to_string()?;
    println!("GET /get -> {body}");

    // With options; statuses as responses (ureq's default turns 4xx/5xx into errors, which
    // spanfire records too, without the response's headers and body).
    let config = ureq::Agent::config_builder().http_status_as_error(false);
    let agent = HttpClientInstrumentation::new()
        .capture_all(true)
        .instrument_ureq(config);
    let mut response = agent
        .post(format!("{base}/post"))
        .header("content-type", "application/json")
        .send(r#"{"name":"x"}"#)?;
    println!("POST /post -> {}", response.body_mut().read_to_string()?);
    let mut response = agent.get(format!("{base}/status/404")).call()?;
    // the span ends with the body: read it (dropping it unread records the request cancelled)
    let body = response.body_mut().read_to_string()?;
    println!("GET /status/404 -> {} {body}", response.status());

    server.join().map_err(|_| "the server thread panicked")?;
    telemetry.shutdown()?;
    Ok(())
}
