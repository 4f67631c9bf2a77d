//! `exception.message` from arbitrary error text that quotes a URL holding a secret.
//!
//! The input (bytes split at 0x1F, so that seeds stay readable): flags, then head, scheme, user,
//! host, path, query, fragment, secret, tail (each read as UTF-8, lossily). A URL
//! `scheme://[user[:SECRET]@]host/path[?query][#fragment]` is built, the secret as the userinfo
//! password and/or as the value of a secret query or fragment key (`token`, `sig`,
//! `X-Amz-Signature`, `access_token`, `api%5Fkey` …, at an arbitrary position among the other
//! pairs), optionally normalised by the `url` crate (what reqwest reports), and quoted in an
//! error text: `error sending request for url ({url}){tail}` or `{head}{url}{tail}`, once or
//! twice. Then `__fuzz::error_message(text, Some(url))` and `(text, None)`.
//!
//! Flags (byte: meaning): 0: bit 0 arbitrary head (else reqwest's), bit 1 secret as password,
//! bit 2 URL quoted twice, bit 3 URL normalised by the `url` crate, bit 4 secret in the query,
//! bit 5 secret in the fragment, bit 6 arbitrary scheme (else one of `SCHEMES`); 1: scheme;
//! 2, 3: query key and position; 4, 5: fragment key and position.
//!
//! Checked: no panic. With the URL reported: the URL's redaction is the documented one
//! (`common::model_redact_url`); the message is exactly the free-text redaction of the text in
//! which every quote of the URL is replaced by its redacted form; and the secret — when it is
//! at least 4 characters and every place it occurs in the text is inside a secret part of a
//! quote of the URL (the userinfo of a URL with a valid scheme, the value of a secret query or
//! fragment key), so that finding it is a leak and not a coincidence (see `common::leaks`) — is
//! not in the message. Without the URL: the message is exactly the free-text redaction of the
//! text, and the secret is not in it when the free text makes it findable: reqwest's head
//! (and, while `common::PAIR_SCANNER_PASSES_OVER_PAIRS`, a text without that known bug), and a
//! secret of unreserved characters that
//! occurs only in userinfo without spaces, quotes or angle brackets, or as the whole value of a
//! pair whose key is made of key characters and starts right after `?`, `&` or `#`.
//! Free-text redaction itself: borrowed exactly when nothing changes, and idempotent (but
//! where the known bug applies).
#![no_main]

mod common;

use std::borrow::Cow;
use std::ops::Range;

use libfuzzer_sys::fuzz_target;
use spanfire::__fuzz::error_message;

use common::{is_secret_key, leaks, model_redact_url, passes_over_pairs, secret_key, secrets};

const REQWEST_HEAD: &str = "error sending request for url (";
const SCHEMES: &[&str] = &[
    "http", "https", "s3", "ftp", "git+ssh", "HTTP", "a1.b-c", "é", "ü-http", "1http", "ht tp", "",
];

fn unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

fn key_byte(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '%' | '+' | '[' | ']')
}

