//! Redirects the reqwest front end follows itself (`instrument_reqwest_builder`, `Redirects`):
//! trace context never reaches a host outside `propagate_to_hosts`, one span per request by
//! default or one per hop with `http.request.resend_count`, and the application sees what
//! plain reqwest (following redirects itself) gives it.

use http::{HeaderMap, Method};
use opentelemetry::trace::Status;
use opentelemetry::Value;
use reqwest_middleware::ClientWithMiddleware;
use spanfire::reqwest::{RedirectError, Redirects};

use crate::support::*;

fn client(
    t: &Telemetry,
    configure: impl FnOnce(spanfire::HttpClientInstrumentation) -> spanfire::HttpClientInstrumentation,
) -> ClientWithMiddleware {
    configure(t.instrumentation())
        .instrument_reqwest_builder(reqwest::Client::builder())
        .unwrap()
}

/// `from`'s `/redirect-to` URL sending the client on to `to`.
fn redirect_to(from: &TestServer, to: &str, status: u16) -> String {
    let to: String = url::form_urlencoded::byte_serialize(to.as_bytes()).collect();
    from.url(&format!("/redirect-to?status={status}&url={to}"))
}

fn has_trace_context(headers: &HeaderMap) -> bool {
    headers.contains_key("traceparent") || headers.contains_key("baggage")
}

/// A redirect from an allowed host (127.0.0.1) to one outside the list (`localhost`): the
/// trace context reaches the first, never the second — one span or one per hop. (Baggage is
/// injected with the same call, by the global propagator `configure()` installs.)
async fn allow_list_holds_on_every_hop(span_per_hop: bool) {
    let allowed = TestServer::start().await;
    let other = TestServer::start().await;
    let t = Telemetry::new();
    let c = client(&t, |i| {
        i.propagate_to_hosts(["127.0.0.1"])
            .redirects(Redirects::new().span_per_hop(span_per_hop))
    });
    let elsewhere = format!("http://localhost:{}/get", other.addr.port());
    let url = redirect_to(&allowed, &elsewhere, 302);
    let res = c.get(&url).send().await.unwrap();
    assert_eq!(res.url().as_str(), elsewhere);
    res.bytes().await.unwrap();
    let first = &allowed.received()[0];
    assert!(first.contains_key("traceparent"), "{first:?}");
    let second = &other.received()[0];
    assert!(
        !has_trace_context(second),
        "leaked to localhost: {second:?}"
    );
    assert_eq!(t.spans().len(), if span_per_hop { 2 } else { 1 });
}

#[tokio::test]
async fn allow_list_holds_on_every_hop_one_span() {
    allow_list_holds_on_every_hop(false).await
}

#[tokio::test]
async fn allow_list_holds_on_every_hop_span_per_hop() {
    allow_list_holds_on_every_hop(true).await
}

#[tokio::test]
async fn three_hops_are_four_spans_with_resend_counts() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = client(&t, |i| i.redirects(Redirects::new().span_per_hop(true)));
    let url = server.url("/redirect/3");
    let res = c.get(&url).send().await.unwrap();
    assert_eq!(res.url().as_str(), server.url("/get"));
    let body = res.bytes().await.unwrap();
    let spans = t.spans();
    let want = [
        ("/redirect/3", 302, None),
        ("/redirect/2", 302, Some(1)),
        ("/redirect/1", 302, Some(2)),
        ("/get", 200, Some(3)),
    ];
    assert_eq!(spans.len(), want.len());
    for (span, (path, status, resend)) in spans.iter().zip(want) {
        let a = attrs(span);
        assert_eq!(a["url.full"], Value::from(server.url(path)), "{path}");
        assert_eq!(a["http.response.status_code"], Value::I64(status), "{path}");
        assert_eq!(
            a.get("http.request.resend_count"),
            resend.map(Value::I64).as_ref(),
            "{path}"
        );
        assert_eq!(span.status, Status::Unset, "{path}: a redirect is no error");
        assert!(!a.contains_key("spanfire.cancelled"), "{path}");
    }
    assert_eq!(
        attrs(&spans[3])["http.response.body.size"],
        Value::I64(body.len() as i64)
    );
    // each hop carried its own span's trace context
    for (received, span) in server.received().iter().zip(&spans) {
        let sc = &span.span_context;
        let want = format!("00-{}-{}-01", sc.trace_id(), sc.span_id());
        assert_eq!(received["traceparent"], want.as_str());
    }
    assert_eq!(
        t.records("http.client.request.duration"),
        4,
        "one duration record per hop"
    );
}

