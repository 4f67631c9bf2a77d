//! The ureq 3 front end (feature `ureq`): a [`ureq::middleware::Middleware`], for blocking
//! clients. No async runtime is needed anywhere.
//!
//! ```no_run
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // the one-liner: an agent built from a config, with default options
//! let agent = spanfire::instrument_ureq_agent(ureq::Agent::config_builder());
//! let body = agent.get("http://127.0.0.1:8080/get").call()?.body_mut().read_to_string()?;
//!
//! // options, and composed with other middleware (put spanfire first so its span covers
//! // theirs)
//! let instrumentation = spanfire::HttpClientInstrumentation::new().capture_all(true);
//! let agent: ureq::Agent = ureq::Agent::config_builder()
//!     .middleware(instrumentation.ureq_middleware())
//!     .http_status_as_error(false)
//!     .build()
//!     .into();
//! let response = agent.post("http://127.0.0.1:8080/post").send("{\"a\":1}")?;
//! # Ok(()) }
//! ```
//!
//! The spans are those of the other front ends — same attributes, status, `error.type`, hooks,
//! URL filter, header and body capture, propagation, excluded URLs — from the same core.
//!
//! # When each hook runs
//! - `url_filter`: in `Middleware::handle`, before the span starts.
//! - `request_hook`: in `Middleware::handle`, after trace context was injected into the request
//!   headers, before the request is handed on. ureq adds its own headers (`user-agent`,
//!   `accept-encoding`, `content-length`, …) later, below every middleware.
//! - `response_hook`: when the response head was read (before the body is read), or with the
//!   error. With ureq's `http_status_as_error(true)` (its default), a 4xx/5xx response reaches
//!   middleware only as `Error::StatusCode`, its headers and body already discarded: the hook
//!   then sees the status with no headers, the span records the status code (status Error,
//!   `error.type` the code) and ends at once, without `http.response.body.size`. Turn it off
//!   (`.http_status_as_error(false)`) to capture those responses' headers and bodies too.
//!
//! # When the span ends
//! The span starts when the middleware runs and ends with the body, however the application
//! reads it (`read_to_string`, `read_to_vec`, `read_json`, `into_reader`, `as_reader`, …): when
//! a read returns the end of the stream, when a read fails (`error.type` `body`, `timeout` or
//! `decode`), or when the body is dropped before either (cancelled, not an error). Bodies empty
//! by definition (HEAD, 204, 304) end it when the head arrives; a request that fails ends it with
//! the error. The request's OpenTelemetry context is current while ureq sends the request and
//! during every read of the body; its parent is the thread's current context (or, with feature
//! `tracing`, the current `tracing` span).
//!
//! # What the application sees
//! The response keeps its status, headers and extensions (`ResponseExt::get_uri`, redirect
//! history); its body is rebuilt (`ureq::Body::builder().reader(..)`) around the same bytes,
//! decompressed and charset-decoded by ureq as before, and ureq's options applied when it is
//! read (`limit`, `lossy_utf8`, the default 10 MB limit of `read_to_string`) keep working. Two
//! things of a rebuilt body differ, as ureq offers no way to set them:
//! - `Body::content_length()` is `None` (the `content-length` header is still there), and
//!   `Body::charset()` is `None` for a text body ureq has already transcoded to UTF-8;
//! - sent on as a request body (`send(response)`, a proxy), it has no length and ureq sends
//!   nothing: send `SendBody::from_reader(&mut body.as_reader())` instead.
//!
//! A body limit hit while reading (`BodyExceedsLimit`) is raised above the instrumented reader:
//! the span then ends when the body is dropped, as cancelled, with what was read.
//!
//! # Request bodies
//! Captured (`capture_request_body`) as ureq sends them. ureq does not tell a middleware how
//! long a body is, so when the headers do not say (`Content-Length`, `Transfer-Encoding`), a
//! captured body is read ahead up to 64 KiB before sending: one that ends within that is sent
//! with its `Content-Length`, as ureq sends a buffered body; a longer one is sent chunked —
//! set `Content-Length` yourself for a server that requires it (an S3 presigned PUT, a strict
//! proxy). Without capture the body is handed on untouched.
//!
//! # Redirects
//! ureq follows redirects inside `run()`, below every middleware: one span covers the request
//! (the URL asked for, the final status), and the trace context injected for the first host
//! travels to every redirect target — with
//! [`propagate_to_hosts`](crate::HttpClientInstrumentation::propagate_to_hosts), only the first
//! host is checked. When trace context must stay within the list, build the agent with
//! `max_redirects(0)` and follow redirects in the application.
//!
//! # Not recorded
//! ureq does not expose the connection's peer address (`network.peer.*`), and speaks HTTP/1.1
//! only. The response hook's `ResponseHead::url` is `None` (ureq's `ResponseExt::get_uri`
//! panics on a response that another middleware made). A request body's size
//! (`http.client.request.body.size`, opt-in) is known from a `Content-Length` header only,
//! which a captured body read ahead gets. A request whose URI is not an absolute URL is passed
//! through without a span.
//!
//! # Per-request overrides
//! Put [`DisablePropagation`](crate::DisablePropagation) or [`UrlTemplate`](crate::UrlTemplate)
//! in the `http::Request`'s extensions (`agent.run(request)`).

mod body;
mod edge;
mod middleware;

pub use middleware::SpanfireMiddleware;

use ureq::config::ConfigBuilder;
use ureq::typestate::AgentScope;

use crate::HttpClientInstrumentation;

/// Builds an agent from `config` with spanfire's middleware added (default options): every
/// request becomes a CLIENT span.
///
/// Equivalent to `HttpClientInstrumentation::new().instrument_ureq(config)`.
///
/// ```no_run
/// # fn run() -> Result<(), ureq::Error> {
/// let agent = spanfire::instrument_ureq_agent(ureq::Agent::config_builder());
/// agent.get("http://127.0.0.1:8080/get").call()?;
/// # Ok(()) }
/// ```
pub fn instrument_ureq_agent(config: ConfigBuilder<AgentScope>) -> ureq::Agent {
    HttpClientInstrumentation::new().instrument_ureq(config)
}

impl HttpClientInstrumentation {
    /// Builds an agent from `config` with this instrumentation added as its last middleware
    /// (the closest to the wire). ureq agents are immutable once built: instrument the config.
    pub fn instrument_ureq(&self, config: ConfigBuilder<AgentScope>) -> ureq::Agent {
        config.middleware(self.ureq_middleware()).build().into()
    }

    /// This instrumentation as a ureq middleware, to add with `ConfigBuilder::middleware`.
    pub fn ureq_middleware(&self) -> SpanfireMiddleware {
        SpanfireMiddleware::new(self.build())
    }
}
