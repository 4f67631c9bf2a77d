//! The secrets policy: one list of secret names, one vocabulary, one URL redactor, one
//! JSON/form scanner — used by every exit.
//!
//! A [`Secrets`] value decides which names are secrets: header names, query keys, JSON and
//! url-encoded form keys, attribute keys. Built in: [`DEFAULT_SECRET_PATTERNS`] (Logfire's list
//! plus tokens, signatures and keys; see there). Extend it with
//! [`Secrets::with_extra_patterns`] (matched anywhere in a name) or [`Secrets::with_names`]
//! (whole names), or start from [`Secrets::none`] to replace it. Patterns that do not compile
//! are an error: a policy never silently drops what you added.
//!
//! # Where it applies
//!
//! **The instrumentation alone** — any tracer provider, no [`configure()`](crate::configure)
//! — never records a secret's value in what it writes:
//! - `url.full`: userinfo becomes `REDACTED:REDACTED`, values of secret query keys and of
//!   secret `key=value` pairs in the fragment become `REDACTED` (after the
//!   [`url_filter`](crate::HttpClientInstrumentation::url_filter), on its output); the rest of
//!   the URL is kept byte for byte, so it is still a URL.
//! - captured headers: the values of secret headers become [`REDACTED_VALUE`]; URL-valued
//!   headers (`location`, `content-location`, `referer`, `link`) are redacted as URLs; other
//!   values lose the values of secret `key=value` pairs.
//! - captured bodies: JSON values of secret keys at any depth (objects, arrays, numbers alike)
//!   become `"[REDACTED]"` (still JSON); url-encoded forms are recorded as a JSON object and
//!   redacted the same way; text bodies lose the values of secret `key=value` pairs.
//! - `exception.message` and the span status description: the error's text with the URL it
//!   reports replaced by the redacted URL, then free-text redaction (secret `key=value` pairs,
//!   userinfo, JSON values, `Secret-Name: value` lines); the same for hook panic messages and
//!   for the span name and `url.template` of a [`UrlTemplate`](crate::UrlTemplate).
//!
//! What hooks write on the span is the hook's own: the instrumentation does not see it.
//!
//! **configure()'s scrubbing stage** is the second net, run on every span before any
//! destination (console, OTLP, your processors) sees it: every attribute (also those set by
//! hooks and by other instrumentations), every event's attributes, the status description, the
//! span name and link attributes. An attribute whose key names a secret has its value replaced
//! by `[Scrubbed due to '<matched part of the key>']` (never echoing the value); URL attributes
//! (`url.full`, URL-valued headers) are redacted as URLs (`REDACTED`, still URLs); every other
//! string goes through the free-text redaction. It uses the same policy:
//! `configure().scrubbing(secrets)` sets it, and (with `install_globals`, the default) makes it
//! the policy of every instrumentation built afterwards that was not given one with
//! [`HttpClientInstrumentation::secrets`](crate::HttpClientInstrumentation::secrets).
//! A body that the instrumentation captured and redacted under the stage's very policy is not
//! scanned for secret names a second time (it is *sealed*: see `capture/seal.rs`); the value
//! patterns (JWTs, bearer tokens, AWS access key ids, private keys) still run on it, and
//! anything else written under a body's key is scanned as before.
//!
//! # Vocabulary
//!
//! - [`REDACTED`] inside URLs and `key=value` text (userinfo: `REDACTED:REDACTED`);
//! - [`REDACTED_VALUE`] for a whole value replaced by the instrumentation (header values, JSON
//!   values);
//! - `[Scrubbed due to '<part>']` for a value replaced by configure()'s scrubbing stage, as
//!   Logfire writes it.
//!
//! ```
//! let secrets = spanfire::Secrets::default().with_extra_patterns(["pin"])?;
//! assert!(secrets.is_secret("user_pin"));
//! assert!(secrets.is_secret("X-Api-Key"));
//! assert!(!secrets.is_secret("author"));
//! assert_eq!(
//!     secrets.redact_url("https://u:p@h/cb?code=1&token=t#access_token=a"),
//!     "https://REDACTED:REDACTED@h/cb?code=1&token=REDACTED#access_token=REDACTED"
//! );
//! # Ok::<(), spanfire::Error>(())
//! ```

