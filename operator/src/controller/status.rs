//! Conditions, built from what a reconcile found (pure).
//!
//! Each condition has a reason (PascalCase, for `kubectl get` columns and alerts) and a message
//! that names the field at fault and the fix. `Ready` sums the others up: true when they all
//! are, otherwise the first false one's reason and message. A condition keeps its
//! `lastTransitionTime` while its status stays the same.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use switchboard_crds::condition::READY;

/// One condition's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// Condition type.
    pub type_: &'static str,
    /// Whether it holds.
    pub ok: bool,
    /// PascalCase reason.
    pub reason: String,
    /// What is wrong and what to do, or what is right.
    pub message: String,
}

impl Check {
    /// A condition that holds.
    pub fn ok(type_: &'static str, reason: &str, message: impl Into<String>) -> Check {
        Check {
            type_,
            ok: true,
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// A condition that does not hold.
    pub fn failed(type_: &'static str, reason: &str, message: impl Into<String>) -> Check {
        Check {
            type_,
            ok: false,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// The conditions for `checks`, with `Ready` first.
pub fn conditions(
    checks: &[Check],
    generation: Option<i64>,
    now: &Time,
    previous: &[Condition],
) -> Vec<Condition> {
    let ready = match checks.iter().find(|c| !c.ok) {
        Some(bad) => Check::failed(READY, &bad.reason, bad.message.clone()),
        None => Check::ok(
            READY,
            "Ready",
            "everything this object asks for is in place",
        ),
    };
    std::iter::once(&ready)
        .chain(checks)
        .map(|c| condition(c, generation, now, previous))
        .collect()
}

/// One condition for `c`, keeping the previous transition time while its status is the same.
/// Used alone for advice that does not count towards `Ready` (`Covered`).
pub fn condition(
    c: &Check,
    generation: Option<i64>,
    now: &Time,
    previous: &[Condition],
) -> Condition {
    let status = if c.ok { "True" } else { "False" };
    let since = previous
        .iter()
        .find(|p| p.type_ == c.type_ && p.status == status)
        .map(|p| p.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    Condition {
        type_: c.type_.to_string(),
        status: status.to_string(),
        reason: c.reason.clone(),
        message: c.message.clone(),
        observed_generation: generation,
        last_transition_time: since,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    #[test]
    fn ready_sums_up_and_transition_times_stay_while_status_does() {
        let checks = [
            Check::ok("ReferencesResolved", "Resolved", "ok"),
            Check::failed("TwilioConfigured", "TwilioError", "Twilio error 20003"),
        ];
        let first = conditions(&checks, Some(3), &t("2026-11-21T10:00:00Z"), &[]);
        assert_eq!(first[0].type_, "Ready");
        assert_eq!(first[0].status, "False");
        assert_eq!(first[0].reason, "TwilioError");
        assert_eq!(first[2].observed_generation, Some(3));
        let again = conditions(&checks, Some(3), &t("2026-11-21T11:00:00Z"), &first);
        assert_eq!(again[1].last_transition_time, t("2026-11-21T10:00:00Z"));
        let fixed = [
            Check::ok("ReferencesResolved", "Resolved", "ok"),
            Check::ok("TwilioConfigured", "Configured", "ok"),
        ];
        let after = conditions(&fixed, Some(3), &t("2026-11-21T12:00:00Z"), &again);
        assert_eq!(after[0].status, "True");
        assert_eq!(after[2].last_transition_time, t("2026-11-21T12:00:00Z"));
        assert_eq!(after[1].last_transition_time, t("2026-11-21T10:00:00Z"));
    }
}
