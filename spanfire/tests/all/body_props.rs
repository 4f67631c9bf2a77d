//! Property tests of body capture, against an in-process echo server on loopback.
//!
//! For random bodies (valid UTF-8 with multi-byte characters, invalid UTF-8, arbitrary bytes),
//! random chunkings on both sides, random ways of reading and limits around the body size:
//!
//! 1. the application reads the original bytes, with capture on and off;
//! 2. the server receives the original bytes, with capture on and off, for buffered and
//!    streamed request bodies;
//! 3. the captured text is the body when it is valid UTF-8 and fits; when cut, the longest prefix
//!    within the limit that ends on a character boundary plus the truncation marker; and absent
//!    when the kept bytes are not UTF-8 (other than a character cut by the limit). Sizes always
//!    count every byte.
//!
//! Every property runs on both front ends (reqwest + middleware, hyper-util + the tower layer).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, Response};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use proptest::collection::vec;
use proptest::prelude::*;
use spanfire::{InstrumentedBody, TRUNCATION_MARKER};

use crate::support::front::{
    blocking, Base, ClientOptions, Front, Req, ReqBodySpec, Resp, UreqResp,
};
use crate::support::{attrs, Serve, Telemetry};

/// Cases per property: enough to cover the corners, few enough to keep the suite fast.
const CASES: u32 = 64;

type Body = BoxBody<Bytes, Infallible>;

/// `POST /echo?id=N[&chunk=K]`: stores the request body under `id`, then answers with the same
/// bytes and Content-Type — in frames of `K` bytes (chunked), or whole (Content-Length) without
/// `chunk`.
struct EchoServer {
    addr: SocketAddr,
    received: Arc<Mutex<HashMap<u64, Bytes>>>,
}

impl EchoServer {
    async fn start() -> EchoServer {
        let received = Arc::new(Mutex::new(HashMap::new()));
        let store = Arc::clone(&received);
        let addr = Serve::new()
            .start(move |req| echo(req, Arc::clone(&store)))
            .await;
        EchoServer { addr, received }
    }

    /// The body received by request `id`.
    fn take(&self, id: u64) -> Bytes {
        self.received
            .lock()
            .unwrap()
            .remove(&id)
            .unwrap_or_else(|| panic!("request {id} never reached the server"))
    }
}

async fn echo(req: Request<Incoming>, store: Arc<Mutex<HashMap<u64, Bytes>>>) -> Response<Body> {
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let number = |k: &str| query.get(k).and_then(|v| v.parse::<u64>().ok());
    let content_type = req.headers().get(http::header::CONTENT_TYPE).cloned();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    store
        .lock()
        .unwrap()
        .insert(number("id").expect("id"), body.clone());
    let out: Body = match number("chunk") {
        None => Full::new(body).boxed(),
        Some(size) => {
            let frames: Vec<Result<Frame<Bytes>, Infallible>> = body
                .chunks(size.max(1) as usize)
                .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
                .collect();
            BodyExt::boxed(StreamBody::new(futures_util::stream::iter(frames)))
        }
    };
    let mut res = Response::new(out);
    if let Some(ct) = content_type {
        res.headers_mut().insert(http::header::CONTENT_TYPE, ct);
    }
    res
}

/// One runtime, echo server and client per front end for every case of every property in this
/// process.
struct Env {
    rt: tokio::runtime::Runtime,
    server: EchoServer,
    reqwest: Base,
    tower: Base,
    ureq: Base,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(EchoServer::start());
        Env {
            rt,
            server,
            reqwest: Base::new(Front::Reqwest, ClientOptions::default()),
            tower: Base::new(Front::Tower, ClientOptions::default()),
            ureq: Base::new(Front::Ureq, ClientOptions::default()),
        }
    })
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// How the request body is sent.
#[derive(Debug, Clone)]
enum Send {
    /// One buffered body: reqwest's `RequestBuilder::body(Vec<u8>)`, tower's `Full`.
    Buffered,
    /// A stream of chunks of these sizes, cycled (zero: an empty chunk): reqwest's
    /// `Body::wrap_stream`, tower's `StreamBody`.
    Stream(Vec<usize>),
}

/// How the application reads the response body.
#[derive(Debug, Clone, Copy)]
enum Read {
    /// reqwest's `bytes()`; tower: `BodyExt::collect`.
    Bytes,
    /// reqwest's `chunk()`; tower: `BodyExt::frame`, one frame at a time.
    Chunks,
    /// reqwest's `bytes_stream()`; tower: `BodyExt::into_data_stream`.
    Stream,
}

#[derive(Debug, Clone)]
struct Case {
    body: Vec<u8>,
    limit: usize,
    content_type: Option<&'static str>,
    send: Send,
    /// Server frame size; `None`: one body with Content-Length.
    server_chunk: Option<usize>,
    read: Read,
}

