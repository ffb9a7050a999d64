//! The `Covered` condition and `status.nextGap` of Schedules and EscalationChains (pure):
//! whether someone can be rung at every moment of the next two weeks, and if not, when first.
//! Advice only: it does not count towards `Ready` (an office-hours hotline means its gaps).

use jiff::{SignedDuration, Timestamp};
use switchboard_crds::EscalationChain;
use switchboard_crds::common::GapStatus;
use switchboard_crds::condition::COVERED;
use switchboard_routing::gaps::step_gaps;
use switchboard_routing::{Gap, Schedule};

use super::status::Check;

/// How far ahead coverage is looked at.
pub const HORIZON: SignedDuration = SignedDuration::from_hours(14 * 24);

/// The condition and first gap for `gaps` (found from `now` over [`HORIZON`]), with times in
/// `time_zone`; `what` says what has nobody (`nobody is on call`).
pub fn covered(gaps: &[Gap], time_zone: &str, what: &str) -> (Check, Option<GapStatus>) {
    let Some(first) = gaps.first() else {
        return (
            Check::ok(
                COVERED,
                "Covered",
                "someone can be rung at every moment of the next 14 days",
            ),
            None,
        );
    };
    let at = |t: Timestamp| super::schedule::in_zone(t, time_zone);
    let more = match gaps.len() - 1 {
        0 => String::new(),
        n => format!("; {n} more in the next 14 days"),
    };
    let message = format!(
        "{what} from {} to {}{more} (switchboard oncall --gaps lists them)",
        at(first.start),
        at(first.end)
    );
    (
        Check::failed(COVERED, "NobodyToRing", message),
        Some(GapStatus {
            start: at(first.start),
            end: at(first.end),
        }),
    )
}

/// The gaps of a Schedule from `now` over [`HORIZON`] (none when it cannot be evaluated).
pub fn schedule_gaps(s: &Schedule, now: Timestamp) -> Vec<Gap> {
    let until = now.saturating_add(HORIZON).unwrap_or(now);
    s.gaps(now, until).unwrap_or_default()
}

/// The gaps of chain `c`'s first step from `now` over [`HORIZON`] ([`step_gaps`]), given its
/// namespace's compiled schedules; None when a schedule it names is not compiled (the chain is
/// not valid, and its `Ready` says why), with the zone of the first schedule named.
pub fn first_step_gaps<'a>(
    c: &EscalationChain,
    schedule: impl Fn(&str) -> Option<&'a Schedule>,
    now: Timestamp,
) -> Option<(Vec<Gap>, String)> {
    let until = now.saturating_add(HORIZON).unwrap_or(now);
    let step = c.spec.steps.first()?;
    let mut zone = None;
    let mut targets = Vec::new();
    for t in &step.targets {
        let Some(name) = &t.on_call else {
            // A team, a person, a number or a SIP address: always someone to ring.
            targets.push(None);
            break;
        };
        let s = schedule(name)?;
        zone.get_or_insert_with(|| s.time_zone.clone());
        targets.push(Some(schedule_gaps(s, now)));
    }
    let gaps = step_gaps(now, until, targets);
    Some((gaps, zone.unwrap_or_else(|| "UTC".into())))
}
