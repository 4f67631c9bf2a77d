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
//! covers the logical request, retries included.
//!
//! # Redirects
//! reqwest follows redirects inside the client, below every middleware: the span is the
//! logical request (its `url.full` the URL asked for, its status the final one), and the
//! headers spanfire injected travel with reqwest to every hop — reqwest itself only drops
//! `Authorization`, `Cookie` and `Proxy-Authorization` when the host changes. So with
//! [`propagate_to_hosts`](crate::HttpClientInstrumentation::propagate_to_hosts), the host
//! checked is the first one; a client that must never send trace context elsewhere should
//! not follow redirects to other hosts (`reqwest::redirect::Policy::custom`).
//!
//! The span starts when the middleware runs and covers the whole exchange: it ends when the
//! response body is fully read, fails, or is dropped. The returned `reqwest::Response` keeps its
//! URL, status, headers, extensions and `content_length()`; only its body is wrapped.

mod edge;
mod middleware;

pub use middleware::SpanfireMiddleware;

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

    /// This instrumentation as a middleware, to compose with others (retries, auth, ...).
    pub fn reqwest_middleware(&self) -> SpanfireMiddleware {
        SpanfireMiddleware::new(self.build())
    }
}
