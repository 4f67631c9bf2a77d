//! Logfire-style console output: one line per span, indented by nesting.
//!
//! ```text
//! 14:10:23.123 GET 127.0.0.1/get ? q='a b' · 200 · 2.1ms
//! 14:10:23.130   POST 127.0.0.1/post · 500 error: 500 · 1.0ms
//! ```
//!
//! The line is rendered when the span ends (its status and duration are known then); its time is
//! the span's start time (UTC) and its indentation the span's depth below the first span of the
//! trace seen in this process.
//!
//! Text taken from the span (name, URL, decoded query values, attribute values) goes through
//! [`escape_control`] first: control characters, ANSI/OSC escape sequences and bidi overrides
//! are printed escaped (`\x1b`, `\n`, `\u{9b}`, `\u{202e}` …), so a server or URL cannot drive
//! the terminal. Only spanfire's own colour codes reach it raw.
//!
//! Ending a span never waits for the output: the thread that ends it only renders the line and
//! hands it to a dedicated writer thread through a bounded queue (4096 lines). When the output
//! is too slow and the queue is full, lines are dropped and counted ([`ConsoleProcessor::dropped`]);
//! `shutdown` reports the count as a `tracing` warning (target `spanfire`). If the writer thread cannot be started, every line is
//! dropped and counted the same way (request threads never write themselves).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{Span as _, SpanId, Status, TraceContextExt};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use super::console_writer::{ConsoleWriter, FLUSH_TIMEOUT};

/// A span processor that prints one Logfire-style line per span.
///
/// Ending a span only renders its line: a dedicated writer thread prints it, fed through a
/// bounded queue (4096 lines), so a slow or stalled output never blocks the thread ending the
/// span. Lines that find the queue full are dropped and counted ([`dropped`](Self::dropped));
/// `shutdown` reports them as a `tracing` warning (target `spanfire`). If the writer thread cannot be started, every line is
/// dropped and counted. Span-derived text is printed with control characters, terminal escape
/// sequences and bidi controls escaped (`\x1b`, `\n`, `\u{202e}` …).
pub struct ConsoleProcessor {
    depths: Mutex<HashMap<SpanId, usize>>,
    writer: ConsoleWriter,
    colors: bool,
}

impl ConsoleProcessor {
    /// Prints to stdout, coloured when stdout is a terminal.
    pub fn stdout() -> Self {
        let colors = std::io::stdout().is_terminal();
        Self::new(Box::new(std::io::stdout()), colors)
    }

    /// Prints to `out`, coloured or plain. Starts the writer thread that owns `out`.
    pub fn new(out: Box<dyn Write + Send>, colors: bool) -> Self {
        ConsoleProcessor {
            depths: Mutex::new(HashMap::new()),
            writer: ConsoleWriter::spawn(out),
            colors,
        }
    }

    /// How many lines were dropped instead of printed so far: the writer's queue was full
    /// because the output (e.g. a full stdout pipe) was slower than the spans, or the writer
    /// thread could not be started, or lines were still queued when shutdown stopped the writer.
    pub fn dropped(&self) -> u64 {
        self.writer.dropped()
    }
}

impl std::fmt::Debug for ConsoleProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleProcessor")
            .field("colors", &self.colors)
            .field("dropped", &self.dropped())
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
        if self.writer.is_shut_down() {
            return;
        }
        // Never blocks: the writer thread prints it, or it is dropped and counted.
        self.writer.send(render_line(&span, depth, self.colors));
    }

    /// Waits (at most 5 s) until every line queued before the call is written and flushed.
    fn force_flush(&self) -> OTelSdkResult {
        self.writer.flush(FLUSH_TIMEOUT)
    }

    /// Flushes, stops the writer thread and reports dropped lines (a `tracing` warning), within `timeout`.
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.writer.shutdown(timeout)
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
    // Everything in `message` and `outcome` comes from the span: escape it as a whole (escaping
    // is per character, so this equals escaping every piece).
    let message = escape_control(&message);
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
    if let Some(resend) = attr("http.request.resend_count") {
        outcome.push(format!("resend {resend}"));
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
        escape_control(&outcome.join(" · ")),
    )
}

