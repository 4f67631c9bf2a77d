//! Redirects that spanfire follows itself (reqwest front end), hop by hop, as reqwest's default
//! policy does — so that trace context is injected for each hop's own host (never sent to a
//! host outside [`propagate_to_hosts`](crate::HttpClientInstrumentation::propagate_to_hosts))
//! and, as an option, each hop is its own span.
//!
//! The rules are reqwest's (tower-http's `FollowRedirect` with reqwest's policy):
//! - 301/302 turn a POST into a GET without body; 303 turns anything but HEAD into a GET
//!   without body (the payload headers `Content-Type`, `Content-Length`, `Content-Encoding`,
//!   `Transfer-Encoding` go with it); 307/308 resend the same method and body — a streaming
//!   body, which cannot be sent twice, ends the journey there (the 3xx response is returned);
//! - `Location` is resolved against the hop's URL; a response without a usable one is returned;
//! - `Authorization`, `Cookie`, `Cookie2`, `Proxy-Authorization` and `WWW-Authenticate` are
//!   dropped when the scheme, host or port changes; `Referer` is set to the previous URL
//!   (without credentials or fragment; not from https to http);
//! - more than `max_hops` redirects, or a redirect to a scheme other than http(s), is an error
//!   ([`RedirectError`], `error.type` = `redirect`).

use std::fmt;
use std::time::Instant;

use http::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, PROXY_AUTHORIZATION,
    REFERER, TRANSFER_ENCODING, WWW_AUTHENTICATE,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};
use reqwest::{Body, Request};
use url::Url;

/// How the reqwest front end follows redirects when it follows them itself: see
/// [`HttpClientInstrumentation::redirects`](crate::HttpClientInstrumentation::redirects).
///
/// Default: at most 10 redirects (reqwest's default), one span for the whole request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirects {
    pub(crate) follow: bool,
    pub(crate) max_hops: usize,
    pub(crate) span_per_hop: bool,
    pub(crate) referer: bool,
}

impl Default for Redirects {
    fn default() -> Self {
        Redirects {
            follow: true,
            max_hops: 10,
            span_per_hop: false,
            referer: true,
        }
    }
}

impl Redirects {
    /// At most 10 redirects, one span for the whole request, `Referer` set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Follows no redirect: a 3xx response is handed to the application as it is
    /// (reqwest's `redirect::Policy::none()`).
    pub fn none() -> Self {
        Redirects {
            follow: false,
            ..Self::default()
        }
    }

    /// Whether a hop sends `Referer` (the previous URL without credentials or fragment, never
    /// from https to http), as reqwest's `ClientBuilder::referer` does. Default: on.
    pub fn referer(mut self, on: bool) -> Self {
        self.referer = on;
        self
    }

    /// At most `max` redirects per request; one more is a [`RedirectError`].
    pub fn max_hops(mut self, max: usize) -> Self {
        self.max_hops = max;
        self
    }

    /// Each hop is its own CLIENT span (its own `url.full`, status and duration record), the
    /// first without `http.request.resend_count`, each redirect with 1, 2, …; otherwise one span
    /// covers the request, with the URL asked for and the final status.
    pub fn span_per_hop(mut self, on: bool) -> Self {
        self.span_per_hop = on;
        self
    }
}

/// A redirect spanfire would not follow: too many hops, or a `Location` with a scheme other
/// than http(s). The application receives it as `reqwest_middleware::Error::Middleware`.
#[derive(Debug)]
pub struct RedirectError {
    reason: &'static str,
    url: Url,
}

impl RedirectError {
    /// The URL whose response redirected.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Whether the request was redirected more than [`Redirects::max_hops`] times.
    pub fn is_too_many_redirects(&self) -> bool {
        self.reason == TOO_MANY
    }
}

const TOO_MANY: &str = "too many redirects";

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "error following redirect for url ({}): {}",
            self.url, self.reason
        )
    }
}

impl std::error::Error for RedirectError {}

/// The journey of one request through its redirects: what each next hop is built from.
pub(crate) struct Journey {
    method: Method,
    /// The application's headers, before trace-context injection; credentials are removed
    /// for good once a hop leaves their origin.
    headers: HeaderMap,
    /// The body to resend, as reqwest clones it.
    body: Resend,
    version: Version,
    /// The request's own timeout covers the whole journey, as it does in reqwest.
    deadline: Option<Instant>,
    hops: usize,
}

