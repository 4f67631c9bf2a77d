//! reqwest's connector layer and DNS resolver: the connection phases of reqwest clients built
//! by [`instrument_reqwest_builder`](crate::HttpClientInstrumentation::instrument_reqwest_builder).
//!
//! reqwest's `connector_layer` wraps its whole connector — DNS, TCP and TLS in one service
//! whose request (`Unnameable`) and response (`Conn`) types are sealed: the layer can watch the
//! connect from call to end and read the connection's `Connected` (peer address, ALPN `h2`),
//! but cannot wrap its IO or see the destination. The DNS lookup is timed by the resolver
//! (`dns_resolver`), the one point reqwest exposes inside the connect; there is none between
//! TCP and TLS, so for HTTPS the `spanfire.connect` event covers both.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::connect::{Connection, HttpInfo};
use reqwest::dns::Resolve;
use tower_service::Service;

use super::attempt::{Attempt, Outcome, TlsDetails};
use super::watch::{Connecting, Finish, Watch};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl crate::HttpClientInstrumentation {
    /// The DNS resolver for [`instrument_reqwest_builder`](Self::instrument_reqwest_builder)
    /// to time and install: spanfire replaces the builder's resolver with its timed one, so a
    /// resolver of your own (hickory-dns, a service-discovery lookup) goes here rather than to
    /// `ClientBuilder::dns_resolver`.
    ///
    /// Default: getaddrinfo on tokio's blocking pool (reqwest's own default without
    /// `hickory-dns`).
    pub fn reqwest_dns_resolver<R: reqwest::dns::Resolve + 'static>(mut self, resolver: R) -> Self {
        self.reqwest_resolver = Some(Arc::new(resolver));
        self
    }
}

/// `builder` with the connector layer and `resolver` (default: getaddrinfo), timed.
pub(crate) fn install(
    builder: reqwest::ClientBuilder,
    resolver: Option<Arc<dyn Resolve>>,
) -> reqwest::ClientBuilder {
    let inner = resolver.unwrap_or_else(|| Arc::new(Gai(GaiResolver::new())));
    builder
        .connector_layer(ConnectLayer)
        .dns_resolver(Arc::new(TimedResolver { inner }))
}

/// The layer given to `ClientBuilder::connector_layer`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ConnectLayer;

impl<S> tower_layer::Layer<S> for ConnectLayer {
    type Service = WatchedConnector<S>;

    fn layer(&self, inner: S) -> WatchedConnector<S> {
        WatchedConnector { inner }
    }
}

/// reqwest's connector, each connect watched for the request it runs in.
#[derive(Debug, Clone)]
pub(crate) struct WatchedConnector<S> {
    inner: S,
}

impl<S, R> Service<R> for WatchedConnector<S>
where
    S: Service<R, Error = BoxError>,
    S::Response: Connection,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Connecting<S::Future, Describe>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, dst: R) -> Self::Future {
        let watch = Watch::begin();
        let https = watch.as_ref().is_some_and(Watch::https);
        let connecting = {
            let _attached = Watch::attach(&watch);
            self.inner.call(dst)
        };
        Connecting::new(connecting, watch, Describe { https })
    }
}

/// Describes reqwest's `Conn` (through `Connected`, the only view it gives).
#[derive(Debug)]
pub(crate) struct Describe {
    /// The request is HTTPS: the connect included the TLS handshake.
    https: bool,
}

impl<C: Connection> Finish<Result<C, BoxError>> for Describe {
    type Output = Result<C, BoxError>;

    fn describe(&self, output: &Result<C, BoxError>) -> Outcome {
        let Ok(conn) = output else {
            return Outcome::Failed;
        };
        let connected = conn.connected();
        let mut extras = http::Extensions::new();
        connected.get_extras(&mut extras);
        let tls = self.https.then(|| TlsDetails {
            version: tls_version(&extras),
            // reqwest's Connected says "h2" or nothing: an HTTP/1.1 ALPN is not reported
            alpn: connected.is_negotiated_h2().then_some("h2".into()),
        });
        Outcome::Connected {
            peer: extras.get::<HttpInfo>().map(HttpInfo::remote_addr),
            tls,
        }
    }

    fn finish(self, output: Result<C, BoxError>) -> Result<C, BoxError> {
        output
    }
}

/// The TLS version reqwest reports, on a client built with `tls_info(true)`.
#[cfg(feature = "tls")]
fn tls_version(extras: &http::Extensions) -> Option<&'static str> {
    use reqwest::tls::Version;
    let version = extras.get::<reqwest::tls::TlsInfo>()?.version()?;
    [
        (Version::TLS_1_3, "1.3"),
        (Version::TLS_1_2, "1.2"),
        (Version::TLS_1_1, "1.1"),
        (Version::TLS_1_0, "1.0"),
    ]
    .into_iter()
    .find_map(|(v, name)| (v == version).then_some(name))
}

#[cfg(not(feature = "tls"))]
fn tls_version(_: &http::Extensions) -> Option<&'static str> {
    None
}

/// getaddrinfo on tokio's blocking pool: what reqwest uses without `hickory-dns`.
#[derive(Debug, Clone)]
struct Gai(GaiResolver);

impl Resolve for Gai {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let mut gai = self.0.clone();
        let name = Name::from_str(name.as_str());
        Box::pin(async move {
            let name =
                name.map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let addrs: reqwest::dns::Addrs = Box::new(gai.call(name).await?);
            Ok(addrs)
        })
    }
}

/// A resolver whose lookups for a watched connect become `spanfire.dns` events.
struct TimedResolver {
    inner: Arc<dyn Resolve>,
}

impl Resolve for TimedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let Some(attempt) = Attempt::current() else {
            return self.inner.resolve(name);
        };
        let start = SystemTime::now();
        let lookup = self.inner.resolve(name);
        Box::pin(async move {
            let addrs = lookup.await.map(|a| a.collect::<Vec<SocketAddr>>());
            attempt.dns_done(start, addrs.as_ref().ok().map(Vec::len));
            let addrs: reqwest::dns::Addrs = Box::new(addrs?.into_iter());
            Ok(addrs)
        })
    }
}
