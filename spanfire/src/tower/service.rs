//! [`SpanfireService`]: `http::Request` to the exchange driver and back.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;

use crate::exchange::{Inner, Outgoing};
use crate::{InstrumentedBody, TeeBody};

use super::edge::TOWER;
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
        let (mut parts, body) = request.into_parts();
        let body_size = body.size_hint().exact();
        let begun = request_url(&parts).and_then(|url| {
            let outgoing = Outgoing {
                method: &parts.method,
                url: &url,
                headers: &mut parts.headers,
                extensions: &parts.extensions,
                buffered_body: None,
                body_size,
            };
            self.inner.begin(&TOWER, outgoing)
        });
        let Some(begun) = begun else {
            let request = Request::from_parts(parts, TeeBody::passthrough(body));
            return ResponseFuture::passthrough(self.service.call(request));
        };
        let cx = begun.exchange.context();
        let body = match begun.body_capture {
            Some(capture) => TeeBody::new(body, capture, cx.clone()),
            None => TeeBody::passthrough(body),
        };
        let mut request = Request::from_parts(parts, body);
        // which connection the pool hands out, for the connection metrics' idle/active
        let capture = begun
            .exchange
            .tracks_connections()
            .then(|| hyper_util::client::legacy::connect::capture_connection(&mut request));
        let future = {
            let _attached = cx.clone().attach();
            self.service.call(request)
        };
        ResponseFuture::new(future, begun.exchange, cx, capture)
    }
}

/// The request URL: the URI when absolute, else `http://{Host}{path}`; `None` when neither
/// gives a URL.
fn request_url(parts: &http::request::Parts) -> Option<url::Url> {
    let uri = &parts.uri;
    if uri.scheme().is_some() && uri.authority().is_some() {
        return url::Url::parse(&uri.to_string()).ok();
    }
    let host = parts.headers.get(http::header::HOST)?.to_str().ok()?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    url::Url::parse(&format!("http://{host}{path}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(request: Request<()>) -> http::request::Parts {
        request.into_parts().0
    }

    #[test]
    fn urls_come_from_absolute_uris_or_the_host_header() {
        let absolute = parts(Request::get("https://h:8443/p?q=1").body(()).unwrap());
        assert_eq!(
            request_url(&absolute).unwrap().as_str(),
            "https://h:8443/p?q=1"
        );
        let relative = Request::get("/p?q=1").header("host", "h:81").body(());
        assert_eq!(
            request_url(&parts(relative.unwrap())).unwrap().as_str(),
            "http://h:81/p?q=1"
        );
        let nowhere = parts(Request::get("/p").body(()).unwrap());
        assert!(request_url(&nowhere).is_none());
    }
}