/// The body a hop sends.
enum Resend {
    /// No body (none at first, or dropped by a 301/302/303).
    Nothing,
    /// A request holding only a body that reqwest can clone (bytes).
    Clone(Box<Request>),
    /// A streaming body: it cannot be sent twice.
    Streaming,
}

impl Resend {
    /// Keeps a copy of `req`'s body when reqwest can clone it (the holder request carries no
    /// headers or extensions, so copies cost only the body's reference count).
    fn keep(req: &mut Request) -> Resend {
        let Some(body) = req.body_mut().take() else {
            return Resend::Nothing;
        };
        let mut holder = Request::new(Method::GET, req.url().clone());
        *holder.body_mut() = Some(body);
        match holder.try_clone() {
            Some(mut copy) => {
                *req.body_mut() = copy.body_mut().take();
                Resend::Clone(Box::new(holder))
            }
            None => {
                *req.body_mut() = holder.body_mut().take();
                Resend::Streaming
            }
        }
    }

    fn body(&self) -> Option<Body> {
        match self {
            Resend::Clone(holder) => holder.try_clone()?.body_mut().take(),
            Resend::Nothing | Resend::Streaming => None,
        }
    }
}

/// What follows a hop's response.
pub(crate) enum Next {
    /// Hand the response to the application.
    Deliver,
    /// Send this request next.
    Follow(Request),
    Fail(RedirectError),
}

impl Journey {
    /// Before the first hop, with `req` as the application built it (its body stays in it).
    pub(crate) fn start(req: &mut Request) -> Journey {
        Journey {
            method: req.method().clone(),
            headers: req.headers().clone(),
            body: Resend::keep(req),
            version: req.version(),
            deadline: req.timeout().map(|t| Instant::now() + *t),
            hops: 0,
        }
    }

    /// After the response (`status`, `location`) of the hop to `url`: the next request.
    pub(crate) fn next(
        &mut self,
        url: &Url,
        status: StatusCode,
        location: Option<&HeaderValue>,
        redirects: &Redirects,
    ) -> Next {
        let without_body = match status {
            _ if !redirects.follow => return Next::Deliver,
            StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => self.method == Method::POST,
            StatusCode::SEE_OTHER => true,
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => false,
            _ => return Next::Deliver,
        };
        let Some(next) = location
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
            .and_then(|loc| url.join(loc).ok())
        else {
            return Next::Deliver;
        };
        if !without_body && matches!(self.body, Resend::Streaming) {
            return Next::Deliver;
        }
        self.hops += 1;
        if self.hops > redirects.max_hops {
            return Next::Fail(RedirectError {
                reason: TOO_MANY,
                url: url.clone(),
            });
        }
        if !matches!(next.scheme(), "http" | "https") {
            return Next::Fail(RedirectError {
                reason: "redirect to a URL that is not http(s)",
                url: url.clone(),
            });
        }
        if without_body {
            // 301/302 only get here for a POST; a 303 keeps a HEAD a HEAD
            if self.method != Method::HEAD {
                self.method = Method::GET;
            }
            self.body = Resend::Nothing;
            for name in [
                CONTENT_TYPE,
                CONTENT_LENGTH,
                CONTENT_ENCODING,
                TRANSFER_ENCODING,
            ] {
                self.headers.remove(name);
            }
        }
        if cross_origin(url, &next) {
            // for good: a later hop back to a same-origin pair must not get them again
            for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, WWW_AUTHENTICATE] {
                self.headers.remove(name);
            }
            self.headers.remove("cookie2");
        }
        let mut headers = self.headers.clone();
        if let Some(referer) = redirects.referer.then(|| referer(&next, url)).flatten() {
            headers.insert(REFERER, referer);
        }
        let mut req = Request::new(self.method.clone(), next);
        *req.headers_mut() = headers;
        *req.version_mut() = self.version;
        *req.timeout_mut() = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        *req.body_mut() = self.body.body();
        Next::Follow(req)
    }
}

fn cross_origin(previous: &Url, next: &Url) -> bool {
    previous.host_str() != next.host_str()
        || previous.port_or_known_default() != next.port_or_known_default()
        || previous.scheme() != next.scheme()
}

/// The previous URL without credentials or fragment; none from https to http.
fn referer(next: &Url, previous: &Url) -> Option<HeaderValue> {
    if next.scheme() == "http" && previous.scheme() == "https" {
        return None;
    }
    let mut referer = previous.clone();
    let _ = referer.set_username("");
    let _ = referer.set_password(None);
    referer.set_fragment(None);
    HeaderValue::from_str(referer.as_str()).ok()
}