/// What one exchange produced.
struct Outcome {
    read: Vec<u8>,
    received: Bytes,
    span: SpanData,
}

/// Splits `body` into chunks of the given sizes, cycled.
fn split(body: &[u8], sizes: &[usize]) -> Vec<Bytes> {
    let sizes: &[usize] = if sizes.iter().all(|&s| s == 0) {
        &[1]
    } else {
        sizes
    };
    let mut chunks = Vec::new();
    let mut at = 0;
    for &size in sizes.iter().cycle() {
        if at >= body.len() {
            break;
        }
        let end = (at + size).min(body.len());
        chunks.push(Bytes::copy_from_slice(&body[at..end]));
        at = end;
    }
    chunks
}

async fn read_with(res: Resp, how: Read) -> Vec<u8> {
    match res {
        Resp::Reqwest(res) => read_reqwest(res, how).await,
        Resp::Tower(res) => read_tower(res.into_body(), how).await,
        Resp::Ureq(res) => read_ureq(res, how).await,
    }
}

/// ureq: `read_to_vec`, `into_reader` a read at a time, `as_reader` with `read_to_end`.
async fn read_ureq(mut res: UreqResp, how: Read) -> Vec<u8> {
    use std::io::Read as _;
    match how {
        Read::Bytes => {
            let mut body = res.into_body();
            blocking(move || body.read_to_vec().unwrap()).await
        }
        Read::Chunks => {
            let mut out = Vec::new();
            while let Some(chunk) = res.chunk().await.unwrap() {
                out.extend_from_slice(&chunk);
            }
            out
        }
        Read::Stream => {
            let mut body = res.into_body();
            blocking(move || {
                let mut out = Vec::new();
                body.as_reader().read_to_end(&mut out).unwrap();
                out
            })
            .await
        }
    }
}

async fn read_reqwest(res: reqwest::Response, how: Read) -> Vec<u8> {
    match how {
        Read::Bytes => res.bytes().await.unwrap().to_vec(),
        Read::Chunks => {
            let mut res = res;
            let mut out = Vec::new();
            while let Some(chunk) = res.chunk().await.unwrap() {
                out.extend_from_slice(&chunk);
            }
            out
        }
        Read::Stream => {
            let mut stream = res.bytes_stream();
            let mut out = Vec::new();
            while let Some(chunk) = stream.next().await {
                out.extend_from_slice(&chunk.unwrap());
            }
            out
        }
    }
}

async fn read_tower(body: InstrumentedBody<Incoming>, how: Read) -> Vec<u8> {
    match how {
        Read::Bytes => body.collect().await.unwrap().to_bytes().to_vec(),
        Read::Chunks => {
            let mut body = body;
            let mut out = Vec::new();
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.unwrap().into_data() {
                    out.extend_from_slice(&data);
                }
            }
            out
        }
        Read::Stream => {
            let mut stream = body.into_data_stream();
            let mut out = Vec::new();
            while let Some(chunk) = stream.next().await {
                out.extend_from_slice(&chunk.unwrap());
            }
            out
        }
    }
}

/// Runs `case` once on `front`, capturing both bodies or neither.
fn run(front: Front, case: &Case, capture: bool) -> Outcome {
    let env = env();
    env.rt.block_on(async {
        let t = Telemetry::new();
        let instrumentation = t
            .instrumentation()
            .capture_all(false)
            .capture_request_body(capture)
            .capture_response_body(capture)
            .body_capture_limit(case.limit);
        let client = match front {
            Front::Reqwest => env.reqwest.instrument(&instrumentation),
            Front::Tower => env.tower.instrument(&instrumentation),
            Front::Ureq => env.ureq.instrument(&instrumentation),
        };
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let mut url = format!("http://{}/echo?id={id}", env.server.addr);
        if let Some(size) = case.server_chunk {
            url.push_str(&format!("&chunk={size}"));
        }
        let mut request = Req::new(http::Method::POST, &url);
        if let Some(ct) = case.content_type {
            request = request.header("content-type", ct);
        }
        request.body = match &case.send {
            Send::Buffered => ReqBodySpec::Full(case.body.clone()),
            Send::Stream(sizes) => ReqBodySpec::Chunks(
                split(&case.body, sizes)
                    .iter()
                    .map(|c| c.to_vec())
                    .collect(),
            ),
        };
        let res = client.send(request).await.unwrap();
        assert_eq!(res.status(), 200);
        let read = read_with(res, case.read).await;
        let received = env.server.take(id);
        Outcome {
            read,
            received,
            span: t.single(),
        }
    })
}

