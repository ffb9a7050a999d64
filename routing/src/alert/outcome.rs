//! How a call ended, as the call log, the metrics and the alert's snapshot say it.

use serde::{Deserialize, Serialize};

/// How a call ended, as the call log, the metrics and the alert's snapshot say it (the
/// snapshot's JSON spells [`Outcome::as_str`]).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// A responder accepted.
    Answered,
    /// Nobody accepted; the caller left a message.
    Voicemail,
    /// Nobody accepted and no message was left.
    NoAnswer,
    /// The caller hung up before anyone accepted.
    Abandoned,
    /// The caller is on the blocklist.
    Blocked,
    /// The number has no routing table.
    UnknownNumber,
    /// The policy is disabled or in maintenance.
    Unavailable,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 7] = [
        Outcome::Answered,
        Outcome::Voicemail,
        Outcome::NoAnswer,
        Outcome::Abandoned,
        Outcome::Blocked,
        Outcome::UnknownNumber,
        Outcome::Unavailable,
    ];

    /// The label used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Voicemail => "voicemail",
            Outcome::NoAnswer => "no-answer",
            Outcome::Abandoned => "abandoned",
            Outcome::Blocked => "blocked",
            Outcome::UnknownNumber => "unknown-number",
            Outcome::Unavailable => "unavailable",
        }
    }
}
