//! Routes under `/leak/` for the leak corpus (`tests/all/leak.rs`): every response carries
//! secrets in its headers and body. Each secret is a marker string listed in
//! [`RESPONSE_MARKERS`]; the corpus asserts none of them reaches exported telemetry.
//!
//! - `/leak/ok`: 200; `/leak/status500`: 500 — secret response headers and a secret body.
//! - `/leak/redirect`: 302 whose `Location` carries signed-URL secrets, pointing at
//!   `/leak/hop`, which redirects (302) to `/leak/ok?token=…`.
//! - `/leak/hang`: reads the request, then never answers (for client timeouts).
//! - `/leak/cut`: the secret head and body, but `Content-Length` claims 1000 bytes more than
//!   are sent, then the connection closes: a body error mid-way.
//!
//! The response body follows the request's `Content-Type`: a JSON request gets a JSON body
//! with secrets at depth and in arrays, a url-encoded form a multi-line form, `text/plain` a
//! text with `token=…`; anything else (multipart, no body) gets the JSON body.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};

type Body = BoxBody<Bytes, Infallible>;

pub const SET_COOKIE: &str = "LEAK50a";
pub const SET_COOKIE_2: &str = "LEAK50b";
pub const LOCATION_AMZ_SIGNATURE: &str = "LEAK51a";
pub const LOCATION_SIG: &str = "LEAK51b";
pub const LOCATION_ACCESS_TOKEN: &str = "LEAK51c";
pub const HOP_LOCATION_TOKEN: &str = "LEAK52a";
pub const CONTENT_LOCATION_TOKEN: &str = "LEAK53a";
pub const LINK_TOKEN: &str = "LEAK54a";
pub const X_AUTH_TOKEN: &str = "LEAK55a";
pub const JSON_PASSWORD: &str = "LEAK56a";
pub const JSON_API_KEY: &str = "LEAK56b";
pub const JSON_TOKEN_1: &str = "LEAK56c";
pub const JSON_TOKEN_2: &str = "LEAK56d";
pub const JSON_ECHOED_PASSWORD: &str = "LEAK56e";
pub const FORM_PASSWORD: &str = "LEAK57a";
pub const FORM_TOKEN: &str = "LEAK57b";
pub const TEXT_TOKEN: &str = "LEAK58a";

/// Every secret the `/leak/` routes send, with where it is.
pub const RESPONSE_MARKERS: &[(&str, &str)] = &[
    (SET_COOKIE, "response header set-cookie (sid)"),
    (SET_COOKIE_2, "response header set-cookie (second cookie)"),
    (
        LOCATION_AMZ_SIGNATURE,
        "response header location ?X-Amz-Signature",
    ),
    (LOCATION_SIG, "response header location ?sig"),
    (
        LOCATION_ACCESS_TOKEN,
        "response header location ?access_token",
    ),
    (HOP_LOCATION_TOKEN, "second redirect's location ?token"),
    (
        CONTENT_LOCATION_TOKEN,
        "response header content-location ?access_token",
    ),
    (LINK_TOKEN, "response header link <...?token>"),
    (X_AUTH_TOKEN, "response header x-auth-token"),
    (JSON_PASSWORD, "JSON response body user.password"),
    (JSON_API_KEY, "JSON response body items[0].api_key"),
    (JSON_TOKEN_1, "JSON response body tokens[0]"),
    (JSON_TOKEN_2, "JSON response body tokens[1]"),
    (
        JSON_ECHOED_PASSWORD,
        "JSON response body: escaped JSON in a string value (httpbin's `data` echo)",
    ),
    (FORM_PASSWORD, "form response body password"),
    (FORM_TOKEN, "form response body token (after a newline)"),
    (TEXT_TOKEN, "text/plain response body token="),
];

