//! A hotline's PIN: what the table holds instead of the PIN itself, and the check of what a
//! caller keyed in.
//!
//! ```text
//!   operator: PIN (Secret) + the account's auth token ─► HMAC-SHA256 ─► table pin.digest
//!   webhook:  Digits + its own copy of the auth token ─► HMAC-SHA256 ─► equal? (constant time)
//! ```
//!
//! The table (in Redis) holds a keyed digest, never the PIN: with at most 12 digits a plain
//! hash would be found by trying every PIN, but the key is the Twilio account's auth token,
//! which only the operator (from the PhoneNumber's credentials Secret) and the webhook server
//! (its mounted Secret) hold, and Redis never does. The digest is bound to the policy, so one
//! PIN in two policies gives two digests.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::table::SecretKey;

/// The shortest and longest PIN.
pub const PIN_DIGITS: std::ops::RangeInclusive<usize> = 4..=12;

/// A policy's PIN check.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Pin {
    /// Where the PIN is kept (for the operator; the webhook server never reads it).
    pub secret: SecretKey,
    /// The keyed digest of the PIN ([`digest`]); empty until the operator has read the PIN,
    /// which no PIN matches.
    #[serde(default)]
    pub digest: String,
    /// Wrong PINs before the call ends.
    pub attempts: u32,
    /// Whether callers a rule names are asked too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ask_known_callers: bool,
    /// Seconds to wait for the digits.
    pub timeout_seconds: u32,
}

/// Whether `pin` is a PIN: 4 to 12 digits.
pub fn is_pin(pin: &str) -> bool {
    PIN_DIGITS.contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit())
}

/// The digest of `pin` for policy `policy` (`namespace/name`), keyed by `auth_token`.
pub fn digest(auth_token: &str, policy: &str, pin: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"switchboard-pin\0");
    mac.update(policy.as_bytes());
    mac.update(b"\0");
    mac.update(pin.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Pin {
    /// Whether `entered` is the PIN of policy `policy`, checked with `auth_token`. Compares in
    /// constant time; a digest not yet set matches nothing.
    pub fn matches(&self, auth_token: &str, policy: &str, entered: &str) -> bool {
        use subtle::ConstantTimeEq;
        if self.digest.is_empty() || !is_pin(entered) {
            return false;
        }
        let d = digest(auth_token, policy, entered);
        d.as_bytes().ct_eq(self.digest.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(digest: String) -> Pin {
        Pin {
            secret: SecretKey {
                name: "hotline-pin".into(),
                key: "pin".into(),
            },
            digest,
            attempts: 3,
            ask_known_callers: false,
            timeout_seconds: 10,
        }
    }

    #[test]
    fn only_the_right_pin_with_the_right_key_and_policy_matches() {
        let p = pin(digest("token", "oncall/partners", "4711"));
        assert!(p.matches("token", "oncall/partners", "4711"));
        assert!(!p.matches("token", "oncall/partners", "4712"));
        assert!(!p.matches("other-token", "oncall/partners", "4711"));
        assert!(!p.matches("token", "oncall/support", "4711"));
        assert!(!p.matches("token", "oncall/partners", ""));
        assert!(!pin(String::new()).matches("token", "oncall/partners", "4711"));
        // The digest is not the PIN, nor a plain hash of it.
        assert!(!p.digest.contains("4711"));
        assert_eq!(p.digest.len(), 64);
    }

    #[test]
    fn a_pin_is_four_to_twelve_digits() {
        assert!(is_pin("0000"));
        assert!(is_pin("123456789012"));
        assert!(!is_pin("123"));
        assert!(!is_pin("1234567890123"));
        assert!(!is_pin("12a4"));
        assert!(!is_pin("12 34"));
    }
}
