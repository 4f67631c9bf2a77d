//! Which names are secrets: header names, query keys, JSON and form keys, attribute keys.
//!
//! One matcher for all of them: the built-in patterns ([`DEFAULT_SECRET_PATTERNS`], matched
//! anywhere in a name, ASCII case-insensitively) plus whatever the user added, compiled once.

use regex::{Regex, RegexBuilder};

use super::prefilter::may_match_builtin;

/// The built-in patterns: case-insensitive regular expressions, matched anywhere in a name.
///
/// Logfire's list (password, passwd, mysql_pwd, secret, auth — but not author(s) —, credential,
/// private key, api key, session, cookie, csrf, xsrf, jwt, ssn, social security, credit card),
/// plus token, signature and `sig`, `pwd` and `pass` as words, access keys (`AWSAccessKeyId`),
/// and names ending in a `key` word (`x-upstream-key`, `access_key`, `key`). Together they cover
/// the query keys the HTTP semantic conventions list (`AWSAccessKeyId`, `Signature`, `sig`,
/// `X-Goog-Signature`, `X-Amz-Signature`, `X-Amz-Credential`, `X-Amz-Security-Token`).
pub const DEFAULT_SECRET_PATTERNS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "mysql_pwd",
    "secret",
    "auth",
    "credential",
    "private[._ -]?key",
    "api[._ -]?key",
    "access[._ -]?key",
    "session",
    "cookie",
    "social[._ -]?security",
    "credit[._ -]?card",
    "token",
    "signature",
    r"(?:(?-u:\b)|_)(?:csrf|xsrf|jwt|ssn|sig|pwd|pass)(?:(?-u:\b)|_)",
    r"(?:^|[-_.])key$",
];

/// Names that match a pattern but are not secrets (compared ASCII case-insensitively).
const NOT_SECRETS: &[&str] = &[
    "access-control-allow-credentials",
    "www-authenticate",
    "proxy-authenticate",
];

/// The compiled matcher of a [`Secrets`](super::Secrets) policy.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    builtin: Option<Regex>,
    extra: Option<Regex>,
    /// Every name is a secret: the user's patterns did not compile (fail closed).
    everything: bool,
}

impl Names {
    pub(crate) fn new(builtin: bool, extra: &[String]) -> Result<Names, regex::Error> {
        let builtin = builtin.then(|| compile(DEFAULT_SECRET_PATTERNS.iter().copied()));
        let extra = (!extra.is_empty()).then(|| compile(extra.iter().map(String::as_str)));
        Ok(Names {
            builtin: builtin.transpose()?,
            extra: extra.transpose()?,
            everything: false,
        })
    }

    /// A matcher for which every name is a secret.
    pub(crate) fn everything() -> Names {
        Names {
            builtin: None,
            extra: None,
            everything: true,
        }
    }

    /// The part of `name` that makes it a secret, if it is one.
    pub(crate) fn secret_part<'n>(&self, name: &'n str) -> Option<&'n str> {
        if self.everything {
            return Some(name);
        }
        if !self.may_name_secret(name)
            || name.is_empty()
            || NOT_SECRETS.iter().any(|s| s.eq_ignore_ascii_case(name))
        {
            return None;
        }
        // The prefilter (checked above without user patterns) first, then `is_match`: most
        // names are not secrets, and each is cheaper than what follows.
        let builtin = self
            .builtin
            .as_ref()
            .filter(|re| {
                (self.extra.is_none() || may_match_builtin(name.as_bytes())) && re.is_match(name)
            })
            .and_then(|re| builtin_match(re, name));
        builtin.or_else(|| {
            let re = self.extra.as_ref()?;
            re.find(name).map(|m| trim_separators(m.as_str()))
        })
    }

    /// Whether `name` is a secret.
    pub(crate) fn is_secret(&self, name: &str) -> bool {
        self.secret_part(name).is_some()
    }

    /// Whether a name spelled in `text` may be a secret: `false` guarantees that no substring
    /// of `text` is one, nor any name made of its pieces without joining letters (JSON
    /// unescaped without `\u`, a key url-decoded without `%`). Always `true` with user
    /// patterns (arbitrary regular expressions) and for [`Names::everything`].
    pub(crate) fn may_name_secret(&self, text: &str) -> bool {
        self.everything
            || self.extra.is_some()
            || (self.builtin.is_some() && may_match_builtin(text.as_bytes()))
    }
}

