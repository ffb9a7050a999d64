//! What a committed change of a call tells the operators: its events logged, and the metrics
//! it moves (an outcome, the time to answer, declines, the caller's choices, PIN checks).

use tracing::info;

use crate::metrics::OutcomeLabels;
use crate::state::CallState;

use super::AppState;

/// Logs a committed change's events and counts what it finished: a call's outcome, its time
/// to answer.
pub(super) fn observe(st: &AppState, before: Option<&CallState>, after: &CallState) {
    for (_, e) in &after.events {
        info!(event = %e, "call event");
    }
    let m = &st.0.metrics;
    let declined_before = before.map_or(0, |b| b.declines);
    if after.declines > declined_before {
        m.declines
            .inc_by(u64::from(after.declines - declined_before));
    }
    if let Some(b) = before.filter(|b| b.phase == crate::state::Phase::Choosing)
        && after.phase != crate::state::Phase::Choosing
    {
        // A caller who hung up at the choice chose nothing.
        let choice = match after.phase {
            _ if after.callback.is_some() && b.callback.is_none() => Some("callback"),
            crate::state::Phase::Voicemail => Some("voicemail"),
            crate::state::Phase::Ringing => Some("stayed"),
            _ => None,
        };
        if let Some(choice) = choice {
            m.caller_choices
                .get_or_create(&crate::metrics::ChoiceLabels {
                    choice: choice.to_string(),
                })
                .inc();
        }
    }
    if let Some(crate::state::Phase::Pin { attempt }) = before.map(|b| b.phase) {
        let result = match after.phase {
            _ if after.pin_passed => Some("right"),
            crate::state::Phase::Pin { attempt: a } if a > attempt => Some("wrong"),
            crate::state::Phase::Ended if after.outcome == Some(crate::state::Outcome::Blocked) => {
                Some("locked")
            }
            _ => None,
        };
        if let Some(result) = result {
            m.pin_checks
                .get_or_create(&crate::metrics::PinLabels {
                    result: result.to_string(),
                })
                .inc();
        }
    }
    if before.and_then(|b| b.accepted.as_ref()).is_none()
        && let Some((_, at)) = &after.accepted
    {
        let secs = at.duration_since(after.started_at).as_secs_f64();
        m.time_to_answer.observe(secs);
    }
    if before.and_then(|b| b.outcome).is_none()
        && let Some(outcome) = after.outcome
    {
        m.calls
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str().to_string(),
            })
            .inc();
        info!(
            outcome = outcome.as_str(),
            to = %after.to,
            policy = %after.policy,
            answered_by = after.accepted.as_ref().map(|(r, _)| r.display_name.as_str()).unwrap_or(""),
            "call ended"
        );
    }
}
