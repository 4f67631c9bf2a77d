//! Servers that never finish: slowloris heads and bodies, bounded by the client's timeout.

use std::time::Duration;

use super::server::*;
use crate::support::front::Front;

async fn slowloris_body_is_a_timeout(front: Front) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n";
    // Ten bytes, then nothing, ever: only the client's timeout ends it.
    let steps = vec![write(format!("{head}0123456789")), Step::Hang];
    let (seen, span, server) = exchange(front, steps, false, SHORT).await;
    let (body, error) = seen.body();
    assert_eq!(body, b"0123456789");
    let expect = Expect::start(&server, &span)
        .head(&server, 200)
        .header("content-type", &["text/plain"])
        .header("content-length", &["100000"])
        .with("http.response.body.text", format!("0123456789{MARK}"));
    match front {
        // reqwest's timeout covers the whole exchange, body included: the body read fails
        // with a timeout, which spanfire records.
        Front::Reqwest => {
            assert_eq!(error, Some(&Kind::Reqwest(body_read_error(true))));
            expect.with("error.type", "timeout").check(&span);
            assert_transport_error(front, &span, true);
        }
        // ureq's global timeout covers the body too (ureq::Timeout::Global): as reqwest.
        Front::Ureq => {
            assert_eq!(error, Some(&Kind::Ureq("Timeout".to_owned())));
            expect.with("error.type", "timeout").check(&span);
            assert_transport_error(front, &span, true);
        }
        // hyper-util's client has no timeout of the body: the application stops reading at
        // its deadline and drops the body, which spanfire cannot tell from any other early
        // drop: the exchange was cancelled (no error), as when a body is dropped half read.
        Front::Tower => {
            let timed_out = HyperKinds {
                timed_out: true,
                ..HyperKinds::default()
            };
            assert_eq!(error, Some(&Kind::Tower(timed_out)));
            expect.with("spanfire.cancelled", true).check(&span);
            assert_completed(&span);
        }
    }
}

async fn slowloris_head_is_a_timeout(front: Front) {
    // A head that never ends: one header line every 20 ms (bounded: 4 s at most).
    let steps = vec![
        write("HTTP/1.1 200 OK\r\n"),
        Step::Drip {
            line: b"X-Slow: 1\r\n",
            times: 200,
            gap: Duration::from_millis(20),
        },
    ];
    let (seen, span, server) = exchange(front, steps, false, SHORT).await;
    let want = match front {
        Front::Reqwest => Kind::Reqwest(Kinds {
            timeout: true,
            ..request_error()
        }),
        Front::Ureq => Kind::Ureq("Timeout".to_owned()),
        // The application's timeout around hyper-util's client (support::front::WithTimeout).
        Front::Tower => Kind::Tower(HyperKinds {
            timed_out: true,
            ..HyperKinds::default()
        }),
    };
    assert_eq!(seen.failed(), &want);
    Expect::start(&server, &span)
        .with("error.type", "timeout")
        .check(&span);
    assert_transport_error(front, &span, false);
}

crate::support::each_front_end!(slowloris_body_is_a_timeout, slowloris_head_is_a_timeout);
