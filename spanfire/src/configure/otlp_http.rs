//! The OTLP/HTTP protobuf span exporter: spanfire's own encoding (`otlp_proto.rs`) sent with a
//! blocking reqwest client, retried as opentelemetry-otlp retries.
//!
//! Why not opentelemetry-otlp's exporter: it turns every span into the generated proto structs
//! (a copy of every key and value) and then lets prost encode them, recomputing nested lengths
//! at every level — measured with callgrind, about 48,000 instructions per capture_all span on
//! the export thread, which on a small machine competes with the application for the CPU.
//! The bytes sent are the same (`otlp_proto.rs` is tested byte for byte against that
//! encoding); everything else follows opentelemetry-otlp 0.33's HTTP exporter:
//!
//! - `POST` to the destination's traces URL with `Content-Type: application/x-protobuf` and the
//!   destination's headers, each request bounded by the destination's timeout;
//! - retries with its recommended policy (3 retries, 100 ms doubling to 1.6 s, up to 100 ms of
//!   jitter) on a transport error and on status 429, 502, 503, 504; a `Retry-After` (seconds)
//!   on 429/503 seeds the backoff (capped at 30 s); no retry starts, and no backoff sleeps,
//!   past the timeout counted from the first attempt;
//! - unlike opentelemetry-otlp, once an export got no response at all on any attempt (the
//!   collector is down or unreachable), each export that follows first probes the collector
//!   with an empty request, once, without retries; without an answer the batch fails at once,
//!   unencoded; any answer ends the probing, and the batch is sent as usual. With the collector
//!   down, a flush or shutdown with a full queue would otherwise sit through ≈ 0.8 s of
//!   backoff per batch (≈ 4 s for the 2,048-span queue), and batches that cannot be delivered
//!   would be encoded for nothing;
//! - a partial success in the response (`rejected_spans`) is reported as a warning (tracing
//!   target `spanfire`), the export itself succeeded;
//! - after shutdown every export fails.
//!
//! OTLP/HTTP JSON and gRPC keep opentelemetry-otlp's exporters ([`SpanTransport`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

/// The span exporter of one OTLP destination.
#[derive(Debug)]
pub(crate) enum SpanTransport {
    /// OTLP/HTTP protobuf: spanfire's own encoder.
    Protobuf(ProtobufExporter),
    /// OTLP/HTTP JSON and gRPC: opentelemetry-otlp's exporter.
    Otlp(opentelemetry_otlp::SpanExporter),
}

impl SpanExporter for SpanTransport {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        match self {
            SpanTransport::Protobuf(e) => e.export(batch).await,
            SpanTransport::Otlp(e) => e.export(batch).await,
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        match self {
            SpanTransport::Protobuf(e) => e.shutdown_with_timeout(timeout),
            SpanTransport::Otlp(e) => e.shutdown_with_timeout(timeout),
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        match self {
            SpanTransport::Protobuf(e) => e.force_flush(),
            SpanTransport::Otlp(e) => e.force_flush(),
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        match self {
            SpanTransport::Protobuf(e) => e.set_resource(resource),
            SpanTransport::Otlp(e) => e.set_resource(resource),
        }
    }
}

/// opentelemetry-otlp's `RetryPolicy::recommended()`.
#[derive(Debug, Clone, Copy)]
struct Retry {
    max_retries: u32,
    initial_delay: Duration,
    max_delay: Duration,
    max_jitter: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max_retries: 3,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1600),
            max_jitter: Duration::from_millis(100),
        }
    }
}

/// The longest a server's `Retry-After` may hold the export thread (as opentelemetry-otlp).
const MAX_THROTTLE: Duration = Duration::from_secs(30);
/// The most of a response body read (an OTLP response is a few bytes; a proxy's error page
/// need not be read whole).
const MAX_RESPONSE_BODY: u64 = 64 * 1024;

/// OTLP/HTTP protobuf span exporter (see the module docs).
#[derive(Debug)]
pub(crate) struct ProtobufExporter {
    /// `None` after shutdown.
    client: Mutex<Option<reqwest::blocking::Client>>,
    url: reqwest::Url,
    headers: HeaderMap,
    timeout: Duration,
    retry: Retry,
    resource: Resource,
    /// The last attempt found no collector (no response on any attempt of an export): each
    /// export probes first (see [`SpanExporter::export`]), until an attempt gets an answer.
    unreachable: AtomicBool,
}

/// What one attempt came to, when it failed.
#[derive(Debug)]
enum Failure {
    /// No response (connection refused, reset, timed out).
    Transport(String),
    /// A response with a status other than 2xx; `retry_after` from 429/503 only.
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
}

