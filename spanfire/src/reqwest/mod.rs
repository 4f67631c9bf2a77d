//! The reqwest front end: a [`reqwest_middleware::Middleware`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // the one-liner, with default options
//! let client = spanfire::instrument_reqwest_client(reqwest::Client::new());
//! let body = client.get("http://127.0.0.1:8080/get").send().await?.text().await?;
//!
//! // composed with other middleware
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(spanfire::HttpClientInstrumentation::new().reqwest_middleware())
//!     .build();
//! # Ok(()) }
//! ```
//!
//! # Retries
//! Middleware run in the order they are added. After a retry middleware (reqwest-retry's
//! `RetryTransientMiddleware`), spanfire runs once per attempt: one span per attempt, siblings
//! under the caller's span, each resend with `http.request.resend_count` = 1, 2, … (counted in
//! the request's extensions, which the retry middleware passes to every attempt), and one
//! duration record per attempt — as the HTTP semantic conventions describe. Before it, one span
//! covers the logical request, retries included. For both, add
//! [`logical_request_middleware`](crate::HttpClientInstrumentation::logical_request_middleware)
//! before the retry middleware: an INTERNAL span for the logical request, parent of the
//! attempts.
//!
//! # Redirects
//! - [`instrument_reqwest_builder`](crate::HttpClientInstrumentation::instrument_reqwest_builder):
//!   spanfire follows redirects itself, hop by hop, with reqwest's rules ([`Redirects`]; the
//!   application gets what reqwest following them would give it). Trace context is injected per
//!   hop for that hop's host, so with
//!   [`propagate_to_hosts`](crate::HttpClientInstrumentation::propagate_to_hosts) it never
//!   reaches a host outside the list. One span covers the request (the URL asked for, the final
//!   status), or, with [`Redirects::span_per_hop`], each hop is a span of its own with
//!   `http.request.resend_count`.
//! - [`instrument_reqwest`](crate::HttpClientInstrumentation::instrument_reqwest) of a client
//!   that follows redirects (reqwest's default): reqwest follows them inside the client, below
//!   every middleware. The span is the logical request, and the headers spanfire injected travel
//!   with reqwest to every hop — reqwest only drops `Authorization`, `Cookie` and
//!   `Proxy-Authorization` when the host changes. With `propagate_to_hosts`, only the first host
//!   is checked: use `instrument_reqwest_builder` when trace context must stay within the list.
//!
//! The span starts when the middleware runs and covers the whole exchange: it ends when the
//! response body is fully read, fails, or is dropped. The returned `reqwest::Response` keeps its
//! URL, status, headers, extensions and `content_length()`; only its body is wrapped.

mod edge;
mod middleware;
mod redirect;

pub use middleware::SpanfireMiddleware;
pub use redirect::{RedirectError, Redirects};

use crate::HttpClientInstrumentation;

/// Instruments `client` with default options: every request becomes a CLIENT span.
///
/// Equivalent to `HttpClientInstrumentation::new().instrument_reqwest(client)`.
///
/// ```no_run
/// # async fn run() -> Result<(), reqwest_middleware::Error> {
/// let client = spanfire::instrument_reqwest_client(reqwest::Client::new());
/// client.get("http://127.0.0.1:8080/get").send().await?;
/// # Ok(()) }
/// ```
pub fn instrument_reqwest_client(
    client: reqwest::Client,
) -> reqwest_middleware::ClientWithMiddleware {
    HttpClientInstrumentation::new().instrument_reqwest(client)
}

impl HttpClientInstrumentation {
    /// Wraps `client` in a `ClientWithMiddleware` whose only middleware is this instrumentation.
    pub fn instrument_reqwest(
        &self,
        client: reqwest::Client,
    ) -> reqwest_middleware::ClientWithMiddleware {
        reqwest_middleware::ClientBuilder::new(client)
            .with(self.reqwest_middleware())
            .build()
    }

