//! A tiny httpbin-like server on 127.0.0.1, so that the examples need no network.
//!
//! - `GET /get`: echoes the query (`args`) and the request headers as JSON;
//! - `POST /post`: echoes the JSON request body (`json`) and the request headers;
//! - `/status/{code}`: answers with that status and an empty body;
//! - `/redirect/{n}`: a 302 to `/redirect/{n-1}`, and `/redirect/1` to `/get`;
//! - `/flaky`: 503 twice, then 200 (and so on, in threes);
//! - anything else: 404.

use std::convert::Infallible;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;

/// Starts the server on a free port of 127.0.0.1 and returns its base URL, such as
/// `http://127.0.0.1:41234`. The server runs until the Tokio runtime shuts down.
pub async fn start() -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of file descriptors, say: back off a little instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(handle);
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                // A connection error (say, the client went away) only ends that connection.
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(base)
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let response = match (&parts.method, path) {
        (&Method::GET, "/get") => {
            let args = query_args(parts.uri.query().unwrap_or(""));
            let echo = json!({ "args": args, "headers": headers_json(&parts.headers) });
            json_response(StatusCode::OK, &echo)
        }
        (&Method::POST, "/post") => match body.collect().await {
            Ok(collected) => {
                let data = collected.to_bytes();
                let json_body = serde_json::from_slice::<Value>(&data).unwrap_or(Value::Null);
                let echo = json!({
                    "data": String::from_utf8_lossy(&data),
                    "json": json_body,
                    "headers": headers_json(&parts.headers),
                });
                json_response(StatusCode::OK, &echo)
            }
            Err(err) => error_response(StatusCode::BAD_REQUEST, &err.to_string()),
        },
        (_, p) if p.starts_with("/status/") => {
            let code = p["/status/".len()..].parse::<u16>().ok();
            match code.and_then(|c| StatusCode::from_u16(c).ok()) {
                Some(status) => {
                    let mut res = Response::new(Full::new(Bytes::new()));
                    *res.status_mut() = status;
                    res
                }
                None => error_response(StatusCode::BAD_REQUEST, "invalid status code"),
            }
        }
        (_, p) if p.starts_with("/redirect/") => {
            let hops = p["/redirect/".len()..].parse::<u32>().unwrap_or(1);
            let to = match hops {
                0 | 1 => "/get".to_owned(),
                n => format!("/redirect/{}", n - 1),
            };
            let mut res = Response::new(Full::new(Bytes::from_static(b"moved")));
            *res.status_mut() = StatusCode::FOUND;
            if let Ok(location) = HeaderValue::from_str(&to) {
                res.headers_mut().insert(hyper::header::LOCATION, location);
            }
            res
        }
        (_, "/flaky") => {
            static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut res = Response::new(Full::new(Bytes::new()));
            if call % 3 != 2 {
                *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            }
            res
        }
        _ => error_response(StatusCode::NOT_FOUND, "not found"),
    };
    Ok(response)
}

/// The query as a JSON object; a key given several times keeps its last value.
fn query_args(query: &str) -> Map<String, Value> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect()
}

/// The headers as a JSON object; the values of a repeated header are joined with `, `.
fn headers_json(headers: &HeaderMap) -> Map<String, Value> {
    headers
        .keys()
        .map(|name| {
            let values: Vec<String> = headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            (name.to_string(), Value::String(values.join(", ")))
        })
        .collect()
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body.to_string())));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

fn error_response(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json_response(status, &json!({ "error": message }))
}
