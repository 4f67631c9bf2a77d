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
