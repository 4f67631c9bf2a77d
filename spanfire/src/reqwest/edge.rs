//! reqwest's errors, described for the exchange: their kinds and the URL they quote.

use crate::exchange::Edge;
use crate::semconv::ErrorKind;

/// The reqwest front end's edge.
pub(crate) static REQWEST: Edge = Edge {
    classify,
    reported_url,
};

/// reqwest's own error kinds when the error is (or wraps) a `reqwest::Error`, otherwise
/// [`ErrorKind::classify`].
fn classify(err: &(dyn std::error::Error + 'static)) -> ErrorKind {
    match find(err) {
        Some(e) => kind(e),
        None => ErrorKind::classify(err),
    }
}

/// reqwest's errors quote the request URL: `error sending request for url (…)`; so does the
/// [`RedirectError`](super::RedirectError) of a redirect spanfire would not follow.
fn reported_url<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e str> {
    if let Some(redirect) = err.downcast_ref::<super::RedirectError>() {
        return Some(redirect.url().as_str());
    }
    find(err)?.url().map(url::Url::as_str)
}

fn find<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e reqwest::Error> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(re) = e.downcast_ref::<reqwest::Error>() {
            return Some(re);
        }
        cur = e.source();
    }
    None
}

fn kind(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_connect() {
        ErrorKind::Connect
    } else if e.is_redirect() {
        ErrorKind::Redirect
    } else if e.is_decode() {
        ErrorKind::Decode
    } else if e.is_body() {
        // a decompression failure surfaces as a body error wrapping InvalidData
        match ErrorKind::classify(e) {
            ErrorKind::Decode => ErrorKind::Decode,
            _ => ErrorKind::Body,
        }
    } else if e.is_request() {
        ErrorKind::Request
    } else {
        ErrorKind::classify(e)
    }
}
