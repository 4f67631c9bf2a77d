//! Logfire-style console output: one line per span, indented by nesting.
//!
//! ```text
//! 14:10:23.123 GET 127.0.0.1/get ? q='a b' · 200 · 2.1ms
//! 14:10:23.130   POST 127.0.0.1/post · 500 error: 500 · 1.0ms
//! ```
//!
//! The line is printed when the span ends (its status and duration are known then); its time is
//! the span's start time (UTC) and its indentation the span's depth below the first span of the
//! trace seen in this process.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{Span as _, SpanId, Status, TraceContextExt};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

/// A span processor that prints one Logfire-style line per span.
pub struct ConsoleProcessor {
    depths: Mutex<HashMap<SpanId, usize>>,
    out: Mutex<Box<dyn Write + Send>>,
    colors: bool,
}

impl ConsoleProcessor {
    /// Prints to stdout, coloured when stdout is a terminal.
    pub fn stdout() -> Self {
        let colors = std::io::stdout().is_terminal();
        Self::new(Box::new(std::io::stdout()), colors)
    }

    /// Prints to `out`, coloured or plain.
    pub fn new(out: Box<dyn Write + Send>, colors: bool) -> Self {
        ConsoleProcessor {
            depths: Mutex::new(HashMap::new()),
            out: Mutex::new(out),
            colors,
        }
    }
}

impl std::fmt::Debug for ConsoleProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleProcessor")
            .field("colors", &self.colors)
            .finish_non_exhaustive()
    }
}

impl SpanProcessor for ConsoleProcessor {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        let parent = cx.span().span_context().span_id();
        let Ok(mut depths) = self.depths.lock() else {
            return;
        };
        let depth = depths.get(&parent).map_or(0, |d| d + 1);
        depths.insert(span.span_context().span_id(), depth);
    }

    fn on_end(&self, span: SpanData) {
        let depth = self
            .depths
            .lock()
            .ok()
            .and_then(|mut d| d.remove(&span.span_context.span_id()))
            .unwrap_or(0);
        let line = render_line(&span, depth, self.colors);
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{line}");
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        if let Ok(mut out) = self.out.lock() {
            let _ = out.flush();
        }
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.force_flush()
    }
}

/// Renders one span as a console line (pure: testable with a fixed clock).
pub(crate) fn render_line(span: &SpanData, depth: usize, colors: bool) -> String {
    let attr = |key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    };
    let message = match (attr("http.request.method"), attr("url.full")) {
        (Some(_), Some(Value::String(url))) => http_message(&span.name, url.as_str()),
        _ => span.name.to_string(),
    };
    let duration = span
        .end_time
        .duration_since(span.start_time)
        .unwrap_or_default();
    let mut outcome = Vec::new();
    if let Some(code) = attr("http.response.status_code") {
        outcome.push(code.to_string());
    }
    if let Status::Error { .. } = span.status {
        let kind = attr("error.type").map_or_else(|| "error".to_owned(), Value::to_string);
        outcome.push(format!("error: {kind}"));
    }
    if attr(crate::CANCELLED_ATTRIBUTE).is_some() {
        outcome.push("cancelled".to_owned());
    }
    outcome.push(format_duration(duration));
    let (dim, red, reset) = if colors {
        ("\x1b[2m", "\x1b[31m", "\x1b[0m")
    } else {
        ("", "", "")
    };
    let error = matches!(span.status, Status::Error { .. });
    format!(
        "{dim}{}{reset} {}{}{message}{reset} {dim}· {}{reset}",
        clock(span.start_time),
        "  ".repeat(depth),
        if error { red } else { "" },
        outcome.join(" · "),
    )
}

/// `GET host/path ? k='v' & k2='v2'`: host without port, query values shortened.
fn http_message(name: &str, url_full: &str) -> String {
    let Ok(url) = url::Url::parse(url_full) else {
        return format!("{name} {url_full}");
    };
    let mut message = format!("{name} {}{}", url.host_str().unwrap_or(""), url.path());
    let pairs: Vec<String> = url
        .query_pairs()
        .map(|(k, v)| format!("{k}='{}'", shorten(&v, 20)))
        .collect();
    if !pairs.is_empty() {
        message.push_str(" ? ");
        message.push_str(&pairs.join(" & "));
    }
    message
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let cut: String = s.chars().take(max).collect();
    format!("{cut}…")
}

fn format_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1000.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}

/// `HH:MM:SS.mmm` (UTC).
fn clock(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_messages_show_host_path_and_short_query() {
        let cases = [
            (
                "GET",
                "http://127.0.0.1:8080/get?q=a%20b",
                "GET 127.0.0.1/get ? q='a b'",
            ),
            ("POST", "https://h/p", "POST h/p"),
            ("GET", "http://h/?a=1&b=2", "GET h/ ? a='1' & b='2'"),
            (
                "GET",
                "http://h/?t=aaaaaaaaaaaaaaaaaaaaaaaaa",
                "GET h/ ? t='aaaaaaaaaaaaaaaaaaaa…'",
            ),
            ("GET", "not a url", "GET not a url"),
        ];
        for (name, url, want) in cases {
            assert_eq!(http_message(name, url), want, "{url}");
        }
    }

    fn span(name: &'static str, attrs: Vec<opentelemetry::KeyValue>, status: Status) -> SpanData {
        use opentelemetry::trace::{SpanContext, SpanKind, TraceFlags, TraceState};
        use opentelemetry::InstrumentationScope;
        let start = UNIX_EPOCH + Duration::from_millis(51_023_123);
        SpanData {
            span_context: SpanContext::new(
                opentelemetry::trace::TraceId::from(1),
                SpanId::from(2),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Client,
            name: name.into(),
            start_time: start,
            end_time: start + Duration::from_micros(2_149),
            attributes: attrs,
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status,
            instrumentation_scope: InstrumentationScope::builder("spanfire").build(),
        }
    }

    #[test]
    fn rendered_lines_snapshot() {
        use opentelemetry::KeyValue;
        let ok = span(
            "GET",
            vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.full", "http://127.0.0.1:8080/get?q=a%20b"),
                KeyValue::new("http.response.status_code", 200),
            ],
            Status::Unset,
        );
        assert_eq!(
            render_line(&ok, 0, false),
            "14:10:23.123 GET 127.0.0.1/get ? q='a b' · 200 · 2.1ms"
        );
        let failed = span(
            "POST",
            vec![
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("url.full", "http://h/p"),
                KeyValue::new("error.type", "connect"),
            ],
            Status::error("refused"),
        );
        assert_eq!(
            render_line(&failed, 1, false),
            "14:10:23.123   POST h/p · error: connect · 2.1ms"
        );
        assert_eq!(
            render_line(&failed, 0, true),
            "\x1b[2m14:10:23.123\x1b[0m \x1b[31mPOST h/p\x1b[0m \x1b[2m· error: connect · 2.1ms\x1b[0m"
        );
        let plain = span(
            "checkout",
            vec![KeyValue::new(crate::CANCELLED_ATTRIBUTE, true)],
            Status::Unset,
        );
        assert_eq!(
            render_line(&plain, 2, false),
            "14:10:23.123     checkout · cancelled · 2.1ms"
        );
    }

    #[test]
    fn clock_and_duration_format() {
        let t = UNIX_EPOCH + Duration::from_millis(3_723_004);
        assert_eq!(clock(t), "01:02:03.004");
        assert_eq!(format_duration(Duration::from_micros(2_149)), "2.1ms");
        assert_eq!(format_duration(Duration::from_millis(2_500)), "2.50s");
    }
}
