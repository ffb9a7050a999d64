//! A policy's `openingHours` -> the table's opening hours: zone, windows, dated holidays and
//! the closed action, each checked with a message naming the field and the fix.

use std::collections::BTreeSet;

use jiff::civil;
use switchboard_crds::policy::{ClosedAction, IncomingCallPolicySpec, OpeningHours};
use switchboard_routing::phrases::Phrase;
use switchboard_routing::{Days, Window, hours};

use super::schedule::{parse_time, weekday};
use crate::problem::{ObjectId, Problem};

/// The compiled opening hours; `None` with the problems added when something is wrong.
pub(super) fn compile_hours(
    spec: &IncomingCallPolicySpec,
    h: &OpeningHours,
    id: &ObjectId,
    chains: &BTreeSet<String>,
    invalid: &BTreeSet<String>,
    problems: &mut Vec<Problem>,
) -> Option<hours::OpeningHours> {
    let before = problems.len();
    let field = |f: &str| format!("spec.openingHours.{f}");
    if jiff::tz::TimeZone::get(&h.time_zone).is_err() {
        problems.push(Problem::field(
            id,
            field("timeZone"),
            format!(
                "unknown time zone {:?}: use an IANA name such as Europe/Berlin or America/New_York",
                h.time_zone
            ),
        ));
    }
    let mut weekly = Vec::new();
    for (i, w) in h.weekly.iter().enumerate() {
        let at = |end: &str| field(&format!("weekly[{i}].{end}"));
        let start = parse_time(&w.start, id, &at("start"), problems);
        let end = parse_time(&w.end, id, &at("end"), problems);
        if let (Some(start), Some(end)) = (start, end) {
            weekly.push(Window {
                days: Days::of(w.days.iter().map(|d| weekday(*d))),
                start,
                end,
            });
        }
    }
    let holidays = holidays(h, id, problems);
    let when_closed = when_closed(spec, h, id, chains, invalid, problems);
    if problems.len() > before {
        return None;
    }
    Some(hours::OpeningHours {
        time_zone: h.time_zone.clone(),
        weekly,
        holidays,
        when_closed: when_closed?,
    })
}

/// The holidays in date order; a date twice is reported on its second entry.
fn holidays(h: &OpeningHours, id: &ObjectId, problems: &mut Vec<Problem>) -> Vec<hours::Holiday> {
    let mut out: Vec<hours::Holiday> = Vec::new();
    for (i, d) in h.holidays.iter().enumerate() {
        let f = format!("spec.openingHours.holidays[{i}].date");
        let Ok(date) = d.date.parse::<civil::Date>() else {
            problems.push(Problem::field(
                id,
                f,
                format!(
                    "{:?} is not a date: write YYYY-MM-DD, such as 2026-12-25",
                    d.date
                ),
            ));
            continue;
        };
        if let Some(first) = out.iter().find(|o| o.date == date) {
            problems.push(Problem::field(
                id,
                f,
                format!(
                    "{date} is already the holiday {:?}: list each date once",
                    first.name
                ),
            ));
            continue;
        }
        out.push(hours::Holiday {
            date,
            name: d.name.clone(),
        });
    }
    out.sort_by_key(|h| h.date);
    out
}

fn when_closed(
    spec: &IncomingCallPolicySpec,
    h: &OpeningHours,
    id: &ObjectId,
    chains: &BTreeSet<String>,
    invalid: &BTreeSet<String>,
    problems: &mut Vec<Problem>,
) -> Option<hours::WhenClosed> {
    let w = &h.when_closed;
    let field = |f: &str| format!("spec.openingHours.whenClosed.{f}");
    let chain = w.chain_ref.as_ref().map(|c| c.name.clone());
    if let Some(c) = &chain {
        super::policy::check_chain_ref(id, chains, invalid, c, field("chainRef.name"), problems);
        if matches!(w.action, ClosedAction::Voicemail | ClosedAction::Message) {
            problems.push(Problem::field(
                id,
                field("chainRef"),
                "only used by the actions Chain and EmergencyPrompt: remove it, or change whenClosed.action",
            ));
        }
    }
    let voicemail_needed = w.action == ClosedAction::Voicemail;
    if voicemail_needed && !spec.voicemail.enabled {
        problems.push(Problem::field(
            id,
            field("action"),
            "Voicemail needs spec.voicemail (it is disabled): enable it, or choose Message, Chain or EmergencyPrompt",
        ));
    }
    if w.raise_again_when_open && !spec.voicemail.enabled {
        problems.push(Problem::field(
            id,
            field("raiseAgainWhenOpen"),
            "raises a voicemail's alert again, but spec.voicemail is disabled: enable it, or remove raiseAgainWhenOpen",
        ));
    }
    if w.raise_again_when_open && spec.notifications.is_empty() {
        problems.push(Problem::field(
            id,
            field("raiseAgainWhenOpen"),
            "raises the alert again at spec.notifications, but there are none: add a target, or remove raiseAgainWhenOpen",
        ));
    }
    let action = match w.action {
        ClosedAction::Voicemail => hours::ClosedAction::Voicemail,
        ClosedAction::Message => hours::ClosedAction::Hangup,
        ClosedAction::Chain => match chain {
            Some(c) => hours::ClosedAction::Chain(c),
            None => {
                problems.push(Problem::field(
                    id,
                    field("chainRef"),
                    "required when whenClosed.action is Chain: name the chain that rings while closed",
                ));
                return None;
            }
        },
        ClosedAction::EmergencyPrompt => hours::ClosedAction::Emergency {
            prompt: w.emergency_prompt.clone().unwrap_or_else(|| {
                super::speech::texts(spec).say(Phrase::Emergency, &[("digit", &w.emergency_digit)])
            }),
            digit: w.emergency_digit.clone(),
            timeout_seconds: w.emergency_timeout_seconds,
            chain,
        },
    };
    if spec.mode == switchboard_crds::policy::Mode::VoicemailOnly {
        problems.push(Problem::field(
            id,
            "spec.openingHours",
            "a VoicemailOnly policy takes a voicemail at every hour: remove openingHours, or set spec.mode to Active",
        ));
    }
    Some(hours::WhenClosed {
        message: w
            .message
            .clone()
            .unwrap_or_else(|| super::speech::texts(spec).get(Phrase::Closed).into()),
        action,
        raise_again_when_open: w.raise_again_when_open,
    })
}
