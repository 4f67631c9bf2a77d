//! Reading back what the real collector (rotel, started by `scripts/rotel`) received.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;

/// The collector's OTLP/HTTP URL and the file its processor appends to, from `scripts/rotel`.
pub fn collector() -> Option<(String, PathBuf)> {
    match (
        std::env::var("ROTEL_OTLP_HTTP"),
        std::env::var("ROTEL_RECEIVED"),
    ) {
        (Ok(url), Ok(file)) => Some((url, PathBuf::from(file))),
        _ if std::env::var_os("CI").is_some() => {
            panic!("ROTEL_OTLP_HTTP/ROTEL_RECEIVED unset: scripts/test starts the collector")
        }
        _ => {
            eprintln!("skipped: run `eval \"$(scripts/rotel start)\"` and export its variables");
            None
        }
    }
}

pub fn unique_service(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("spanfire-e2e-{name}-{}-{nanos}", std::process::id())
}

/// The records the collector received for `service`, waiting (bounded) until `done` holds.
pub fn received(file: &PathBuf, service: &str, done: impl Fn(&[Json]) -> bool) -> Vec<Json> {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let records: Vec<Json> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Json>(l).ok())
            .filter(|r| r["resource"]["service.name"] == service)
            .collect();
        if done(&records) || Instant::now() > deadline {
            return records;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
