//! ureq's errors, described for the exchange: their kinds and the URL they quote.
//!
//! `ureq::Error` has no `source()`: its kind is in its variant. Body reads fail with an
//! `std::io::Error` that wraps a `ureq::Error` (`Error::into_io`), found through `get_ref`.

use crate::exchange::Edge;
use crate::semconv::ErrorKind;

/// The ureq front end's edge.
pub(crate) static UREQ: Edge = Edge {
    classify,
    reported_url,
};

/// ureq's own kinds when the error is (or wraps) a `ureq::Error`, otherwise
/// [`ErrorKind::classify`].
fn classify(err: &(dyn std::error::Error + 'static)) -> ErrorKind {
    match find(err) {
        Some(e) => kind(e),
        None => ErrorKind::classify(err),
    }
}

/// The errors that quote the request URL in their text.
fn reported_url<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e str> {
    match find(err)? {
        ureq::Error::BadUri(uri) | ureq::Error::RequireHttpsOnly(uri) => Some(uri),
        _ => None,
    }
}

fn find<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e ureq::Error> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(ureq) = e.downcast_ref::<ureq::Error>() {
            return Some(ureq);
        }
        let wrapped = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        if let Some(ureq) = wrapped.and_then(|inner| inner.downcast_ref::<ureq::Error>()) {
            return Some(ureq);
        }
        cur = e.source();
    }
    None
}

fn kind(e: &ureq::Error) -> ErrorKind {
    use ureq::Error as E;
    match e {
        E::Timeout(_) => ErrorKind::Timeout,
        // DNS, refused connections, proxies and TLS handshakes: as reqwest's `is_connect`
        E::HostNotFound
        | E::ConnectionFailed
        | E::ConnectProxyFailed(_)
        | E::Tls(_)
        | E::TlsRequired => ErrorKind::Connect,
        E::Io(io) => ErrorKind::classify(io),
        E::TooManyRedirects | E::RedirectFailed => ErrorKind::Redirect,
        E::BodyExceedsLimit(_) | E::BodyStalled => ErrorKind::Body,
        E::Protocol(_) | E::LargeResponseHeader(..) => ErrorKind::Request,
        E::Http(_) | E::BadUri(_) | E::RequireHttpsOnly(_) | E::InvalidProxyUrl => {
            ErrorKind::Request
        }
        E::Other(inner) => ErrorKind::classify(inner.as_ref()),
        // variants behind ureq features spanfire does not turn on, known by their text
        other => by_text(&other.to_string()),
    }
}

/// `Decompress` ("gzip decompression failed: …"), `Json`, `UnknownCharset`, and the TLS
/// variants (`Rustls`, `NativeTls`, `Pem`, `Der`) of feature-gated builds.
fn by_text(text: &str) -> ErrorKind {
    const DECODE: [&str; 3] = ["decompression failed", "json: ", "unknown character set"];
    const TLS: [&str; 4] = ["rustls: ", "native-tls: ", "PEM: ", "der: "];
    if DECODE.iter().any(|d| text.contains(d)) {
        ErrorKind::Decode
    } else if TLS.iter().any(|t| text.starts_with(t)) {
        ErrorKind::Connect
    } else {
        ErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn ureq_errors_map_to_the_shared_kinds() {
        let cases = [
            (
                ureq::Error::Timeout(ureq::Timeout::Global),
                ErrorKind::Timeout,
            ),
            (ureq::Error::HostNotFound, ErrorKind::Connect),
            (ureq::Error::ConnectionFailed, ErrorKind::Connect),
            (
                ureq::Error::Io(io::ErrorKind::ConnectionRefused.into()),
                ErrorKind::Connect,
            ),
            (
                ureq::Error::Io(io::ErrorKind::UnexpectedEof.into()),
                ErrorKind::Request,
            ),
            (ureq::Error::TooManyRedirects, ErrorKind::Redirect),
            (ureq::Error::BodyExceedsLimit(1), ErrorKind::Body),
            (ureq::Error::LargeResponseHeader(2, 1), ErrorKind::Request),
            (ureq::Error::BadUri("x".into()), ErrorKind::Request),
        ];
        for (error, want) in cases {
            let text = error.to_string();
            assert_eq!(classify(&error), want, "{text}");
            let io = error.into_io();
            assert_eq!(classify(&io), want, "{text}, read from a body");
        }
        assert_eq!(by_text("gzip decompression failed: bad"), ErrorKind::Decode);
        assert_eq!(by_text("rustls: bad cert"), ErrorKind::Connect);
        assert_eq!(by_text("anything"), ErrorKind::Other);
    }

    #[test]
    fn bad_uri_errors_report_their_url() {
        let error = ureq::Error::BadUri("http://u:p@h/".into());
        assert_eq!(reported_url(&error), Some("http://u:p@h/"));
        assert_eq!(reported_url(&ureq::Error::HostNotFound), None);
    }
}