/// Escapes the characters that could drive a terminal, so text from spans prints inertly:
/// C0 controls and DEL (`\n`, `\r`, `\t`, `\x1b`, `\x07` …), C1 controls (`\u{9b}` …), the
/// Unicode line/paragraph separators and the bidi controls (U+061C, U+200E/F, U+202A–U+202E,
/// U+2066–U+2069). Everything else, backslashes included, is kept; borrows when nothing needs
/// escaping.
pub(crate) fn escape_control(s: &str) -> Cow<'_, str> {
    let Some(first) = s.find(needs_escape) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii_control() => {
                use std::fmt::Write as _;
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if needs_escape(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// `GET host/path ? k='v' & k2='v2'`: host without port, query values shortened.
pub(crate) fn http_message(name: &str, url_full: &str) -> String {
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

    use crate::testing::span_data as span;

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
        let resent = span(
            "GET",
            vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.full", "http://h/p"),
                KeyValue::new("http.response.status_code", 200),
                KeyValue::new("http.request.resend_count", 2),
            ],
            Status::Unset,
        );
        assert_eq!(
            render_line(&resent, 0, false),
            "14:10:23.123 GET h/p · 200 · resend 2 · 2.1ms"
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

    #[test]
    fn escape_control_table() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            (
                "plain text · ünïcödé 漢字 \\ backslash",
                "plain text · ünïcödé 漢字 \\ backslash",
            ),
            ("a\nb", "a\\nb"),
            ("a\rb", "a\\rb"),
            ("a\tb", "a\\tb"),
            ("\x1b[2J", "\\x1b[2J"),
            (
                "\x1b]8;;http://evil\x07link\x1b]8;;\x07",
                "\\x1b]8;;http://evil\\x07link\\x1b]8;;\\x07",
            ),
            (
                "\x00\x01\x08\x0b\x0c\x1f\x7f",
                "\\x00\\x01\\x08\\x0b\\x0c\\x1f\\x7f",
            ),
            (
                "\u{80}\u{9b}31m\u{9d}\u{9f}",
                "\\u{80}\\u{9b}31m\\u{9d}\\u{9f}",
            ),
            ("\u{a0}", "\u{a0}"),
            (
                "\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}",
                "\\u{202a}\\u{202b}\\u{202c}\\u{202d}\\u{202e}",
            ),
            (
                "\u{2066}\u{2067}\u{2068}\u{2069}",
                "\\u{2066}\\u{2067}\\u{2068}\\u{2069}",
            ),
            ("\u{61c}\u{200e}\u{200f}", "\\u{61c}\\u{200e}\\u{200f}"),
            ("\u{2028}\u{2029}", "\\u{2028}\\u{2029}"),
            (
                "\u{2027}\u{202f}\u{2065}\u{206a}",
                "\u{2027}\u{202f}\u{2065}\u{206a}",
            ),
            ("ok \u{1b}", "ok \\x1b"),
        ];
        for (input, want) in cases {
            let got = escape_control(input);
            assert_eq!(got, *want, "{input:?}");
            assert_eq!(
                matches!(got, Cow::Borrowed(_)),
                input == want,
                "borrows exactly when nothing is escaped: {input:?}"
            );
        }
    }

    #[test]
    fn hostile_span_text_is_escaped_in_rendered_lines() {
        use opentelemetry::KeyValue;
        let hostile = span(
            "GET\x1b[2J",
            vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new(
                    "url.full",
                    "http://h/p?a=%1B%5D8%3B%3Bhttp://evil%07&b=%0D%0Ax&c=%C2%9B2J&d=%E2%80%AE",
                ),
                KeyValue::new("http.response.status_code", "\x1b[31m200"),
                KeyValue::new("error.type", "boom\x07\n"),
            ],
            Status::error("x"),
        );
        let plain = render_line(&hostile, 0, false);
        assert_eq!(
            plain,
            "14:10:23.123 GET\\x1b[2J h/p ? a='\\x1b]8;;http://evil\\x07' & b='\\r\\nx' & \
             c='\\u{9b}2J' & d='\\u{202e}' · \\x1b[31m200 · error: boom\\x07\\n · 2.1ms"
        );
        let bad = |c: char| c.is_control() || needs_escape(c);
        assert!(!plain.contains(bad), "{plain:?}");
        // With colours, the only control characters left are spanfire's own colour codes.
        let coloured = render_line(&hostile, 0, true);
        let stripped = ["\x1b[2m", "\x1b[31m", "\x1b[0m"]
            .iter()
            .fold(coloured.clone(), |s, code| s.replace(code, ""));
        assert_eq!(stripped, plain);
        assert!(!stripped.contains(bad), "{coloured:?}");
        // An unparsable URL is printed as is: escaped too.
        let unparsable = span(
            "GET",
            vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.full", "not a url\x1b]0;title\x07"),
            ],
            Status::Unset,
        );
        assert_eq!(
            render_line(&unparsable, 0, false),
            "14:10:23.123 GET not a url\\x1b]0;title\\x07 · 2.1ms"
        );
    }

    /// A `Vec<u8>` behind a lock, shared with the test.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn lines(&self) -> Vec<String> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    /// A writer whose writes block until the test opens the gate.
    #[derive(Clone, Default)]
    struct Gated {
        sink: Sink,
        /// (gate open, a write is waiting at the gate)
        state: Arc<(Mutex<(bool, bool)>, std::sync::Condvar)>,
    }

    impl Gated {
        fn wait_until_blocked(&self) {
            let (lock, cv) = &*self.state;
            let mut state = lock.lock().unwrap();
            while !state.1 {
                state = cv.wait(state).unwrap();
            }
        }
        fn is_blocked(&self) -> bool {
            self.state.0.lock().unwrap().1
        }
        fn open(&self) {
            let (lock, cv) = &*self.state;
            lock.lock().unwrap().0 = true;
            cv.notify_all();
        }
    }

    impl Write for Gated {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (lock, cv) = &*self.state;
            let mut state = lock.lock().unwrap();
            state.1 = true;
            cv.notify_all();
            while !state.0 {
                state = cv.wait(state).unwrap();
            }
            state.1 = false;
            drop(state);
            self.sink.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    use std::sync::Arc;

    #[test]
    fn force_flush_delivers_every_line_in_order() {
        let sink = Sink::default();
        let console = ConsoleProcessor::new(Box::new(sink.clone()), false);
        let mut want = Vec::new();
        for i in 0..1000 {
            let s = span(format!("span-{i}"), vec![], Status::Unset);
            want.push(render_line(&s, 0, false));
            console.on_end(s);
        }
        console.force_flush().unwrap();
        assert_eq!(sink.lines(), want);
        assert_eq!(console.dropped(), 0);
        // Flushing again, with nothing new, is fine; shutdown keeps everything.
        console.force_flush().unwrap();
        console.on_end(span("last", vec![], Status::Unset));
        console
            .shutdown_with_timeout(Duration::from_secs(5))
            .unwrap();
        assert_eq!(sink.lines().last().unwrap(), "14:10:23.123 last · 2.1ms");
        assert_eq!(sink.lines().len(), 1001);
        // After shutdown: nothing is printed, nothing hangs.
        console.on_end(span("late", vec![], Status::Unset));
        console.force_flush().unwrap();
        console
            .shutdown_with_timeout(Duration::from_secs(5))
            .unwrap();
        assert_eq!(sink.lines().len(), 1001);
    }

    #[test]
    fn on_end_never_blocks_on_a_stalled_writer() {
        let gated = Gated::default();
        let console = ConsoleProcessor::new(Box::new(gated.clone()), false);
        console.on_end(span("first", vec![], Status::Unset));
        gated.wait_until_blocked();
        const SPANS: u64 = 10_000;
        for i in 1..SPANS {
            console.on_end(span(format!("span-{i}"), vec![], Status::Unset));
        }
        // The loop finished while the writer was still stuck in its first write.
        assert!(gated.is_blocked());
        assert!(gated.sink.lines().is_empty());
        assert!(console.dropped() > 0, "the queue is bounded");
        assert!(console.dropped() < SPANS);
        gated.open();
        console.force_flush().unwrap();
        let written = gated.sink.lines();
        assert_eq!(written.len() as u64 + console.dropped(), SPANS);
        assert_eq!(written[0], "14:10:23.123 first · 2.1ms");
        // What was written is in order.
        let numbers: Vec<u64> = written[1..]
            .iter()
            .map(|l| l.split(['-', ' ']).nth(2).unwrap().parse().unwrap())
            .collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]));
        let warnings = crate::testing::warnings_during(|| {
            console
                .shutdown_with_timeout(Duration::from_secs(5))
                .unwrap();
        });
        let want = format!(
            "console output dropped {} lines (stdout too slow)",
            console.dropped()
        );
        assert_eq!(warnings, [want]);
    }

    #[test]
    fn shutdown_and_drop_do_not_hang_on_a_stalled_writer() {
        let gated = Gated::default();
        let console = ConsoleProcessor::new(Box::new(gated.clone()), false);
        for i in 0..5000 {
            console.on_end(span(format!("span-{i}"), vec![], Status::Unset));
        }
        gated.wait_until_blocked();
        // The flush cannot complete: shutdown gives up at its timeout instead of hanging.
        let result = console.shutdown_with_timeout(Duration::from_millis(50));
        assert!(result.is_err(), "{result:?}");
        assert!(gated.is_blocked());
        drop(console);
        // Once released, the detached thread finishes its write and exits, discarding the rest.
        gated.open();

        let gated = Gated::default();
        let console = ConsoleProcessor::new(Box::new(gated.clone()), false);
        console.on_end(span("one", vec![], Status::Unset));
        gated.wait_until_blocked();
        drop(console);
        gated.open();
    }
}