#[tokio::test]
async fn one_span_by_default_covers_every_hop() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = client(&t, |i| i);
    let url = server.url("/redirect/3");
    let body = c.get(&url).send().await.unwrap().bytes().await.unwrap();
    let span = t.single();
    let mut want = response_attrs(&server, "GET", &url, 200, Some(body.len() as i64));
    // the first hop connected (connection phases are on with instrument_reqwest_builder)
    want.push(("spanfire.connection.reused", is(false)));
    assert_attrs(&span, &want);
    let sc = &span.span_context;
    let want = format!("00-{}-{}-01", sc.trace_id(), sc.span_id());
    let received = server.received();
    assert_eq!(received.len(), 4);
    for hop in &received {
        assert_eq!(hop["traceparent"], want.as_str(), "every hop: the one span");
    }
}

/// What the application gets: status, final URL, headers (but `date`) and body, and what
/// the server saw last (method and body), for plain reqwest and for spanfire following.
async fn outcome(
    req: reqwest_middleware::RequestBuilder,
) -> (u16, String, Vec<(String, String)>, Vec<u8>) {
    let res = req.send().await.unwrap();
    let headers = res
        .headers()
        .iter()
        .filter(|(k, _)| *k != "date")
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let status = res.status().as_u16();
    let url = res.url().to_string();
    (status, url, headers, res.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn the_application_sees_what_plain_reqwest_gives() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let followed = client(&t, |i| i.redirects(Redirects::new().span_per_hop(true)));
    let plain = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build();
    let echo = server.url("/echo-method");
    let cases: Vec<(&str, Method, u16, Option<&'static str>)> = vec![
        ("GET through 3 hops", Method::GET, 0, None),
        (
            "POST 307 resends the body",
            Method::POST,
            307,
            Some("payload"),
        ),
        (
            "POST 308 resends the body",
            Method::POST,
            308,
            Some("payload"),
        ),
        ("POST 303 becomes a GET", Method::POST, 303, Some("payload")),
        ("POST 302 becomes a GET", Method::POST, 302, Some("payload")),
        ("PUT 302 stays a PUT", Method::PUT, 302, Some("payload")),
        ("HEAD 303 stays a HEAD", Method::HEAD, 303, None),
    ];
    for (what, method, status, body) in cases {
        let url = match status {
            0 => server.url("/redirect/3"),
            s => redirect_to(&server, &echo, s),
        };
        let build = |c: &ClientWithMiddleware| {
            let req = c.request(method.clone(), &url);
            match body {
                Some(b) => req.body(b),
                None => req,
            }
        };
        let want = outcome(build(&plain)).await;
        let got = outcome(build(&followed)).await;
        assert_eq!(got, want, "{what}");
    }
}

#[tokio::test]
async fn a_streaming_body_is_not_resent_as_plain_reqwest_does_not() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let followed = client(&t, |i| i);
    let plain = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build();
    let url = redirect_to(&server, &server.url("/echo-method"), 307);
    let stream = || {
        reqwest::Body::wrap_stream(futures_util::stream::iter([Ok::<_, std::io::Error>(
            bytes::Bytes::from_static(b"streamed"),
        )]))
    };
    let want = outcome(plain.post(&url).body(stream())).await;
    let got = outcome(followed.post(&url).body(stream())).await;
    assert_eq!(got, want);
    assert_eq!(got.0, 307, "the 307 is returned");
    assert_eq!(
        attrs(&t.single())["http.response.status_code"],
        Value::I64(307)
    );
}

