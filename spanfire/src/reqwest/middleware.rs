//! [`SpanfireMiddleware`]: converts reqwest's types and calls the shared core.

use std::sync::Arc;

use http::Extensions;
use opentelemetry::context::FutureExt;
use reqwest::{Request, Response, ResponseBuilderExt};
use reqwest_middleware::{Middleware, Next};

use crate::body::InstrumentedBody;
use crate::hooks::{RequestInfo, ResponseHead};
use crate::instrumentation::Inner;
use crate::span::{Failure, RequestCapture, RequestSpan};
use crate::tee::TeeBody;
use crate::DisablePropagation;

/// The spanfire middleware for reqwest-middleware; built by
/// [`HttpClientInstrumentation::reqwest_middleware`](crate::HttpClientInstrumentation::reqwest_middleware).
#[derive(Debug, Clone)]
pub struct SpanfireMiddleware {
    inner: Arc<Inner>,
}

impl SpanfireMiddleware {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        SpanfireMiddleware { inner }
    }
}

#[async_trait::async_trait]
impl Middleware for SpanfireMiddleware {
    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let Some(mut span) = self.inner.start_span(req.method(), req.url(), extensions) else {
            return next.run(req, extensions).await;
        };
        let disabled = extensions.get::<DisablePropagation>().is_some();
        inject(&span, &mut req, disabled);
        span.on_request(&RequestInfo {
            method: req.method(),
            url: req.url(),
            headers: req.headers(),
            extensions,
        });
        let buffered = req
            .body()
            .and_then(reqwest::Body::as_bytes)
            .map(<[u8]>::len);
        span.note_request_size(buffered, req.headers());
        let method = req.method().clone();
        let cx = span.context().cloned().unwrap_or_default();
        if let Some(capture) = span.request_body_capture(req.headers()) {
            tee_request_body(&mut req, capture, &cx);
        }
        match next.run(req, extensions).with_context(cx).await {
            Ok(res) => Ok(wrap_response(res, &method, span)),
            Err(err) => {
                span.fail(failure(&err));
                Err(err)
            }
        }
    }
}

/// Injects trace context into the request headers (the host decides, see `propagate_to_hosts`).
fn inject(span: &RequestSpan, req: &mut Request, disabled: bool) {
    let mut headers = std::mem::take(req.headers_mut());
    span.inject(req.url().host_str(), disabled, &mut headers);
    *req.headers_mut() = headers;
}

/// Captures a buffered body at once, or wraps a streaming one in a [`TeeBody`].
fn tee_request_body(req: &mut Request, mut capture: RequestCapture, cx: &opentelemetry::Context) {
    use opentelemetry::trace::TraceContextExt;
    let Some(body) = req.body_mut().take() else {
        return;
    };
    match body.as_bytes() {
        Some(bytes) => {
            capture.body.push(bytes);
            capture.record(&cx.span());
            *req.body_mut() = Some(body);
        }
        None => {
            let tee = TeeBody::new(body, capture, cx.clone());
            *req.body_mut() = Some(reqwest::Body::wrap(tee));
        }
    }
}

fn failure(err: &reqwest_middleware::Error) -> Failure<'_> {
    match err {
        reqwest_middleware::Error::Reqwest(e) => Failure {
            error: e,
            kind: crate::semconv::classify(e),
            type_name: std::any::type_name::<reqwest::Error>(),
            url: e.url().map(url::Url::as_str),
        },
        reqwest_middleware::Error::Middleware(e) => Failure {
            error: e.as_ref(),
            kind: crate::ErrorKind::Other,
            type_name: std::any::type_name::<reqwest_middleware::Error>(),
            url: None,
        },
    }
}

/// Records the response head, then wraps the body so the span ends with it. The URL is put back
/// (an `http::Response` round trip would otherwise lose it).
fn wrap_response(res: Response, method: &http::Method, mut span: RequestSpan) -> Response {
    let url = res.url().clone();
    let head = ResponseHead {
        status: res.status(),
        version: res.version(),
        headers: res.headers(),
        url: Some(&url),
    };
    span.on_response(method, &head, res.remote_addr());
    let (mut parts, body) = http::Response::<reqwest::Body>::from(res).into_parts();
    if let Ok(with_url) = http::Response::builder().url(url).body(()) {
        parts.extensions.extend(with_url.into_parts().0.extensions);
    }
    let body = reqwest::Body::wrap(InstrumentedBody::new(body, Some(span)));
    Response::from(http::Response::from_parts(parts, body))
}