impl Failure {
    /// How to go on: `None` stop, `Some(None)` back off, `Some(Some(d))` wait at least `d`.
    fn retry(&self) -> Option<Option<Duration>> {
        match *self {
            Failure::Transport(_) => Some(None),
            Failure::Status {
                status: 429 | 503,
                retry_after,
            } => Some(retry_after),
            Failure::Status {
                status: 502 | 504, ..
            } => Some(None),
            Failure::Status { .. } => None,
        }
    }

    fn into_error(self) -> OTelSdkError {
        OTelSdkError::InternalFailure(match self {
            Failure::Transport(e) => format!("OTLP/HTTP export failed: {e}"),
            Failure::Status { status, .. } => {
                format!("OTLP/HTTP export failed with status code: {status}")
            }
        })
    }
}

impl ProtobufExporter {
    /// An exporter to `url` (the full traces URL) with `headers` (invalid ones skipped, as
    /// opentelemetry-otlp does) and `timeout` per request and for all retries together. The
    /// blocking client is built on a thread of its own: building (and later dropping) it
    /// inside an async runtime would panic.
    pub(crate) fn new(
        url: &str,
        headers: &[(String, String)],
        timeout: Duration,
    ) -> Result<ProtobufExporter, crate::Error> {
        // The URL is not quoted: it may carry credentials.
        let url = reqwest::Url::parse(url).map_err(|e| {
            crate::Error::config(format!("the OTLP/HTTP traces URL is not valid: {e}"))
        })?;
        let client = std::thread::Builder::new()
            .name("spanfire-otlp-client".into())
            .spawn(move || {
                reqwest::blocking::Client::builder()
                    .timeout(timeout)
                    .build()
            })
            .map_err(|e| crate::Error::telemetry("starting the OTLP client's thread", e))?
            .join()
            .map_err(|_| crate::Error::config("building the OTLP/HTTP client panicked"))?
            .map_err(|e| crate::Error::telemetry("building the OTLP/HTTP client", e))?;
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                map.insert(k, v);
            }
        }
        map.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        Ok(ProtobufExporter {
            client: Mutex::new(Some(client)),
            url,
            headers: map,
            timeout,
            retry: Retry::default(),
            resource: Resource::builder_empty().build(),
            unreachable: AtomicBool::new(false),
        })
    }

    fn client(&self) -> Option<reqwest::blocking::Client> {
        // A poisoned lock only means a panic elsewhere while it was held; the value is fine.
        let guard = self.client.lock().unwrap_or_else(|p| p.into_inner());
        guard.clone()
    }

    /// One attempt; `Ok` with the response body (bounded) on 2xx.
    fn attempt(
        &self,
        client: &reqwest::blocking::Client,
        body: &Bytes,
    ) -> Result<Vec<u8>, Failure> {
        let response = client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .body(body.clone())
            .send()
            .map_err(|e| Failure::Transport(transport_error(e)))?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let retry_after = match status {
                429 | 503 => response
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s.min(600))),
                _ => None,
            };
            return Err(Failure::Status {
                status,
                retry_after,
            });
        }
        let mut out = Vec::new();
        use std::io::Read;
        // The export succeeded whatever the body: one that cannot be read is not a failure.
        let _ = response.take(MAX_RESPONSE_BODY).read_to_end(&mut out);
        Ok(out)
    }

    /// Sends `body`, retrying within the timeout as the module docs say.
    fn send(&self, body: Bytes) -> OTelSdkResult {
        let Some(client) = self.client() else {
            return Err(OTelSdkError::AlreadyShutdown);
        };
        let start = Instant::now();
        let (mut attempt, mut delay, mut cap) = (0, self.retry.initial_delay, self.retry.max_delay);
        // While the collector is known to be unreachable (a probe), one attempt.
        let max_retries = if self.unreachable.load(Ordering::Relaxed) {
            0
        } else {
            self.retry.max_retries
        };
        loop {
            let failure = match self.attempt(&client, &body) {
                Ok(response) => {
                    self.unreachable.store(false, Ordering::Relaxed);
                    warn_partial_success(&response);
                    return Ok(());
                }
                Err(failure) => failure,
            };
            let transport = matches!(failure, Failure::Transport(_));
            if !transport {
                // An answer, whatever it says: the collector is there.
                self.unreachable.store(false, Ordering::Relaxed);
            }
            let Some(server_delay) = failure.retry() else {
                return Err(failure.into_error());
            };
            if attempt >= max_retries || start.elapsed() >= self.timeout {
                if transport {
                    self.unreachable.store(true, Ordering::Relaxed);
                }
                return Err(failure.into_error());
            }
            attempt += 1;
            if let Some(server) = server_delay.map(|d| d.min(MAX_THROTTLE)) {
                if server > cap {
                    cap = MAX_THROTTLE;
                }
                delay = delay.max(server);
            }
            let sleep = delay.saturating_add(jitter(self.retry.max_jitter)).min(cap);
            if sleep >= self.timeout.saturating_sub(start.elapsed()) {
                if transport {
                    self.unreachable.store(true, Ordering::Relaxed);
                }
                return Err(failure.into_error());
            }
            std::thread::sleep(sleep);
            delay = delay.saturating_mul(2).min(cap);
        }
    }
}

