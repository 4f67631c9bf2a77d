//! [`ResponseFuture`]: hands the response head and body, or the error, to the exchange.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Response;
use http_body::Body;
use hyper_util::client::legacy::connect::CaptureConnection;

use crate::exchange::Exchange;
use crate::hooks::ResponseHead;
use crate::InstrumentedBody;

pin_project_lite::pin_project! {
    /// The future of an instrumented request. Dropping it before it completes ends the span as
    /// cancelled.
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        state: Option<(Exchange, opentelemetry::Context)>,
        // the connection the pool hands the request, until it has
        capture: Option<CaptureConnection>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        future: F,
        exchange: Exchange,
        cx: opentelemetry::Context,
        capture: Option<CaptureConnection>,
    ) -> Self {
        ResponseFuture {
            future,
            state: Some((exchange, cx)),
            capture,
        }
    }

    pub(crate) fn passthrough(future: F) -> Self {
        ResponseFuture {
            future,
            state: None,
            capture: None,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    B::Error: std::error::Error + 'static,
    E: std::error::Error + 'static,
{
    type Output = Result<Response<InstrumentedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _attached = this.state.as_ref().map(|(_, cx)| cx.clone().attach());
        let polled = this.future.poll(cx);
        if let (Some(capture), Some((exchange, _))) = (this.capture.as_ref(), this.state.as_mut()) {
            if let Some(lease) = crate::connect::lease_of(capture) {
                *this.capture = None;
                if let Some(lease) = lease {
                    exchange.hold_connection(lease);
                }
            }
        }
        let result = ready!(polled);
        let Some((exchange, _)) = this.state.take() else {
            return Poll::Ready(
                result.map(|res| res.map(|body| InstrumentedBody::new(body, None))),
            );
        };
        Poll::Ready(match result {
            Ok(response) => Ok(respond(response, exchange)),
            Err(error) => {
                exchange.fail(&error, std::any::type_name::<E>());
                Err(error)
            }
        })
    }
}

fn respond<B>(response: Response<B>, exchange: Exchange) -> Response<InstrumentedBody<B>>
where
    B: Body,
    B::Error: std::error::Error + 'static,
{
    let (parts, body) = response.into_parts();
    let head = ResponseHead {
        status: parts.status,
        version: parts.version,
        headers: &parts.headers,
        url: None,
    };
    let peer = parts
        .extensions
        .get::<hyper_util::client::legacy::connect::HttpInfo>()
        .map(|info| info.remote_addr());
    let body = exchange.respond(&head, peer, body);
    Response::from_parts(parts, body)
}

impl<F: std::fmt::Debug> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("future", &self.future)
            .field("instrumented", &self.state.is_some())
            .finish()
    }
}
