//! A blocking application with no async runtime of its own (issue 17): plain threads, a
//! `std::net` server, ureq requests through `spanfire::instrument_ureq_agent`, and export
//! through `configure()` (OTLP/HTTP) to the real collector (rotel, started by `scripts/rotel`).
//! Its own test binary, so that nothing of the `all` suite (tokio tests) runs in its process.
//!
//! Fails (does not skip) when `CI` is set and the collector's variables are not.

#[path = "all/support/collector.rs"]
mod collector;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use opentelemetry::trace::{Span, TraceContextExt, Tracer};
use serde_json::Value as Json;

/// Answers `n` connections with `200 ok` (one request each: `Connection: close`) on a plain
/// thread; sends the head of each request it read.
fn serve(n: usize) -> (String, mpsc::Receiver<String>, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (heads, received) = mpsc::channel();
    let server = thread::spawn(move || {
        for stream in listener.incoming().take(n) {
            let mut stream = stream.unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut head = Vec::new();
            let mut buf = [0; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
            stream.write_all(response.as_bytes()).unwrap();
            heads
                .send(String::from_utf8_lossy(&head).into_owned())
                .unwrap();
        }
    });
    (url, received, server)
}

#[test]
fn ureq_requests_reach_the_collector_with_no_runtime_in_the_application() {
    let Some((endpoint, file)) = collector::collector() else {
        return;
    };
    assert!(
        tokio::runtime::Handle::try_current().is_err(),
        "a plain thread, no runtime entered"
    );
    let service = collector::unique_service("ureq-no-runtime");
    let (url, heads, server) = serve(3);
    let telemetry = spanfire::configure()
        .service_name(&service)
        .otlp_endpoint(&endpoint)
        .console(false)
        .finish()
        .unwrap();
    // the one-liner: default options, the global providers configure() installed
    let agent = spanfire::instrument_ureq_agent(ureq::Agent::config_builder());
    let get = |path: &str| {
        let mut response = agent.get(format!("{url}{path}")).call().unwrap();
        response.body_mut().read_to_string().unwrap()
    };
    assert_eq!(get("/a"), "ok");
    assert_eq!(get("/b"), "ok");
    // the parent is this thread's current OpenTelemetry context
    let tracer = opentelemetry::global::tracer("app");
    let parent = tracer.start("parent");
    let parent_id = parent.span_context().span_id().to_string();
    let cx = opentelemetry::Context::current_with_span(parent);
    {
        let _attached = cx.clone().attach();
        assert_eq!(get("/c"), "ok");
    }
    cx.span().end();
    server.join().unwrap();
    let heads: Vec<String> = heads.try_iter().collect();
    assert_eq!(heads.len(), 3);
    assert!(
        heads.iter().all(|h| h.contains("traceparent: 00-")),
        "{heads:?}"
    );
    telemetry.shutdown().expect("shutdown flushes");

    // spans and the duration metric travel in separate requests: wait for both
    let is_duration = |r: &Json| r["name"] == "http.client.request.duration";
    let records = collector::received(&file, &service, |r| {
        r.iter().filter(|x| x["signal"] == "span").count() >= 4 && r.iter().any(is_duration)
    });
    let spans: Vec<&Json> = records
        .iter()
        .filter(|r| r["signal"] == "span" && r["scope"] == "spanfire")
        .collect();
    assert_eq!(spans.len(), 3, "{records:#?}");
    let span_of = |path: &str| {
        let url = format!("{url}{path}");
        let found = spans
            .iter()
            .find(|s| s["attributes"]["url.full"] == url.as_str());
        *found.unwrap_or_else(|| panic!("no span for {url}: {spans:#?}"))
    };
    for path in ["/a", "/b", "/c"] {
        let span = span_of(path);
        let a = &span["attributes"];
        assert_eq!(span["name"], "GET");
        assert_eq!(span["kind"], 3, "SPAN_KIND_CLIENT");
        assert_eq!(a["http.response.status_code"], 200, "an integer");
        assert_eq!(a["http.response.body.size"], 2);
    }
    assert_eq!(span_of("/c")["parent_span_id"], parent_id.as_str());
    assert_eq!(
        span_of("/a")["parent_span_id"],
        "",
        "a root: no current span"
    );
    assert!(records.iter().any(is_duration), "{records:#?}");
}
