//! Logfire attributes: what Logfire's UI reads from a span besides the OpenTelemetry data.
//!
//! Added by configure()'s pipeline after scrubbing (so computed from scrubbed values), when
//! [`ConfigureBuilder::logfire_attributes`](crate::ConfigureBuilder::logfire_attributes) is on:
//! - `logfire.span_type` = `"span"`;
//! - `logfire.msg`: the console line's message (`GET api.example.com/users ? page='2'` for an
//!   HTTP client span, the span name otherwise);
//! - `logfire.level_num` = 17 (Logfire's `error`) on spans whose status is Error;
//! - `logfire.json_schema`: which string attributes hold JSON (`{"type":"object","properties":
//!   {"http.response.body.text":{"type":"object"}}}`), so the UI shows them as JSON;
//! - `logfire.scrubbed`: what the scrubbing stage replaced (paths and matched key parts, never
//!   values), as a JSON array in Logfire's format.
//!
//! An attribute the span already has (set by a hook, say) is kept as it is.

use std::fmt::Write as _;

use opentelemetry::trace::Status;
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;

use super::console::http_message;
use super::scrub::{PathPart, Scrubbed};

pub(crate) const SPAN_TYPE: &str = "logfire.span_type";
pub(crate) const MSG: &str = "logfire.msg";
pub(crate) const LEVEL_NUM: &str = "logfire.level_num";
pub(crate) const JSON_SCHEMA: &str = "logfire.json_schema";
pub(crate) const SCRUBBED: &str = "logfire.scrubbed";

/// Logfire's level numbers (`logfire._internal.constants.LEVEL_NUMBERS`).
pub(crate) const LEVEL_ERROR: i64 = 17;

/// Body attributes that may hold JSON text.
const BODY_TEXT: [&str; 2] = ["http.request.body.text", "http.response.body.text"];
/// The url-encoded form, recorded as a JSON object.
const BODY_FORM: &str = "http.request.body.form";

/// Adds the Logfire attributes to `span`; `scrubbed` is what the scrubbing stage replaced.
pub(crate) fn add(span: &mut SpanData, scrubbed: &[Scrubbed]) {
    let mut new: Vec<KeyValue> = Vec::with_capacity(5);
    new.push(KeyValue::new(SPAN_TYPE, "span"));
    new.push(KeyValue::new(MSG, message(span)));
    if let Status::Error { .. } = span.status {
        new.push(KeyValue::new(LEVEL_NUM, LEVEL_ERROR));
    }
    if let Some(schema) = json_schema(&span.attributes) {
        new.push(KeyValue::new(JSON_SCHEMA, schema));
    }
    if let Some(list) = scrubbed_json(scrubbed) {
        new.push(KeyValue::new(SCRUBBED, list));
    }
    new.retain(|kv| !span.attributes.iter().any(|have| have.key == kv.key));
    span.attributes.extend(new);
}

fn attr<'s>(span: &'s SpanData, key: &str) -> Option<&'s Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// The console line's message: `METHOD host/path ? k='v'` for HTTP client spans (a method and
/// a `url.full`), the span name otherwise.
pub(crate) fn message(span: &SpanData) -> String {
    match (attr(span, "http.request.method"), attr(span, "url.full")) {
        (Some(_), Some(Value::String(url))) => http_message(&span.name, url.as_str()),
        _ => span.name.to_string(),
    }
}

/// `{"type":"object","properties":{...}}` naming the body attributes that hold JSON (an object
/// or an array that parses), and the form; `None` when there is none.
pub(crate) fn json_schema(attributes: &[KeyValue]) -> Option<String> {
    let mut properties = String::new();
    for kv in attributes {
        let Value::String(text) = &kv.value else {
            continue;
        };
        let key = kv.key.as_str();
        let kind = if key == BODY_FORM {
            "object"
        } else if BODY_TEXT.contains(&key) {
            match json_kind(text.as_str()) {
                Some(kind) => kind,
                None => continue,
            }
        } else {
            continue;
        };
        if !properties.is_empty() {
            properties.push(',');
        }
        let _ = write!(properties, "{}:{{\"type\":\"{kind}\"}}", json_string(key));
    }
    if properties.is_empty() {
        return None;
    }
    Some(format!(
        "{{\"type\":\"object\",\"properties\":{{{properties}}}}}"
    ))
}

/// `object` or `array` when `text` is a whole JSON object or array (a truncated body is not).
fn json_kind(text: &str) -> Option<&'static str> {
    let kind = match text.trim_start().as_bytes().first()? {
        b'{' => "object",
        b'[' => "array",
        _ => return None,
    };
    serde_json::from_str::<serde_json::Value>(text).ok()?;
    Some(kind)
}

