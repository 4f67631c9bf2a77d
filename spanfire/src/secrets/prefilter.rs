//! A cheap test that text cannot spell a name the built-in patterns match, so that the
//! scanners can skip the regular expression (per name) or a whole pass (per text).
//!
//! Every match of a built-in pattern contains one of [`REQUIRED`]'s literals, ASCII
//! case-insensitively (`(?i)` also folds `ſ` (U+017F) to `s` and the Kelvin sign (U+212A) to
//! `k`, and nothing else outside ASCII to a letter), so it contains the first three letters of
//! one: a *trigram*. [`may_match_builtin`] answers "no trigram and neither of those two" in
//! about 3 instructions a byte: it looks up the byte pair at every even offset in a 64 KiB
//! table of the pairs that start or end a trigram (any case), and only on a hit checks the
//! trigrams around it. Both tables are built at compile time.

use super::names::DEFAULT_SECRET_PATTERNS;

/// For each of [`DEFAULT_SECRET_PATTERNS`] (same order), literals one of which every match of
/// it contains (ASCII case-insensitively). Keep in step with the patterns: the test
/// `every_builtin_match_passes_the_prefilter` checks the pair.
const REQUIRED: [&[&str]; DEFAULT_SECRET_PATTERNS.len()] = [
    &["password"],
    &["passwd"],
    &["passphrase"],
    &["mysql_pwd"],
    &["secret"],
    &["auth"],
    &["credential"],
    &["key"],
    &["key"],
    &["key"],
    &["session"],
    &["cookie"],
    &["social"],
    &["credit"],
    &["token"],
    &["signature"],
    &["csrf", "xsrf", "jwt", "ssn", "sig", "pwd", "pass"],
    &["key"],
];

/// The code of a byte that starts U+017F or U+212A, which `(?i)` folds to ASCII
/// letters; letters are 1 to 26, anything else 0.
const FOLD: u8 = 31;

/// A 5-bit code per byte: `a`–`z` and `A`–`Z` are 1–26, lead bytes of U+017F and U+212A are [`FOLD`].
static CODES: [u8; 256] = codes();

/// One bit per trigram of letter codes (`c0 << 10 | c1 << 5 | c2`) that starts a literal of
/// [`REQUIRED`].
static TRIGRAMS: [u64; 512] = trigrams();

/// 1 for each byte pair (`u16::from_le_bytes`) that is the first or the last two letters of a
/// trigram (in any case), or holds a lead byte of U+017F or U+212A; else 0. A byte per pair
/// (64 KiB) rather than a bit: one load per pair, no shifts.
static PAIRS: [u8; 65536] = pairs();

const fn codes() -> [u8; 256] {
    let mut codes = [0u8; 256];
    let mut b = 0;
    while b < 26 {
        codes[b'a' as usize + b] = b as u8 + 1;
        codes[b'A' as usize + b] = b as u8 + 1;
        b += 1;
    }
    codes[0xC5] = FOLD; // U+017F: C5 BF
    codes[0xE2] = FOLD; // U+212A: E2 84 AA
    codes
}

/// Calls `each` (as a const loop body) with the three lowercase letters of every trigram.
macro_rules! for_each_trigram {
    (|$t:ident| $body:block) => {{
        let mut p = 0;
        while p < REQUIRED.len() {
            let mut l = 0;
            while l < REQUIRED[p].len() {
                let literal = REQUIRED[p][l].as_bytes();
                let $t = [literal[0], literal[1], literal[2]];
                $body
                l += 1;
            }
            p += 1;
        }
    }};
}

const fn trigrams() -> [u64; 512] {
    let codes = codes();
    let mut table = [0u64; 512];
    for_each_trigram!(|t| {
        let code = (codes[t[0] as usize] as usize) << 10
            | (codes[t[1] as usize] as usize) << 5
            | codes[t[2] as usize] as usize;
        table[code / 64] |= 1 << (code % 64);
    });
    table
}

const fn pairs() -> [u8; 65536] {
    let mut table = [0u8; 65536];
    for_each_trigram!(|t| {
        table = set_pair_any_case(table, t[0], t[1]);
        table = set_pair_any_case(table, t[1], t[2]);
    });
    let mut other = 0;
    while other < 256 {
        let other_byte = other as u8;
        table = set_pair(table, 0xC5, other_byte);
        table = set_pair(table, other_byte, 0xC5);
        table = set_pair(table, 0xE2, other_byte);
        table = set_pair(table, other_byte, 0xE2);
        other += 1;
    }
    table
}

const fn set_pair_any_case(mut table: [u8; 65536], a: u8, b: u8) -> [u8; 65536] {
    let (a_up, b_up) = (a.to_ascii_uppercase(), b.to_ascii_uppercase());
    table = set_pair(table, a, b);
    table = set_pair(table, a_up, b);
    table = set_pair(table, a, b_up);
    set_pair(table, a_up, b_up)
}

const fn set_pair(mut table: [u8; 65536], first: u8, second: u8) -> [u8; 65536] {
    table[u16::from_le_bytes([first, second]) as usize] = 1;
    table
}

