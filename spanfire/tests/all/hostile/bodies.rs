//! Response bodies that break off, lie about their framing, or cannot be decoded.

use std::io::ErrorKind::{ConnectionReset, InvalidInput, UnexpectedEof};

use opentelemetry_sdk::trace::SpanData;

use super::server::*;
use crate::support::front::Front;

/// What reading a broken body gives the application: on reqwest its decode error; on tower
/// hyper's body error, with the `std::io::Error` of kind `io` underneath.
fn body_error(front: Front, io: std::io::ErrorKind) -> Kind {
    match front {
        Front::Ureq => Kind::Ureq(format!("Io({io:?})")),
        Front::Reqwest => Kind::Reqwest(body_read_error(false)),
        Front::Tower => Kind::Tower(HyperKinds {
            io: Some(io),
            ..HyperKinds::default()
        }),
    }
}

async fn truncated_body_is_a_body_error(front: Front) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n";
    let steps = vec![write(format!("{head}{}", "0123456789".repeat(4)))];
    let (seen, span, server) = exchange(front, steps, false, LONG).await;
    let (body, error) = seen.body();
    assert_eq!(body.len(), 40, "the bytes before the cut");
    assert_eq!(error, Some(&body_error(front, UnexpectedEof)));
    Expect::start(&server, &span)
        .head(&server, 200)
        .header("content-type", &["text/plain"])
        .header("content-length", &["100"])
        .with(
            "http.response.body.text",
            format!("{}{MARK}", "0123456789".repeat(4)),
        )
        .with("error.type", "body")
        .check(&span);
    assert_transport_error(front, &span, true);
}

async fn cut_chunked_encoding_is_a_body_error(front: Front) {
    let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    let steps = vec![write(format!("{head}5\r\nhello\r\n6\r\n wor"))];
    let (seen, span, server) = exchange(front, steps, false, LONG).await;
    let (body, error) = seen.body();
    assert_eq!(body, b"hello wor", "every byte that arrived");
    assert_eq!(error, Some(&body_error(front, UnexpectedEof)));
    Expect::start(&server, &span)
        .head(&server, 200)
        .header("transfer-encoding", &["chunked"])
        .with("http.response.body.text", format!("hello wor{MARK}"))
        .with("error.type", "body")
        .check(&span);
    assert_transport_error(front, &span, true);
}

async fn invalid_chunk_size_is_a_body_error(front: Front) {
    let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    let steps = vec![write(format!(
        "{head}5\r\nhello\r\nzz\r\nnope\r\n0\r\n\r\n"
    ))];
    let (seen, span, server) = exchange(front, steps, false, LONG).await;
    let (body, error) = seen.body();
    // ureq's chunk decoder fails before it hands out the chunk before the bad size
    let sent: &[u8] = if front == Front::Ureq { b"" } else { b"hello" };
    assert_eq!(body, sent);
    let want = match front {
        // ureq: its protocol error (in the `std::io::Error` of the read)
        Front::Ureq => Kind::Ureq("Protocol".to_owned()),
        _ => body_error(front, InvalidInput),
    };
    assert_eq!(error, Some(&want));
    let mut expect = Expect::start(&server, &span)
        .head(&server, 200)
        .header("transfer-encoding", &["chunked"])
        .with("error.type", "body");
    if !sent.is_empty() {
        // nothing read, nothing captured
        expect = expect.with("http.response.body.text", format!("hello{MARK}"));
    }
    expect.check(&span);
    assert_transport_error(front, &span, true);
}

async fn connection_reset_mid_body_is_a_body_error(front: Front) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n";
    // The head and 100 bytes, then (once the client has read them) an RST.
    let steps = vec![
        write(format!("{head}{}", "r".repeat(100))),
        Step::Gate,
        Step::Reset,
    ];
    let (seen, span, server) = exchange(front, steps, true, LONG).await;
    let (body, error) = seen.body();
    assert_eq!(body.len(), 100);
    // ureq reports the reset as the peer gone (`UnexpectedEof`, "Peer disconnected")
    let io = if front == Front::Ureq {
        UnexpectedEof
    } else {
        ConnectionReset
    };
    assert_eq!(error, Some(&body_error(front, io)));
    Expect::start(&server, &span)
        .head(&server, 200)
        .header("content-type", &["text/plain"])
        .header("content-length", &["1000"])
        .with(
            "http.response.body.text",
            format!("{}{MARK}", "r".repeat(100)),
        )
        .with("error.type", "body")
        .check(&span);
    assert_transport_error(front, &span, true);
}

crate::support::each_front_end!(
    truncated_body_is_a_body_error,
    cut_chunked_encoding_is_a_body_error,
    invalid_chunk_size_is_a_body_error,
    connection_reset_mid_body_is_a_body_error,
);

// reqwest only: decompression is reqwest's (hyper-util's client hands the gzip bytes through).

/// A body the client cannot decompress.
async fn corrupt_gzip() -> (SpanData, Expect) {
    let head = "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\n\r\n";
    let steps = vec![write(format!("{head}not gzip!!"))];
    let (seen, span, server) = exchange(Front::Reqwest, steps, false, LONG).await;
    let (body, error) = seen.body();
    assert!(body.is_empty());
    assert_eq!(error, Some(&Kind::Reqwest(body_read_error(false))));
    assert_transport_error(Front::Reqwest, &span, true);
    // The client decompresses: the headers the application (and spanfire) see have no
    // Content-Encoding and no Content-Length any more.
    let expect = Expect::start(&server, &span).head(&server, 200);
    (span, expect)
}

/// Invalid gzip is an error of the body, of kind `decode` as the `ErrorKind` docs (and the spec)
/// say (regression, found while writing issue 8: spanfire recorded `body`, because the error
/// it sees is reqwest's body error that wraps the decompression error). The whole attribute set
/// is checked, with a fixed `error.type` (a test that read `error.type` back from the span and
/// compared it with itself was removed: it could not fail).
#[tokio::test]
async fn corrupt_gzip_body_is_a_decode_error() {
    let (span, expect) = corrupt_gzip().await;
    expect.with("error.type", "decode").check(&span);
}