impl SpanExporter for ProtobufExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if self.unreachable.load(Ordering::Relaxed) {
            // Probe with an empty request (one attempt): a batch is encoded only for a
            // collector that answers. Any answer ends the probing; no answer fails the batch.
            let mut probe = Vec::new();
            super::otlp_proto::encode_trace_request(&[], &self.resource, &mut probe);
            let probed = self.send(Bytes::from(probe));
            if self.unreachable.load(Ordering::Relaxed) {
                return probed;
            }
        }
        let mut body = Vec::new();
        super::otlp_proto::encode_trace_request(&batch, &self.resource, &mut body);
        drop(batch);
        self.send(Bytes::from(body))
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        let mut guard = self.client.lock().unwrap_or_else(|p| p.into_inner());
        match guard.take() {
            Some(_) => Ok(()),
            None => Err(OTelSdkError::AlreadyShutdown),
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.clone();
    }
}

/// The error's text with its sources (reqwest's own says only "error sending request").
fn transport_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Up to `max` of jitter, at millisecond resolution (as opentelemetry-otlp).
fn jitter(max: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let max_ms = max.as_millis().min(u64::MAX as u128) as u64;
    if max_ms == 0 {
        return Duration::ZERO;
    }
    // Every RandomState hashes with keys of its own: a fresh one is a random number.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    Duration::from_millis(h.finish() % (max_ms + 1))
}

/// Warns when the collector accepted the request but rejected some spans.
fn warn_partial_success(body: &[u8]) {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    use prost::Message;
    if body.is_empty() {
        return;
    }
    let Ok(response) = ExportTraceServiceResponse::decode(body) else {
        return;
    };
    if let Some(partial) = response.partial_success {
        if partial.rejected_spans > 0 || !partial.error_message.is_empty() {
            tracing::warn!(
                target: "spanfire",
                rejected_spans = partial.rejected_spans,
                "the OTLP collector rejected {} span(s) of an export: {}",
                partial.rejected_spans,
                partial.error_message
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A URL that does not parse is a configuration error that does not quote it: it may
    /// carry credentials.
    #[test]
    fn an_invalid_url_is_a_config_error_without_the_url() {
        for url in [
            "not a url",
            "http://user:s3cret@[::1",
            "http://collector:99999/v1/traces",
        ] {
            let err = ProtobufExporter::new(url, &[], Duration::from_secs(1)).unwrap_err();
            assert!(err.is_config(), "{err}");
            let text = err.to_string();
            assert!(text.contains("OTLP/HTTP traces URL"), "{text}");
            assert!(!text.contains("s3cret") && !text.contains(url), "{text}");
        }
    }

    /// Invalid headers are skipped (as opentelemetry-otlp does), the content type is always
    /// protobuf, and a header set twice keeps the last value.
    #[test]
    fn headers_are_validated_and_the_content_type_is_set() {
        let headers = [
            ("x-ok".to_owned(), "1".to_owned()),
            ("bad name".to_owned(), "v".to_owned()),
            ("x-bad-value".to_owned(), "line\nbreak".to_owned()),
            ("content-type".to_owned(), "text/plain".to_owned()),
        ];
        let e = ProtobufExporter::new("http://127.0.0.1:4318/v1/traces", &headers, Duration::ZERO)
            .unwrap();
        assert_eq!(e.headers["x-ok"], "1");
        assert_eq!(e.headers["content-type"], "application/x-protobuf");
        assert_eq!(e.headers.len(), 2, "{:?}", e.headers);
    }

    #[test]
    fn retryable_statuses_are_those_of_otlp_http() {
        let status = |status| Failure::Status {
            status,
            retry_after: None,
        };
        for s in [429, 502, 503, 504] {
            assert_eq!(status(s).retry(), Some(None), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 500, 501] {
            assert_eq!(status(s).retry(), None, "{s}");
        }
        assert_eq!(Failure::Transport("refused".into()).retry(), Some(None));
        let throttled = Failure::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(throttled.retry(), Some(Some(Duration::from_secs(2))));
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        let max = Duration::from_millis(100);
        assert!((0..200).all(|_| jitter(max) <= max));
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
        let distinct: std::collections::HashSet<Duration> = (0..50).map(|_| jitter(max)).collect();
        assert!(distinct.len() > 5, "random: {distinct:?}");
    }
}
