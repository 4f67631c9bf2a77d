//! [`SpanfireMiddleware`]: reqwest's types to and from the exchange driver.

use std::sync::Arc;

use http::Extensions;
use opentelemetry::context::FutureExt;
use reqwest::{Request, Response, ResponseBuilderExt};
use reqwest_middleware::{Middleware, Next};

use crate::exchange::{count_pass, Exchange, Inner, Outgoing, RequestCapture};
use crate::hooks::ResponseHead;
use crate::TeeBody;

use super::edge::REQWEST;

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
        let mut headers = std::mem::take(req.headers_mut());
        let buffered = req.body().and_then(reqwest::Body::as_bytes);
        let outgoing = Outgoing {
            method: req.method(),
            url: req.url(),
            headers: &mut headers,
            extensions,
            buffered_body: buffered,
            body_size: None,
        };
        let begun = self.inner.begin(&REQWEST, outgoing);
        *req.headers_mut() = headers;
        let Some(begun) = begun else {
            return next.run(req, extensions).await;
        };
        let exchange = begun.exchange;
        if exchange.is_recording() {
            // a retry middleware before this one passes the same extensions to every attempt
            count_pass(extensions);
        }
        let cx = exchange.context();
        if let Some(capture) = begun.body_capture {
            tee_request_body(&mut req, capture, &cx);
        }
        match next.run(req, extensions).with_context(cx).await {
            Ok(res) => Ok(respond(res, exchange)),
            Err(err) => {
                match &err {
                    reqwest_middleware::Error::Reqwest(e) => {
                        exchange.fail(e, std::any::type_name::<reqwest::Error>())
                    }
                    // raised by another middleware: `_OTHER`, whatever it wraps
                    reqwest_middleware::Error::Middleware(e) => exchange.fail_as(
                        e.as_ref(),
                        crate::ErrorKind::Other,
                        std::any::type_name::<reqwest_middleware::Error>(),
                    ),
                }
                Err(err)
            }
        }
    }
}

/// Wraps a streaming request body in a [`TeeBody`] (a buffered one was captured by `begin`).
fn tee_request_body(req: &mut Request, capture: RequestCapture, cx: &opentelemetry::Context) {
    let Some(body) = req.body_mut().take() else {
        return;
    };
    let tee = TeeBody::new(body, capture, cx.clone());
    *req.body_mut() = Some(reqwest::Body::wrap(tee));
}

/// Hands the response head and body to the exchange. The URL is put back (an `http::Response`
/// round trip would otherwise lose it).
fn respond(res: Response, exchange: Exchange) -> Response {
    let url = res.url().clone();
    let peer = res.remote_addr();
    let (mut parts, body) = http::Response::<reqwest::Body>::from(res).into_parts();
    let head = ResponseHead {
        status: parts.status,
        version: parts.version,
        headers: &parts.headers,
        url: Some(&url),
    };
    let body = exchange.respond(&head, peer, body);
    if let Ok(with_url) = http::Response::builder().url(url).body(()) {
        parts.extensions.extend(with_url.into_parts().0.extensions);
    }
    Response::from(http::Response::from_parts(parts, reqwest::Body::wrap(body)))
}
