//! [`TcpPhase`]: marks where TCP ends and TLS begins inside a TLS connector.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Uri;

use super::attempt::Attempt;

/// Wraps the TCP connector *inside* a TLS connector (hyper-rustls' `HttpsConnector`, …), so
/// that a watched connect records the TCP connect (`spanfire.connect`) and the TLS handshake
/// (`spanfire.tls`) as two phases. Without it, `spanfire.connect` covers both. Outside a
/// watched connect it only passes the call through.
///
/// ```
/// use hyper_util::client::legacy::connect::{dns::GaiResolver, HttpConnector};
/// use spanfire::connect::{DnsResolver, TcpPhase};
///
/// let mut http = HttpConnector::new_with_resolver(DnsResolver::new(GaiResolver::new()));
/// http.enforce_http(false);
/// let tcp = TcpPhase::new(http);
/// // let https = hyper_rustls::HttpsConnectorBuilder::new()…wrap_connector(tcp);
/// // let connector = instrumentation.connector(https);
/// # drop(tcp);
/// ```
#[derive(Debug, Clone)]
pub struct TcpPhase<C> {
    inner: C,
}

impl<C> TcpPhase<C> {
    /// Wraps `inner`, the TCP connector.
    pub fn new(inner: C) -> Self {
        TcpPhase { inner }
    }

    /// The wrapped connector.
    pub fn get_ref(&self) -> &C {
        &self.inner
    }

    /// The wrapped connector, mutably (to set its options).
    pub fn get_mut(&mut self) -> &mut C {
        &mut self.inner
    }
}

impl<C: tower_service::Service<Uri>> tower_service::Service<Uri> for TcpPhase<C> {
    type Response = C::Response;
    type Error = C::Error;
    type Future = TcpConnecting<C::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        TcpConnecting {
            inner: self.inner.call(dst),
            attempt: Attempt::current(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`TcpPhase`] connect.
    pub struct TcpConnecting<F> {
        #[pin]
        inner: F,
        attempt: Option<Attempt>,
    }
}

impl<F, T, E> Future for TcpConnecting<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some(attempt) = this.attempt.take() {
            attempt.tcp_done(result.is_ok());
        }
        Poll::Ready(result)
    }
}

impl<F> std::fmt::Debug for TcpConnecting<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpConnecting")
            .field("watched", &self.attempt.is_some())
            .finish_non_exhaustive()
    }
}