mod json;
mod message;
mod names;
mod prefilter;
mod text;
mod url;

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, RwLock};

pub use names::DEFAULT_SECRET_PATTERNS;

pub(crate) use message::error_message;
pub(crate) use names::Names;
pub(crate) use text::redact_text;
#[cfg(feature = "configure")]
pub(crate) use url::redact_url_noting;
pub(crate) use url::{is_url_header, redact_parsed, redact_url_header};

/// One value a redaction replaced, for `logfire.scrubbed`: where (a path inside the redacted
/// text — JSON keys and array indices; empty for a URL, a `key=value` pair or a line) and the
/// part of the name that made it a secret (`userinfo` for URL credentials). Never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) path: Vec<PathPart>,
    pub(crate) matched: String,
}

/// A step of a [`Found`] path: a key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathPart {
    Key(Cow<'static, str>),
    Index(usize),
}

impl PathPart {
    /// A key known at compile time.
    #[cfg_attr(not(feature = "configure"), allow(dead_code))]
    pub(crate) const fn key(key: &'static str) -> PathPart {
        PathPart::Key(Cow::Borrowed(key))
    }
}

/// Adds a note unless the same one is there already.
pub(crate) fn note(notes: &mut Vec<Found>, path: Vec<PathPart>, matched: impl Into<String>) {
    let found = Found {
        path,
        matched: matched.into(),
    };
    if !notes.contains(&found) {
        notes.push(found);
    }
}

/// What replaces a secret inside a URL or a `key=value` pair.
pub const REDACTED: &str = "REDACTED";

/// What replaces a whole secret value recorded by the instrumentation: a header's value, a
/// JSON value (as the string `"[REDACTED]"`).
pub const REDACTED_VALUE: &str = "[REDACTED]";

/// A secrets policy: which names are secrets. See the [module docs](self).
///
/// Cheap to clone (shared).
#[derive(Clone)]
pub struct Secrets(Arc<Policy>);

struct Policy {
    builtin: bool,
    /// The user's patterns, as regular expressions matched anywhere in a name.
    extra: Vec<String>,
    names: Names,
}

impl Default for Secrets {
    /// The built-in patterns ([`DEFAULT_SECRET_PATTERNS`]), compiled once per process and
    /// shared.
    fn default() -> Self {
        static BUILT_IN: std::sync::OnceLock<Secrets> = std::sync::OnceLock::new();
        BUILT_IN
            .get_or_init(|| {
                Secrets::build(true, Vec::new()).unwrap_or_else(|_| Secrets::everything())
            })
            .clone()
    }
}

impl Secrets {
    /// A policy with no built-in names: only what you add is a secret.
    pub fn none() -> Self {
        Secrets::build(false, Vec::new()).unwrap_or_else(|_| Secrets::everything())
    }

