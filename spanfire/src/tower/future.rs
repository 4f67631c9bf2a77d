//! [`ResponseFuture`]: records the response head and wraps the body.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{Method, Response};
use http_body::Body;

use crate::hooks::ResponseHead;
use crate::span::{Failure, RequestSpan};
use crate::InstrumentedBody;

pin_project_lite::pin_project! {
    /// The future of an instrumented request. Dropping it before it completes ends the span as
    /// cancelled.
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        state: Option<Pending>,
    }
}

struct Pending {
    span: RequestSpan,
    cx: opentelemetry::Context,
    method: Method,
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        future: F,
        span: RequestSpan,
        cx: opentelemetry::Context,
        method: Method,
    ) -> Self {
        ResponseFuture {
            future,
            state: Some(Pending { span, cx, method }),
        }
    }

    pub(crate) fn passthrough(future: F) -> Self {
        ResponseFuture {
            future,
            state: None,
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
        let _attached = this.state.as_ref().map(|s| s.cx.clone().attach());
        let result = ready!(this.future.poll(cx));
        let Some(Pending { span, method, .. }) = this.state.take() else {
            return Poll::Ready(
                result.map(|res| res.map(|body| InstrumentedBody::new(body, None))),
            );
        };
        Poll::Ready(match result {
            Ok(response) => Ok(wrap_response(response, &method, span)),
            Err(error) => {
                span.fail(Failure {
                    error: &error,
                    kind: crate::semconv::classify(&error),
                    type_name: std::any::type_name::<E>(),
                    url: None,
                });
                Err(error)
            }
        })
    }
}

fn wrap_response<B>(
    response: Response<B>,
    method: &Method,
    mut span: RequestSpan,
) -> Response<InstrumentedBody<B>>
where
    B: Body,
    B::Error: std::error::Error + 'static,
{
    let head = ResponseHead {
        status: response.status(),
        version: response.version(),
        headers: response.headers(),
        url: None,
    };
    let peer = response
        .extensions()
        .get::<hyper_util::client::legacy::connect::HttpInfo>()
        .map(|info| info.remote_addr());
    span.on_response(method, &head, peer);
    response.map(|body| InstrumentedBody::new(body, Some(span)))
}

impl<F: std::fmt::Debug> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("future", &self.future)
            .field("instrumented", &self.state.is_some())
            .finish()
    }
}
