//! Secret leaks through the whole pipeline: exchanges full of secrets, exported to a real
//! collector (rotel, `scripts/rotel`); none of the secrets may appear in what it received.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::Method;

use crate::support::front::{Client, ClientOptions, Front, Req, Resp};
use crate::support::{collector, Serve};

/// The lines of the collector's file that belong to `service`, waiting (bounded) until there
/// are `spans` span records among them.
fn received_lines(file: &PathBuf, service: &str, spans: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.contains(service))
            .map(str::to_owned)
            .collect();
        let span_lines = lines
            .iter()
            .filter(|l| l.contains(r#""signal": "span""#))
            .count();
        if span_lines >= spans || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A hyper server on 127.0.0.1 answering every request with `respond(method, path and query,
/// headers, body)`.
async fn hyper_server<F>(respond: F) -> SocketAddr
where
    F: Fn(&http::request::Parts, bytes::Bytes) -> http::Response<String> + Send + Sync + 'static,
{
    use http_body_util::{BodyExt, Full};
    let respond = Arc::new(respond);
    Serve::new()
        .start(move |req: http::Request<hyper::body::Incoming>| {
            let respond = Arc::clone(&respond);
            async move {
                let (parts, body) = req.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                respond(&parts, body).map(|s| Full::new(bytes::Bytes::from(s)))
            }
        })
        .await
}

fn set_cookie(res: &Resp) -> String {
    let value = match res {
        Resp::Reqwest(r) => &r.headers()["set-cookie"],
        Resp::Tower(r) => &r.headers()["set-cookie"],
        Resp::Ureq(r) => &r.head.headers()["set-cookie"],
    };
    value.to_str().unwrap().to_owned()
}

async fn secret_leak_through_the_whole_pipeline(front: Front) {
    let Some((collector_url, file)) = collector::collector() else {
        return;
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let service = format!(
        "spanfire-hostile-leak-{front:?}-{}-{nanos}",
        std::process::id()
    );
    // Every secret is unique to this run, alphanumeric (so no encoding hides it), and named.
    let secret = |name: &str| format!("Zq{name}{nanos}x");
    let names = [
        "User",
        "Pass",
        "Signature",
        "AmzSig",
        "Sig",
        "GoogSig",
        "AwsKey",
        "AmzCred",
        "AmzTok",
        "QToken",
        "QApiKey",
        "Bearer",
        "Cookie",
        "XApiKey",
        "SetCookie",
        "JPassword",
        "JApiKey",
        "JSecret",
        "JToken",
        "FPassword",
        "FToken",
        "FApiKey",
        "RToken",
        "RPassword",
    ];
    let s: BTreeMap<&str, String> = names.iter().map(|n| (*n, secret(n))).collect();

    let (set_cookie_secret, r_token, r_password) = (
        s["SetCookie"].clone(),
        s["RToken"].clone(),
        s["RPassword"].clone(),
    );
    let addr = hyper_server(move |parts, body| {
        let is_form = parts.headers.get("content-type").is_some_and(|v| {
            v.as_bytes()
                .starts_with(b"application/x-www-form-urlencoded")
        });
        let (content_type, text) = if is_form {
            // echoes the form back
            (
                "application/x-www-form-urlencoded",
                String::from_utf8_lossy(&body).into_owned(),
            )
        } else {
            let json = serde_json::json!({
                "user": "alice",
                "access_token": r_token,
                "password": r_password,
            });
            ("application/json", json.to_string())
        };
        http::Response::builder()
            .header("content-type", content_type)
            .header("set-cookie", format!("sid={set_cookie_secret}; HttpOnly"))
            .body(text)
            .unwrap()
    })
    .await;

    let telemetry = spanfire::configure()
        .service_name(&service)
        .otlp_endpoint(&collector_url)
        .install_globals(false)
        .finish()
        .unwrap();
    let instrumentation = spanfire::HttpClientInstrumentation::new()
        .tracer_provider(telemetry.tracer_provider().clone())
        .meter_provider(telemetry.meter_provider().clone())
        .capture_all(true);
    // One client strips token and api_key in its url_filter; the other relies on scrubbing.
    let filtered = Client::new(
        front,
        instrumentation.clone().url_filter(|url: &url::Url| {
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "token" && k != "api_key")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let mut url = url.clone();
            url.query_pairs_mut().clear().extend_pairs(kept);
            url.to_string()
        }),
        ClientOptions::default(),
    );
    let unfiltered = Client::new(front, instrumentation, ClientOptions::default());

    let query = format!(
        "Signature={}&X-Amz-Signature={}&sig={}&X-Goog-Signature={}&AWSAccessKeyId={}\
         &X-Amz-Credential={}&X-Amz-Security-Token={}&token={}&api_key={}&page=visible-page",
        s["Signature"],
        s["AmzSig"],
        s["Sig"],
        s["GoogSig"],
        s["AwsKey"],
        s["AmzCred"],
        s["AmzTok"],
        s["QToken"],
        s["QApiKey"]
    );
    let url = format!(
        "http://{}:{}@{addr}/visible-path?{query}",
        s["User"], s["Pass"]
    );
    let json = serde_json::json!({
        "name": "visible-name",
        "password": s["JPassword"],
        "api_key": s["JApiKey"],
        "client_secret": s["JSecret"],
        "token": s["JToken"],
    });
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("password", &s["FPassword"])
        .append_pair("token", &s["FToken"])
        .append_pair("api_key", &s["FApiKey"])
        .append_pair("q", "visible-form")
        .finish();
    for client in [&filtered, &unfiltered] {
        for (content_type, body) in [
            ("application/json", json.to_string()),
            ("application/x-www-form-urlencoded", form.clone()),
        ] {
            // The userinfo stays in the URL the instrumentation sees (a reqwest::Request built
            // from it, or the request's URI).
            let req = Req::new(Method::POST, &url)
                .header("content-type", content_type)
                .header("authorization", &format!("Bearer {}", s["Bearer"]))
                .header("cookie", &format!("session={}; theme=dark", s["Cookie"]))
                .header("x-api-key", &s["XApiKey"])
                .body(body.as_bytes());
            let res = client.send(req).await.unwrap();
            assert_eq!(res.status(), 200);
            assert!(set_cookie(&res).contains(&s["SetCookie"]));
            let text = String::from_utf8(res.bytes().await).unwrap();
            assert!(text.contains(&s["RToken"]) || text.contains(&s["FToken"]));
        }
    }
    let stats = telemetry.export_stats();
    telemetry.shutdown().unwrap();
    assert_eq!((stats.exported(), stats.not_exported()), (4, 0));

    let lines = received_lines(&file, &service, 4);
    let all = lines.join("\n");
    let spans = lines
        .iter()
        .filter(|l| l.contains(r#""signal": "span""#))
        .count();
    assert_eq!(spans, 4, "{all}");
    // What was sent did arrive, with everything that is not a secret.
    for visible in [
        "visible-path",
        "visible-page",
        "visible-name",
        "visible-form",
        "alice",
    ] {
        assert!(all.contains(visible), "{visible} missing: {all}");
    }
    for (name, value) in &s {
        assert!(!all.contains(value.as_str()), "{name} leaked: {all}");
    }
}

crate::support::each_front_end!(multi_thread: secret_leak_through_the_whole_pipeline);
