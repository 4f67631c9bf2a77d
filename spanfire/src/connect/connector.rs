//! [`InstrumentedConnector`]: a hyper-util connector whose connects are watched for the
//! request they run in, and whose connections are counted.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpInfo};
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute as semattr;

use super::attempt::{Outcome, TlsDetails};
use super::metrics::ConnectionMetrics;
use super::watch::{Connecting, Finish, Watch};
use super::InstrumentedIo;

/// Wraps a hyper-util connector (`HttpConnector`, hyper-rustls' `HttpsConnector`, any
/// `Service<Uri>` whose connections implement `Connection`); built by
/// [`HttpClientInstrumentation::connector`](crate::HttpClientInstrumentation::connector).
///
/// - A connect made inside a request whose span collects connection phases (the layer was
///   built with [`connection_phases`](crate::HttpClientInstrumentation::connection_phases))
///   becomes that span's `spanfire.connect` event (plus `spanfire.dns` with a
///   [`DnsResolver`](super::DnsResolver), `spanfire.tls` with a [`TcpPhase`](super::TcpPhase)
///   inside a TLS connector).
/// - With [`opt_in_metrics`](crate::HttpClientInstrumentation::opt_in_metrics), every
///   connection counts in `http.client.open_connections` while open and records
///   `http.client.connection.duration` once, when hyper-util drops it.
#[derive(Debug, Clone)]
pub struct InstrumentedConnector<C> {
    inner: C,
    metrics: Option<ConnectionMetrics>,
}

impl<C> InstrumentedConnector<C> {
    pub(crate) fn new(inner: C, metrics: Option<ConnectionMetrics>) -> Self {
        InstrumentedConnector { inner, metrics }
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

impl<C> tower_service::Service<Uri> for InstrumentedConnector<C>
where
    C: tower_service::Service<Uri>,
    C::Response: Connection + 'static,
{
    type Response = InstrumentedIo<C::Response>;
    type Error = C::Error;
    type Future = ConnectFuture<C::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let watch = Watch::begin();
        let opened = Opened {
            https: dst.scheme() == Some(&http::uri::Scheme::HTTPS),
            metrics: self.metrics.clone().map(|m| (m, dst.clone())),
        };
        let connecting = {
            let _attached = Watch::attach(&watch);
            self.inner.call(dst)
        };
        ConnectFuture {
            inner: Connecting::new(connecting, watch, opened),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of an [`InstrumentedConnector`] connect.
    pub struct ConnectFuture<F> {
        #[pin]
        inner: Connecting<F, Opened>,
    }
}

impl<F, T, E> Future for ConnectFuture<F>
where
    F: Future<Output = Result<T, E>>,
    T: Connection + 'static,
{
    type Output = Result<InstrumentedIo<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F> std::fmt::Debug for ConnectFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

/// What a connect's end needs: the scheme (for the phases), the metrics and the destination.
#[derive(Debug)]
pub(crate) struct Opened {
    https: bool,
    metrics: Option<(ConnectionMetrics, Uri)>,
}

impl<T: Connection + 'static, E> Finish<Result<T, E>> for Opened {
    type Output = Result<InstrumentedIo<T>, E>;

    fn describe(&self, output: &Result<T, E>) -> Outcome {
        let Ok(io) = output else {
            return Outcome::Failed;
        };
        let connected = io.connected();
        Outcome::Connected {
            peer: http_info(&connected).map(|info| info.remote_addr()),
            tls: self.https.then(|| tls_details(io, &connected)),
        }
    }

    fn finish(self, output: Result<T, E>) -> Self::Output {
        let io = output?;
        let tracked = self.metrics.map(|(metrics, dst)| {
            let connected = io.connected();
            metrics.open(metric_attributes(
                &dst,
                &connected,
                self.https.then(|| tls_details(&io, &connected)),
            ))
        });
        Ok(InstrumentedIo::new(io, tracked))
    }
}

fn http_info(connected: &Connected) -> Option<HttpInfo> {
    let mut extras = http::Extensions::new();
    connected.get_extras(&mut extras);
    extras.remove::<HttpInfo>()
}

/// What the connection says of its TLS: the ALPN `h2` through `Connected`, and, with the
/// `hyper-rustls` feature, the version and ALPN of a hyper-rustls connection.
fn tls_details<T: 'static>(io: &T, connected: &Connected) -> TlsDetails {
    let mut details = super::rustls::details(io).unwrap_or_default();
    if details.alpn.is_none() && connected.is_negotiated_h2() {
        details.alpn = Some("h2".into());
    }
    details
}

/// `server.address`, `server.port` (from the destination), `network.peer.address`,
/// `network.protocol.version` (when negotiated by ALPN).
fn metric_attributes(dst: &Uri, connected: &Connected, tls: Option<TlsDetails>) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(4);
    if let Some(host) = dst.host() {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        attributes.push(KeyValue::new(semattr::SERVER_ADDRESS, host.to_owned()));
    }
    let default_port = if dst.scheme() == Some(&http::uri::Scheme::HTTPS) {
        443
    } else {
        80
    };
    let port = dst.port_u16().unwrap_or(default_port);
    attributes.push(KeyValue::new(semattr::SERVER_PORT, i64::from(port)));
    if let Some(info) = http_info(connected) {
        let ip = info.remote_addr().ip().to_string();
        attributes.push(KeyValue::new(semattr::NETWORK_PEER_ADDRESS, ip));
    }
    let version = match tls.and_then(|t| t.alpn) {
        Some(alpn) if alpn == "h2" => Some("2"),
        Some(alpn) if alpn == "http/1.1" => Some("1.1"),
        _ => None,
    };
    if let Some(version) = version {
        attributes.push(KeyValue::new(semattr::NETWORK_PROTOCOL_VERSION, version));
    }
    attributes
}