/// The response to `/leak/<what>`; reads the whole request body first.
pub async fn route(req: Request<Incoming>, what: &str) -> Response<Body> {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let host = req
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let _ = req.into_body().collect().await;
    let (body_type, body) = secret_body(&content_type);
    match what {
        "ok" => secret_response(200, body_type, body),
        "status500" => secret_response(500, body_type, body),
        "redirect" => {
            let mut res = secret_response(302, body_type, body);
            let location = format!(
                "http://{host}/leak/hop?X-Amz-Signature={LOCATION_AMZ_SIGNATURE}\
                 &sig={LOCATION_SIG}&access_token={LOCATION_ACCESS_TOKEN}&page=visible"
            );
            res.headers_mut()
                .insert("location", location.parse().unwrap());
            res
        }
        "hop" => {
            let mut res = secret_response(302, body_type, body);
            let location = format!("/leak/ok?token={HOP_LOCATION_TOKEN}&page=visible");
            res.headers_mut()
                .insert("location", location.parse().unwrap());
            res
        }
        "hang" => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            secret_response(200, body_type, body)
        }
        "cut" => {
            let declared = body.len() + 1000;
            // The body, then (once hyper has flushed the head and the body) its end, short of
            // the declared length.
            let frames = futures_util::stream::unfold(Some(body), |body| async move {
                match body {
                    Some(body) => Some((Ok::<_, Infallible>(Frame::data(Bytes::from(body))), None)),
                    None => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        None
                    }
                }
            });
            let mut res = Response::new(StreamBody::new(frames).boxed());
            add_secret_headers(&mut res, body_type);
            // Unknown-length body + explicit Content-Length: hyper trusts the header, and
            // closes the connection when the body ends short of it.
            res.headers_mut()
                .insert("content-length", declared.to_string().parse().unwrap());
            res
        }
        _ => {
            let mut res = Response::new(Full::new(Bytes::from_static(b"no such route")).boxed());
            *res.status_mut() = StatusCode::NOT_FOUND;
            res
        }
    }
}

/// The secret body matching the request's content type: (content type, body).
fn secret_body(request_content_type: &str) -> (&'static str, String) {
    if request_content_type.starts_with("application/x-www-form-urlencoded") {
        (
            "application/x-www-form-urlencoded",
            format!("password={FORM_PASSWORD}&\ntoken={FORM_TOKEN}&q=visible"),
        )
    } else if request_content_type.starts_with("text/plain") {
        (
            "text/plain; charset=utf-8",
            format!("visible text\ntoken={TEXT_TOKEN}\n"),
        )
    } else {
        let json = serde_json::json!({
            "name": "visible",
            "user": {"password": JSON_PASSWORD},
            "items": [{"api_key": JSON_API_KEY}],
            "tokens": [JSON_TOKEN_1, JSON_TOKEN_2],
            // an echoed request body, as httpbin returns it: JSON inside a JSON string
            "data": serde_json::json!({"password": JSON_ECHOED_PASSWORD}).to_string(),
        });
        ("application/json", json.to_string())
    }
}

fn secret_response(status: u16, body_type: &'static str, body: String) -> Response<Body> {
    let mut res = Response::new(Full::new(Bytes::from(body)).boxed());
    *res.status_mut() = StatusCode::from_u16(status).unwrap();
    add_secret_headers(&mut res, body_type);
    res
}

fn add_secret_headers(res: &mut Response<Body>, body_type: &'static str) {
    let headers = res.headers_mut();
    headers.insert("content-type", body_type.parse().unwrap());
    headers.append(
        "set-cookie",
        format!("sid={SET_COOKIE}; HttpOnly; Path=/")
            .parse()
            .unwrap(),
    );
    headers.append(
        "set-cookie",
        format!("refresh={SET_COOKIE_2}; Secure").parse().unwrap(),
    );
    headers.insert(
        "content-location",
        format!("/leak/doc?access_token={CONTENT_LOCATION_TOKEN}&page=visible")
            .parse()
            .unwrap(),
    );
    headers.insert(
        "link",
        format!("<http://h/next?token={LINK_TOKEN}>; rel=\"next\"")
            .parse()
            .unwrap(),
    );
    headers.insert("x-auth-token", X_AUTH_TOKEN.parse().unwrap());
}