fn compile<'a>(patterns: impl Iterator<Item = &'a str>) -> Result<Regex, regex::Error> {
    let alternatives: Vec<String> = patterns.map(|p| format!("(?:{p})")).collect();
    RegexBuilder::new(&alternatives.join("|"))
        .case_insensitive(true)
        .build()
}

/// The first built-in match that is not `auth` of `author`/`authors`.
fn builtin_match<'n>(re: &Regex, name: &'n str) -> Option<&'n str> {
    let mut at = 0;
    while let Some(m) = re.find_at(name, at) {
        if !is_author(name, m.start(), m.end()) {
            return Some(trim_separators(m.as_str()));
        }
        at = m.end();
    }
    None
}

/// `auth` followed by `or` or `ors` and then the end of a word.
fn is_author(name: &str, start: usize, end: usize) -> bool {
    if !name[start..end].eq_ignore_ascii_case("auth") {
        return false;
    }
    let rest = &name.as_bytes()[end..];
    let word_end = |i: usize| rest.get(i).is_none_or(|b| !b.is_ascii_alphanumeric());
    let or = rest.len() >= 2 && rest[..2].eq_ignore_ascii_case(b"or");
    or && (word_end(2)
        || (rest.get(2).is_some_and(|b| b.eq_ignore_ascii_case(&b's')) && word_end(3)))
}

/// A match of a word pattern includes its separators (`-sig`); the marker names the word.
fn trim_separators(matched: &str) -> &str {
    let trimmed = matched.trim_matches(|c: char| !c.is_alphanumeric());
    if trimmed.is_empty() {
        matched
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_and_the_part_that_matched() {
        let names = Names::new(true, &[]).unwrap();
        let cases = [
            ("password", Some("password")),
            ("user_password", Some("password")),
            ("Authorization", Some("Auth")),
            ("proxy-authorization", Some("auth")),
            ("x-sentry-auth", Some("auth")),
            ("oauth_state", Some("auth")),
            ("set-cookie", Some("cookie")),
            ("x-api-key", Some("api-key")),
            ("apikey", Some("apikey")),
            ("AWSAccessKeyId", Some("AccessKey")),
            ("X-Amz-Signature", Some("Signature")),
            ("X-Amz-Credential", Some("Credential")),
            ("X-Amz-Security-Token", Some("Token")),
            ("sig", Some("sig")),
            ("x-sig", Some("sig")),
            ("sig_v2", Some("sig")),
            ("x-upstream-key", Some("key")),
            ("access_key", Some("access_key")),
            ("key", Some("key")),
            ("x-csrf-token", Some("csrf")),
            ("jwt", Some("jwt")),
            ("session_id", Some("session")),
            ("client_secret", Some("secret")),
            ("pass", Some("pass")),
            ("credit-card", Some("credit-card")),
            ("author", None),
            ("Authors", None),
            ("author_name", None),
            ("authority", Some("auth")),
            ("signal", None),
            ("design", None),
            ("monkey", None),
            ("keyboard", None),
            ("passenger", None),
            ("access-control-allow-credentials", None),
            ("WWW-Authenticate", None),
            ("content-type", None),
            ("q", None),
            ("", None),
        ];
        for (name, want) in cases {
            assert_eq!(names.secret_part(name), want, "{name}");
        }
    }

    #[test]
    fn extra_patterns_extend_and_none_replaces() {
        let extra = vec!["pin".to_owned(), "^x-tenant$".to_owned()];
        let names = Names::new(true, &extra).unwrap();
        assert_eq!(names.secret_part("user_pin"), Some("pin"));
        assert_eq!(names.secret_part("X-Tenant"), Some("X-Tenant"));
        assert!(names.is_secret("password"));
        let only = Names::new(false, &extra).unwrap();
        assert!(!only.is_secret("password"));
        assert!(only.is_secret("pin"));
        assert!(Names::new(true, &["(".to_owned()]).is_err());
        assert!(Names::everything().is_secret("q"));
    }
}
