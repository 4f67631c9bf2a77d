//! [`SpanfireService`]: converts `http::Request` to the core's view and calls it.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;

use crate::hooks::RequestInfo;
use crate::instrumentation::Inner;
use crate::{DisablePropagation, InstrumentedBody, TeeBody};

use super::ResponseFuture;

/// A tower service that instruments every request to the inner HTTP client service.
#[derive(Debug, Clone)]
pub struct SpanfireService<S> {
    service: S,
    inner: Arc<Inner>,
}

impl<S> SpanfireService<S> {
    pub(crate) fn new(service: S, inner: Arc<Inner>) -> Self {
        SpanfireService { service, inner }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.service
    }
}

impl<S, ReqB, ResB> tower_service::Service<Request<ReqB>> for SpanfireService<S>
where
    S: tower_service::Service<Request<TeeBody<ReqB>>, Response = Response<ResB>>,
    S::Error: std::error::Error + 'static,
    ReqB: Body,
    ResB: Body,
    ResB::Error: std::error::Error + 'static,
{
    type Response = Response<InstrumentedBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.service.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let url = request_url(&request);
        let span = url.as_ref().and_then(|url| {
            self.inner
                .start_span(request.method(), url, request.extensions())
        });
        let (Some(mut span), Some(url)) = (span, url) else {
            let request = request.map(TeeBody::passthrough);
            return ResponseFuture::passthrough(self.service.call(request));
        };
        let (mut parts, body) = request.into_parts();
        let disabled = parts.extensions.get::<DisablePropagation>().is_some();
        span.inject(url.host_str(), disabled, &mut parts.headers);
        span.note_request_size(None, &parts.headers);
        span.on_request(&RequestInfo {
            method: &parts.method,
            url: &url,
            headers: &parts.headers,
            extensions: &parts.extensions,
        });
        let cx = span.context().cloned().unwrap_or_default();
        let body = match span.request_body_capture(&parts.headers) {
            Some(capture) => TeeBody::new(body, capture, cx.clone()),
            None => TeeBody::passthrough(body),
        };
        let method = parts.method.clone();
        let future = {
            let _attached = cx.clone().attach();
            self.service.call(Request::from_parts(parts, body))
        };
        ResponseFuture::new(future, span, cx, method)
    }
}

/// The request URL: the URI when absolute, else `http://{Host}{path}`; `None` when neither
/// gives a URL.
fn request_url<B>(request: &Request<B>) -> Option<url::Url> {
    let uri = request.uri();
    if uri.scheme().is_some() && uri.authority().is_some() {
        return url::Url::parse(&uri.to_string()).ok();
    }
    let host = request.headers().get(http::header::HOST)?.to_str().ok()?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    url::Url::parse(&format!("http://{host}{path}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_come_from_absolute_uris_or_the_host_header() {
        let absolute = Request::get("https://h:8443/p?q=1").body(()).unwrap();
        assert_eq!(
            request_url(&absolute).unwrap().as_str(),
            "https://h:8443/p?q=1"
        );
        let relative = Request::get("/p?q=1")
            .header("host", "h:81")
            .body(())
            .unwrap();
        assert_eq!(
            request_url(&relative).unwrap().as_str(),
            "http://h:81/p?q=1"
        );
        let nowhere = Request::get("/p").body(()).unwrap();
        assert!(request_url(&nowhere).is_none());
    }
}
