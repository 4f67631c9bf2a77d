//! PROBE (temporary): dump what spanfire emits for the reference scenarios.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SimpleSpanProcessor, SpanData};
use spanfire::{HttpClientInstrumentation, SemconvStability};

use crate::support::front::{Client, ClientOptions, Front, Req};
use crate::support::*;

struct Httpbin {
    addr: SocketAddr,
    _origin: TestServer,
}

impl Httpbin {
    async fn start() -> Httpbin {
        let origin = TestServer::start().await;
        let origin_base = origin.url("");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let forward = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let forward = forward.clone();
                let origin_base = origin_base.clone();
                let service = hyper::service::service_fn(move |req| {
                    let forward = forward.clone();
                    let origin_base = origin_base.clone();
                    async move { Ok::<_, Infallible>(proxy(req, &forward, &origin_base).await) }
                });
                tokio::spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Httpbin {
            addr,
            _origin: origin,
        }
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }
}

async fn proxy(
    req: Request<Incoming>,
    forward: &reqwest::Client,
    origin_base: &str,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let (origin_path, content_type) = if path == "/anything" {
        ("/get".to_owned(), "application/json")
    } else if let Some(secs) = path.strip_prefix("/delay/") {
        let ms = secs.parse::<u64>().unwrap_or(0) * 1000;
        (format!("/delay/{ms}"), "application/json")
    } else if path.starts_with("/status/") || path.starts_with("/redirect/") {
        (path.clone(), "text/html; charset=utf-8")
    } else {
        (path.clone(), "application/json")
    };
    let method = req.method().clone();
    let mut headers = req.headers().clone();
    headers.remove(http::header::HOST);
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let res = forward
        .request(method, format!("{origin_base}{origin_path}{query}"))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let location = res.headers().get(http::header::LOCATION).cloned();
    let body = res.bytes().await.unwrap();
    let mut out = Response::new(Full::new(body));
    *out.status_mut() = status;
    let h = out.headers_mut();
    h.insert("server", "gunicorn".parse().unwrap());
    h.insert("connection", "keep-alive".parse().unwrap());
    h.insert("content-type", content_type.parse().unwrap());
    h.insert("access-control-allow-origin", "*".parse().unwrap());
    h.insert("access-control-allow-credentials", "true".parse().unwrap());
    if let Some(l) = location {
        h.insert(http::header::LOCATION, l);
    }
    out
}

fn configured() -> (spanfire::Telemetry, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let telemetry = spanfire::configure()
        .install_globals(false)
        .console(false)
        .logfire_attributes(true)
        .with_span_processor(SimpleSpanProcessor::new(exporter.clone()))
        .finish()
        .unwrap();
    (telemetry, exporter)
}

fn instrumentation(t: &spanfire::Telemetry) -> HttpClientInstrumentation {
    HttpClientInstrumentation::new()
        .tracer_provider(t.tracer_provider().clone())
        .semconv_stability(SemconvStability::Duplicate)
        .capture_all(true)
}

fn dump(label: &str, spans: &[SpanData]) {
    for s in spans {
        println!(
            "===== {label}: {} {:?} {:?} scope={}",
            s.name,
            s.span_kind,
            s.status,
            s.instrumentation_scope.name()
        );
        for kv in &s.attributes {
            println!("    {} = {:?}", kv.key, kv.value);
        }
        for e in s.events.iter() {
            println!("  EV {} {:?}", e.name, e.attributes);
        }
    }
}

#[tokio::test]
async fn reference_probe() {
    let bin = Httpbin::start().await;
    let closed = closed_port();
    for front in [Front::Reqwest, Front::Tower] {
        let scenarios: Vec<(&str, Req, Option<Duration>)> = vec![
            ("get_query_token", Req::new(Method::GET, &bin.url("/get?token=secret&user=alice&q=a%20b")), None),
            (
                "post_json",
                Req::new(Method::POST, &bin.url("/post"))
                    .header("X-Custom", "1")
                    .header("Authorization", "Bearer abc")
                    .header("Cookie", "session=xyz")
                    .header("Content-Type", "application/json")
                    .body(br#"{"name": "x", "n": 1}"#),
                None,
            ),
            ("status_404", Req::new(Method::GET, &bin.url("/status/404")), None),
            ("status_500", Req::new(Method::GET, &bin.url("/status/500")), None),
            ("conn_refused", Req::new(Method::GET, &format!("http://127.0.0.1:{closed}/get")), None),
            ("redirect_2", Req::new(Method::GET, &bin.url("/redirect/2")), None),
            (
                "userinfo_sig_params",
                Req::new(
                    Method::GET,
                    &format!("http://user:pass@{}/anything?sig=abc&Signature=s&AWSAccessKeyId=k&X-Goog-Signature=g&token=secret&api_key=k2", bin.addr),
                ),
                None,
            ),
            ("timeout", Req::new(Method::GET, &bin.url("/delay/3")), Some(Duration::from_millis(300))),
        ];
        for (label, req, timeout) in scenarios {
            let (telemetry, exporter) = configured();
            let client = Client::new(
                front,
                instrumentation(&telemetry),
                ClientOptions {
                    timeout,
                    ..ClientOptions::default()
                },
            );
            match client.send(req).await {
                Ok(resp) => {
                    let st = resp.status();
                    let b = resp.bytes().await;
                    println!("{front:?} {label}: {st} {}", String::from_utf8_lossy(&b));
                }
                Err(e) => println!("{front:?} {label}: error {e:?}"),
            }
            let spans = exporter.get_finished_spans().unwrap();
            telemetry.shutdown().unwrap();
            dump(&format!("{front:?} {label}"), &spans);
        }
    }
}
