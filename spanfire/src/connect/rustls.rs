//! TLS details of hyper-rustls connections (feature `hyper-rustls`).
//!
//! hyper-util's `Connected` reports only whether ALPN chose `h2`. The version and the ALPN
//! protocol are read from the rustls session itself, for the connection type of hyper-rustls'
//! `HttpsConnector` over hyper-util's `HttpConnector` (`MaybeHttpsStream<TokioIo<TcpStream>>`);
//! other connection types report what `Connected` says.

use super::attempt::TlsDetails;

/// The TLS details of `io`, when it is a hyper-rustls connection over TLS.
#[cfg(feature = "hyper-rustls")]
pub(crate) fn details<T: 'static>(io: &T) -> Option<TlsDetails> {
    use hyper_rustls::MaybeHttpsStream;
    use hyper_util::rt::TokioIo;
    type Stream = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;

    let stream = (io as &dyn std::any::Any).downcast_ref::<Stream>()?;
    let MaybeHttpsStream::Https(tls) = stream else {
        return None;
    };
    let (_, session) = tls.inner().get_ref();
    let version = session
        .protocol_version()
        .and_then(|v| version_name(u16::from(v)));
    let alpn = session
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned().into());
    Some(TlsDetails { version, alpn })
}

/// Without the `hyper-rustls` feature: nothing beyond `Connected`.
#[cfg(not(feature = "hyper-rustls"))]
pub(crate) fn details<T: 'static>(_: &T) -> Option<TlsDetails> {
    None
}

/// `tls.protocol.version` of a TLS wire version.
#[cfg_attr(not(feature = "hyper-rustls"), allow(dead_code))]
fn version_name(wire: u16) -> Option<&'static str> {
    match wire {
        0x0304 => Some("1.3"),
        0x0303 => Some("1.2"),
        0x0302 => Some("1.1"),
        0x0301 => Some("1.0"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn wire_versions_have_their_semconv_names() {
        let cases = [
            (0x0304, Some("1.3")),
            (0x0303, Some("1.2")),
            (0x0301, Some("1.0")),
            (0x0300, None),
            (0x7f1c, None),
        ];
        for (wire, want) in cases {
            assert_eq!(super::version_name(wire), want, "{wire:#06x}");
        }
    }
}