/// Whether `rest` is the beginning of one UTF-8 character that the limit cut: some completion
/// with continuation bytes makes it exactly one valid character.
fn is_cut_character(rest: &[u8]) -> bool {
    if rest.is_empty() || rest.len() > 3 {
        return false;
    }
    (1..=4 - rest.len()).any(|missing| {
        (0x80..=0xBF).any(|next| {
            let mut completed = rest.to_vec();
            completed.push(next);
            completed.resize(rest.len() + missing, 0x80);
            std::str::from_utf8(&completed).is_ok_and(|s| s.chars().count() == 1)
        })
    })
}

/// The text capture must record for `body` under `limit`, computed independently of spanfire.
fn expected_text(body: &[u8], limit: usize) -> Option<String> {
    if body.len() <= limit {
        return String::from_utf8(body.to_vec()).ok();
    }
    let kept = &body[..limit];
    let valid = (0..=limit)
        .rev()
        .find(|&i| std::str::from_utf8(&kept[..i]).is_ok())
        .unwrap();
    let rest = &kept[valid..];
    (rest.is_empty() || is_cut_character(rest)).then(|| {
        let prefix = std::str::from_utf8(&kept[..valid]).unwrap();
        format!("{prefix}{TRUNCATION_MARKER}")
    })
}

fn text_attr(span: &SpanData, key: &str) -> Option<String> {
    attrs(span).get(key).map(|v| match v {
        Value::String(s) => s.as_str().to_owned(),
        other => panic!("{key} is not a string: {other:?}"),
    })
}

fn int_attr(span: &SpanData, key: &str) -> Option<i64> {
    attrs(span).get(key).map(|v| match v {
        Value::I64(n) => *n,
        other => panic!("{key} is not an integer: {other:?}"),
    })
}

/// Runs `case` on `front` with capture off and on and checks the three properties.
fn check(front: Front, case: &Case) -> Result<(), TestCaseError> {
    let off = run(front, case, false);
    let on = run(front, case, true);
    let body = &case.body[..];

    // (1) The application reads the original bytes either way.
    prop_assert_eq!(&off.read[..], body, "read with capture off");
    prop_assert_eq!(&on.read[..], body, "read with capture on");
    // (2) The server receives the original bytes either way.
    prop_assert_eq!(&off.received[..], body, "received with capture off");
    prop_assert_eq!(&on.received[..], body, "received with capture on");

    // (3) The captures are correct prefixes; the sizes count every byte.
    let len = i64::try_from(body.len()).unwrap();
    // An empty body records no body attributes (only http.response.body.size = 0).
    let want = expected_text(body, case.limit).filter(|_| !body.is_empty());
    let request_size = (!body.is_empty()).then_some(len);
    prop_assert_eq!(int_attr(&on.span, "http.request.body.size"), request_size);
    prop_assert_eq!(int_attr(&on.span, "http.response.body.size"), Some(len));
    prop_assert_eq!(
        text_attr(&on.span, "http.request.body.text"),
        want.clone(),
        "request text"
    );
    prop_assert_eq!(
        text_attr(&on.span, "http.response.body.text"),
        want.clone(),
        "response text"
    );
    if let Some(text) = &want {
        let kept = text.strip_suffix(TRUNCATION_MARKER).unwrap_or(text);
        prop_assert!(kept.len() <= case.limit);
        prop_assert!(body.starts_with(kept.as_bytes()));
    }
    for key in ["http.request.body.form", "spanfire.cancelled", "error.type"] {
        prop_assert!(!attrs(&on.span).contains_key(key), "{} recorded", key);
    }

    // Capture off records no body attributes beyond the response size.
    let recorded = attrs(&off.span);
    for key in [
        "http.request.body.size",
        "http.request.body.text",
        "http.response.body.text",
    ] {
        prop_assert!(
            !recorded.contains_key(key),
            "{} recorded with capture off",
            key
        );
    }
    prop_assert_eq!(int_attr(&off.span, "http.response.body.size"), Some(len));
    Ok(())
}

/// Bodies: multi-byte text, arbitrary text, arbitrary bytes, and text with one invalid byte.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just("a"),
        Just("é"),
        Just("€"),
        Just("𝄞"),
        Just("\n"),
        Just("{\"k\":1}"),
    ];
    prop_oneof![
        3 => vec(piece, 0..80).prop_map(|p| p.concat().into_bytes()),
        2 => "\\PC{0,120}".prop_map(String::into_bytes),
        2 => vec(any::<u8>(), 0..300),
        2 => ("\\PC{1,120}", any::<prop::sample::Index>(), 0x80u8..=0xFF).prop_map(
            |(s, at, bad)| {
                let mut bytes = s.into_bytes();
                bytes.insert(at.index(bytes.len() + 1), bad);
                bytes
            }
        ),
    ]
}

