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
use super::redirect::{self, Journey, RedirectError, Redirects};

/// The spanfire middleware for reqwest-middleware; built by
/// [`HttpClientInstrumentation::reqwest_middleware`](crate::HttpClientInstrumentation::reqwest_middleware).
#[derive(Debug, Clone)]
pub struct SpanfireMiddleware {
    inner: Arc<Inner>,
    /// Redirects followed here, hop by hop (the client follows none).
    redirects: Option<Redirects>,
}

impl SpanfireMiddleware {
    pub(crate) fn new(inner: Arc<Inner>, redirects: Option<Redirects>) -> Self {
        SpanfireMiddleware { inner, redirects }
    }

    /// Begins the exchange of one request (or hop): trace context, request hook, capture. The
    /// headers are sent as given (`None`: no span for this request).
    fn begin(&self, req: &mut Request, extensions: &mut Extensions) -> Option<Exchange> {
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
        let begun = begun?;
        if begun.exchange.is_recording() && !self.inner.logical {
            // a retry middleware before this one passes the same extensions to every attempt
            count_pass(extensions);
        }
        if let Some(capture) = begun.body_capture {
            tee_request_body(req, capture, &begun.exchange.context());
        }
        Some(begun.exchange)
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
        // `Redirects::none()` needs no journey: every response is delivered as it is
        let mut journey = match self.redirects {
            Some(r) if r.follow => Some(Journey::start(&mut req)),
            _ => None,
        };
        let mut exchange = self.begin(&mut req, extensions);
        loop {
            let sent = next.clone().run(req, extensions);
            let result = match &exchange {
                Some(exchange) => sent.with_context(exchange.context()).await,
                None => sent.await,
            };
            let res = match result {
                Ok(res) => res,
                Err(err) => {
                    if let Some(exchange) = exchange {
                        fail(exchange, &err);
                    }
                    return Err(err);
                }
            };
            let (Some(journey), Some(redirects)) = (&mut journey, self.redirects) else {
                return Ok(deliver(res, exchange));
            };
            let location = res.headers().get(http::header::LOCATION);
            match journey.next(res.url(), res.status(), location, &redirects) {
                redirect::Next::Deliver => return Ok(deliver(res, exchange)),
                redirect::Next::Fail(error) => {
                    let type_name = std::any::type_name::<RedirectError>();
                    if let Some(exchange) = exchange {
                        exchange.fail_as(&error, crate::ErrorKind::Redirect, type_name);
                    }
                    return Err(reqwest_middleware::Error::middleware(error));
                }
                redirect::Next::Follow(mut hop) => {
                    match exchange.take() {
                        Some(done) if redirects.span_per_hop => {
                            let head = ResponseHead {
                                status: res.status(),
                                version: res.version(),
                                headers: res.headers(),
                                url: Some(res.url()),
                            };
                            done.respond_discarded(&head, res.remote_addr());
                            exchange = self.begin(&mut hop, extensions);
                        }
                        Some(whole) => {
                            // one span for the request: trace context for this hop's host
                            let url = hop.url().clone();
                            whole.inject(&url, extensions, hop.headers_mut());
                            exchange = Some(whole);
                        }
                        None if redirects.span_per_hop => {
                            exchange = self.begin(&mut hop, extensions);
                        }
                        None => {}
                    }
                    req = hop;
                }
            }
        }
    }
}

/// Records a failed send: reqwest's errors by their kind, another middleware's as `_OTHER`.
fn fail(exchange: Exchange, err: &reqwest_middleware::Error) {
    match err {
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
}

/// The response to the application: its body wrapped when it has a span.
fn deliver(res: Response, exchange: Option<Exchange>) -> Response {
    match exchange {
        Some(exchange) => respond(res, exchange),
        None => res,
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
    restore_url(&mut parts, url);
    Response::from(http::Response::from_parts(parts, reqwest::Body::wrap(body)))
}

/// Puts the response URL back among the extensions of `parts`. Only reqwest's builder extension
/// can write it: the builder is handed the response's own extensions, so that the URL goes
/// into their map (no second map made and merged).
fn restore_url(parts: &mut http::response::Parts, url: url::Url) {
    let mut builder = http::Response::builder();
    if let Some(extensions) = builder.extensions_mut() {
        *extensions = std::mem::take(&mut parts.extensions);
    }
    // A fresh builder holds no error: this is always `Ok`.
    if let Ok(with_url) = builder.url(url).body(()) {
        parts.extensions = with_url.into_parts().0.extensions;
    }
}
