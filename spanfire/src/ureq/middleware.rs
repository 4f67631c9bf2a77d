//! [`SpanfireMiddleware`]: ureq's types to and from the exchange driver.

use std::sync::Arc;

use http::{Request, Response, StatusCode, Version};
use ureq::middleware::{Middleware, MiddlewareNext};
use ureq::{Body, SendBody};

use crate::exchange::{Exchange, Inner, Outgoing};
use crate::hooks::ResponseHead;

use super::edge::UREQ;

/// The spanfire middleware for ureq 3; built by
/// [`HttpClientInstrumentation::ureq_middleware`](crate::HttpClientInstrumentation::ureq_middleware).
#[derive(Debug, Clone)]
pub struct SpanfireMiddleware {
    inner: Arc<Inner>,
}

impl SpanfireMiddleware {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        SpanfireMiddleware { inner }
    }
}

impl Middleware for SpanfireMiddleware {
    fn handle(
        &self,
        request: Request<SendBody>,
        next: MiddlewareNext,
    ) -> Result<Response<Body>, ureq::Error> {
        let (mut parts, body) = request.into_parts();
        let url = url::Url::parse(&parts.uri.to_string()).ok();
        let begun = url.as_ref().and_then(|url| {
            let outgoing = Outgoing {
                method: &parts.method,
                url,
                headers: &mut parts.headers,
                extensions: &parts.extensions,
                buffered_body: None,
                body_size: None,
            };
            self.inner.begin(&UREQ, outgoing)
        });
        let Some(begun) = begun else {
            return next.handle(Request::from_parts(parts, body));
        };
        let mut exchange = begun.exchange;
        let cx = exchange.context();
        let _attached = cx.clone().attach();
        let Some(capture) = begun.body_capture else {
            return finish(next.handle(Request::from_parts(parts, body)), exchange);
        };
        let (method, headers) = (parts.method.clone(), &mut parts.headers);
        let (mut tee, empty) = super::body::tee(body, &method, headers, capture, cx);
        exchange.note_framed_size(&parts.headers);
        // `SendBody` is invariant in its lifetime: one `handle` call per kind of body
        let result = match empty {
            true => next.handle(Request::from_parts(parts, SendBody::none())),
            false => next.handle(Request::from_parts(parts, SendBody::from_reader(&mut tee))),
        };
        // the capture is recorded now, while the span is open (`finish` may end it)
        drop(tee);
        finish(result, exchange)
    }
}

/// Hands the response, or the error, to the exchange. With ureq's `http_status_as_error` (its
/// default), a 4xx/5xx arrives as `Error::StatusCode`, the response already discarded: the
/// span records the status, with no headers or body.
fn finish(
    result: Result<Response<Body>, ureq::Error>,
    exchange: Exchange,
) -> Result<Response<Body>, ureq::Error> {
    match result {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let head = ResponseHead {
                status: parts.status,
                version: parts.version,
                headers: &parts.headers,
                url: None,
            };
            let body = super::body::respond(&head, body, exchange);
            Ok(Response::from_parts(parts, body))
        }
        Err(ureq::Error::StatusCode(code)) => match StatusCode::from_u16(code) {
            Ok(status) => {
                let headers = http::HeaderMap::new();
                let head = ResponseHead {
                    status,
                    version: Version::HTTP_11,
                    headers: &headers,
                    url: None,
                };
                exchange.respond_discarded(&head, None);
                Err(ureq::Error::StatusCode(code))
            }
            Err(_) => {
                let error = ureq::Error::StatusCode(code);
                exchange.fail(&error, std::any::type_name::<ureq::Error>());
                Err(error)
            }
        },
        Err(error) => {
            exchange.fail(&error, std::any::type_name::<ureq::Error>());
            Err(error)
        }
    }
}
