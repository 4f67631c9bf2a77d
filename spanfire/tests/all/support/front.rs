//! One client API over the three front ends, so every scenario is written once and run against
//! reqwest (+ middleware), hyper-util's Client (+ the tower layer) and ureq (+ the middleware).
//! ureq blocks: its calls and body reads run on tokio's blocking pool, with the caller's
//! OpenTelemetry context (and `tracing` span) carried into the closure, as a blocking
//! application's thread would have them current.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use spanfire::{HttpClientInstrumentation, InstrumentedBody, TeeBody};
use tower::{Service, ServiceExt};

/// Which front end a scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    Reqwest,
    Tower,
    Ureq,
}

type ReqBody = BoxBody<Bytes, std::io::Error>;
type Hyper = hyper_util::client::legacy::Client<HttpConnector, TeeBody<ReqBody>>;
type HyperTls = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<HttpConnector>,
    TeeBody<ReqBody>,
>;
type TowerClient = spanfire::tower::SpanfireService<WithTimeout>;

/// Options of the underlying client (not of the instrumentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientOptions {
    pub timeout: Option<Duration>,
    pub http2_only: bool,
    /// Trust this self-signed certificate (DER) for HTTPS to `localhost`.
    pub trust: Option<&'static [u8]>,
}

/// An instrumented client of either front end.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Client {
    Reqwest(reqwest_middleware::ClientWithMiddleware),
    Tower(TowerClient),
    Ureq(ureq::Agent),
}

impl Client {
    pub fn new(
        front: Front,
        instrumentation: HttpClientInstrumentation,
        options: ClientOptions,
    ) -> Client {
        Base::new(front, options).instrument(&instrumentation)
    }

    pub async fn send(&self, req: Req) -> Result<Resp, SendError> {
        match self {
            Client::Reqwest(client) => {
                let mut request =
                    reqwest::Request::new(req.method.clone(), req.url.parse().unwrap());
                for (k, v) in &req.headers {
                    request.headers_mut().append(*k, v.parse().unwrap());
                }
                *request.body_mut() = match req.body {
                    ReqBodySpec::Empty => None,
                    ReqBodySpec::Full(b) => Some(b.into()),
                    ReqBodySpec::Chunks(chunks) => Some(reqwest::Body::wrap_stream(
                        futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>)),
                    )),
                };
                let mut extensions = http::Extensions::new();
                if req.disable_propagation {
                    extensions.insert(spanfire::DisablePropagation);
                }
                if let Some(t) = req.template {
                    extensions.insert(spanfire::UrlTemplate::new(t));
                }
                client
                    .execute_with_extensions(request, &mut extensions)
                    .await
                    .map(Resp::Reqwest)
                    .map_err(|e| SendError(e.to_string()))
            }
            Client::Tower(service) => {
                let body: ReqBody = match req.body {
                    ReqBodySpec::Empty => Full::new(Bytes::new()).map_err(|e| match e {}).boxed(),
                    ReqBodySpec::Full(b) => {
                        Full::new(Bytes::from(b)).map_err(|e| match e {}).boxed()
                    }
                    ReqBodySpec::Chunks(chunks) => {
                        BodyExt::boxed(StreamBody::new(futures_util::stream::iter(
                            chunks
                                .into_iter()
                                .map(|c| Ok::<_, std::io::Error>(Frame::data(Bytes::from(c)))),
                        )))
                    }
                };
                let mut builder = Request::builder().method(req.method).uri(&req.url);
                for (k, v) in &req.headers {
                    builder = builder.header(*k, v);
                }
                let mut request = builder.body(body).unwrap();
                if req.disable_propagation {
                    request
                        .extensions_mut()
                        .insert(spanfire::DisablePropagation);
                }
                if let Some(t) = req.template {
                    request
                        .extensions_mut()
                        .insert(spanfire::UrlTemplate::new(t));
                }
                let mut service = service.clone();
                let ready = service
                    .ready()
                    .await
                    .map_err(|e| SendError(e.to_string()))?;
                ready
                    .call(request)
                    .await
                    .map(Resp::Tower)
                    .map_err(|e| SendError(e.to_string()))
            }
            Client::Ureq(agent) => {
                let agent = agent.clone();
                let response = blocking(move || run_ureq(&agent, req)).await;
                response
                    .map(|r| Resp::Ureq(UreqResp::new(r)))
                    .map_err(|e| SendError(e.to_string()))
            }
        }
    }

    pub async fn get(&self, url: &str) -> Result<Resp, SendError> {
        self.send(Req::new(Method::GET, url)).await
    }
}

/// An uninstrumented client of either front end, built once and instrumented many times (its
/// clones share one connection pool), as an application wraps the client it already has.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Base {
    Reqwest(reqwest::Client),
    Tower(WithTimeout),
    /// A ureq agent is immutable once built, its middleware part of its config: each
    /// instrumented agent is built from these options, with a pool of its own.
    Ureq(ClientOptions),
}

