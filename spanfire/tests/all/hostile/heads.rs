//! Broken, missing, huge or unusual response heads.

use super::server::*;
use crate::support::front::Front;

/// A tower application sees hyper's parse error of the head.
fn parse_error() -> HyperKinds {
    HyperKinds {
        parse: true,
        ..HyperKinds::default()
    }
}

/// What the application sees when the head is broken or missing: on reqwest a request error;
/// on tower hyper's own error (`hyper`, the kinds of it that are set); on ureq its error
/// variant (`ureq`).
fn head_error(front: Front, hyper: HyperKinds, ureq: &str) -> Kind {
    match front {
        Front::Reqwest => Kind::Reqwest(request_error()),
        Front::Tower => Kind::Tower(hyper),
        Front::Ureq => Kind::Ureq(ureq.to_owned()),
    }
}

/// The span of an exchange whose head never arrived: only the start attributes and
/// `error.type` `request` ("the response head could not be read"), on both front ends.
fn assert_head_failed(front: Front, server: &RawServer, span: &opentelemetry_sdk::trace::SpanData) {
    Expect::start(server, span)
        .with("error.type", "request")
        .check(span);
    assert_transport_error(front, span, false);
}

async fn malformed_status_line_is_a_request_error(front: Front) {
    let steps = vec![write("HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n")];
    let (seen, span, server) = exchange(front, steps, false, LONG).await;
    let hyper = HyperKinds {
        parse_status: true,
        ..parse_error()
    };
    assert_eq!(seen.failed(), &head_error(front, hyper, "Protocol"));
    assert_head_failed(front, &server, &span);
}

async fn non_http_reply_is_a_request_error(front: Front) {
    let steps = vec![write("SSH-2.0-OpenSSH_9.6\r\n\r\n")];
    let (seen, span, server) = exchange(front, steps, false, LONG).await;
    assert_eq!(seen.failed(), &head_error(front, parse_error(), "Protocol"));
    assert_head_failed(front, &server, &span);
}

async fn connection_closed_without_a_reply_is_a_request_error(front: Front) {
    let (seen, span, server) = exchange(front, vec![], false, LONG).await;
    let hyper = HyperKinds {
        incomplete_message: true,
        ..HyperKinds::default()
    };
    assert_eq!(
        seen.failed(),
        &head_error(front, hyper, "Io(UnexpectedEof)")
    );
    assert_head_failed(front, &server, &span);
}

async fn one_mib_of_headers_is_a_request_error(front: Front) {
    let mut response = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..64 {
        response.extend_from_slice(format!("X-Filler-{i}: ").as_bytes());
        response.extend(std::iter::repeat_n(b'a', 16 * 1024));
        response.extend_from_slice(b"\r\n");
    }
    response.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    assert!(response.len() > 1 << 20);
    let (seen, span, server) = exchange(front, vec![Step::Write(response)], false, LONG).await;
    let hyper = HyperKinds {
        parse_too_large: true,
        ..parse_error()
    };
    assert_eq!(
        seen.failed(),
        &head_error(front, hyper, "LargeResponseHeader")
    );
    assert_head_failed(front, &server, &span);
}

async fn non_utf8_header_values_are_captured_lossily(front: Front) {
    let mut response = b"HTTP/1.1 200 OK\r\nX-Latin: caf\xe9\r\nX-Bytes: \xff\xfe\x80".to_vec();
    response.extend_from_slice(b"\r\nX-Tab: a\tb\r\nContent-Length: 2\r\n\r\nok");
    let (seen, span, server) = exchange(front, vec![Step::Write(response)], false, LONG).await;
    let Seen::Response { headers, body, .. } = &seen else {
        panic!("{seen:?}")
    };
    assert_eq!(headers["x-latin"].as_bytes(), b"caf\xe9", "bytes untouched");
    assert_eq!(body, b"ok");
    Expect::start(&server, &span)
        .head(&server, 200)
        .header("x-latin", &["caf\u{fffd}"])
        .header("x-bytes", &["\u{fffd}\u{fffd}\u{fffd}"])
        .header("x-tab", &["a\tb"])
        .header("content-length", &["2"])
        .with("http.response.body.text", "ok")
        .with("http.response.body.size", 2_i64)
        .check(&span);
    assert_completed(&span);
}

async fn control_bytes_in_header_values_are_a_request_error(front: Front) {
    for value in [&b"a\x01b"[..], b"a\x7fb", b"a\x00b", b"a\rb"] {
        let mut response = b"HTTP/1.1 200 OK\r\nX-Ctl: ".to_vec();
        response.extend_from_slice(value);
        response.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\nok");
        let (seen, span, server) = exchange(front, vec![Step::Write(response)], false, LONG).await;
        assert_eq!(
            seen.failed(),
            &head_error(front, parse_error(), "Protocol"),
            "{value:?}"
        );
        assert_head_failed(front, &server, &span);
    }
}

async fn continue_100_then_the_final_response(front: Front) {
    let steps = vec![write(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    )];
    let (seen, span, server) = exchange(front, steps, false, LONG).await;
    assert_eq!(seen.body(), (&b"hello"[..], None));
    Expect::start(&server, &span)
        .head(&server, 200)
        .header("content-length", &["5"])
        .with("http.response.body.text", "hello")
        .with("http.response.body.size", 5_i64)
        .check(&span);
    assert_completed(&span);
}

async fn early_hints_103_then_the_final_response(front: Front) {
    let hints = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n";
    let steps = vec![
        write(hints),
        write("HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello"),
    ];
    let (seen, span, server) = exchange(front, steps, false, LONG).await;
    let Seen::Response { status, .. } = &seen else {
        panic!("{seen:?}")
    };
    assert_eq!(*status, 201, "the final status, not the hint's");
    assert_eq!(seen.body(), (&b"hello"[..], None));
    Expect::start(&server, &span)
        .head(&server, 201)
        .header("content-length", &["5"])
        .with("http.response.body.text", "hello")
        .with("http.response.body.size", 5_i64)
        .check(&span);
    assert_completed(&span);
}

async fn invalid_content_length_is_a_request_error(front: Front) {
    let steps = vec![write(
        "HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nhello",
    )];
    let (seen, span, server) = exchange(front, steps, false, LONG).await;
    assert_eq!(seen.failed(), &head_error(front, parse_error(), "Protocol"));
    assert_head_failed(front, &server, &span);
}

// On tower, hyper's errors of a broken or missing head (parse errors, a connection closed
// before the head) have no `std::io::Error` source: `ErrorKind::classify` records `_OTHER`,
// where the `ErrorKind` docs say `request` ("its response head not read"), as on reqwest.
crate::support::each_front_end!(
    malformed_status_line_is_a_request_error,
    non_http_reply_is_a_request_error,
    connection_closed_without_a_reply_is_a_request_error,
    one_mib_of_headers_is_a_request_error,
    non_utf8_header_values_are_captured_lossily,
    control_bytes_in_header_values_are_a_request_error,
    continue_100_then_the_final_response,
    early_hints_103_then_the_final_response,
    invalid_content_length_is_a_request_error,
);
