//! spanfire's error type.

use std::fmt;

/// An error from setting up or shutting down spanfire.
///
/// Opaque: inspect it with the `is_*` methods and its `Display`/`source`.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

#[derive(Debug)]
enum Kind {
    InvalidPattern(String),
    Config(String),
    Telemetry(&'static str),
}

impl Error {
    pub(crate) fn invalid_pattern(origin: &str, err: regex::Error) -> Self {
        Error {
            kind: Kind::InvalidPattern(origin.to_owned()),
            source: Some(Box::new(err)),
        }
    }

    #[allow(dead_code)]
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error {
            kind: Kind::Config(message.into()),
            source: None,
        }
    }

    #[allow(dead_code)]
    pub(crate) fn telemetry(
        what: &'static str,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error {
            kind: Kind::Telemetry(what),
            source: Some(Box::new(err)),
        }
    }

    /// True when a regular expression (an option or an env var) did not compile.
    pub fn is_invalid_pattern(&self) -> bool {
        matches!(self.kind, Kind::InvalidPattern(_))
    }

    /// True when a configuration value (an option or an env var) is invalid.
    pub fn is_config(&self) -> bool {
        matches!(self.kind, Kind::Config(_) | Kind::InvalidPattern(_))
    }

    /// True when the OpenTelemetry pipeline failed (e.g. flushing at shutdown).
    pub fn is_telemetry(&self) -> bool {
        matches!(self.kind, Kind::Telemetry(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::InvalidPattern(origin) => write!(f, "invalid regular expression in {origin}")?,
            Kind::Config(msg) => write!(f, "invalid configuration: {msg}")?,
            Kind::Telemetry(what) => write!(f, "telemetry pipeline failed: {what}")?,
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}