/// A body and a limit: mostly within a few bytes of the body's size, sometimes anywhere.
fn body_and_limit() -> impl Strategy<Value = (Vec<u8>, usize)> {
    body().prop_flat_map(|body| {
        let n = body.len();
        let limit = prop_oneof![
            3 => n.saturating_sub(8)..=n + 8,
            1 => 0..=n + 32,
        ];
        (Just(body), limit)
    })
}

fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(Some("text/plain; charset=utf-8")),
        Just(Some("application/json")),
        Just(None),
    ]
}

fn read() -> impl Strategy<Value = Read> {
    prop_oneof![Just(Read::Bytes), Just(Read::Chunks), Just(Read::Stream)]
}

fn server_chunk() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![1 => Just(None), 3 => (1usize..64).prop_map(Some)]
}

fn stream_sizes() -> impl Strategy<Value = Vec<usize>> {
    vec(prop_oneof![1 => Just(0usize), 8 => 1usize..40], 1..12)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // Regression files would land in the source tree; failures print the minimal case.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The properties, on one front end.
macro_rules! body_props_on {
    ($front_mod:ident, $front:expr) => {
        mod $front_mod {
            use super::*;

            const FRONT: Front = $front;

            proptest! {
                #![proptest_config(config())]

                #[test]
                fn body_props_buffered_request_bodies(
                    (body, limit) in body_and_limit(),
                    content_type in content_type(),
                    server_chunk in server_chunk(),
                    read in read(),
                ) {
                    let send = Send::Buffered;
                    check(FRONT, &Case { body, limit, content_type, send, server_chunk, read })?;
                }

                #[test]
                fn body_props_streamed_request_bodies(
                    (body, limit) in body_and_limit(),
                    content_type in content_type(),
                    sizes in stream_sizes(),
                    server_chunk in server_chunk(),
                    read in read(),
                ) {
                    let send = Send::Stream(sizes);
                    check(FRONT, &Case { body, limit, content_type, send, server_chunk, read })?;
                }

                /// Only multi-byte characters, limits within a character of the size: every cut
                /// position inside a 2-, 3- and 4-byte character.
                #[test]
                fn body_props_cuts_inside_multibyte_characters(
                    chars in vec(prop_oneof![Just('é'), Just('€'), Just('𝄞'), Just('x')], 1..40),
                    back in 0usize..=8,
                    sizes in stream_sizes(),
                    streamed in any::<bool>(),
                    read in read(),
                ) {
                    let body = chars.iter().collect::<String>().into_bytes();
                    let limit = body.len().saturating_sub(back);
                    let send = if streamed { Send::Stream(sizes) } else { Send::Buffered };
                    let case = Case {
                        body,
                        limit,
                        content_type: Some("text/plain; charset=utf-8"),
                        send,
                        server_chunk: Some(7),
                        read,
                    };
                    check(FRONT, &case)?;
                }
            }
        }
    };
}

body_props_on!(reqwest_front, Front::Reqwest);
body_props_on!(tower_front, Front::Tower);
body_props_on!(ureq_front, Front::Ureq);

#[test]
fn body_props_expected_text_oracle() {
    let m = TRUNCATION_MARKER;
    assert_eq!(expected_text(b"abc", 3).as_deref(), Some("abc"));
    assert_eq!(expected_text(b"", 0).as_deref(), Some(""));
    assert_eq!(expected_text(b"abc", 0), Some(m.to_owned()));
    assert_eq!(expected_text("aé".as_bytes(), 2), Some(format!("a{m}")));
    assert_eq!(expected_text("a𝄞".as_bytes(), 4), Some(format!("a{m}")));
    assert_eq!(expected_text("a𝄞b".as_bytes(), 5), Some(format!("a𝄞{m}")));
    assert_eq!(expected_text(b"a\xffb", 3), None, "invalid and whole");
    assert_eq!(
        expected_text(b"a\xffbcd", 3),
        None,
        "invalid within the limit"
    );
    assert_eq!(
        expected_text(b"ab\xff", 2),
        Some(format!("ab{m}")),
        "invalid beyond the limit"
    );
    assert_eq!(
        expected_text(b"a\xe2\x41", 2),
        Some(format!("a{m}")),
        "the kept lead byte could start a character"
    );
    assert_eq!(
        expected_text(b"a\xc0\x80", 2),
        None,
        "0xC0 starts no character"
    );
    assert_eq!(
        expected_text(b"a\xed\xa0\x80", 3),
        None,
        "surrogates are not characters"
    );
    assert!(is_cut_character(b"\xf0\x9d"));
    assert!(!is_cut_character(b"\x80"));
}
