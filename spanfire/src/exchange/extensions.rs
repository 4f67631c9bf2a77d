//! Per-request overrides, passed as typed request extensions.
//!
//! With reqwest-middleware, add them with `RequestBuilder::with_extension`; with the tower
//! layer, put them in the `http::Request`'s extensions.

/// Turns off trace-context injection for one request: no `traceparent`, `tracestate` or
/// `baggage` header is added. The span is still recorded.
///
/// ```no_run
/// # async fn run(client: reqwest_middleware::ClientWithMiddleware) -> reqwest_middleware::Result<()> {
/// client
///     .get("http://127.0.0.1:8080/third-party")
///     .with_extension(spanfire::DisablePropagation)
///     .send()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DisablePropagation;

/// Names the route of one request: the span is named `{method} {template}` (instead of just
/// `{method}`) and records `url.template`, giving low-cardinality span names.
///
/// ```no_run
/// # async fn run(client: reqwest_middleware::ClientWithMiddleware) -> reqwest_middleware::Result<()> {
/// client
///     .get("http://127.0.0.1:8080/users/42")
///     .with_extension(spanfire::UrlTemplate::new("/users/{id}"))
///     .send()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate(pub std::borrow::Cow<'static, str>);

impl UrlTemplate {
    /// A template such as `/users/{id}`.
    pub fn new(template: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        UrlTemplate(template.into())
    }
}

/// Marks a request as a resend (a retry, or a redirect hop sent by hand): the span records
/// `http.request.resend_count` = the number (1 for the first resend, 2 for the second, …), as
/// the HTTP semantic conventions ask of every attempt but the first.
///
/// You rarely set it yourself:
/// - with reqwest-middleware, a retry middleware placed *before* spanfire's (so spanfire runs
///   once per attempt, e.g. reqwest-retry's `RetryTransientMiddleware`) is counted
///   automatically: each pass through spanfire's middleware with the same request extensions is
///   the next resend;
/// - with tower's retry layer, wrap the retry policy in `spanfire::tower::CountResends`, which
///   sets it on each clone the policy makes.
///
/// A value set in the extensions wins over spanfire's own count; `ResendCount(0)` means the
/// first attempt (no attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResendCount(pub u32);

/// How many times the reqwest middleware has begun a recorded exchange with these extensions
/// (kept in reqwest-middleware's per-request extensions, which a retry middleware passes to
/// every attempt).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Passes(pub(crate) u32);

/// Counts a recorded pass through a front end whose extensions outlive one attempt
/// (reqwest-middleware's): the next pass is the next resend.
#[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
pub(crate) fn count_pass(extensions: &mut http::Extensions) {
    let passes = extensions.get::<Passes>().map_or(1, |p| p.0 + 1);
    extensions.insert(Passes(passes));
}

/// The resend number of the request about to be sent: spanfire's own count of earlier passes,
/// else a [`ResendCount`] set by the caller; `None` for a first attempt.
pub(crate) fn resend_count(extensions: &http::Extensions) -> Option<u32> {
    let count = match extensions.get::<ResendCount>() {
        Some(set) => set.0,
        None => extensions.get::<Passes>()?.0,
    };
    (count > 0).then_some(count)
}
