//! What happened against what the case expects, and the side-by-side report.

use switchboard_webhook::state::CallState;

use super::Ready;
use super::format::{Alerts, Expect, Rung};
use crate::engine::AlertView;

/// One line of the comparison: what was expected, what happened, whether they agree.
pub(super) struct Check {
    pub(super) what: &'static str,
    pub(super) expected: String,
    pub(super) actual: String,
    pub(super) ok: bool,
}

/// Whether `who` (as written in the test) names ring `r`: its person, display name or address.
fn names(who: &str, person: Option<&str>, display: &str, address: &str) -> bool {
    person == Some(who) || display == who || address == who
}

pub(super) fn compare(
    case: &Ready,
    t: &switchboard_sim::Transcript,
    call: Option<&CallState>,
) -> Vec<Check> {
    let e = &case.expect;
    let mut checks = Vec::new();
    let started = call.map(|c| c.started_at).unwrap_or(case.at);
    if let Some(expected) = &e.rung {
        let rung = call.map(|c| c.rung.as_slice()).unwrap_or_default();
        rung_checks(expected, rung, started, &mut checks);
    }
    answer_checks(e, call, started, &mut checks);
    if let Some(a) = &e.alerts {
        alert_checks(a, call, &mut checks);
    }
    heard_checks(e, t, &mut checks);
    checks
}

/// Each expected ring beside the ring made in its place.
fn rung_checks(
    expected: &[Rung],
    rung: &[switchboard_webhook::state::Ring],
    started: jiff::Timestamp,
    checks: &mut Vec<Check>,
) {
    let rows = expected.len().max(rung.len());
    for i in 0..rows {
        let exp = expected.get(i);
        let act = rung.get(i);
        let ok = match (exp, act) {
            (Some(x), Some(r)) => {
                let (who, because, result) = x.parts();
                names(
                    who,
                    r.person.as_deref(),
                    &r.display_name,
                    r.contact.address(),
                ) && because.is_none_or(|b| r.reason.contains(b))
                    && result.is_none_or(|res| r.result.is_some_and(|x| x.as_str() == res))
            }
            _ => false,
        };
        checks.push(Check {
            what: "rung",
            expected: exp.map_or_else(
                || "(nobody more)".into(),
                |x| {
                    let (who, because, result) = x.parts();
                    let mut s = who.to_string();
                    if let Some(r) = result {
                        s.push_str(&format!(" -> {r}"));
                    }
                    if let Some(b) = because {
                        s.push_str(&format!(" [..{b}..]"));
                    }
                    s
                },
            ),
            actual: act.map_or_else(
                || "(nobody more)".into(),
                |r| {
                    format!(
                        "[{:>3}s] {} -> {} [{}]",
                        r.at.duration_since(started).as_secs(),
                        r.person.as_deref().unwrap_or(&r.display_name),
                        r.result.map_or("?", |x| x.as_str()),
                        r.reason
                    )
                },
            ),
            ok,
        });
    }
}

/// Who answered and how soon, and the outcome.
fn answer_checks(
    e: &Expect,
    call: Option<&CallState>,
    started: jiff::Timestamp,
    checks: &mut Vec<Check>,
) {
    let accepted = call.and_then(|c| c.accepted.as_ref());
    if let Some(who) = &e.answered_by {
        let actual = accepted.map_or_else(
            || "nobody".to_string(),
            |(r, _)| r.person.clone().unwrap_or_else(|| r.display_name.clone()),
        );
        let ok = match accepted {
            None => who == "nobody",
            Some((r, _)) => names(
                who,
                r.person.as_deref(),
                &r.display_name,
                r.contact.address(),
            ),
        };
        checks.push(Check {
            what: "answered by",
            expected: who.clone(),
            actual,
            ok,
        });
    }
    if let Some(within) = e.answered_within {
        let secs = accepted.map(|(_, at)| at.duration_since(started).as_secs());
        checks.push(Check {
            what: "answered within",
            expected: format!("{within}s"),
            actual: secs.map_or("not answered".into(), |s| format!("{s}s")),
            ok: secs.is_some_and(|s| s <= i64::from(within)),
        });
    }
    if let Some(o) = &e.outcome {
        let actual = call
            .and_then(|c| c.outcome)
            .map_or("(none)", |o| o.as_str());
        checks.push(Check {
            what: "outcome",
            expected: o.clone(),
            actual: actual.into(),
            ok: actual == o,
        });
    }
}

/// What the caller heard, and must not have.
fn heard_checks(e: &Expect, t: &switchboard_sim::Transcript, checks: &mut Vec<Check>) {
    let heard = t.heard.join(" | ");
    for h in &e.hears {
        checks.push(Check {
            what: "caller hears",
            expected: format!("{h:?}"),
            actual: if heard.contains(h.as_str()) {
                format!("{h:?}")
            } else {
                format!("not said; heard: {heard}")
            },
            ok: heard.contains(h.as_str()),
        });
    }
    for h in &e.does_not_hear {
        let said = heard.contains(h.as_str());
        checks.push(Check {
            what: "caller never hears",
            expected: format!("{h:?}"),
            actual: if said {
                format!("said: {heard}")
            } else {
                "not said".into()
            },
            ok: !said,
        });
    }
}

fn alert_checks(a: &Alerts, call: Option<&CallState>, checks: &mut Vec<Check>) {
    let view = call.and_then(AlertView::of);
    if let Some(stages) = &a.stages {
        let actual: Vec<&str> = view
            .as_ref()
            .map(|v| v.timeline.iter().map(|(_, s)| s.as_str()).collect())
            .unwrap_or_default();
        checks.push(Check {
            what: "alert stages",
            expected: list(stages.iter().map(String::as_str)),
            actual: list(actual.iter().copied()),
            ok: actual == stages.iter().map(String::as_str).collect::<Vec<_>>(),
        });
    }
    if let Some(targets) = &a.targets {
        let mut actual: Vec<&str> = view
            .as_ref()
            .map(|v| {
                v.alert
                    .route
                    .targets
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect()
            })
            .unwrap_or_default();
        actual.sort();
        let mut expected: Vec<&str> = targets.iter().map(String::as_str).collect();
        expected.sort();
        checks.push(Check {
            what: "alert targets",
            expected: list(expected.iter().copied()),
            actual: list(actual.iter().copied()),
            ok: actual == expected,
        });
    }
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// The checks as two columns, a mark on each line that disagrees.
pub(super) fn side_by_side(checks: &[Check]) -> String {
    let width = checks
        .iter()
        .map(|c| c.what.len() + 2 + c.expected.chars().count())
        .max()
        .unwrap_or(0)
        .max("expected".len());
    let mut out = format!("      {:<width$}    actual\n", "expected");
    for c in checks {
        let left = format!("{}: {}", c.what, c.expected);
        let mark = if c.ok { "  " } else { "✗ " };
        out.push_str(&format!(
            "    {mark}{left:<width$}    {}: {}\n",
            c.what, c.actual
        ));
    }
    out
}
