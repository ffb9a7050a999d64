#![forbid(unsafe_code)]
//! The routing contract between the operator (writer) and the webhook server (reader).
//!
//! ```text
//!   operator ──compile──► RoutingTable ──SET sb:v1:route:{number}──► Redis
//!                                                                      │ GET
//!   webhook server ◄───────────────────────────────────────────────────┘
//!        └── oncall.rs: who is on call now, evaluated per call step
//! ```
//!
//! Pure code only: no Kubernetes, no I/O. `table.rs` is the document, `keys.rs` where it lives,
//! `schedule.rs` + `oncall.rs` the on-call engine.

pub mod alert;
pub mod callers;
#[cfg(feature = "redis")]
pub mod connect;
pub mod error;
pub mod escalation;
pub mod gaps;
pub mod hours;
pub mod keys;
pub mod oncall;
pub mod phrases;
pub mod pin;
#[cfg(feature = "redis")]
pub mod publish;
pub mod queue;
pub mod schedule;
pub mod scripts;
pub mod signature;
pub mod table;
pub mod voice;

pub use alert::{Alert, AlertKind, AlertRoute, Forward, Outcome, Plan, SharedRoute, Stage};
pub use error::{ScheduleError, TableError};
pub use escalation::{CallProgress, Responder, StepPlan};
pub use gaps::Gap;
pub use oncall::{Handoff, OnCall, Source};
pub use schedule::{
    Contact, Days, LabelledContact, Layer, Override, Person, Schedule, ShiftLength, Window,
};
pub use table::RoutingTable;

/// Whether `number` is an E.164 phone number: `+`, a country code not starting with 0, and
/// at most 15 digits in all (the CRDs' `E164_PATTERN`). What Twilio accepts as a caller ID.
pub fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|d| {
        (2..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

/// The numbers Twilio puts in `From` for a caller whose number it cannot pass on: withheld,
/// restricted, blocked, unknown or unavailable, spelt on a keypad (ANONYMOUS is 266696687).
/// NB (Twilio, "Why am I getting calls from these strange numbers?"):
/// <https://help.twilio.com/articles/223179988-Why-am-I-getting-calls-from-these-strange-numbers->
pub const PLACEHOLDER_CALLERS: [&str; 5] = [
    "+266696687",
    "+7378742833",
    "+2562533",
    "+8656696",
    "+86282452253",
];

/// Whether `from` is a caller's real number: E.164 and none of Twilio's placeholders
/// ([`PLACEHOLDER_CALLERS`]); `anonymous`, `client:...` and `sip:...` are not.
pub fn is_known_caller(from: &str) -> bool {
    is_e164(from) && !PLACEHOLDER_CALLERS.contains(&from)
}

#[cfg(test)]
mod caller_tests {
    use super::*;

    #[test]
    fn placeholders_and_non_numbers_are_not_known_callers() {
        assert!(is_known_caller("+15105550123"));
        for withheld in [
            "+266696687",
            "+7378742833",
            "anonymous",
            "Anonymous",
            "client:alice",
            "",
        ] {
            assert!(!is_known_caller(withheld), "{withheld}");
        }
    }
}
