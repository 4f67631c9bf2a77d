//! Pydantic Logfire's settings, read the way the Logfire SDKs read them: the write token
//! (`LOGFIRE_TOKEN`, else `<credentials dir>/logfire_credentials.json`), whether to send
//! (`LOGFIRE_SEND_TO_LOGFIRE`), the base URL (`LOGFIRE_BASE_URL`, the credentials file's
//! `logfire_api_url`, else the token's region), and the resource and console settings
//! (`LOGFIRE_SERVICE_NAME`, `LOGFIRE_SERVICE_VERSION`, `LOGFIRE_ENVIRONMENT`, `LOGFIRE_CONSOLE`).
//!
//! Every env read goes through the `env` function `finish()` passes in (the process
//! environment, or the map a test injects with `ConfigureBuilder::env_source`). Settings made in
//! code win over env vars; an empty env var counts as unset (as in the Python SDK).

use std::path::{Path, PathBuf};

use super::otlp::{ENV_LOGFIRE_BASE_URL, ENV_LOGFIRE_TOKEN};

/// `true` / `false` / `if-token-present` (also `1`/`0`, `t`/`f`, `yes`/`no`).
pub(crate) const ENV_SEND_TO_LOGFIRE: &str = "LOGFIRE_SEND_TO_LOGFIRE";
/// `service.name`; the `OTEL_*` fallbacks are read in `otel_env`.
pub(crate) const ENV_SERVICE_NAME: &str = "LOGFIRE_SERVICE_NAME";
/// `service.version`; `OTEL_SERVICE_VERSION` is the fallback (as in the Python SDK).
pub(crate) const ENV_SERVICE_VERSION: &str = "LOGFIRE_SERVICE_VERSION";
const ENV_OTEL_SERVICE_VERSION: &str = "OTEL_SERVICE_VERSION";
/// `deployment.environment.name`.
pub(crate) const ENV_ENVIRONMENT: &str = "LOGFIRE_ENVIRONMENT";
/// `true` / `false`: console output on or off unless set in code.
pub(crate) const ENV_CONSOLE: &str = "LOGFIRE_CONSOLE";
/// The directory of `logfire_credentials.json` (default `.logfire`).
pub(crate) const ENV_CREDENTIALS_DIR: &str = "LOGFIRE_CREDENTIALS_DIR";
/// The file `logfire projects use` / `logfire projects new` write into the credentials dir.
pub(crate) const CREDENTIALS_FILE: &str = "logfire_credentials.json";
const DEFAULT_CREDENTIALS_DIR: &str = ".logfire";

/// Whether spans and metrics go to Logfire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendToLogfire {
    /// Always; no token is a configuration error.
    Yes,
    /// Never.
    No,
    /// When a token is found (the default).
    IfTokenPresent,
}

