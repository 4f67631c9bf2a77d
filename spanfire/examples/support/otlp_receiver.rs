//! A stand-in for Logfire (or any OTLP/HTTP collector) on 127.0.0.1: it accepts OTLP/HTTP
//! protobuf exports, decodes them with the OpenTelemetry protocol definitions and keeps what it
//! received, so that an example or a test can show it. Used by the `logfire` example and by
//! the integration tests (`tests/all/logfire_receiver.rs`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;
use tokio::net::TcpListener;

/// An attribute value as received, with its OTLP type.
#[derive(Debug, Clone, PartialEq)]
#[allow(dead_code)]
pub enum Received {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    Array(Vec<Received>),
    Other,
}

/// One span as the receiver decoded it.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub struct ReceivedSpan {
    pub name: String,
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub parent_span_id: Vec<u8>,
    pub attributes: BTreeMap<String, Received>,
    pub resource: BTreeMap<String, Received>,
}

/// One export request: its path and `authorization` header.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub struct ReceivedRequest {
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
}

/// Everything the receiver got so far.
#[derive(Debug, Default)]
#[allow(dead_code)]
pub struct Inbox {
    pub requests: Vec<ReceivedRequest>,
    pub spans: Vec<ReceivedSpan>,
    /// Names of the metrics received.
    pub metrics: Vec<String>,
}

/// Starts the receiver on a free port of 127.0.0.1; returns its base URL and its inbox. It runs
/// until the Tokio runtime shuts down.
pub async fn start() -> std::io::Result<(String, Arc<Mutex<Inbox>>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let inbox = Arc::new(Mutex::new(Inbox::default()));
    let shared = Arc::clone(&inbox);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            let inbox = Arc::clone(&shared);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let inbox = Arc::clone(&inbox);
                    async move { Ok::<_, Infallible>(receive(req, &inbox).await) }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((base, inbox))
}

async fn receive(req: Request<Incoming>, inbox: &Mutex<Inbox>) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let request = ReceivedRequest {
        path: req.uri().path().to_owned(),
        authorization: header("authorization"),
        content_type: header("content-type"),
    };
    let body = match req.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return status(400),
    };
    let Ok(mut inbox) = inbox.lock() else {
        return status(500);
    };
    let decoded = match request.path.as_str() {
        "/v1/traces" => {
            ExportTraceServiceRequest::decode(body).map(|r| inbox.spans.extend(spans(r)))
        }
        "/v1/metrics" => ExportMetricsServiceRequest::decode(body).map(|r| {
            let names = r
                .resource_metrics
                .into_iter()
                .flat_map(|rm| rm.scope_metrics);
            inbox
                .metrics
                .extend(names.flat_map(|sm| sm.metrics).map(|m| m.name));
        }),
        _ => return status(404),
    };
    inbox.requests.push(request);
    match decoded {
        Ok(()) => status(200),
        Err(_) => status(400),
    }
}

fn status(code: u16) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or_default();
    response
}

fn spans(request: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for rs in request.resource_spans {
        let resource = rs
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        for span in rs.scope_spans.into_iter().flat_map(|ss| ss.spans) {
            out.push(ReceivedSpan {
                name: span.name,
                trace_id: span.trace_id,
                span_id: span.span_id,
                parent_span_id: span.parent_span_id,
                attributes: attributes(&span.attributes),
                resource: resource.clone(),
            });
        }
    }
    out
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, Received> {
    kvs.iter()
        .map(|kv| {
            let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
            (kv.key.clone(), received(value))
        })
        .collect()
}

fn received(value: Option<&AnyValue>) -> Received {
    match value {
        Some(AnyValue::StringValue(s)) => Received::Str(s.clone()),
        Some(AnyValue::IntValue(i)) => Received::Int(*i),
        Some(AnyValue::DoubleValue(d)) => Received::Double(*d),
        Some(AnyValue::BoolValue(b)) => Received::Bool(*b),
        Some(AnyValue::ArrayValue(a)) => Received::Array(
            a.values
                .iter()
                .map(|v| received(v.value.as_ref()))
                .collect(),
        ),
        _ => Received::Other,
    }
}