/// Whether `bytes` may hold a match of a built-in pattern: `false` guarantees that no
/// substring of it (nor any text made of its pieces without joining letters: unescaped JSON
/// without `\u`, a url-decoded key without `%`) matches one.
pub(crate) fn may_match_builtin(bytes: &[u8]) -> bool {
    // A trigram at offset p has its first pair at p or its last pair at p + 1: one of them
    // is at an even offset. U+017F and U+212A have their lead byte in an even-offset pair.
    // Eight bytes (four pairs) a step, one branch a step: most steps hit nothing.
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let hits = (0..4).fold(0, |hits, k| hits | pair_bit((word >> (16 * k)) as u16) << k);
        if hits != 0 && hits_at(bytes, at, hits) {
            return true;
        }
        at += 8;
    }
    let rest = words.remainder();
    let hits = (0..rest.len() / 2).fold(0, |hits, k| {
        hits | pair_bit(u16::from_le_bytes([rest[2 * k], rest[2 * k + 1]])) << k
    });
    hits != 0 && hits_at(bytes, at, hits)
}

/// 1 when `pair` (two bytes, the first in the low half) is in [`PAIRS`], else 0.
fn pair_bit(pair: u16) -> u64 {
    u64::from(PAIRS[usize::from(pair)])
}

/// Whether one of the pairs at `at + 2k` for the bits k set in `hits` is a real hit.
fn hits_at(bytes: &[u8], at: usize, mut hits: u64) -> bool {
    while hits != 0 {
        if hit_at(bytes, at + 2 * hits.trailing_zeros() as usize) {
            return true;
        }
        hits &= hits - 1;
    }
    false
}

/// Whether the pair at `at` is part of a trigram (starting at `at - 1` or `at`) or starts a
/// character that folds to a letter.
fn hit_at(bytes: &[u8], at: usize) -> bool {
    // Bytes outside the text read as 0, whose code is no letter's.
    let byte = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let [a, b, c, d] = [at.wrapping_sub(1), at, at + 1, at + 2].map(|i| code(byte(i)));
    trigram_bit(a << 10 | b << 5 | c)
        || trigram_bit(b << 10 | c << 5 | d)
        || ((byte(at) | byte(at + 1)) >= 0x80 && (folds_at(bytes, at) || folds_at(bytes, at + 1)))
}

/// The letter code of `byte` (see [`CODES`]).
fn code(byte: u8) -> usize {
    usize::from(CODES[usize::from(byte)])
}

/// Whether `trigram` (three letter codes) starts a required literal.
fn trigram_bit(trigram: usize) -> bool {
    TRIGRAMS[trigram / 64] >> (trigram % 64) & 1 != 0
}

/// Whether U+017F or U+212A starts at `at`.
fn folds_at(bytes: &[u8], at: usize) -> bool {
    bytes.get(at..).is_some_and(|rest| {
        rest.starts_with("\u{17F}".as_bytes()) || rest.starts_with("\u{212A}".as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::RegexBuilder;

    #[test]
    fn required_literals_are_in_their_patterns() {
        for (pattern, literals) in DEFAULT_SECRET_PATTERNS.iter().zip(REQUIRED) {
            for literal in literals {
                assert!(literal.len() >= 3, "{literal}");
                assert!(
                    pattern.to_ascii_lowercase().contains(&literal[..3]),
                    "{pattern}: {literal}"
                );
            }
        }
    }

    /// Names built from pieces of the patterns, separators, other letters and the folding
    /// characters: every one a built-in pattern matches must pass the prefilter.
    #[test]
    fn every_builtin_match_passes_the_prefilter() {
        let pieces = [
            "pass",
            "word",
            "wd",
            "phrase",
            "mysql_",
            "pwd",
            "secret",
            "sec",
            "auth",
            "or",
            "cred",
            "ential",
            "private",
            "key",
            "api",
            "access",
            "session",
            "cookie",
            "social",
            "security",
            "credit",
            "card",
            "token",
            "signature",
            "sig",
            "csrf",
            "xsrf",
            "jwt",
            "ssn",
            "_",
            "-",
            ".",
            " ",
            "x",
            "K",
            "\u{212A}",
            "\u{17F}",
            "S",
            "A",
            "é",
            "1",
            "\u{212A}ey",
            "\u{17F}ig",
            "Pa",
            "SS",
            "to",
            "ken",
            "e",
            "y",
            "k",
        ];
        let all = RegexBuilder::new(
            &DEFAULT_SECRET_PATTERNS
                .iter()
                .map(|p| format!("(?:{p})"))
                .collect::<Vec<_>>()
                .join("|"),
        )
        .case_insensitive(true)
        .build()
        .unwrap();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut matched = 0;
        for _ in 0..200_000 {
            let mut name = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = 1 + (seed % 4) as usize;
            for k in 0..n {
                let pick = (seed >> (8 + 8 * k)) as usize % pieces.len();
                name.push_str(pieces[pick]);
            }
            if all.is_match(&name) {
                matched += 1;
                assert!(may_match_builtin(name.as_bytes()), "{name:?}");
            }
        }
        assert!(matched > 10_000, "{matched}");
        for pattern_match in ["\u{17F}ecret", "\u{212A}EY", "x-key", "Pwd", "ssn"] {
            assert!(all.is_match(pattern_match), "{pattern_match}");
            assert!(
                may_match_builtin(pattern_match.as_bytes()),
                "{pattern_match}"
            );
        }
    }

    #[test]
    fn ordinary_text_does_not_pass() {
        for clean in [
            "",
            "a",
            "items",
            "item-0001-abcdefghij",
            "Content-Type",
            "User-Agent",
            "application/json",
            "éü’ — “quoted”",
        ] {
            assert!(!may_match_builtin(clean.as_bytes()), "{clean}");
        }
        for dirty in ["xpass", "xxTOKEN", "a:SeC", "jwt", "monkey"] {
            assert!(may_match_builtin(dirty.as_bytes()), "{dirty}");
        }
    }
}
