//! Requests that get no telemetry: excluded URLs and the suppression scope.
//!
//! An excluded or suppressed request gets no span, records no metrics and carries no injected
//! trace context: it is sent exactly as the application built it.

use regex::Regex;

/// Env var with comma-separated regular expressions of URLs to exclude.
pub const ENV_EXCLUDED_URLS: &str = "SPANFIRE_HTTP_CLIENT_EXCLUDED_URLS";

/// A set of regular expressions; a request whose URL matches any of them (anywhere in the URL,
/// as Python's `re.search` does) is not instrumented.
///
/// ```
/// let excluded = spanfire::ExcludedUrls::new(["/health$", "^http://127\\.0\\.0\\.1:4318/"])?;
/// assert!(excluded.is_excluded("http://svc/health"));
/// assert!(!excluded.is_excluded("http://svc/healthy"));
/// assert!(spanfire::ExcludedUrls::new(["("]).unwrap_err().is_invalid_pattern());
/// # Ok::<(), spanfire::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ExcludedUrls(Option<Regex>);

impl ExcludedUrls {
    /// Compiles `patterns`.
    ///
    /// # Errors
    /// An error for which [`Error::is_invalid_pattern`](crate::Error::is_invalid_pattern) is
    /// true when a pattern does not compile.
    pub fn new<I, S>(patterns: I) -> Result<Self, crate::Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let alternatives: Vec<String> = patterns
            .into_iter()
            .map(|p| format!("(?:{})", p.as_ref()))
            .collect();
        if alternatives.is_empty() {
            return Ok(ExcludedUrls(None));
        }
        Regex::new(&alternatives.join("|"))
            .map(|re| ExcludedUrls(Some(re)))
            .map_err(|e| crate::Error::invalid_pattern("excluded URLs", e))
    }

    /// Reads [`ENV_EXCLUDED_URLS`]; empty when unset.
    ///
    /// # Errors
    /// When a pattern in the variable does not compile.
    pub fn from_env() -> Result<Self, crate::Error> {
        Self::from_env_with(&crate::env::Env::default())
    }

    /// [`ExcludedUrls::from_env`] from the given environment source.
    pub(crate) fn from_env_with(env: &crate::env::Env) -> Result<Self, crate::Error> {
        match env.list(ENV_EXCLUDED_URLS) {
            Some(list) => Self::new(&list)
                .map_err(|_| crate::Error::config(format!("{ENV_EXCLUDED_URLS}: invalid regex"))),
            None => Ok(ExcludedUrls(None)),
        }
    }

    /// Whether `url` matches one of the patterns.
    pub fn is_excluded(&self, url: &str) -> bool {
        self.0.as_ref().is_some_and(|re| re.is_match(url))
    }

    pub(crate) fn or(self, other: ExcludedUrls) -> ExcludedUrls {
        match (self.0, other.0) {
            (Some(a), Some(b)) => ExcludedUrls(Regex::new(&format!("{a}|{b}")).ok()),
            (a, b) => ExcludedUrls(a.or(b)),
        }
    }
}

/// Runs `f` with telemetry suppressed: requests made inside get no span, no metrics and no
/// trace context (nor does any other OpenTelemetry instrumentation that honours the flag).
///
/// ```
/// let answer = spanfire::suppress(|| 42);
/// assert_eq!(answer, 42);
/// ```
pub fn suppress<R>(f: impl FnOnce() -> R) -> R {
    let _guard = opentelemetry::Context::enter_telemetry_suppressed_scope();
    f()
}

/// Wraps a future so that, on every poll, telemetry is suppressed (see [`suppress`]).
///
/// ```no_run
/// # async fn run(client: reqwest_middleware::ClientWithMiddleware) {
/// let res = spanfire::suppressed(client.get("http://127.0.0.1:8080/internal").send()).await;
/// # }
/// ```
pub fn suppressed<F: std::future::Future>(future: F) -> opentelemetry::context::WithContext<F> {
    use opentelemetry::context::FutureExt;
    future.with_context(opentelemetry::Context::current().with_telemetry_suppressed())
}
