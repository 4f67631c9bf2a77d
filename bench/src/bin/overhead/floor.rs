//! The floor row: the least a span that covers the response body costs with these crates.
//!
//! [`FloorMiddleware`] does only what no such instrumentation can leave out: an OpenTelemetry
//! 0.33 SDK span (CLIENT, the same five start attributes as spanfire's, `url.full` copied as is),
//! `http.response.status_code` when the head arrives, the response body re-wrapped so that the
//! span ends with it, and the `http.client.request.duration` histogram with the same seven
//! attributes. No redaction, no trace-context injection, no head event, no peer attributes, no
//! hooks, no context attached while polling. What spanfire costs above this row is spanfire's
//! own; what this row costs above plain reqwest is the SDK's, reqwest's and the middleware
//! boundary's.

use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use http::Extensions;
use http_body::{Body, Frame, SizeHint};
use opentelemetry::metrics::Histogram;
use opentelemetry::trace::{Span as _, SpanKind, Tracer as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{SdkTracer, Span};
use reqwest::ResponseBuilderExt;
use reqwest_middleware::{Middleware, Next};

/// See the module docs.
pub(crate) struct FloorMiddleware {
    pub(crate) tracer: SdkTracer,
    pub(crate) duration: Histogram<f64>,
}

#[async_trait::async_trait]
impl Middleware for FloorMiddleware {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let start = Instant::now();
        let url = req.url();
        let mut metric = Vec::with_capacity(7);
        metric.push(KeyValue::new("http.request.method", "GET"));
        metric.push(KeyValue::new(
            "server.address",
            url.host_str().unwrap_or_default().to_owned(),
        ));
        metric.push(KeyValue::new(
            "server.port",
            i64::from(url.port_or_known_default().unwrap_or_default()),
        ));
        metric.push(KeyValue::new("url.scheme", "http"));
        let mut attrs = Vec::with_capacity(8);
        attrs.extend(metric.iter().cloned());
        attrs.push(KeyValue::new("url.full", url.as_str().to_owned()));
        let mut span = self
            .tracer
            .span_builder("GET")
            .with_kind(SpanKind::Client)
            .with_attributes(attrs)
            .start(&self.tracer);
        let res = next.run(req, extensions).await?;
        let status = i64::from(res.status().as_u16());
        span.set_attribute(KeyValue::new("http.response.status_code", status));
        metric.push(KeyValue::new("http.response.status_code", status));
        metric.push(KeyValue::new("network.protocol.version", "1.1"));
        let url = res.url().clone();
        let (mut parts, body) = http::Response::<reqwest::Body>::from(res).into_parts();
        if let Ok(with_url) = http::Response::builder().url(url).body(()) {
            parts.extensions.extend(with_url.into_parts().0.extensions);
        }
        let end = End {
            span,
            start,
            metric,
            duration: self.duration.clone(),
        };
        let body = reqwest::Body::wrap(FloorBody {
            inner: body,
            end: Some(end),
        });
        Ok(reqwest::Response::from(http::Response::from_parts(
            parts, body,
        )))
    }
}

struct End {
    span: Span,
    start: Instant,
    metric: Vec<KeyValue>,
    duration: Histogram<f64>,
}

impl End {
    fn end(mut self) {
        self.duration
            .record(self.start.elapsed().as_secs_f64(), &self.metric);
        self.span.end();
    }
}

pin_project_lite::pin_project! {
    /// Ends the span at the end of the body (or when dropped).
    struct FloorBody {
        #[pin]
        inner: reqwest::Body,
        end: Option<End>,
    }

    impl PinnedDrop for FloorBody {
        fn drop(this: Pin<&mut Self>) {
            if let Some(end) = this.project().end.take() {
                end.end();
            }
        }
    }
}

impl Body for FloorBody {
    type Data = bytes::Bytes;
    type Error = reqwest::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let polled = ready!(this.inner.as_mut().poll_frame(cx));
        let done = match &polled {
            None | Some(Err(_)) => true,
            Some(Ok(_)) => this.inner.is_end_stream(),
        };
        if done {
            if let Some(end) = this.end.take() {
                end.end();
            }
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
