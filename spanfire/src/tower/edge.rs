//! hyper-util's and hyper's errors, described for the exchange: their kinds. They quote no URL.

use crate::exchange::Edge;
use crate::semconv::ErrorKind;

/// The tower front end's edge.
pub(crate) static TOWER: Edge = Edge {
    classify,
    reported_url: |_| None,
};

/// A refused or failed connection (hyper-util says so), else what the `std::io` sources and
/// the text say, else — for a hyper error with no such source: a status line or head that does
/// not parse, a connection closed before the response — `request`.
fn classify(err: &(dyn std::error::Error + 'static)) -> ErrorKind {
    let mut hyper = None;
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(client) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
            if client.is_connect() {
                return ErrorKind::Connect;
            }
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_timeout() {
                return ErrorKind::Timeout;
            }
            hyper = hyper.or(Some(h));
        }
        cur = e.source();
    }
    match ErrorKind::classify(err) {
        ErrorKind::Other if hyper.is_some() => ErrorKind::Request,
        kind => kind,
    }
}