impl Base {
    /// The client [`Client::new`] would instrument, with the same options.
    pub fn new(front: Front, options: ClientOptions) -> Base {
        match front {
            Front::Reqwest => {
                let mut builder = reqwest::Client::builder();
                if let Some(t) = options.timeout {
                    builder = builder.timeout(t);
                }
                if options.http2_only {
                    builder = builder.http2_prior_knowledge();
                }
                if let Some(der) = options.trust {
                    builder =
                        builder.tls_certs_only([reqwest::Certificate::from_der(der).unwrap()]);
                }
                Base::Reqwest(builder.build().unwrap())
            }
            Front::Tower => {
                let mut builder = hyper_util::client::legacy::Client::builder(TokioExecutor::new());
                builder.http2_only(options.http2_only);
                let hyper = match options.trust {
                    None => Hyper_::Plain(builder.build_http()),
                    Some(der) => Hyper_::Tls(builder.build(https_connector(der))),
                };
                Base::Tower(WithTimeout {
                    hyper,
                    timeout: options.timeout,
                })
            }
            Front::Ureq => Base::Ureq(options),
        }
    }

    /// A clone of this client, instrumented.
    pub fn instrument(&self, instrumentation: &HttpClientInstrumentation) -> Client {
        match self {
            Base::Reqwest(client) => {
                Client::Reqwest(instrumentation.instrument_reqwest(client.clone()))
            }
            Base::Tower(inner) => {
                Client::Tower(tower::Layer::layer(&instrumentation.layer(), inner.clone()))
            }
            Base::Ureq(options) => {
                Client::Ureq(instrumentation.instrument_ureq(ureq_config(*options)))
            }
        }
    }
}

/// What a scenario sends.
pub struct Req {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: ReqBodySpec,
    pub disable_propagation: bool,
    pub template: Option<&'static str>,
}

pub enum ReqBodySpec {
    Empty,
    Full(Vec<u8>),
    Chunks(Vec<Vec<u8>>),
}

impl Req {
    pub fn new(method: Method, url: &str) -> Req {
        Req {
            method,
            url: url.to_owned(),
            headers: Vec::new(),
            body: ReqBodySpec::Empty,
            disable_propagation: false,
            template: None,
        }
    }
    pub fn header(mut self, name: &'static str, value: &str) -> Req {
        self.headers.push((name, value.to_owned()));
        self
    }
    pub fn body(mut self, body: &[u8]) -> Req {
        self.body = ReqBodySpec::Full(body.to_vec());
        self
    }
    pub fn chunks(mut self, chunks: &[&[u8]]) -> Req {
        self.body = ReqBodySpec::Chunks(chunks.iter().map(|c| c.to_vec()).collect());
        self
    }
    pub fn template(mut self, template: &'static str) -> Req {
        self.template = Some(template);
        self
    }

    pub fn without_propagation(mut self) -> Req {
        self.disable_propagation = true;
        self
    }
}

/// A response of either front end; its body streams.
#[allow(clippy::large_enum_variant)]
pub enum Resp {
    Reqwest(reqwest::Response),
    Tower(Response<InstrumentedBody<Incoming>>),
    Ureq(UreqResp),
}

impl Resp {
    pub fn status(&self) -> u16 {
        match self {
            Resp::Reqwest(r) => r.status().as_u16(),
            Resp::Tower(r) => r.status().as_u16(),
            Resp::Ureq(r) => r.head.status().as_u16(),
        }
    }

    /// The next data chunk, or `None` at the end.
    pub async fn chunk(&mut self) -> Option<Bytes> {
        match self {
            Resp::Reqwest(r) => r.chunk().await.unwrap(),
            Resp::Tower(r) => loop {
                let frame = r.body_mut().frame().await?.unwrap();
                if let Ok(data) = frame.into_data() {
                    break Some(data);
                }
            },
            Resp::Ureq(r) => r.chunk().await.unwrap(),
        }
    }

    pub async fn bytes(mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(chunk) = self.chunk().await {
            out.extend_from_slice(&chunk);
        }
        out
    }
}

/// A ureq response: its head, and its body (read on the blocking pool).
pub struct UreqResp {
    pub head: Response<()>,
    body: Option<ureq::Body>,
    reader: Option<ureq::BodyReader<'static>>,
}

impl UreqResp {
    fn new(response: Response<ureq::Body>) -> UreqResp {
        let (parts, body) = response.into_parts();
        UreqResp {
            head: Response::from_parts(parts, ()),
            body: Some(body),
            reader: None,
        }
    }

    /// The next chunk read (at most 16 KiB) through `Body::into_reader`, `None` at the end, or
    /// the read's error.
    pub async fn chunk(&mut self) -> std::io::Result<Option<Bytes>> {
        use std::io::Read;
        let reader = self
            .reader
            .take()
            .or_else(|| Some(self.body.take()?.into_reader()));
        let Some(mut reader) = reader else {
            return Ok(None);
        };
        let (reader, read) = blocking(move || {
            let mut buf = vec![0; 16 * 1024];
            let read = reader.read(&mut buf).map(|n| {
                buf.truncate(n);
                buf
            });
            (reader, read)
        })
        .await;
        let data = read?;
        if data.is_empty() {
            return Ok(None);
        }
        self.reader = Some(reader);
        Ok(Some(Bytes::from(data)))
    }

