//! Connection phases and connection metrics: what happened below the request.
//!
//! A request that had to open a connection tells on its span where the time went —
//! DNS lookup, TCP connect, TLS handshake — and every request says whether it went out on a
//! pooled connection. With [`opt_in_metrics`](crate::HttpClientInstrumentation::opt_in_metrics),
//! hyper-util clients also count their connections.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // reqwest: one call installs the connector layer and the timed resolver
//! let client = spanfire::HttpClientInstrumentation::new()
//!     .instrument_reqwest_builder(reqwest::Client::builder())?;
//! client.get("http://localhost:8080/get").send().await?; // spanfire.dns, spanfire.connect
//! client.get("http://localhost:8080/get").send().await?; // spanfire.connection.reused = true
//! # Ok(()) }
//! ```
//!
//! With hyper-util (feature `tower`), wrap the connector and build the layer with
//! [`connection_phases`](crate::HttpClientInstrumentation::connection_phases) on:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::client::legacy::connect::{dns::GaiResolver, HttpConnector};
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use spanfire::connect::DnsResolver;
//! use tower::{Service, ServiceExt};
//!
//! let instrumentation = spanfire::HttpClientInstrumentation::new()
//!     .connection_phases(true)
//!     .opt_in_metrics(true);
//! let http = HttpConnector::new_with_resolver(DnsResolver::new(GaiResolver::new()));
//! let client = Client::builder(TokioExecutor::new())
//!     .build::<_, spanfire::tower::RequestBody<Full<Bytes>>>(instrumentation.connector(http));
//! let mut service = tower::Layer::layer(&instrumentation.layer(), client);
//! let request = http::Request::get("http://localhost:8080/get").body(Full::new(Bytes::new()))?;
//! let response = service.ready().await?.call(request).await?;
//! # Ok(()) }
//! ```
//!
//! For HTTPS, put [`TcpPhase`] around the TCP connector inside the TLS connector to time the
//! TLS handshake apart from the TCP connect: `instrumentation.connector(tls(TcpPhase::new(http)))`.
//!
//! # The events
//! Recorded on the request's span, each timestamped when its phase started and carrying
//! [`PHASE_DURATION_ATTRIBUTE`] (seconds):
//! - [`DNS_EVENT`]: the lookup, with [`DNS_ADDRESS_COUNT_ATTRIBUTE`]; `error.type` = `dns`
//!   when it failed (then no other phase follows). Only through a timed resolver (reqwest:
//!   always — getaddrinfo, or the resolver given to
//!   [`reqwest_dns_resolver`](crate::HttpClientInstrumentation::reqwest_dns_resolver);
//!   hyper-util: [`DnsResolver`]), and only when a name is looked up: an IP-address URL, or a
//!   name reqwest's `resolve()` overrides, has none.
//! - [`CONNECT_EVENT`]: the TCP connect, from the end of the lookup, with `network.peer.address`
//!   and `network.peer.port`; `error.type` = `connect` when it failed (the span's own
//!   `error.type` is then `connect` too). For HTTPS without a mark between TCP and TLS (reqwest
//!   always, hyper-util without [`TcpPhase`]) it covers the handshake as well and carries the
//!   TLS attributes below.
//! - [`TLS_EVENT`]: the handshake (hyper-util with [`TcpPhase`]), with `tls.protocol.name`,
//!   `tls.protocol.version` and `tls.next_protocol` (the ALPN protocol) as far as known;
//!   `error.type` = `tls` when it failed.
//!
//! What is known of TLS: hyper-util's `Connected` tells whether ALPN chose `h2`
//! (`tls.next_protocol` = `h2`); with the `hyper-rustls` feature, a hyper-rustls connection
//! also gives its version and any ALPN protocol. reqwest gives the version only to a client
//! built with `tls_info(true)` (spanfire's feature `tls`), which spanfire does not turn on:
//! reqwest then copies the peer certificate into every response.
//!
//! # `spanfire.connection.reused`
//! [`CONNECTION_REUSED_ATTRIBUTE`]: `false` when a connect ran inside the request (its events
//! are on the span), `true` when a response came without one — the request went out on a
//! pooled (keep-alive or HTTP/2) connection, and has no phase events. A request that failed
//! without connecting gets none (it may have failed before reaching the pool).
//!
//! # When each part runs
//! - The exchange puts a small shared slot into the request's OpenTelemetry context when its
//!   span records and phases are on (two small allocations per sampled request; none for an
//!   unsampled one, whose connects are not watched at all).
//! - The connector, called inside the request's future (hyper-util's pool starts connects
//!   there), starts watching; the resolver and [`TcpPhase`] mark their ends while it runs.
//! - When the connect ends, its events go to the slot only if the request's context is the
//!   current one: hyper-util finishes a connect in the background when the request took an
//!   idle connection meanwhile, and such a connect is recorded nowhere rather than on a span
//!   whose request did not use it.
//! - The events land on the span when the response head arrives or the request fails; a
//!   request dropped before either (cancelled) records none.
//!
//! Limits: a connect that ended inside the request while the request then took another
//! connection from the pool (hyper-util's handshake would have to lose a race it practically
//! never loses) would still be recorded; a client with a proxy records the connect to the
//! proxy.
//!
//! # Connection metrics (hyper-util, opt-in)
//! `http.client.open_connections` (UpDownCounter, `{connection}`) and
//! `http.client.connection.duration` (histogram, `s`, [`CONNECTION_DURATION_BUCKETS`]), opt-in
//! in the conventions and here (with [`opt_in_metrics`](crate::HttpClientInstrumentation::opt_in_metrics)),
//! with `server.address`, `server.port`, `network.peer.address` (opt-in in the conventions,
//! recorded here since the metric is) and `network.protocol.version` when ALPN negotiated it.
//! - A connection counts from its connect's success until hyper-util drops its IO (closed by
//!   either side, evicted from the pool, or the client dropped), when its duration is
//!   recorded — once.
//! - `http.connection.state`: `active` while a request is on it, else `idle`. The layer learns
//!   which connection a request got from hyper-util's `capture_connection`, set as the pool
//!   hands the connection out, and holds it until the span ends (the response body ended,
//!   failed or was dropped) — when hyper-util returns it to the pool. So the metrics need
//!   both options on the instrumentation the connector *and* the layer are built from:
//!   `opt_in_metrics(true)` and `connection_phases(true)` (a connector built without
//!   `connection_phases` counts nothing, rather than count every connection `idle`). The
//!   capture costs hyper-util's small channel per request, sampled or not. A request the
//!   layer gives no span (an excluded URL, inside `suppress`) is not seen: its connection
//!   counts as `idle` meanwhile.
//! - reqwest: none. reqwest's connector layer returns a sealed connection type it cannot wrap,
//!   so spanfire can see neither when a connection closes nor which one a request used; it
//!   emits no connection metrics rather than wrong ones.

