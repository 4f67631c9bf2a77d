//! The test servers: [`Serve`], the one way a test serves HTTP (hyper on 127.0.0.1, HTTP/1.1 and
//! h2c, optionally TLS, any handler), and [`TestServer`], httpbin-like routes on it that record
//! the headers of every request received. (A server that must write bytes HTTP forbids is the
//! raw-TCP `RawServer` of the hostile suite.)

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

type Body = BoxBody<Bytes, Infallible>;

/// How a test serves HTTP: a hyper server on a fresh 127.0.0.1 port, one task per connection,
/// running until the test's runtime ends.
pub struct Serve {
    conn: auto::Builder<TokioExecutor>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Serve {
    /// HTTP/1.1 and h2c (prior knowledge), hyper's defaults.
    pub fn new() -> Serve {
        Serve {
            conn: auto::Builder::new(TokioExecutor::new()),
            tls: None,
        }
    }

    /// Connection settings (e.g. HTTP/2 flow control) on top of hyper's defaults.
    pub fn configure(mut self, f: impl FnOnce(&mut auto::Builder<TokioExecutor>)) -> Serve {
        f(&mut self.conn);
        self
    }

    /// Accepts TLS (with this acceptor's certificate and ALPN) instead of plain TCP.
    pub fn tls(mut self, acceptor: tokio_rustls::TlsAcceptor) -> Serve {
        self.tls = Some(acceptor);
        self
    }

    /// Starts serving `handle` (every request, any body type) and returns the address.
    pub async fn start<H, F, B>(self, handle: H) -> SocketAddr
    where
        H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<B>> + Send + 'static,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.start_at("127.0.0.1:0", handle).await
    }

    /// [`start`](Self::start) on a given address (a port a test chose earlier).
    pub async fn start_at<H, F, B>(self, addr: &str, handle: H) -> SocketAddr
    where
        H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<B>> + Send + 'static,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let Serve { conn, tls } = self;
        let conn = Arc::new(conn);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (handle, conn, tls) = (handle.clone(), Arc::clone(&conn), tls.clone());
                let service = hyper::service::service_fn(move |req| {
                    let response = handle(req);
                    async move { Ok::<_, Infallible>(response.await) }
                });
                tokio::spawn(async move {
                    let _ = match tls {
                        None => conn.serve_connection(TokioIo::new(stream), service).await,
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(tls) => conn.serve_connection(TokioIo::new(tls), service).await,
                            Err(_) => return,
                        },
                    };
                });
            }
        });
        addr
    }
}

/// A running test server; dropped with the test's runtime.
pub struct TestServer {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<(String, HeaderMap)>>>,
    tls: bool,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&received);
        let addr = Serve::new()
            .start(move |req| route(req, Arc::clone(&seen)))
            .await;
        TestServer {
            addr,
            received,
            tls: false,
        }
    }

    /// The same routes over TLS on `localhost` (ALPN h2 and http/1.1), with a fresh
    /// self-signed certificate; returns the server and the certificate (DER).
    pub async fn start_tls() -> (TestServer, Vec<u8>) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let der = cert.cert.der().to_vec();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![der.clone().into()], key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&received);
        let addr = Serve::new()
            .tls(acceptor)
            .start(move |req| route(req, Arc::clone(&seen)))
            .await;
        (
            TestServer {
                addr,
                received,
                tls: true,
            },
            der,
        )
    }

    pub fn url(&self, path: &str) -> String {
        if self.tls {
            format!("https://localhost:{}{path}", self.addr.port())
        } else {
            format!("http://{}{path}", self.addr)
        }
    }

    pub fn port(&self) -> i64 {
        i64::from(self.addr.port())
    }

    /// The headers of every request received so far, in order.
    pub fn received(&self) -> Vec<HeaderMap> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, h)| h.clone())
            .collect()
    }

    /// `METHOD /path` and headers of every request received so far, in order.
    pub fn received_requests(&self) -> Vec<(String, HeaderMap)> {
        self.received.lock().unwrap().clone()
    }
}

fn full(status: u16, body: impl Into<Bytes>) -> Response<Body> {
    let mut res = Response::new(Full::new(body.into()).boxed());
    *res.status_mut() = StatusCode::from_u16(status).unwrap();
    res
}

async fn route(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<(String, HeaderMap)>>>,
) -> Response<Body> {
    let line = format!("{} {}", req.method(), req.uri().path());
    seen.lock().unwrap().push((line, req.headers().clone()));
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let number = |i: usize| {
        segments
            .get(i)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
    };
    match segments[0] {
        "get" => full(200, format!("{{\"query\":\"{query}\"}}")),
        "post" => {
            let mut res = full(200, body_of(req).await);
            res.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            res
        }
        "status" => full(number(1) as u16, ""),
        "redirect" if number(1) > 1 => redirect(&format!("/redirect/{}", number(1) - 1)),
        "redirect" => redirect("/get"),
        // `/redirect-to?url=U[&status=S][&delay=MS]`: a redirect (302 by default) to U, with a
        // body, after MS milliseconds
        "redirect-to" => {
            let param = |name: &str| {
                url::form_urlencoded::parse(query.as_bytes())
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
            };
            let delay = param("delay").and_then(|d| d.parse().ok()).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let status = param("status").and_then(|s| s.parse().ok()).unwrap_or(302);
            let mut res = full(status, "moved");
            let to = param("url").unwrap_or_default();
            res.headers_mut().insert("location", to.parse().unwrap());
            res
        }
        // `/echo-method`: the method, and the body received, as `METHOD body`
        "echo-method" => {
            let method = req.method().clone();
            let body = body_of(req).await;
            full(200, format!("{method} {}", String::from_utf8_lossy(&body)))
        }
        "delay" => {
            tokio::time::sleep(Duration::from_millis(number(1))).await;
            full(200, "late")
        }
        "stream" => stream(number(1), number(2)),
        "v1" => full(200, ""),
        // the leak corpus (tests/all/leak.rs): responses full of secrets
        "leak" => super::leak_routes::route(req, segments.get(1).copied().unwrap_or("")).await,
        "bytes" => {
            let mut res = full(200, vec![0xff_u8; number(1) as usize]);
            res.headers_mut()
                .insert("content-type", "application/octet-stream".parse().unwrap());
            res
        }
        "slow" => {
            // a slow OTLP receiver: /slow/MS/v1/... answers 200 after MS milliseconds
            tokio::time::sleep(Duration::from_millis(number(1))).await;
            full(200, "")
        }
        _ => full(404, "no such route"),
    }
}

/// The request body (empty if it fails).
async fn body_of(req: Request<Incoming>) -> Bytes {
    req.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

fn redirect(to: &str) -> Response<Body> {
    let mut res = full(302, "");
    res.headers_mut().insert("location", to.parse().unwrap());
    res
}

/// `/stream/N/MS`: N chunks of 1 KiB, MS milliseconds apart.
fn stream(chunks: u64, gap_ms: u64) -> Response<Body> {
    let frames = futures_util::stream::unfold(0, move |i| async move {
        if i >= chunks {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(gap_ms)).await;
        }
        let frame = Frame::data(Bytes::from(vec![b'x'; 1024]));
        Some((Ok::<_, Infallible>(frame), i + 1))
    });
    Response::new(StreamBody::new(frames).boxed())
}