    /// The body, for a scenario that reads it its own way (on a blocking thread).
    pub fn into_body(self) -> ureq::Body {
        self.body.expect("the body was not read through chunk()")
    }
}

/// Runs a blocking ureq call on tokio's blocking pool with the caller's OpenTelemetry context
/// and `tracing` span current, as they would be on the application's own thread.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let cx = opentelemetry::Context::current();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _cx = cx.attach();
        let _span = span.enter();
        f()
    })
    .await
    .expect("the blocking call does not panic")
}

/// The agent config of a ureq client: statuses as responses (as reqwest and hyper give them;
/// ureq's default turns 4xx/5xx into errors, see `ureq_client.rs` for that), and methods such
/// as `PURGE` allowed (ureq refuses them by default).
fn ureq_config(options: ClientOptions) -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    assert!(!options.http2_only, "ureq speaks HTTP/1.1 only");
    assert!(
        options.trust.is_none(),
        "ureq's TLS is not built in the tests"
    );
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .allow_non_standard_methods(true)
        .timeout_global(options.timeout)
}

/// Sends a scenario's request with `Agent::run`: a full body as ureq's buffered `Vec<u8>`
/// (sent with its `Content-Length`), chunks as a reader (sent chunked).
fn run_ureq(agent: &ureq::Agent, req: Req) -> Result<Response<ureq::Body>, ureq::Error> {
    let mut builder = Request::builder().method(req.method).uri(&req.url);
    for (k, v) in &req.headers {
        builder = builder.header(*k, v);
    }
    let mut request = builder.body(()).unwrap();
    if req.disable_propagation {
        request
            .extensions_mut()
            .insert(spanfire::DisablePropagation);
    }
    if let Some(t) = req.template {
        request
            .extensions_mut()
            .insert(spanfire::UrlTemplate::new(t));
    }
    let (parts, ()) = request.into_parts();
    match req.body {
        ReqBodySpec::Empty => agent.run(Request::from_parts(parts, ())),
        ReqBodySpec::Full(b) => agent.run(Request::from_parts(parts, b)),
        ReqBodySpec::Chunks(chunks) => {
            let body = ureq::SendBody::from_owned_reader(Chunks(chunks.into()));
            agent.run(Request::from_parts(parts, body))
        }
    }
}

/// A streamed request body: one chunk per read.
struct Chunks(std::collections::VecDeque<Vec<u8>>);

impl std::io::Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // an empty chunk is not the end (a read of 0 would be)
        while self.0.front().is_some_and(Vec::is_empty) {
            self.0.pop_front();
        }
        let Some(chunk) = self.0.front_mut() else {
            return Ok(0);
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.drain(..n);
        if chunk.is_empty() {
            self.0.pop_front();
        }
        Ok(n)
    }
}

#[derive(Debug)]
pub struct SendError(#[allow(dead_code)] pub String);

/// hyper-util's client with a request timeout, as an application would add one.
#[derive(Clone)]
pub struct WithTimeout {
    hyper: Hyper_,
    timeout: Option<Duration>,
}

#[derive(Clone)]
enum Hyper_ {
    Plain(Hyper),
    Tls(HyperTls),
}

/// HTTPS with ALPN (h2, http/1.1), trusting only `der`.
fn https_connector(der: &[u8]) -> hyper_rustls::HttpsConnector<HttpConnector> {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    https_connector_over(der, tcp)
}

/// [`https_connector`] over the given TCP connector.
pub fn https_connector_over<C>(der: &[u8], tcp: C) -> hyper_rustls::HttpsConnector<C> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der.to_vec().into()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .enable_http2()
        .wrap_connector(tcp)
}

/// Errors of [`WithTimeout`]: the client's, or the timeout.
#[derive(Debug)]
pub enum ClientError {
    Hyper(hyper_util::client::legacy::Error),
    TimedOut,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Hyper(e) => write!(f, "{e}"),
            ClientError::TimedOut => f.write_str("request timed out"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Hyper(e) => Some(e),
            ClientError::TimedOut => None,
        }
    }
}

impl Service<Request<TeeBody<ReqBody>>> for WithTimeout {
    type Response = Response<Incoming>;
    type Error = ClientError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Incoming>, ClientError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<TeeBody<ReqBody>>) -> Self::Future {
        let call = match &self.hyper {
            Hyper_::Plain(h) => h.request(request),
            Hyper_::Tls(h) => h.request(request),
        };
        let timeout = self.timeout;
        Box::pin(async move {
            match timeout {
                Some(t) => match tokio::time::timeout(t, call).await {
                    Ok(result) => result.map_err(ClientError::Hyper),
                    Err(_) => Err(ClientError::TimedOut),
                },
                None => call.await.map_err(ClientError::Hyper),
            }
        })
    }
}
