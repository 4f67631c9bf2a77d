//! Regressions for what the fuzz targets in `fuzz/` found (`scripts/fuzz`); no front end.

use spanfire::Secrets;

/// fuzz target `redact_url`, crash inputs (minimised by hand and as found).
#[test]
fn redact_url_with_a_url_inside_the_query_does_not_panic() {
    let secrets = Secrets::default();
    let cases = [
        ("/get?next=http://u:p@h/&sig=abc", "sig=abc"),
        ("x?a=://u@h&sig=1", "sig=1"),
        ("EE:z]?==%7FBB://='@E:z]?=&Signature=s", "Signature=s"),
    ];
    for (text, secret) in cases {
        let out = std::panic::catch_unwind(|| secrets.redact_url(text).into_owned())
            .unwrap_or_else(|_| panic!("redact_url({text:?}) panicked"));
        assert!(!out.contains(secret), "{text:?} -> {out:?}");
    }
    // As found by the fuzzer, with caller-supplied names ("" matches an empty key).
    let found = format!(
        "E0\0\0\0:\u{1b}]?=\0[://BBBBBBBB\u{8}\0\u{8}\u{8}@{}BBBBBBBRB55E5#//",
        "\u{8}".repeat(18)
    );
    let names = Secrets::default().with_names(["", "/2.\0\0B\0E"]).unwrap();
    let _ = names.redact_url(&found);
}

/// Inputs near the bug that must keep working (they pass today).
#[test]
fn redact_url_around_embedded_urls() {
    let secrets = Secrets::default();
    let cases = [
        (
            "http://h/get?next=http://u:p@h2/&sig=abc",
            "http://h/get?next=http://u:p@h2/&sig=REDACTED",
        ),
        (
            "/get?next=http%3A%2F%2Fu%3Ap%40h&sig=abc",
            "/get?next=http%3A%2F%2Fu%3Ap%40h&sig=REDACTED",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(secrets.redact_url(text), want, "{text:?}");
    }
}

#[cfg(all(feature = "__fuzz", feature = "configure"))]
mod scrubbing {
    use opentelemetry::{KeyValue, Value};
    use spanfire::__fuzz::scrub;

    fn scrubbed(key: &str, value: Value) -> Value {
        let mut attrs = [KeyValue::new(key.to_owned(), value)];
        scrub(&mut attrs);
        attrs[0].value.clone()
    }

    fn body(text: &str) -> String {
        scrubbed("http.request.body.text", Value::from(text.to_owned())).to_string()
    }

    /// fuzz target `scrub`: a nested object takes the place of its key's value, so the
    /// secret keys inside it are never looked at (compact JSON, as serde_json writes it).
    #[test]
    fn scrubbing_reaches_secret_keys_inside_nested_objects() {
        for text in [
            r#"{"user":{"password":"S3CR3T"}}"#,
            r#"{"":"","q":{"token":"S3CR3T"},"session_id":"x"}"#,
            r#"[{"data":{"api_key":"S3CR3T","n":1}}]"#,
        ] {
            let out = body(text);
            assert!(!out.contains("S3CR3T"), "{text} -> {out}");
        }
    }

    /// fuzz target `scrub`: an array (or object) under a secret key is replaced only up to
    /// its first comma or whitespace.
    #[test]
    fn scrubbing_reaches_arrays_and_objects_under_a_secret_key() {
        for text in [
            "{\n  \"password\": [\n    \"S3CR3T\"\n  ]\n}",
            r#"{"tokens":["a","S3CR3T"]}"#,
            r#"{"secret":{"a":1,"b":"S3CR3T"}}"#,
        ] {
            let out = body(text);
            assert!(!out.contains("S3CR3T"), "{text} -> {out}");
        }
    }

    /// fuzz target `scrub`: after an array in pretty-printed JSON, the pair regex pairs
    /// quotes wrongly, and a key that starts with `:` is swallowed as part of a value.
    #[test]
    fn scrubbing_is_not_misaligned_by_a_key_starting_with_a_colon() {
        let text = "{\n  \"a\": [\n    \"x\"\n  ],\n  \":api_key\": \"S3CR3T\"\n}";
        let out = body(text);
        assert!(!out.contains("S3CR3T"), "{text} -> {out}");
    }

    /// fuzz target `headers`: the scrubber matches only the last dot-separated segment of an
    /// attribute key, and header names may contain dots.
    #[test]
    fn scrubbing_checks_whole_header_names() {
        let array =
            |v: &str| Value::Array(vec![opentelemetry::StringValue::from(v.to_owned())].into());
        let out = scrubbed("http.request.header.x-jwt.v2", array("S3CR3T"));
        assert!(!out.to_string().contains("S3CR3T"), "{out:?}");
    }

    /// What the fuzz targets hold today for flat bodies and URLs (passes).
    #[test]
    fn scrubbing_flat_bodies_forms_and_urls() {
        let cases = [
            (
                r#"{"password":"S3CR3T","n":1}"#,
                r#"{"password":"[Scrubbed due to 'password']","n":1}"#,
            ),
            (
                "{\n  \"token\": \"S3CR3T\"\n}",
                "{\n  \"token\": \"[Scrubbed due to 'token']\"\n}",
            ),
            (
                "api_key=S3CR3T&q=1",
                // pairs keep the URL vocabulary: `REDACTED`, as in `url.full`
                "api_key=REDACTED&q=1",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(body(text), want, "{text}");
        }
    }
}