#[tokio::test]
async fn credentials_stay_with_their_host() {
    let first = TestServer::start().await;
    let other = TestServer::start().await;
    let t = Telemetry::new();
    let c = client(&t, |i| i);
    let same_host = redirect_to(&first, &first.url("/get"), 302);
    c.get(&same_host)
        .header("authorization", "Bearer s3cret")
        .send()
        .await
        .unwrap();
    let elsewhere = format!("http://localhost:{}/get", other.addr.port());
    c.get(redirect_to(&first, &elsewhere, 302))
        .header("authorization", "Bearer s3cret")
        .send()
        .await
        .unwrap();
    let on_first = first.received();
    assert!(
        on_first[1].contains_key("authorization"),
        "same host keeps it"
    );
    assert_eq!(on_first[1]["referer"], same_host.as_str());
    assert!(
        !other.received()[0].contains_key("authorization"),
        "another host: dropped"
    );
}

#[tokio::test]
async fn too_many_redirects_is_a_redirect_error() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = client(&t, |i| i.redirects(Redirects::new().max_hops(2)));
    let url = server.url("/redirect/3");
    let err = c.get(&url).send().await.unwrap_err();
    let reqwest_middleware::Error::Middleware(inner) = &err else {
        panic!("{err:?}")
    };
    let redirect = inner
        .downcast_ref::<RedirectError>()
        .expect("a RedirectError");
    assert!(redirect.is_too_many_redirects());
    assert_eq!(
        server.received().len(),
        3,
        "two redirects followed, the third refused"
    );
    let span = t.single();
    let mut want = transport_error_attrs(&url, server.addr.port(), "redirect");
    want.push(("spanfire.connection.reused", is(false)));
    assert_attrs(&span, &want);
}

#[tokio::test]
async fn a_failing_hop_fails_its_span() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = client(&t, |i| i.redirects(Redirects::new().span_per_hop(true)));
    let closed = format!("http://127.0.0.1:{}/get", closed_port());
    let url = redirect_to(&server, &closed, 302);
    assert!(c.get(&url).send().await.unwrap_err().is_connect());
    let spans = t.spans();
    assert_eq!(spans.len(), 2);
    assert_eq!(
        attrs(&spans[0])["http.response.status_code"],
        Value::I64(302)
    );
    assert_eq!(attrs(&spans[1])["error.type"], Value::from("connect"));
    assert_eq!(attrs(&spans[1])["url.full"], Value::from(closed));
    assert_eq!(attrs(&spans[1])["http.request.resend_count"], Value::I64(1));
}

/// Credentials dropped when a hop leaves their origin stay dropped, even when the next hops
/// stay on the new origin (A → B → B), and `Redirects::none()` hands back the 3xx as it is.
#[tokio::test]
async fn credentials_dropped_once_stay_dropped() {
    let first = TestServer::start().await;
    let other = TestServer::start().await;
    let t = Telemetry::new();
    let c = client(&t, |i| i);
    let on_other = format!("http://localhost:{}/redirect/1", other.addr.port());
    c.get(redirect_to(&first, &on_other, 302))
        .header("authorization", "Bearer s3cret")
        .header("cookie", "session=s3cret")
        .send()
        .await
        .unwrap();
    let received = other.received();
    assert_eq!(received.len(), 2, "B, then B again");
    for hop in &received {
        assert!(!hop.contains_key("authorization"), "{hop:?}");
        assert!(!hop.contains_key("cookie"), "{hop:?}");
    }

    let none = client(&t, |i| i.redirects(Redirects::none()));
    let res = none.get(first.url("/redirect/2")).send().await.unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "/redirect/1");
}

/// A request's own timeout covers the whole journey, as in reqwest: two hops of 250 ms each
/// fit a 400 ms timeout one by one, not together.
#[tokio::test]
async fn a_request_timeout_covers_every_hop() {
    let server = TestServer::start().await;
    let t = Telemetry::new();
    let c = client(&t, |i| i.redirects(Redirects::new().span_per_hop(true)));
    let to: String =
        url::form_urlencoded::byte_serialize(server.url("/delay/250").as_bytes()).collect();
    let slow = server.url(&format!("/redirect-to?delay=250&url={to}"));
    let err = c
        .get(&slow)
        .timeout(std::time::Duration::from_millis(400))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    let spans = t.spans();
    assert_eq!(spans.len(), 2);
    assert_eq!(attrs(&spans[1])["error.type"], Value::from("timeout"));
}