    /// Adds patterns: case-insensitive regular expressions, matched anywhere in a name (like
    /// Logfire's `extra_patterns`).
    ///
    /// # Errors
    /// [`Error::is_invalid_pattern`](crate::Error::is_invalid_pattern) when a pattern does not
    /// compile.
    pub fn with_extra_patterns<I, S>(self, patterns: I) -> Result<Self, crate::Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut extra = self.0.extra.clone();
        extra.extend(patterns.into_iter().map(Into::into));
        Secrets::build(self.0.builtin, extra)
    }

    /// Adds whole names: case-insensitive regular expressions that must match the entire name
    /// (like `OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS`), e.g. `x-tenant` or
    /// `x-.*-id`.
    ///
    /// # Errors
    /// [`Error::is_invalid_pattern`](crate::Error::is_invalid_pattern) when a name does not
    /// compile as a regular expression.
    pub fn with_names<I, S>(self, names: I) -> Result<Self, crate::Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.with_extra_patterns(names.into_iter().map(|n| format!("^(?:{})$", n.as_ref())))
    }

    /// [`Secrets::with_names`], with errors naming `origin` (an option or env var).
    pub(crate) fn with_names_from(
        &self,
        origin: &str,
        names: &[String],
    ) -> Result<Self, crate::Error> {
        if names.is_empty() {
            return Ok(self.clone());
        }
        let whole = names.iter().map(|n| format!("^(?:{n})$"));
        let mut extra = self.0.extra.clone();
        extra.extend(whole);
        let compiled = Names::new(self.0.builtin, &extra)
            .map_err(|e| crate::Error::invalid_pattern(origin, e))?;
        Ok(Secrets(Arc::new(Policy {
            builtin: self.0.builtin,
            extra,
            names: compiled,
        })))
    }

    /// Whether `name` (a header name, query key, JSON key …) is a secret.
    pub fn is_secret(&self, name: &str) -> bool {
        self.0.names.is_secret(name)
    }

    /// `url` with its userinfo and the values of secret query and fragment keys replaced by
    /// `REDACTED`; borrowed when there is nothing to redact.
    pub fn redact_url<'a>(&self, url: &'a str) -> Cow<'a, str> {
        url::redact_url_noting(url, &self.0.names, None)
    }

    /// Free text (an error message, a log line) with secret `key=value` values, userinfo, JSON
    /// values of secret keys and `Secret-Name: value` lines redacted; borrowed when there is
    /// nothing to redact.
    pub fn redact_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        text::redact_text(text, &self.0.names, &|_| REDACTED_VALUE.to_owned(), None)
    }

    /// The compiled matcher.
    pub(crate) fn names(&self) -> &Names {
        &self.0.names
    }

    /// A number naming this policy while it lives (its address).
    pub(crate) fn policy_id(&self) -> u64 {
        Arc::as_ptr(&self.0) as usize as u64
    }

    /// A policy under which every name is a secret: what an invalid configuration falls back
    /// to, so that nothing leaks because a user's pattern was dropped.
    pub(crate) fn everything() -> Self {
        Secrets(Arc::new(Policy {
            builtin: true,
            extra: Vec::new(),
            names: Names::everything(),
        }))
    }

    fn build(builtin: bool, extra: Vec<String>) -> Result<Self, crate::Error> {
        let names = Names::new(builtin, &extra)
            .map_err(|e| crate::Error::invalid_pattern("secrets patterns", e))?;
        Ok(Secrets(Arc::new(Policy {
            builtin,
            extra,
            names,
        })))
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("builtin", &self.0.builtin)
            .field("extra", &self.0.extra)
            .finish()
    }
}

static PROCESS_DEFAULT: RwLock<Option<Secrets>> = RwLock::new(None);

/// The policy of instrumentations not given one: the one `configure()` installed, else the
/// built-in one.
pub(crate) fn process_default() -> Secrets {
    let installed = PROCESS_DEFAULT.read().ok().and_then(|d| d.clone());
    installed.unwrap_or_default()
}

/// Makes `secrets` the policy of instrumentations built from now on without one.
#[cfg_attr(not(feature = "configure"), allow(dead_code))]
pub(crate) fn set_process_default(secrets: Secrets) {
    if let Ok(mut default) = PROCESS_DEFAULT.write() {
        *default = Some(secrets);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extending_keeps_what_was_there_and_bad_patterns_are_errors() {
        let s = Secrets::default()
            .with_extra_patterns(["pin"])
            .unwrap()
            .with_names(["x-tenant"])
            .unwrap();
        assert!(s.is_secret("password") && s.is_secret("pin") && s.is_secret("X-Tenant"));
        assert!(!s.is_secret("x-tenant-name"), "names match whole");
        let err = Secrets::default().with_extra_patterns(["("]).unwrap_err();
        assert!(err.is_invalid_pattern(), "{err}");
        assert!(!Secrets::none().is_secret("password"));
        assert!(Secrets::everything().is_secret("q"));
    }
}
