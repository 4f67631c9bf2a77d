//! [`DnsResolver`]: a hyper-util resolver whose lookups become `spanfire.dns` events.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::SystemTime;

use hyper_util::client::legacy::connect::dns::Name;

use super::attempt::Attempt;

/// Wraps a hyper-util resolver (a `Service<Name>`, such as `GaiResolver`): a lookup made for
/// a connect that a request's span watches (through
/// [`InstrumentedConnector`](super::InstrumentedConnector)) becomes a `spanfire.dns` event
/// with the number of addresses found. Other lookups pass through.
///
/// ```
/// use hyper_util::client::legacy::connect::{dns::GaiResolver, HttpConnector};
///
/// let http = HttpConnector::new_with_resolver(spanfire::connect::DnsResolver::new(GaiResolver::new()));
/// let connector = spanfire::HttpClientInstrumentation::new().connector(http);
/// # drop(connector);
/// ```
#[derive(Debug, Clone)]
pub struct DnsResolver<R> {
    inner: R,
}

impl<R> DnsResolver<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        DnsResolver { inner }
    }

    /// The wrapped resolver.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }
}

impl<R> tower_service::Service<Name> for DnsResolver<R>
where
    R: tower_service::Service<Name>,
    R::Response: Iterator<Item = SocketAddr>,
{
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = R::Error;
    type Future = Lookup<R::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let watch = Attempt::current().map(|attempt| (attempt, SystemTime::now()));
        Lookup {
            inner: self.inner.call(name),
            watch,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`DnsResolver`] lookup.
    pub struct Lookup<F> {
        #[pin]
        inner: F,
        watch: Option<(Attempt, SystemTime)>,
    }
}

impl<F, A, E> Future for Lookup<F>
where
    F: Future<Output = Result<A, E>>,
    A: Iterator<Item = SocketAddr>,
{
    type Output = Result<std::vec::IntoIter<SocketAddr>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx)).map(|addrs| addrs.collect::<Vec<_>>());
        if let Some((attempt, start)) = this.watch.take() {
            attempt.dns_done(start, result.as_ref().ok().map(Vec::len));
        }
        Poll::Ready(result.map(Vec::into_iter))
    }
}

impl<F> std::fmt::Debug for Lookup<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookup")
            .field("watched", &self.watch.is_some())
            .finish_non_exhaustive()
    }
}