/// `[{"path": ["attributes", "app.password"], "matched_substring": "password"}, ...]`, spaced
/// as Python's `json.dumps` writes it; `None` when nothing was scrubbed.
pub(crate) fn scrubbed_json(scrubbed: &[Scrubbed]) -> Option<String> {
    if scrubbed.is_empty() {
        return None;
    }
    let mut out = String::from("[");
    for (i, note) in scrubbed.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str("{\"path\": [");
        for (j, part) in note.path.iter().enumerate() {
            if j > 0 {
                out.push_str(", ");
            }
            match part {
                PathPart::Key(key) => out.push_str(&json_string(key)),
                PathPart::Index(n) => {
                    let _ = write!(out, "{n}");
                }
            }
        }
        out.push_str("], \"matched_substring\": ");
        out.push_str(&json_string(&note.matched));
        out.push('}');
    }
    out.push(']');
    Some(out)
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::span_data as span;
    use std::borrow::Cow;

    fn get(span: &SpanData, key: &str) -> Option<Value> {
        attr(span, key).cloned()
    }

    #[test]
    fn json_schema_lists_json_bodies_and_forms() {
        let schema = |attrs: &[(&'static str, &'static str)]| {
            let kvs: Vec<KeyValue> = attrs.iter().map(|(k, v)| KeyValue::new(*k, *v)).collect();
            json_schema(&kvs)
        };
        let obj = r#"{"type":"object","properties":{"http.response.body.text":{"type":"object"}}}"#;
        assert_eq!(
            schema(&[("http.response.body.text", r#" {"a":[1]}"#)]).as_deref(),
            Some(obj)
        );
        assert_eq!(
            schema(&[
                ("http.request.body.text", "[1,2]"),
                ("http.request.body.form", r#"{"q":"x"}"#),
                ("app.json", r#"{"a":1}"#),
            ])
            .as_deref(),
            Some(
                r#"{"type":"object","properties":{"http.request.body.text":{"type":"array"},"http.request.body.form":{"type":"object"}}}"#
            )
        );
        for not_json in [
            r#"{"a":"b...[truncated]"#,
            "plain text",
            "12",
            r#""str""#,
            "",
            "{not json}",
        ] {
            assert_eq!(
                schema(&[("http.response.body.text", not_json)]),
                None,
                "{not_json}"
            );
        }
        let int_body = [KeyValue::new("http.response.body.text", 1_i64)];
        assert_eq!(json_schema(&int_body), None);
    }

    #[test]
    fn msg_is_the_console_message() {
        let http = span(
            "GET",
            vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new(
                    "url.full",
                    "https://api.example.com:8443/users?page=2&token=REDACTED",
                ),
            ],
            Status::Unset,
        );
        assert_eq!(
            message(&http),
            "GET api.example.com/users ? page='2' & token='REDACTED'"
        );
        let no_url = span(
            "GET",
            vec![KeyValue::new("http.request.method", "GET")],
            Status::Unset,
        );
        assert_eq!(message(&no_url), "GET");
        let other = span(
            "work",
            vec![KeyValue::new("url.full", "http://h/")],
            Status::Unset,
        );
        assert_eq!(message(&other), "work");
    }

    #[test]
    fn level_num_only_on_error_spans_and_existing_attributes_are_kept() {
        let mut ok = span("GET", Vec::new(), Status::Ok);
        add(&mut ok, &[]);
        assert_eq!(get(&ok, SPAN_TYPE), Some(Value::from("span")));
        assert_eq!(get(&ok, MSG), Some(Value::from("GET")));
        assert_eq!(get(&ok, LEVEL_NUM), None);
        assert_eq!(get(&ok, JSON_SCHEMA), None);
        assert_eq!(get(&ok, SCRUBBED), None, "nothing scrubbed: no attribute");
        assert_eq!(ok.attributes.len(), 2);

        let mut failed = span(
            "GET",
            vec![KeyValue::new(MSG, "set by a hook")],
            Status::error(""),
        );
        add(&mut failed, &[]);
        assert_eq!(get(&failed, LEVEL_NUM), Some(Value::I64(17)));
        assert_eq!(get(&failed, MSG), Some(Value::from("set by a hook")));
        assert_eq!(
            failed
                .attributes
                .iter()
                .filter(|kv| kv.key.as_str() == MSG)
                .count(),
            1
        );
    }

    #[test]
    fn scrubbed_list_has_logfire_format() {
        let key = |k: &'static str| PathPart::Key(Cow::Borrowed(k));
        let notes = [
            Scrubbed {
                path: vec![key("attributes"), key("app.password")],
                matched: "password".to_owned(),
            },
            Scrubbed {
                path: vec![
                    key("attributes"),
                    key("http.response.body.text"),
                    key("items"),
                    PathPart::Index(2),
                    key("a\"b"),
                ],
                matched: "Auth".to_owned(),
            },
        ];
        assert_eq!(
            scrubbed_json(&notes).unwrap(),
            r#"[{"path": ["attributes", "app.password"], "matched_substring": "password"}, {"path": ["attributes", "http.response.body.text", "items", 2, "a\"b"], "matched_substring": "Auth"}]"#
        );
        let parsed: serde_json::Value =
            serde_json::from_str(&scrubbed_json(&notes).unwrap()).unwrap();
        assert_eq!(parsed[1]["path"][3], serde_json::json!(2));
        assert_eq!(scrubbed_json(&[]), None);
    }

    #[test]
    fn scrubbed_attribute_names_the_key_never_the_value() {
        let scrubber = super::super::scrub::Scrubber::new(crate::Secrets::default());
        let mut span = span(
            "POST",
            vec![
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("url.full", "http://h/login?session=S3CR3T-1"),
                KeyValue::new("app.password", "S3CR3T-2"),
                KeyValue::new("http.request.body.text", r#"{"user":{"token":"S3CR3T-3"}}"#),
            ],
            Status::Unset,
        );
        let notes = scrubber.scrub_span_recording(&mut span);
        add(&mut span, &notes);
        let Some(Value::String(list)) = get(&span, SCRUBBED) else {
            panic!("no {SCRUBBED}: {span:?}");
        };
        assert_eq!(
            list.as_str(),
            r#"[{"path": ["attributes", "url.full"], "matched_substring": "session"}, {"path": ["attributes", "app.password"], "matched_substring": "password"}, {"path": ["attributes", "http.request.body.text", "user", "token"], "matched_substring": "token"}]"#
        );
        assert_eq!(
            get(&span, MSG),
            Some(Value::from("POST h/login ? session='REDACTED'"))
        );
        assert_eq!(
            get(&span, JSON_SCHEMA),
            Some(Value::from(
                r#"{"type":"object","properties":{"http.request.body.text":{"type":"object"}}}"#
            ))
        );
        assert!(!format!("{span:?}").contains("S3CR3T"), "{span:?}");
    }
}
