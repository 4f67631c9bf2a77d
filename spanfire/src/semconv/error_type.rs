//! The low-cardinality `error.type` values for transport errors.

/// Why a request failed before or while its response arrived; recorded as `error.type`.
///
/// | value | meaning |
/// |---|---|
/// | `timeout` | a configured timeout elapsed |
/// | `connect` | the connection could not be made (refused, DNS, TLS handshake) |
/// | `redirect` | the redirect policy stopped the request (loop, too many hops) |
/// | `body` | sending the request body or reading the response body failed |
/// | `decode` | the response body could not be decoded (e.g. invalid gzip) |
/// | `request` | the request could not be sent or its response head not read |
/// | `_OTHER` | anything else, e.g. an error raised by another middleware |
///
/// Responses with a 4xx or 5xx status record the status code instead (`"404"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A configured timeout elapsed.
    Timeout,
    /// The connection could not be established.
    Connect,
    /// The redirect policy stopped the request.
    Redirect,
    /// Sending the request body or reading the response body failed.
    Body,
    /// The response body could not be decoded.
    Decode,
    /// The request could not be sent or its response head not read.
    Request,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// The `error.type` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Redirect => "redirect",
            ErrorKind::Body => "body",
            ErrorKind::Decode => "decode",
            ErrorKind::Request => "request",
            ErrorKind::Other => "_OTHER",
        }
    }

    /// Classifies any error by walking its source chain: timeouts (`std::io::ErrorKind::TimedOut`
    /// or an error whose text says "timed out"), refused or reset connections.
    pub fn classify(err: &(dyn std::error::Error + 'static)) -> ErrorKind {
        let mut cur = Some(err);
        while let Some(e) = cur {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                return match io.kind() {
                    std::io::ErrorKind::TimedOut => ErrorKind::Timeout,
                    std::io::ErrorKind::InvalidData => ErrorKind::Decode,
                    std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::AddrNotAvailable
                    | std::io::ErrorKind::NotFound => ErrorKind::Connect,
                    _ => ErrorKind::Request,
                };
            }
            if e.to_string().contains("timed out") {
                return ErrorKind::Timeout;
            }
            cur = e.source();
        }
        ErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_walks_the_source_chain() {
        #[derive(Debug)]
        struct Wrap(std::io::Error);
        impl std::fmt::Display for Wrap {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("client error")
            }
        }
        impl std::error::Error for Wrap {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let cases = [
            (std::io::ErrorKind::TimedOut, ErrorKind::Timeout),
            (std::io::ErrorKind::ConnectionRefused, ErrorKind::Connect),
            (std::io::ErrorKind::BrokenPipe, ErrorKind::Request),
            (std::io::ErrorKind::InvalidData, ErrorKind::Decode),
        ];
        for (io, want) in cases {
            let err = Wrap(std::io::Error::from(io));
            assert_eq!(ErrorKind::classify(&err), want, "{io:?}");
        }
        let fmt = std::fmt::Error;
        assert_eq!(ErrorKind::classify(&fmt), ErrorKind::Other);
    }
}