/// `field` split into `&`-separated pieces (`#` removed), `planted` inserted at `position`.
fn pairs(field: &str, planted: Option<(String, u8)>) -> Option<String> {
    let field: String = field.chars().filter(|&c| c != '#').collect();
    let mut pieces: Vec<String> = if field.is_empty() {
        Vec::new()
    } else {
        field.split('&').map(str::to_owned).collect()
    };
    if let Some((pair, position)) = planted {
        let at = usize::from(position) % (pieces.len() + 1);
        pieces.insert(at, pair);
    }
    (!pieces.is_empty()).then(|| pieces.join("&"))
}

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|&b| b == 0x1f);
    let flags = fields.next().unwrap_or_default().to_vec();
    let flag = |i: usize| flags.get(i).copied().unwrap_or(0);
    let mut field = || {
        fields
            .next()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .unwrap_or_default()
    };
    let (head, scheme, user, host, path, query, fragment, secret, tail) = (
        field(),
        field(),
        field(),
        field(),
        field(),
        field(),
        field(),
        field(),
        field(),
    );
    let bits = flag(0);
    let bit = |n: u8| bits & (1 << n) != 0;
    let drop = |text: &str, chars: &[char]| -> String {
        text.chars().filter(|c| !chars.contains(c)).collect()
    };

    // Where the secret goes, it ends its part only where the URL parser says: no `&`, `#`, `?`
    // or `/` in it.
    let secret = drop(&secret, &['&', '#', '?', '/']);
    let scheme = if bit(6) {
        drop(&scheme, &['/', '?', '#', '&'])
    } else {
        SCHEMES[usize::from(flag(1)) % SCHEMES.len()].to_owned()
    };
    let user = drop(&user, &['/', '?', '#']);
    let host = drop(&host, &['/', '?', '#']);
    let mut path = drop(&path, &['?', '#']);
    if !path.is_empty() && !path.starts_with('/') {
        path.insert(0, '/');
    }
    let userinfo = if bit(1) {
        format!("{user}:{secret}@")
    } else if !user.is_empty() {
        format!("{user}@")
    } else {
        String::new()
    };
    let plant = |on: bool, key: u8, position: u8| {
        on.then(|| (format!("{}={secret}", secret_key(key)), position))
    };
    let query = pairs(&query, plant(bit(4), flag(2), flag(3)));
    let fragment = pairs(&fragment, plant(bit(5), flag(4), flag(5)));
    let mut url = format!("{scheme}://{userinfo}{host}{path}");
    if let Some(q) = &query {
        url.push('?');
        url.push_str(q);
    }
    if let Some(f) = &fragment {
        url.push('#');
        url.push_str(f);
    }
    if bit(3) {
        if let Ok(parsed) = url::Url::parse(&url) {
            url = parsed.into();
        }
    }
    let mut text = if bit(0) {
        format!("{head}{url}{tail}")
    } else {
        format!("{REQWEST_HEAD}{url}){tail}")
    };
    if bit(2) {
        text.push_str(" (redirected to ");
        text.push_str(&url);
        text.push(')');
    }

    check_redact_text(&text);

    let model = model_redact_url(&url, &|k| is_secret_key(secrets(), k));
    assert_eq!(secrets().redact_url(&url), model.out, "{url:?}");
    // The quotes of the URL that the message replaces: left to right, not overlapping.
    let quotes: Vec<usize> = text.match_indices(url.as_str()).map(|(at, _)| at).collect();
    let in_text = |ranges: &mut dyn Iterator<Item = &Range<usize>>| -> Vec<Range<usize>> {
        let ranges: Vec<&Range<usize>> = ranges.collect();
        quotes
            .iter()
            .flat_map(|q| ranges.iter().map(move |r| q + r.start..q + r.end))
            .collect()
    };

    let reported = error_message(&text, Some(&url));
    let want = secrets()
        .redact_text(&text.replace(url.as_str(), &model.out))
        .into_owned();
    assert_eq!(reported, want, "{text:?} reporting {url:?}");
    let secret_ranges = in_text(&mut model.secret_ranges.iter());
    assert_ne!(
        leaks(&text, &reported, &secret, &secret_ranges),
        Some(true),
        "{text:?} reporting {url:?}: {secret:?} leaked in {reported:?}"
    );

    let unreported = error_message(&text, None);
    assert_eq!(
        unreported,
        secrets().redact_text(&text),
        "{text:?}, no URL reported"
    );
    // Not while the free-text scanner passes over `token=t` in `/x=1?token=t` (reported).
    let text_can_find = !bit(0) && secret.chars().all(unreserved) && !passes_over_pairs(&text);
    if text_can_find {
        let findable: Vec<&Range<usize>> = model
            .secret_ranges
            .iter()
            .filter(|r| findable_by_text(&url, r))
            .collect();
        let findable = in_text(&mut findable.into_iter());
        assert_ne!(
            leaks(&text, &unreported, &secret, &findable),
            Some(true),
            "{text:?}, no URL reported: {secret:?} leaked in {unreported:?}"
        );
    }
});

/// Whether free text redaction finds the secret part `range` of `url` on its own: a userinfo
/// (of a valid scheme: the model says so) in an authority without spaces, quotes or angle
/// brackets; the whole value of a pair, without the characters that end a value in text, whose
/// key is made of key characters and follows `?`, `&` or `#`.
fn findable_by_text(url: &str, range: &Range<usize>) -> bool {
    let authority_start = url.find("://").map_or(0, |c| c + 3);
    if range.start == authority_start {
        let authority = &url[authority_start..];
        let authority = &authority[..authority.find(['/', '?', '#']).unwrap_or(authority.len())];
        return !authority
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '<' | '>'));
    }
    let value = &url[range.clone()];
    let before = &url[..range.start];
    let Some(key) = before.strip_suffix('=') else {
        return false;
    };
    let key_start = key.rfind(['?', '&', '#']).map_or(0, |s| s + 1);
    let key = &key[key_start..];
    key_start > 0
        && !key.is_empty()
        && key.chars().all(key_byte)
        && !value.is_empty()
        && !value.starts_with("REDACTED")
        && !value.starts_with('[')
        && !value
            .chars()
            .any(|c| c.is_ascii_whitespace() || matches!(c, '&' | '#' | '"' | '<' | '>' | '\\'))
}

/// `Secrets::redact_text`: borrowed exactly when it changes nothing, and idempotent.
fn check_redact_text(text: &str) {
    let once = secrets().redact_text(text);
    match &once {
        Cow::Borrowed(b) => assert_eq!(*b, text),
        Cow::Owned(o) => assert_ne!(o, text, "allocated to change nothing"),
    }
    if !passes_over_pairs(text) && !passes_over_pairs(&once) {
        assert_eq!(secrets().redact_text(&once), once, "idempotent: {text:?}");
    }
}