/// A non-empty env var, trimmed.
fn var(env: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "t" | "yes" | "y" | "on" => Some(true),
        "0" | "false" | "f" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

/// A boolean env var; unset or empty is `None`, anything not a boolean is an error.
fn env_bool(
    env: &impl Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<bool>, crate::Error> {
    match var(env, name) {
        None => Ok(None),
        Some(v) => parse_bool(&v).map(Some).ok_or_else(|| {
            crate::Error::config(format!("{name}={v} is not a boolean (true or false)"))
        }),
    }
}

/// The send mode: the one set in code, else `LOGFIRE_SEND_TO_LOGFIRE`, else if-token-present.
pub(crate) fn send_to_logfire(
    in_code: Option<bool>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<SendToLogfire, crate::Error> {
    if let Some(on) = in_code {
        return Ok(if on {
            SendToLogfire::Yes
        } else {
            SendToLogfire::No
        });
    }
    match var(env, ENV_SEND_TO_LOGFIRE) {
        None => Ok(SendToLogfire::IfTokenPresent),
        Some(v) if v.eq_ignore_ascii_case("if-token-present") => Ok(SendToLogfire::IfTokenPresent),
        Some(v) => match parse_bool(&v) {
            Some(true) => Ok(SendToLogfire::Yes),
            Some(false) => Ok(SendToLogfire::No),
            None => Err(crate::Error::config(format!(
                "{ENV_SEND_TO_LOGFIRE}={v} is not one of true, false, if-token-present"
            ))),
        },
    }
}

/// `LOGFIRE_CONSOLE` as a console on/off override (`None`: unset).
pub(crate) fn console(env: &impl Fn(&str) -> Option<String>) -> Result<Option<bool>, crate::Error> {
    env_bool(env, ENV_CONSOLE)
}

/// Resource settings: code first, then the env vars.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ResourceSettings {
    /// `None` leaves `service.name` to `otel_env::resource` (`OTEL_RESOURCE_ATTRIBUTES`,
    /// `OTEL_SERVICE_NAME`, else `unknown_service:<exe>`).
    pub(crate) service_name: Option<String>,
    pub(crate) service_version: Option<String>,
    pub(crate) environment: Option<String>,
}

pub(crate) fn resource_settings(
    service_name: Option<&str>,
    service_version: Option<&str>,
    environment: Option<&str>,
    env: &impl Fn(&str) -> Option<String>,
) -> ResourceSettings {
    ResourceSettings {
        service_name: service_name
            .map(str::to_owned)
            .or_else(|| var(env, ENV_SERVICE_NAME)),
        service_version: service_version
            .map(str::to_owned)
            .or_else(|| var(env, ENV_SERVICE_VERSION))
            .or_else(|| var(env, ENV_OTEL_SERVICE_VERSION)),
        environment: environment
            .map(str::to_owned)
            .or_else(|| var(env, ENV_ENVIRONMENT)),
    }
}

/// Where the Logfire destination sends, and with which token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) token: String,
    /// Without a trailing `/`; `/v1/traces` and `/v1/metrics` are appended.
    pub(crate) base_url: String,
}

/// The contents of `logfire_credentials.json` that matter for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Credentials {
    token: String,
    logfire_api_url: Option<String>,
}

/// The Logfire destination, or `None` when nothing is to be sent.
///
/// Token: the one set in code, else `LOGFIRE_TOKEN`, else the credentials file (read only when
/// no token was given otherwise, so a broken file next to a token is no error). Base URL:
/// `LOGFIRE_BASE_URL`, else the credentials file's `logfire_api_url` (only with that file's
/// token: another project's URL never gets this token), else the token's region.
pub(crate) fn target(
    token_in_code: Option<&str>,
    send_in_code: Option<bool>,
    credentials_dir: Option<&Path>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<Target>, crate::Error> {
    let send = send_to_logfire(send_in_code, env)?;
    if send == SendToLogfire::No {
        return Ok(None);
    }
    let token = token_in_code
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .or_else(|| var(env, ENV_LOGFIRE_TOKEN));
    let (token, file_url) = match token {
        Some(token) => (token, None),
        None => {
            let dir = credentials_dir
                .map(Path::to_path_buf)
                .or_else(|| var(env, ENV_CREDENTIALS_DIR).map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CREDENTIALS_DIR));
            match load_credentials(&dir)? {
                Some(creds) => (creds.token, creds.logfire_api_url),
                None if send == SendToLogfire::Yes => {
                    return Err(crate::Error::config(format!(
                        "sending to Logfire is on ({ENV_SEND_TO_LOGFIRE}=true or \
                         send_to_logfire(true)) but there is no Logfire token: set \
                         {ENV_LOGFIRE_TOKEN}, call .logfire_token(..), or create {} \
                         (`logfire projects use <project>`)",
                        dir.join(CREDENTIALS_FILE).display()
                    )))
                }
                None => return Ok(None),
            }
        }
    };
    let base_url = var(env, ENV_LOGFIRE_BASE_URL)
        .or(file_url)
        .unwrap_or_else(|| logfire_base_url(&token).to_owned());
    Ok(Some(Target {
        base_url: base_url.trim_end_matches('/').to_owned(),
        token,
    }))
}

/// Reads `<dir>/logfire_credentials.json`; `None` when there is no such file.
fn load_credentials(dir: &Path) -> Result<Option<Credentials>, crate::Error> {
    let path = dir.join(CREDENTIALS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(crate::Error::config_with_source(
                format!(
                    "cannot read the Logfire credentials file {}",
                    path.display()
                ),
                e,
            ))
        }
    };
    let invalid = |what: &str| {
        crate::Error::config(format!(
            "invalid Logfire credentials file {}: {what}",
            path.display()
        ))
    };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        crate::Error::config_with_source(
            format!("invalid Logfire credentials file {}", path.display()),
            e,
        )
    })?;
    let field = |name: &str| {
        json.get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let token = field("token").ok_or_else(|| invalid("no \"token\" string"))?;
    Ok(Some(Credentials {
        token,
        logfire_api_url: field("logfire_api_url"),
    }))
}

