//! Seals: how configure()'s scrubbing stage knows that a captured body was already redacted by
//! the very policy it applies, so that it does not scan the body for secret names a second time.
//!
//! The instrumentation redacts each captured body once, when it records it. When the span's
//! own pipeline is configure()'s and its scrubbing stage applies the *same* policy (the same
//! [`Secrets`] value — the stage's policy becomes the default of instrumentations built after
//! configure()), the body attribute is recorded with a *seal*: an attribute [`SEAL_ATTRIBUTE`]
//! whose value names that very string (its heap address, mixed with the policy and a random
//! key of the process). The stage learns of each span as it starts (its processor's
//! `on_start`, on the thread that starts the span, tells the instrumentation through a
//! thread-local which policy it applies), removes every seal from the ended span, and for a
//! body attribute whose string is the sealed one skips the name-based passes (whose output the
//! body already is: redaction is idempotent); the value patterns (JWTs, bearer tokens, keys)
//! still run, and a key the policy calls a secret still has its whole value replaced. A value written by anybody else — a hook, another instrumentation, a second
//! attribute under the same key — is another string at another address, and is scanned.
//!
//! The address cannot be reused while the seal is checked: the SDK only appends attributes,
//! so the sealed string lives in the span's attribute list from the moment it is recorded until
//! the stage sees the ended span. Spans of any other pipeline carry no seal. When the stage
//! records what it scrubbed (`logfire.scrubbed`, for Logfire), it asks for no seals and scans
//! every body, so that its notes include what the instrumentation redacted.

use std::cell::Cell;
use std::hash::BuildHasher;
use std::sync::OnceLock;

use opentelemetry::{KeyValue, StringValue};

use crate::Secrets;

/// The key of a seal attribute (never exported: the scrubbing stage removes it).
pub(crate) const SEAL_ATTRIBUTE: &str = "spanfire.capture.seal";

thread_local! {
    /// The policy of the scrubbing stage of the span being started on this thread (0: none).
    static STARTED: Cell<u64> = const { Cell::new(0) };
}

/// The scrubbing stage, from its span processor's `on_start`: the span being started on this
/// thread will be scrubbed with `policy`.
#[cfg(feature = "configure")]
pub(crate) fn note_stage(policy: &Secrets) {
    STARTED.with(|s| s.set(policy.policy_id()));
}

/// Whether, and under which policy, one span's captured bodies are sealed. `Copy`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sealer(u64);

impl Sealer {
    /// Before a span whose bodies may be captured is started on this thread.
    pub(crate) fn before_start() {
        STARTED.with(|s| s.set(0));
    }

    /// Right after that span was started: its sealer, which seals when the span's own
    /// pipeline has a scrubbing stage with the instrumentation's policy `secrets`.
    pub(crate) fn after_start(secrets: &Secrets) -> Sealer {
        let stage = STARTED.with(|s| s.replace(0));
        if stage != 0 && stage == secrets.policy_id() {
            Sealer(stage)
        } else {
            Sealer(0)
        }
    }

    /// The seal of `value` (a body just redacted under this sealer's policy), if it seals.
    pub(crate) fn seal(&self, value: &StringValue) -> Option<KeyValue> {
        if self.0 == 0 {
            return None;
        }
        Some(KeyValue::new(
            SEAL_ATTRIBUTE,
            seal_of(value.as_str(), self.0),
        ))
    }
}

/// The seals among `attributes`, removed from them; empty (and nothing moved) when there are
/// none.
#[cfg(feature = "configure")]
pub(crate) fn take_seals(attributes: &mut Vec<KeyValue>) -> Vec<i64> {
    if !attributes
        .iter()
        .any(|kv| kv.key.as_str() == SEAL_ATTRIBUTE)
    {
        return Vec::new();
    }
    let mut seals = Vec::new();
    attributes.retain(|kv| {
        if kv.key.as_str() != SEAL_ATTRIBUTE {
            return true;
        }
        if let opentelemetry::Value::I64(seal) = kv.value {
            seals.push(seal);
        }
        false
    });
    seals
}

/// Whether `text` is the very string one of `seals` was made for, under policy `secrets`.
#[cfg(feature = "configure")]
pub(crate) fn is_sealed(seals: &[i64], text: &str, secrets: &Secrets) -> bool {
    if seals.is_empty() || text.is_empty() {
        return false;
    }
    seals.contains(&seal_of(text, secrets.policy_id()))
}

fn seal_of(text: &str, policy: u64) -> i64 {
    // a random key per process: a seal says nothing about the process's memory
    static KEY: OnceLock<u64> = OnceLock::new();
    let key = *KEY.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(1));
    let address = text.as_ptr() as u64;
    // an empty string has no address of its own: never sealed; the length too names the string
    // (two strings may start at one address, one a prefix of the other)
    let len = if text.is_empty() {
        u64::MAX
    } else {
        (text.len() as u64).rotate_left(47)
    };
    (address ^ policy.rotate_left(17) ^ key ^ len) as i64
}

/// The seal of `value` under `secrets`, whether or not a stage is installed (for tests).
#[cfg(all(feature = "configure", any(test, feature = "__fuzz")))]
pub(crate) fn seal_for_tests(value: &StringValue, secrets: &Secrets) -> KeyValue {
    KeyValue::new(SEAL_ATTRIBUTE, seal_of(value.as_str(), secrets.policy_id()))
}

#[cfg(all(test, feature = "configure"))]
mod tests {
    use super::*;

    #[test]
    fn a_seal_names_one_string_under_one_policy() {
        let policy = Secrets::default();
        let value = StringValue::from(String::from(r#"{"password":"[REDACTED]"}"#));
        Sealer::before_start();
        assert!(
            Sealer::after_start(&policy).seal(&value).is_none(),
            "no stage: no seal"
        );
        Sealer::before_start();
        note_stage(&Secrets::none());
        assert!(
            Sealer::after_start(&policy).seal(&value).is_none(),
            "another policy"
        );
        Sealer::before_start();
        note_stage(&policy);
        let sealer = Sealer::after_start(&policy);
        assert!(
            Sealer::after_start(&policy).seal(&value).is_none(),
            "one span only"
        );
        let seal = sealer.seal(&value).unwrap();
        let mut attrs = vec![KeyValue::new("a", 1), seal, KeyValue::new("b", 2)];
        let seals = take_seals(&mut attrs);
        assert_eq!(attrs.len(), 2, "the seal is removed");
        assert!(is_sealed(&seals, value.as_str(), &policy));
        let copy = value.as_str().to_owned();
        assert!(
            !is_sealed(&seals, &copy, &policy),
            "an equal copy is not sealed"
        );
        let prefix = &value.as_str()[..5];
        assert!(
            !is_sealed(&seals, prefix, &policy),
            "a prefix at the same address is not"
        );
        assert!(!is_sealed(&seals, value.as_str(), &Secrets::none()));
        assert!(!is_sealed(&seals, "", &policy));
    }
}
