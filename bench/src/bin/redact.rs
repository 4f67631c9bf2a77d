//! Instructions per call of `Secrets::redact_text` (callgrind) on fixed bodies: clean and
//! with secrets, JSON, text and forms.
//!
//! ```text
//! CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release -p spanfire-bench \
//!     --bin redact --target-dir target/prof
//! target/prof/release/redact                 # every body, under valgrind: a markdown table
//! target/prof/release/redact json-1k httpbin # only these bodies
//! target/prof/release/redact --run BODY N    # N calls on BODY in this process (no valgrind)
//! ```
//!
//! For each body, the binary runs itself twice under `valgrind --tool=callgrind` (`--run BODY
//! N` and `--run BODY 2N`, N = `REDACT_CALLS`, default 2000) and prints (I(2N) − I(N)) / N:
//! what a run does once (building the policy's regexes, the body, the process) cancels out.
//! Instructions repeat exactly whatever the machine's load, unlike timings. `REDACT_OUT=DIR`
//! keeps the callgrind files (`DIR/cg.BODY.N.out`, `DIR/cg.BODY.2N.out`) for
//! `callgrind_annotate --inclusive=yes`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::process::{Command, ExitCode};

use spanfire::Secrets;

#[path = "../shared/bodies.rs"]
mod bodies;
use bodies::kib_json;

/// The bodies: (name, what it is, policy, text).
fn bodies() -> Vec<(&'static str, &'static str, Secrets, String)> {
    let default = Secrets::default;
    let extra = || {
        Secrets::default()
            .with_extra_patterns(["pin"])
            .expect("a valid pattern")
    };
    vec![
        (
            "json-1k",
            "the overhead bench's 1 KiB JSON request body",
            default(),
            kib_json(),
        ),
        (
            "httpbin",
            "httpbin's pretty-printed echo of that body (`data`, `headers`, `json`)",
            default(),
            httpbin_echo(&kib_json()),
        ),
        (
            "text-1k",
            "1 KiB of plain text (log lines)",
            default(),
            text(),
        ),
        ("form-1k", "a 1 KiB url-encoded form", default(), form()),
        (
            "json-1k-extra",
            "json-1k under a policy with an extra pattern",
            extra(),
            kib_json(),
        ),
        (
            "json-1k-secret",
            "json-1k with a `password` key",
            default(),
            kib_json().replacen(r#""pad""#, r#""password""#, 1),
        ),
        (
            "httpbin-secret",
            "httpbin's echo of json-1k-secret",
            default(),
            httpbin_echo(&kib_json().replacen(r#""pad""#, r#""password""#, 1)),
        ),
        (
            "form-1k-secret",
            "form-1k with a `token` pair",
            default(),
            form().replacen("field_03=", "token=", 1),
        ),
        (
            "text-1k-secret",
            "text-1k with an `Authorization:` line and a URL with credentials",
            default(),
            text().replacen(
                "Accept: */*",
                "Authorization: Bearer abc\nfetching http://u:p@h/x?sig=1",
                1,
            ),
        ),
    ]
}

/// What httpbin's `POST /post` answers to `body` (a JSON object of `items` and `pad`).
fn httpbin_echo(body: &str) -> String {
    let parsed: serde_json::Value = serde_json::from_str(body).expect("JSON");
    let json = serde_json::to_string_pretty(&parsed)
        .expect("JSON")
        .replace('\n', "\n  ");
    let data = serde_json::to_string(body).expect("a string");
    format!(
        r#"{{
  "args": {{}},
  "data": {data},
  "files": {{}},
  "form": {{}},
  "headers": {{
    "Accept": "*/*",
    "Content-Length": "{len}",
    "Content-Type": "application/json",
    "Host": "httpbin.org",
    "Traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "User-Agent": "reqwest/0.13",
    "X-Amzn-Trace-Id": "Root=1-6651c1d2-4b8f0e1a2c3d4e5f6a7b8c9d"
  }},
  "json": {json},
  "origin": "203.0.113.7",
  "url": "https://httpbin.org/post"
}}
"#,
        len = body.len()
    )
}

/// About 1 KiB of log lines: timestamps, paths, a header dump, no secrets.
fn text() -> String {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < 1024 - 80 {
        let _ = writeln!(
            s,
            "2025-06-01T12:00:{:02}Z INFO worker {i} finished batch of {} items in {} ms",
            i % 60,
            i * 7,
            i * 3 + 11
        );
        i += 1;
    }
    s.push_str("Accept: */*\nContent-Type: text/plain");
    s
}

/// About 1 KiB of `application/x-www-form-urlencoded`.
fn form() -> String {
    let mut pairs = Vec::new();
    let mut len = 0;
    let mut i = 0;
    while len < 1024 - 40 {
        let pair = format!("field_{i:02}=value+number+{i}%21");
        len += pair.len() + 1;
        pairs.push(pair);
        i += 1;
    }
    pairs.join("&")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--run") {
        return run(&args[1..]);
    }
    match measure_all(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("redact: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--run BODY N`: N calls of `redact_text` on BODY.
fn run(args: &[String]) -> ExitCode {
    let (Some(name), Some(n)) = (
        args.first(),
        args.get(1).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: redact --run BODY N");
        return ExitCode::FAILURE;
    };
    let Some((_, _, secrets, body)) = bodies().into_iter().find(|b| b.0 == name) else {
        eprintln!("redact: no body {name}");
        return ExitCode::FAILURE;
    };
    let mut changed = 0usize;
    for _ in 0..n {
        let out = secrets.redact_text(black_box(&body));
        changed += usize::from(matches!(out, std::borrow::Cow::Owned(_)));
        black_box(out);
    }
    black_box(changed);
    ExitCode::SUCCESS
}

/// Measures each body named in `only` (all when empty) and prints a table.
fn measure_all(only: &[String]) -> Result<(), String> {
    let calls: u64 = std::env::var("REDACT_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    println!("| body | bytes | instructions/call | per byte | redacted |");
    println!("|---|---:|---:|---:|---|");
    for (name, what, secrets, body) in bodies() {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        let once = instructions(name, calls, "N")?;
        let twice = instructions(name, 2 * calls, "2N")?;
        let per_call = twice.saturating_sub(once) / calls;
        let redacted = matches!(secrets.redact_text(&body), std::borrow::Cow::Owned(_));
        println!(
            "| {name} ({what}) | {} | {per_call} | {:.1} | {redacted} |",
            body.len(),
            per_call as f64 / body.len() as f64
        );
    }
    Ok(())
}

/// Total instructions of `--run BODY calls` under callgrind;
/// `tag` names the callgrind file kept under `REDACT_OUT`.
fn instructions(name: &str, calls: u64, tag: &str) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out_file = match std::env::var("REDACT_OUT") {
        Ok(dir) => format!("{dir}/cg.{name}.{tag}.out"),
        Err(_) => "/dev/null".to_owned(),
    };
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={out_file}"))
        .arg(exe)
        .args(["--run", name, &calls.to_string()])
        .output()
        .map_err(|e| format!("valgrind: {e}"))?;
    let log = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("--run {name} {calls} failed:\n{log}"));
    }
    log.lines()
        .find_map(|line| {
            let (_, count) = line.split_once("Collected :")?;
            count.trim().replace(',', "").parse().ok()
        })
        .ok_or_else(|| format!("no instruction count in valgrind's output:\n{log}"))
}
