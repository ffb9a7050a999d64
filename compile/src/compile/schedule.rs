//! Schedule (CRD) -> compiled schedule: parses every date, time and length, checks every name.

use std::collections::BTreeSet;

use jiff::{Timestamp, civil, tz::TimeZone};
use switchboard_crds::schedule::{Day, Rotation};
use switchboard_routing as routing;

use crate::problem::{ObjectId, Problem};

/// Compiles one Schedule, or says everything that is wrong with it.
pub fn compile_schedule(
    s: &switchboard_crds::Schedule,
    id: &ObjectId,
) -> Result<routing::Schedule, Vec<Problem>> {
    let spec = &s.spec;
    let mut problems = Vec::new();
    let tz = match TimeZone::get(&spec.time_zone) {
        Ok(tz) => Some(tz),
        Err(_) => {
            problems.push(Problem::field(
                id,
                "spec.timeZone",
                format!(
                    "unknown time zone {:?}: use an IANA name such as America/New_York or Europe/Berlin",
                    spec.time_zone
                ),
            ));
            None
        }
    };

    super::report_repeated_names(
        id,
        spec.people.iter().map(|p| p.name.as_str()),
        |i| format!("spec.people[{i}].name"),
        |name| format!("person {name:?} is defined twice: give each person one entry"),
        &mut problems,
    );
    super::report_repeated_names(
        id,
        spec.layers.iter().map(|l| l.name.as_str()),
        |i| format!("spec.layers[{i}].name"),
        |name| format!("layer {name:?} is defined twice: layer names must be unique"),
        &mut problems,
    );
    let names: BTreeSet<&str> = spec.people.iter().map(|p| p.name.as_str()).collect();
    let not_a_person = |field: String, name: &str| {
        Problem::field(
            id,
            field,
            format!(
                "{name:?} is not one of spec.people: add the person to spec.people or fix the name"
            ),
        )
    };
    let mut people = Vec::new();
    for (i, p) in spec.people.iter().enumerate() {
        let contact = match (&p.phone, &p.sip) {
            (Some(phone), None) => routing::Contact::Phone(phone.clone()),
            (None, Some(sip)) => routing::Contact::Sip(sip.clone()),
            _ => {
                problems.push(Problem::field(
                    id,
                    format!("spec.people[{i}]"),
                    "a person sets exactly one of phone or sip",
                ));
                continue;
            }
        };
        people.push(routing::Person {
            name: p.name.clone(),
            display_name: p.display_name.clone().unwrap_or_else(|| p.name.clone()),
            contact,
            language: p.language.clone(),
        });
    }

    let mut layers = Vec::new();
    for (i, l) in spec.layers.iter().enumerate() {
        let at = |field: &str| format!("spec.layers[{i}].{field}");
        let shift = match (l.rotation, &l.shift_length) {
            (Rotation::Daily, None) => Some(routing::ShiftLength::Days(1)),
            (Rotation::Weekly, None) => Some(routing::ShiftLength::Days(7)),
            (Rotation::Custom, Some(len)) => {
                let parsed = parse_shift_length(len);
                if parsed.is_none() {
                    problems.push(Problem::field(id, at("shiftLength"), format!("{len:?} is not a shift length: write a whole number followed by h, d or w, such as 12h, 3d or 2w")));
                }
                parsed
            }
            (Rotation::Custom, None) => {
                problems.push(Problem::field(
                    id,
                    at("shiftLength"),
                    "required when rotation is Custom: set a length such as 12h, 3d or 2w",
                ));
                None
            }
            (_, Some(_)) => {
                problems.push(Problem::field(
                    id,
                    at("shiftLength"),
                    "only used with rotation Custom: remove it, or set rotation: Custom",
                ));
                None
            }
        };
        let date = match l.start_date.parse::<civil::Date>() {
            Ok(d) => Some(d),
            Err(_) => {
                problems.push(Problem::field(
                    id,
                    at("startDate"),
                    format!(
                        "{:?} is not a calendar date: write YYYY-MM-DD, such as 2026-01-05",
                        l.start_date
                    ),
                ));
                None
            }
        };
        let handoff = parse_time(&l.handoff_time, id, &at("handoffTime"), &mut problems);
        for (j, m) in l.members.iter().enumerate() {
            if !names.contains(m.as_str()) {
                problems.push(not_a_person(at(&format!("members[{j}]")), m));
            }
        }
        let mut restrictions = Vec::new();
        for (j, r) in l.restrictions.iter().enumerate() {
            let start = parse_time(
                &r.start,
                id,
                &at(&format!("restrictions[{j}].start")),
                &mut problems,
            );
            let end = parse_time(
                &r.end,
                id,
                &at(&format!("restrictions[{j}].end")),
                &mut problems,
            );
            if let (Some(start), Some(end)) = (start, end) {
                restrictions.push(routing::Window {
                    days: routing::Days::of(r.days.iter().map(|d| weekday(*d))),
                    start,
                    end,
                });
            }
        }
        if let (Some(shift), Some(date), Some(handoff)) = (shift, date, handoff) {
            layers.push(routing::Layer {
                name: l.name.clone(),
                shift,
                start: date.to_datetime(handoff),
                members: l.members.clone(),
                restrictions,
            });
        }
    }

    let mut overrides = Vec::new();
    for (i, o) in spec.overrides.iter().enumerate() {
        let at = |field: &str| format!("spec.overrides[{i}].{field}");
        if !names.contains(o.person.as_str()) {
            problems.push(not_a_person(at("person"), &o.person));
        }
        let Some(tz) = &tz else { continue };
        let start = parse_instant(&o.start, tz, id, &at("start"), &mut problems);
        let end = parse_instant(&o.end, tz, id, &at("end"), &mut problems);
        if let (Some(start), Some(end)) = (start, end) {
            if end <= start {
                problems.push(Problem::field(
                    id,
                    at("end"),
                    format!(
                        "the override ends ({}) before it starts ({}): end must be after start",
                        o.end, o.start
                    ),
                ));
            } else {
                overrides.push(routing::Override {
                    person: o.person.clone(),
                    start,
                    end,
                });
            }
        }
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(routing::Schedule {
        name: id.name.clone(),
        time_zone: spec.time_zone.clone(),
        people,
        layers,
        overrides,
    })
}

fn parse_shift_length(s: &str) -> Option<routing::ShiftLength> {
    let (number, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: u32 = number.parse().ok().filter(|n| *n > 0)?;
    match unit {
        "h" => Some(routing::ShiftLength::Hours(n)),
        "d" => Some(routing::ShiftLength::Days(n)),
        "w" => n.checked_mul(7).map(routing::ShiftLength::Days),
        _ => None,
    }
}

fn parse_time(
    s: &str,
    id: &ObjectId,
    field: &str,
    problems: &mut Vec<Problem>,
) -> Option<civil::Time> {
    match s.parse::<civil::Time>() {
        Ok(t) if s.len() == 5 => Some(t),
        _ => {
            problems.push(Problem::field(id, field, format!("{s:?} is not a time of day: write HH:MM in 24-hour form, such as 09:00 or 17:30")));
            None
        }
    }
}

/// An RFC 3339 instant, or a local date-time in the schedule's zone.
fn parse_instant(
    s: &str,
    tz: &TimeZone,
    id: &ObjectId,
    field: &str,
    problems: &mut Vec<Problem>,
) -> Option<Timestamp> {
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Some(ts);
    }
    match s
        .parse::<civil::DateTime>()
        .ok()
        .and_then(|dt| tz.to_ambiguous_timestamp(dt).compatible().ok())
    {
        Some(ts) => Some(ts),
        None => {
            problems.push(Problem::field(id, field, format!("{s:?} is not a time: write RFC 3339 (2026-12-24T18:00:00Z) or a local time in the schedule's zone (2026-12-24T18:00)")));
            None
        }
    }
}

fn weekday(d: Day) -> civil::Weekday {
    match d {
        Day::Monday => civil::Weekday::Monday,
        Day::Tuesday => civil::Weekday::Tuesday,
        Day::Wednesday => civil::Weekday::Wednesday,
        Day::Thursday => civil::Weekday::Thursday,
        Day::Friday => civil::Weekday::Friday,
        Day::Saturday => civil::Weekday::Saturday,
        Day::Sunday => civil::Weekday::Sunday,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_lengths_accept_hours_days_and_weeks_only() {
        assert_eq!(
            parse_shift_length("12h"),
            Some(routing::ShiftLength::Hours(12))
        );
        assert_eq!(
            parse_shift_length("3d"),
            Some(routing::ShiftLength::Days(3))
        );
        assert_eq!(
            parse_shift_length("2w"),
            Some(routing::ShiftLength::Days(14))
        );
        assert_eq!(parse_shift_length("0h"), None);
        assert_eq!(parse_shift_length("h"), None);
        assert_eq!(parse_shift_length("5m"), None);
    }
}