// Only the reqwest and tower front ends connect through spanfire (ureq: none).
#[cfg_attr(not(any(feature = "tower", feature = "reqwest")), allow(dead_code))]
mod attempt;
#[cfg(feature = "tower")]
mod metrics;
#[cfg(feature = "reqwest")]
pub(crate) mod reqwest;
#[cfg_attr(not(any(feature = "tower", feature = "reqwest")), allow(dead_code))]
mod slot;
#[cfg_attr(not(any(feature = "tower", feature = "reqwest")), allow(dead_code))]
mod watch;

#[cfg(feature = "tower")]
mod connector;
#[cfg(feature = "tower")]
mod io;
#[cfg(feature = "tower")]
mod resolver;
#[cfg(feature = "tower")]
mod rustls;
#[cfg(feature = "tower")]
mod tcp;

#[cfg(feature = "tower")]
pub use connector::{ConnectFuture, InstrumentedConnector};
#[cfg(feature = "tower")]
pub use io::InstrumentedIo;
#[cfg(feature = "tower")]
pub use metrics::CONNECTION_DURATION_BUCKETS;
#[cfg(feature = "tower")]
pub(crate) use metrics::{lease_of, Lease};
#[cfg(feature = "tower")]
pub use resolver::{DnsResolver, Lookup};
pub(crate) use slot::{record_phases, Slot};
#[cfg(feature = "tower")]
pub use tcp::{TcpConnecting, TcpPhase};

/// Span attribute: `true` when the request went out on a pooled connection, `false` when a
/// connect ran inside it (see the [module docs](self)).
pub const CONNECTION_REUSED_ATTRIBUTE: &str = "spanfire.connection.reused";
/// Span event: the DNS lookup of a connect made for the request.
pub const DNS_EVENT: &str = "spanfire.dns";
/// Span event: the TCP connect (with the TLS handshake when not timed apart).
pub const CONNECT_EVENT: &str = "spanfire.connect";
/// Span event: the TLS handshake, timed apart from the TCP connect.
pub const TLS_EVENT: &str = "spanfire.tls";
/// Event attribute: how long the phase took, in seconds.
pub const PHASE_DURATION_ATTRIBUTE: &str = "spanfire.phase.duration";
/// Event attribute of [`DNS_EVENT`]: how many addresses the lookup returned.
pub const DNS_ADDRESS_COUNT_ATTRIBUTE: &str = "spanfire.dns.address_count";

impl crate::HttpClientInstrumentation {
    /// Collects connection phases on request spans and sets
    /// [`CONNECTION_REUSED_ATTRIBUTE`] (see [`connect`](self)): turn it on for a front end
    /// whose client connects through spanfire's connector — the tower layer of a hyper-util
    /// client built with [`connector`](Self::connector). `reused` is only true if every
    /// connection goes through it.
    ///
    /// Default: on for
    /// [`instrument_reqwest_builder`](Self::instrument_reqwest_builder), which installs the
    /// connector; off for the other front ends. `false` turns it off there too.
    pub fn connection_phases(mut self, on: bool) -> Self {
        self.connection_phases = Some(on);
        self
    }

    /// Wraps a hyper-util connector so that its connects are recorded on the requests that
    /// made them and — with [`opt_in_metrics`](Self::opt_in_metrics) and
    /// [`connection_phases`](Self::connection_phases) both on — its connections counted; see
    /// [`InstrumentedConnector`] and the [`connect`](self) module.
    #[cfg(feature = "tower")]
    pub fn connector<C>(&self, connector: C) -> InstrumentedConnector<C> {
        let counted = self.opt_in_metrics && self.connection_phases == Some(true);
        let metrics = counted.then(|| metrics::ConnectionMetrics::new(&self.meter()));
        InstrumentedConnector::new(connector, metrics)
    }
}
