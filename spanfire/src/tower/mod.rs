//! The tower front end: a [`tower_layer::Layer`] for hyper-util's `Client` and any tower
//! service of `http::Request<B>` -> `http::Response<B2>` (feature `tower`).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! // The client sends spanfire's request body wrapper (it tees the body when captured).
//! let client = Client::builder(TokioExecutor::new())
//!     .build_http::<spanfire::tower::RequestBody<Full<Bytes>>>();
//! let mut service = ServiceBuilder::new()
//!     .layer(spanfire::HttpClientInstrumentation::new().capture_all(true).layer())
//!     .service(client);
//! let request = http::Request::get("http://127.0.0.1:8080/get").body(Full::new(Bytes::new()))?;
//! let response = service.ready().await?.call(request).await?;
//! let body = response.into_body().collect().await?.to_bytes();
//! # Ok(()) }
//! ```
//!
//! The layer gives exactly the spans of the reqwest front end — same attributes, status,
//! `error.type`, hooks, URL filter, header and body capture, propagation, excluded URLs — from
//! the same core; it only converts types.
//!
//! # When each hook runs
//! - `url_filter`: in `Service::call`, before the span starts.
//! - `request_hook`: in `Service::call`, after trace context was injected into the request
//!   headers, before the inner service is called. The request body has not been sent yet.
//! - `response_hook`: when the inner service's future yields the response head (before the
//!   body is read), or its error; never for a future dropped before that (cancelled).
//!
//! The span ends when the response body ([`InstrumentedBody`](crate::InstrumentedBody)) ends,
//! fails or is dropped, or with the error, or when the response future is dropped first.
//! The request's OpenTelemetry context is attached while the inner service is called and on
//! every poll of the future and of the body.
//!
//! # Per-request overrides
//! Put [`DisablePropagation`](crate::DisablePropagation), [`UrlTemplate`](crate::UrlTemplate)
//! or [`ResendCount`](crate::ResendCount) in the request's extensions.
//!
//! # Retries
//! Place the layer inside tower's retry layer, with the policy wrapped in [`CountResends`]:
//! one span per attempt, resends numbered by `http.request.resend_count`.
//!
//! # Connections
//! Wrap the client's connector with
//! [`HttpClientInstrumentation::connector`](crate::HttpClientInstrumentation::connector) and
//! build the layer with `connection_phases(true)`: requests that open a connection get DNS,
//! connect and TLS events, every request `spanfire.connection.reused`, and with
//! `opt_in_metrics(true)` the client's connections are counted — see [`crate::connect`].
//!
//! # Request URL
//! `url.full` and `server.*` come from the request URI, which hyper-util's client requires in
//! absolute form; for a relative URI the `Host` header and `http` are used. A request whose URL
//! cannot be formed at all is passed through without a span.

mod edge;
mod future;
mod layer;
mod retry;
mod service;

pub use future::ResponseFuture;
pub use layer::SpanfireLayer;
pub use retry::CountResends;
pub use service::SpanfireService;

/// The request body type the inner service receives: the application's body, teed when request
/// bodies are captured, otherwise passed through untouched.
pub type RequestBody<B> = crate::TeeBody<B>;

impl crate::HttpClientInstrumentation {
    /// A layer for the logical request, to place *outside* tower's retry layer when
    /// [`layer`](crate::HttpClientInstrumentation::layer) is inside it: one INTERNAL span per
    /// logical request, until the final response body ends, whose children are the attempts'
    /// CLIENT spans; no hooks, capture, propagation or metrics of its own (the attempts have
    /// them).
    pub fn logical_request_layer(&self) -> SpanfireLayer {
        SpanfireLayer::new(self.build_logical())
    }

    /// This instrumentation as a tower layer.
    pub fn layer(&self) -> SpanfireLayer {
        SpanfireLayer::new(self.build())
    }
}
