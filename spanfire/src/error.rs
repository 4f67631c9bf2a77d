//! spanfire's error type.

use std::fmt;

/// An error from setting up or shutting down spanfire.
///
/// Opaque: inspect it with the `is_*` methods and its `Display`/`source`. `Debug` prints the
/// message and then the cause chain (`Caused by:`), so `fn main() -> Result<(), spanfire::Error>`
/// reports it readably.
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

    /// A configuration error caused by `err` (an unreadable or invalid file, say).
    #[allow(dead_code)]
    pub(crate) fn config_with_source(
        message: impl Into<String>,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error {
            kind: Kind::Config(message.into()),
            source: Some(Box::new(err)),
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

impl Error {
    /// The message of this error alone, without its source.
    fn headline(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::InvalidPattern(origin) => write!(f, "invalid regular expression in {origin}"),
            Kind::Config(msg) => write!(f, "invalid configuration: {msg}"),
            Kind::Telemetry(what) => write!(f, "telemetry pipeline failed: {what}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.headline(f)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

/// The message, then each cause on its own numbered line (the layout `anyhow` uses), which is
/// what `main` prints when it returns the error: no struct dump.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("Error")
                .field("kind", &self.kind)
                .field("source", &self.source)
                .finish();
        }
        self.headline(f)?;
        let mut cause = std::error::Error::source(self);
        if cause.is_some() {
            write!(f, "\n\nCaused by:")?;
        }
        let mut n = 0;
        while let Some(err) = cause {
            write!(f, "\n    {n}: {err}")?;
            n += 1;
            cause = err.source();
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn debug_is_the_message_and_the_cause_chain() {
        let config = Error::config("LOGFIRE_SEND_TO_LOGFIRE=true but no token");
        assert_eq!(
            format!("{config:?}"),
            "invalid configuration: LOGFIRE_SEND_TO_LOGFIRE=true but no token"
        );
        assert_eq!(format!("{config:?}"), config.to_string());

        let chained = Error::telemetry(
            "building the OTLP span exporter",
            Layer(
                "client build failed",
                Some(Box::new(Layer("no roots", None))),
            ),
        );
        assert_eq!(
            format!("{chained:?}"),
            "telemetry pipeline failed: building the OTLP span exporter\n\
             \n\
             Caused by:\n    \
             0: client build failed\n    \
             1: no roots"
        );
        assert_eq!(
            chained.to_string(),
            "telemetry pipeline failed: building the OTLP span exporter: client build failed"
        );
        let alternate = format!("{chained:#?}");
        assert!(alternate.starts_with("Error {"), "{alternate}");
    }

    #[test]
    fn main_returning_the_error_prints_no_struct_dump() {
        let unclosed = String::from("(");
        let err =
            Error::invalid_pattern("excluded_urls", regex::Regex::new(&unclosed).unwrap_err());
        let shown = format!("Error: {err:?}");
        assert!(
            shown.starts_with(
                "Error: invalid regular expression in excluded_urls\n\nCaused by:\n    0: "
            ),
            "{shown}"
        );
        assert!(
            !shown.contains("kind:") && !shown.contains("InvalidPattern"),
            "{shown}"
        );
    }
}