    /// Builds `builder` into an instrumented client whose redirects spanfire follows itself,
    /// hop by hop, as [`Redirects`] says (default: reqwest's rules and limit of 10, one span
    /// per request): the client is built with `redirect::Policy::none()`, and trace context is
    /// injected per hop, for that hop's host — with
    /// [`propagate_to_hosts`](HttpClientInstrumentation::propagate_to_hosts), never into a
    /// redirect to a host outside the list.
    ///
    /// The redirect settings of `builder` (`redirect(..)`, `referer(..)`) are replaced: say what
    /// you want with [`Redirects`] (`Redirects::none()`, `max_hops`, `referer`). What differs
    /// from reqwest following redirects itself: a request's own `timeout` covers the whole
    /// journey, as in reqwest, but a client-wide `ClientBuilder::timeout` applies to each hop;
    /// too many redirects or a redirect to a non-http(s) URL is a
    /// `reqwest_middleware::Error::Middleware` holding a [`RedirectError`] (not a
    /// `reqwest::Error` with `is_redirect()`); a hop carries the request's headers, body and
    /// version, not its other extensions. With one span per request, `url.full` and `server.*`
    /// are the URL asked for, status and `network.*` the final hop's.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = spanfire::HttpClientInstrumentation::new()
    ///     .propagate_to_hosts(["api.internal"])
    ///     .redirects(spanfire::reqwest::Redirects::new().span_per_hop(true))
    ///     .instrument_reqwest_builder(reqwest::Client::builder())?;
    /// client.get("http://api.internal/old-path").send().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// The client also records [connection phases](crate::connect) (unless
    /// [`connection_phases(false)`](HttpClientInstrumentation::connection_phases)): a request
    /// that opens a connection gets `spanfire.dns` and `spanfire.connect` events, and every
    /// request `spanfire.connection.reused`. For that the builder gets spanfire's
    /// `connector_layer` and `dns_resolver` — getaddrinfo on tokio's blocking pool, reqwest's
    /// own default, or the one given to
    /// [`reqwest_dns_resolver`](HttpClientInstrumentation::reqwest_dns_resolver): a resolver
    /// set on `builder` itself (`dns_resolver`, hickory-dns) is replaced; names given to
    /// `resolve()` still win.
    ///
    /// # Errors
    /// When reqwest cannot build the client.
    pub fn instrument_reqwest_builder(
        &self,
        builder: reqwest::ClientBuilder,
    ) -> reqwest::Result<reqwest_middleware::ClientWithMiddleware> {
        let mut this = self.clone();
        let phases = *this.connection_phases.get_or_insert(true);
        let builder = match phases {
            true => crate::connect::reqwest::install(builder, this.reqwest_resolver.clone()),
            false => builder,
        };
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let redirects = Some(self.redirects.unwrap_or_default());
        Ok(reqwest_middleware::ClientBuilder::new(client)
            .with(SpanfireMiddleware::new(this.build(), redirects))
            .build())
    }

    /// spanfire follows redirects itself, as `redirects` says (reqwest front end): for
    /// [`instrument_reqwest_builder`](HttpClientInstrumentation::instrument_reqwest_builder),
    /// and for the middleware of a client built with `redirect::Policy::none()` (a client that
    /// follows redirects itself never shows them to the middleware).
    ///
    /// Default: [`instrument_reqwest_builder`](HttpClientInstrumentation::instrument_reqwest_builder)
    /// follows with [`Redirects::default()`]; the other front-end builders leave redirects to
    /// the client.
    pub fn redirects(mut self, redirects: Redirects) -> Self {
        self.redirects = Some(redirects);
        self
    }

    /// A middleware for the logical request, to place *before* a retry middleware when
    /// spanfire's own middleware is after it: one INTERNAL span per logical request, from the
    /// first attempt until the final response body ends, whose children are the attempts' CLIENT
    /// spans. It records the request as the attempts do (name, method, redacted URL, server,
    /// final status and error), but runs no hooks, captures nothing, injects no trace context
    /// and records no metrics: the attempts do.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use reqwest_retry::{policies::ExponentialBackoff, RetryTransientMiddleware};
    ///
    /// let instrumentation = spanfire::HttpClientInstrumentation::new();
    /// let retry = ExponentialBackoff::builder().build_with_max_retries(3);
    /// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
    ///     .with(instrumentation.logical_request_middleware())
    ///     .with(RetryTransientMiddleware::new_with_policy(retry))
    ///     .with(instrumentation.reqwest_middleware())
    ///     .build();
    /// client.get("http://127.0.0.1:8080/flaky").send().await?;
    /// # Ok(()) }
    /// ```
    pub fn logical_request_middleware(&self) -> SpanfireMiddleware {
        SpanfireMiddleware::new(self.build_logical(), None)
    }

    /// This instrumentation as a middleware, to compose with others (retries, auth, ...).
    pub fn reqwest_middleware(&self) -> SpanfireMiddleware {
        SpanfireMiddleware::new(self.build(), self.redirects)
    }
}