/// The Logfire base URL for a token: its region is the third `_`-separated part
/// (`pylf_v1_eu_...`); US when there is none.
pub(crate) fn logfire_base_url(token: &str) -> &'static str {
    match token.split('_').nth(2) {
        Some("eu") => "https://logfire-eu.pydantic.dev",
        _ => "https://logfire-us.pydantic.dev",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        move |k| map.get(k).map(|v| (*v).to_owned())
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "spanfire-logfire-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn with_credentials(tag: &str, json: &str) -> TempDir {
            let dir = TempDir::new(tag);
            std::fs::write(dir.0.join(CREDENTIALS_FILE), json).unwrap();
            dir
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn t(token: &str, base_url: &str) -> Option<Target> {
        Some(Target {
            token: token.to_owned(),
            base_url: base_url.to_owned(),
        })
    }

    const US: &str = "https://logfire-us.pydantic.dev";
    const EU: &str = "https://logfire-eu.pydantic.dev";

    #[test]
    fn token_send_mode_and_base_url_resolution() {
        let creds = TempDir::with_credentials(
            "creds",
            r#"{"token": "pylf_v1_eu_file", "project_name": "p",
                "project_url": "https://logfire-eu.pydantic.dev/o/p",
                "logfire_api_url": "https://api.example.test/"}"#,
        );
        let creds_no_url = TempDir::with_credentials("nourl", r#"{"token": "pylf_v1_eu_f2"}"#);
        let empty = TempDir::new("empty");
        let c = Some(creds.0.as_path());
        let e = Some(empty.0.as_path());
        let creds_dir = creds.0.to_str().unwrap();
        // (case, token in code, send in code, credentials dir in code, env, expected)
        #[allow(clippy::type_complexity)]
        let table: Vec<(
            &str,
            Option<&str>,
            Option<bool>,
            Option<&Path>,
            Vec<(&str, &str)>,
            Option<Target>,
        )> = vec![
            ("nothing: not sent", None, None, e, vec![], None),
            (
                "env token, US region",
                None,
                None,
                e,
                vec![("LOGFIRE_TOKEN", "pylf_v1_us_x")],
                t("pylf_v1_us_x", US),
            ),
            (
                "env token, EU region",
                None,
                None,
                e,
                vec![("LOGFIRE_TOKEN", " pylf_v1_eu_x ")],
                t("pylf_v1_eu_x", EU),
            ),
            (
                "code token wins over env",
                Some("pylf_v1_eu_code"),
                None,
                e,
                vec![("LOGFIRE_TOKEN", "pylf_v1_us_env")],
                t("pylf_v1_eu_code", EU),
            ),
            (
                "empty env token is unset",
                None,
                None,
                e,
                vec![("LOGFIRE_TOKEN", " ")],
                None,
            ),
            (
                "LOGFIRE_BASE_URL overrides",
                None,
                None,
                e,
                vec![
                    ("LOGFIRE_TOKEN", "pylf_v1_eu_x"),
                    ("LOGFIRE_BASE_URL", "http://127.0.0.1:9/"),
                ],
                t("pylf_v1_eu_x", "http://127.0.0.1:9"),
            ),
            (
                "credentials file: token and logfire_api_url",
                None,
                None,
                c,
                vec![],
                t("pylf_v1_eu_file", "https://api.example.test"),
            ),
            (
                "credentials file without api url: region",
                None,
                None,
                Some(creds_no_url.0.as_path()),
                vec![],
                t("pylf_v1_eu_f2", EU),
            ),
            (
                "LOGFIRE_CREDENTIALS_DIR",
                None,
                None,
                None,
                vec![("LOGFIRE_CREDENTIALS_DIR", creds_dir)],
                t("pylf_v1_eu_file", "https://api.example.test"),
            ),
            (
                "env token wins over the file, file URL not used",
                None,
                None,
                c,
                vec![("LOGFIRE_TOKEN", "pylf_v1_us_env")],
                t("pylf_v1_us_env", US),
            ),
            (
                "LOGFIRE_BASE_URL wins over the file",
                None,
                None,
                c,
                vec![("LOGFIRE_BASE_URL", "http://local:1")],
                t("pylf_v1_eu_file", "http://local:1"),
            ),
            (
                "send=false with a token",
                None,
                None,
                e,
                vec![
                    ("LOGFIRE_TOKEN", "pylf_v1_us_x"),
                    ("LOGFIRE_SEND_TO_LOGFIRE", "false"),
                ],
                None,
            ),
            (
                "send=0 with a file",
                None,
                None,
                c,
                vec![("LOGFIRE_SEND_TO_LOGFIRE", "0")],
                None,
            ),
            (
                "send=true with a token",
                None,
                None,
                e,
                vec![
                    ("LOGFIRE_TOKEN", "pylf_v1_us_x"),
                    ("LOGFIRE_SEND_TO_LOGFIRE", "TRUE"),
                ],
                t("pylf_v1_us_x", US),
            ),
            (
                "send=if-token-present without token",
                None,
                None,
                e,
                vec![("LOGFIRE_SEND_TO_LOGFIRE", "if-token-present")],
                None,
            ),
            (
                "send=true with only the file",
                None,
                None,
                c,
                vec![("LOGFIRE_SEND_TO_LOGFIRE", "true")],
                t("pylf_v1_eu_file", "https://api.example.test"),
            ),
            (
                "code send(false) wins over env true",
                None,
                Some(false),
                e,
                vec![
                    ("LOGFIRE_TOKEN", "pylf_v1_us_x"),
                    ("LOGFIRE_SEND_TO_LOGFIRE", "true"),
                ],
                None,
            ),
            (
                "code send(true) with env false and a token",
                Some("pylf_v1_us_c"),
                Some(true),
                e,
                vec![("LOGFIRE_SEND_TO_LOGFIRE", "false")],
                t("pylf_v1_us_c", US),
            ),
        ];
        for (case, token, send, dir, env, expected) in table {
            let got = target(token, send, dir, &env_of(&env));
            assert_eq!(got.as_ref().ok(), Some(&expected), "{case}: {got:?}");
        }
    }

    #[test]
    fn sending_without_a_token_or_with_a_bad_value_is_a_clear_error() {
        let empty = TempDir::new("err");
        let e = Some(empty.0.as_path());
        let err = target(
            None,
            None,
            e,
            &env_of(&[("LOGFIRE_SEND_TO_LOGFIRE", "true")]),
        )
        .unwrap_err();
        assert!(err.is_config(), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("no Logfire token") && msg.contains("LOGFIRE_TOKEN"),
            "{msg}"
        );
        assert!(msg.contains(CREDENTIALS_FILE), "{msg}");
        let err = target(None, Some(true), e, &env_of(&[])).unwrap_err();
        assert!(err.to_string().contains("send_to_logfire(true)"), "{err}");
        let err = target(
            Some("pylf_v1_us_x"),
            None,
            e,
            &env_of(&[("LOGFIRE_SEND_TO_LOGFIRE", "maybe")]),
        )
        .unwrap_err();
        assert!(
            err.is_config() && err.to_string().contains("maybe"),
            "{err}"
        );
    }

    #[test]
    fn a_broken_credentials_file_is_an_error_only_without_another_token() {
        for (tag, json) in [
            ("notjson", "{not json"),
            ("notoken", r#"{"project_name": "p"}"#),
            ("numtoken", r#"{"token": 5}"#),
        ] {
            let dir = TempDir::with_credentials(tag, json);
            let d = Some(dir.0.as_path());
            let err = target(None, None, d, &env_of(&[])).unwrap_err();
            assert!(err.is_config(), "{tag}: {err}");
            assert!(err.to_string().contains(CREDENTIALS_FILE), "{tag}: {err}");
            let with_token = target(None, None, d, &env_of(&[("LOGFIRE_TOKEN", "pylf_v1_us_x")]));
            assert_eq!(with_token.unwrap(), t("pylf_v1_us_x", US), "{tag}");
            let off = target(
                None,
                None,
                d,
                &env_of(&[("LOGFIRE_SEND_TO_LOGFIRE", "false")]),
            );
            assert_eq!(off.unwrap(), None, "{tag}: not read when not sending");
        }
        let dir = TempDir::with_credentials("dbg", "{not json");
        let err = target(None, None, Some(&dir.0), &env_of(&[])).unwrap_err();
        let debug = format!("{err:?}");
        assert!(debug.contains("\n\nCaused by:\n    0: "), "{debug}");
    }

    #[test]
    fn send_modes_parse_like_the_sdks() {
        let mode = |v: &str| send_to_logfire(None, &env_of(&[("LOGFIRE_SEND_TO_LOGFIRE", v)]));
        for (v, expected) in [
            ("true", SendToLogfire::Yes),
            ("True", SendToLogfire::Yes),
            ("1", SendToLogfire::Yes),
            ("yes", SendToLogfire::Yes),
            ("false", SendToLogfire::No),
            ("0", SendToLogfire::No),
            ("no", SendToLogfire::No),
            ("if-token-present", SendToLogfire::IfTokenPresent),
            ("", SendToLogfire::IfTokenPresent),
        ] {
            assert_eq!(mode(v).unwrap(), expected, "{v:?}");
        }
        assert!(mode("sometimes").is_err());
        assert_eq!(
            send_to_logfire(None, &env_of(&[])).unwrap(),
            SendToLogfire::IfTokenPresent
        );
    }

    #[test]
    fn resource_and_console_settings_code_first_then_env() {
        let env = [
            ("LOGFIRE_SERVICE_NAME", "svc-env"),
            ("LOGFIRE_SERVICE_VERSION", "1.2.3"),
            ("OTEL_SERVICE_VERSION", "0.0.1"),
            ("LOGFIRE_ENVIRONMENT", "staging"),
        ];
        // (case, [service_name, service_version, environment] in code, env, expected)
        #[allow(clippy::type_complexity)]
        let table: Vec<(&str, [Option<&str>; 3], Vec<(&str, &str)>, ResourceSettings)> = vec![
            ("nothing", [None; 3], vec![], ResourceSettings::default()),
            (
                "env",
                [None; 3],
                env.to_vec(),
                ResourceSettings {
                    service_name: Some("svc-env".into()),
                    service_version: Some("1.2.3".into()),
                    environment: Some("staging".into()),
                },
            ),
            (
                "code wins",
                [Some("svc"), Some("9"), Some("prod")],
                env.to_vec(),
                ResourceSettings {
                    service_name: Some("svc".into()),
                    service_version: Some("9".into()),
                    environment: Some("prod".into()),
                },
            ),
            (
                "OTEL_SERVICE_VERSION fallback; OTEL_SERVICE_NAME left to the SDK",
                [None; 3],
                vec![
                    ("OTEL_SERVICE_VERSION", "0.0.1"),
                    ("OTEL_SERVICE_NAME", "otel"),
                ],
                ResourceSettings {
                    service_version: Some("0.0.1".into()),
                    ..ResourceSettings::default()
                },
            ),
        ];
        for (case, [name, version, environment], env, expected) in table {
            let got = resource_settings(name, version, environment, &env_of(&env));
            assert_eq!(got, expected, "{case}");
        }
        for (v, expected) in [("true", Some(true)), ("false", Some(false)), ("", None)] {
            assert_eq!(
                console(&env_of(&[("LOGFIRE_CONSOLE", v)])).unwrap(),
                expected
            );
        }
        assert!(console(&env_of(&[("LOGFIRE_CONSOLE", "loud")])).is_err());
    }

    #[test]
    fn region_from_the_token() {
        assert_eq!(logfire_base_url("pylf_v1_eu_abc"), EU);
        assert_eq!(logfire_base_url("pylf_v1_us_abc"), US);
        assert_eq!(logfire_base_url("weird"), US);
    }

    /// Captures the resource the tracer provider hands its processors.
    #[derive(Debug, Clone, Default)]
    struct ResourceProbe(std::sync::Arc<std::sync::Mutex<Option<opentelemetry_sdk::Resource>>>);

    impl opentelemetry_sdk::trace::SpanProcessor for ResourceProbe {
        fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &opentelemetry::Context) {}
        fn on_end(&self, _: opentelemetry_sdk::trace::SpanData) {}
        fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(
            &self,
            _: std::time::Duration,
        ) -> opentelemetry_sdk::error::OTelSdkResult {
            Ok(())
        }
        fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
            *self.0.lock().unwrap() = Some(resource.clone());
        }
    }

    fn injected(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn attr(resource: &opentelemetry_sdk::Resource, key: &'static str) -> Option<String> {
        resource
            .get(&opentelemetry::Key::from_static_str(key))
            .map(|v| v.to_string())
    }

    #[test]
    fn finish_puts_the_injected_env_on_the_resource_and_code_wins() {
        let env = [
            ("LOGFIRE_SERVICE_NAME", "svc-from-env"),
            ("LOGFIRE_SERVICE_VERSION", "1.2.3"),
            ("LOGFIRE_ENVIRONMENT", "staging"),
            ("LOGFIRE_SEND_TO_LOGFIRE", "false"),
            ("LOGFIRE_TOKEN", "pylf_v1_us_notsent"),
            ("LOGFIRE_CONSOLE", "false"),
        ];
        // (case, builder tweak, expected service.name, service.version, environment)
        #[allow(clippy::type_complexity)]
        let table: [(
            &str,
            fn(crate::ConfigureBuilder) -> crate::ConfigureBuilder,
            &str,
            &str,
            &str,
        ); 2] = [
            ("env only", |b| b, "svc-from-env", "1.2.3", "staging"),
            (
                "code setters win",
                |b| {
                    b.service_name("svc")
                        .service_version("9")
                        .environment("prod")
                },
                "svc",
                "9",
                "prod",
            ),
        ];
        for (case, tweak, name, version, environment) in table {
            let probe = ResourceProbe::default();
            let builder = crate::configure()
                .env_source(injected(&env))
                .install_globals(false)
                .with_span_processor(probe.clone());
            let telemetry = tweak(builder).finish().unwrap();
            let resource = probe.0.lock().unwrap().clone().expect("resource set");
            assert_eq!(
                attr(&resource, "service.name").as_deref(),
                Some(name),
                "{case}"
            );
            assert_eq!(
                attr(&resource, "service.version").as_deref(),
                Some(version),
                "{case}"
            );
            assert_eq!(
                attr(&resource, "deployment.environment.name").as_deref(),
                Some(environment),
                "{case}"
            );
            assert_eq!(telemetry.export_stats().offered(), 0);
            telemetry.shutdown().unwrap();
        }
    }

    #[test]
    fn finish_reports_logfire_config_errors() {
        let empty = TempDir::new("finish");
        let no_token = crate::configure()
            .env_source(injected(&[("LOGFIRE_SEND_TO_LOGFIRE", "true")]))
            .logfire_credentials_dir(&empty.0)
            .install_globals(false)
            .finish()
            .unwrap_err();
        assert!(no_token.is_config(), "{no_token}");
        assert!(
            no_token.to_string().contains("no Logfire token"),
            "{no_token}"
        );
        let in_code = crate::configure()
            .env_source(injected(&[]))
            .logfire_credentials_dir(&empty.0)
            .send_to_logfire(true)
            .install_globals(false)
            .finish()
            .unwrap_err();
        assert!(in_code.is_config(), "{in_code}");
        let console = crate::configure()
            .env_source(injected(&[("LOGFIRE_CONSOLE", "loud")]))
            .install_globals(false)
            .finish()
            .unwrap_err();
        assert!(
            console.to_string().contains("LOGFIRE_CONSOLE=loud"),
            "{console}"
        );
    }

    /// With the default features a token alone gives an HTTPS Logfire destination: finish()
    /// builds its blocking rustls clients without a process-level CryptoProvider (none is
    /// installed here) and without panicking. The base URL is a closed local port, so the
    /// final metric export fails at once instead of reaching the network.
    #[test]
    fn finish_builds_the_https_logfire_destination_from_a_token() {
        let empty = TempDir::new("https");
        let result = crate::configure()
            .env_source(injected(&[
                ("LOGFIRE_TOKEN", "pylf_v1_us_abc"),
                ("LOGFIRE_BASE_URL", "https://127.0.0.1:1"),
            ]))
            .logfire_credentials_dir(&empty.0)
            .console(false)
            .install_globals(false)
            .finish();
        if cfg!(feature = "tls") {
            let telemetry = result.unwrap();
            let _ = telemetry.shutdown();
        } else {
            let err = result.unwrap_err();
            assert!(
                err.is_config() && err.to_string().contains("needs TLS"),
                "{err}"
            );
        }
    }
}
