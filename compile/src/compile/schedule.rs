//! Schedule (CRD) -> compiled schedule: parses every date, time and length, checks every name.

use std::collections::BTreeSet;

use jiff::{Timestamp, civil, tz::TimeZone};
use switchboard_crds::schedule::{Day, Layer, Override, Rotation};
use switchboard_routing as routing;

use super::people::{add_from_directory, people};
use crate::problem::{ObjectId, Problem};

pub use super::people::Directory;

/// Compiles one Schedule, or says everything that is wrong with it. `directory` holds the
/// namespace's Person objects; `also` names people that chains ring through this schedule,
/// so that the directory people among them are in the compiled schedule too.
pub fn compile_schedule(
    s: &switchboard_crds::Schedule,
    id: &ObjectId,
    directory: &Directory<'_>,
    also: &[&str],
) -> Result<routing::Schedule, Vec<Problem>> {
    let spec = &s.spec;
    let mut problems = Vec::new();
    let tz = time_zone(&spec.time_zone, id, "spec.timeZone", &mut problems);
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
    let names = Names {
        known: spec.people.iter().map(|p| p.name.as_str()).collect(),
        directory,
        id,
    };
    let mut people = people(&spec.people, id, &mut problems);
    let layers = spec
        .layers
        .iter()
        .enumerate()
        .filter_map(|(i, l)| layer(i, l, &names, &mut problems))
        .collect();
    let overrides = match &tz {
        Some(tz) => overrides(&spec.overrides, tz, &names, &mut problems),
        None => {
            // Without a zone no local time can be read; the names are still checked.
            for (i, o) in spec.overrides.iter().enumerate() {
                names.check(
                    format!("spec.overrides[{i}].person"),
                    &o.person,
                    &mut problems,
                );
            }
            Vec::new()
        }
    };

    if !problems.is_empty() {
        return Err(problems);
    }
    let named = spec
        .layers
        .iter()
        .flat_map(|l| l.members.iter().map(String::as_str))
        .chain(spec.overrides.iter().map(|o| o.person.as_str()))
        .chain(also.iter().copied());
    add_from_directory(&mut people, named, directory);
    Ok(routing::Schedule {
        name: id.name.clone(),
        time_zone: spec.time_zone.clone(),
        people,
        layers,
        overrides,
    })
}

/// Adds the ScheduleOverride objects `overrides` (those naming this schedule) to `schedule`,
/// compiled; each wrong one is a problem on itself and left out, the schedule stays valid.
pub fn add_override_objects<'a>(
    schedule: &mut routing::Schedule,
    overrides: impl IntoIterator<Item = (&'a ObjectId, &'a switchboard_crds::ScheduleOverride)>,
    directory: &Directory<'_>,
    problems: &mut Vec<Problem>,
) {
    let Ok(tz) = schedule.tz() else {
        return;
    };
    let inline: Vec<String> = schedule.people.iter().map(|p| p.name.clone()).collect();
    let mut added = Vec::new();
    for (id, o) in overrides {
        let mut found = Vec::new();
        let names = Names {
            known: inline.iter().map(String::as_str).collect(),
            directory,
            id,
        };
        let window = one_override(
            (&o.spec.person, &o.spec.start, &o.spec.end),
            "spec.",
            &tz,
            &names,
            &mut found,
        );
        if let Some(window) = window.filter(|_| found.is_empty()) {
            added.push(window);
        }
        problems.extend(found);
    }
    // Objects come in no particular order (a watch cache's): sorted, the table and its
    // revision do not depend on it.
    added.sort_by(|a, b| (a.start, a.end, &a.person).cmp(&(b.start, b.end, &b.person)));
    let named: Vec<String> = added.iter().map(|o| o.person.clone()).collect();
    add_from_directory(
        &mut schedule.people,
        named.iter().map(String::as_str),
        directory,
    );
    schedule.overrides.extend(added);
}

/// The names of `spec.people` and of the namespace's Person objects, to check every
/// reference to a person against.
struct Names<'a> {
    known: BTreeSet<&'a str>,
    directory: &'a Directory<'a>,
    id: &'a ObjectId,
}

impl Names<'_> {
    fn check(&self, field: String, name: &str, problems: &mut Vec<Problem>) {
        if !self.known.contains(name) && !self.directory.contains_key(name) {
            let all = self.known.iter().chain(self.directory.keys()).copied();
            let hint = crate::problem::did_you_mean(name, all);
            problems.push(Problem::field(
                self.id,
                field,
                format!(
                    "{name:?} is neither one of spec.people nor a Person in namespace {}: add a Person named {name:?} (or an entry to spec.people) or fix the name{hint}",
                    self.id.namespace
                ),
            ));
        }
    }
}

fn time_zone(
    name: &str,
    id: &ObjectId,
    field: &str,
    problems: &mut Vec<Problem>,
) -> Option<TimeZone> {
    match TimeZone::get(name) {
        Ok(tz) => Some(tz),
        Err(_) => {
            let zones: Vec<String> = jiff::tz::db()
                .available()
                .map(|z| z.as_str().to_string())
                .collect();
            let advice = match crate::problem::closest(name, zones.iter().map(String::as_str)) {
                Some(zone) => format!("did you mean {zone:?}?"),
                None => "use an IANA name such as America/New_York or Europe/Berlin".to_string(),
            };
            problems.push(Problem::field(
                id,
                field,
                format!("unknown time zone {name:?}: {advice}"),
            ));
            None
        }
    }
}

/// `spec.layers[i]`, or None when any part of it is wrong (each wrong part is a problem).
fn layer(
    i: usize,
    l: &Layer,
    names: &Names,
    problems: &mut Vec<Problem>,
) -> Option<routing::Layer> {
    let id = names.id;
    let at = |field: &str| format!("spec.layers[{i}].{field}");
    let shift = shift_length(l, id, &at("shiftLength"), problems);
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
    let handoff = parse_time(&l.handoff_time, id, &at("handoffTime"), problems);
    // The zone is checked here; the engine looks it up again when it evaluates the layer.
    let zone = match &l.time_zone {
        Some(name) => time_zone(name, id, &at("timeZone"), problems).is_some(),
        None => true,
    };
    for (j, m) in l.members.iter().enumerate() {
        names.check(at(&format!("members[{j}]")), m, problems);
    }
    let mut restrictions = Vec::new();
    for (j, r) in l.restrictions.iter().enumerate() {
        let field = |end: &str| at(&format!("restrictions[{j}].{end}"));
        let start = parse_time(&r.start, id, &field("start"), problems);
        let end = parse_time(&r.end, id, &field("end"), problems);
        if let (Some(start), Some(end)) = (start, end) {
            restrictions.push(routing::Window {
                days: routing::Days::of(r.days.iter().map(|d| weekday(*d))),
                start,
                end,
            });
        }
    }
    let (shift, date, handoff) = (shift?, date?, handoff?);
    if !zone {
        return None;
    }
    Some(routing::Layer {
        name: l.name.clone(),
        shift,
        start: date.to_datetime(handoff),
        members: l.members.clone(),
        restrictions,
        time_zone: l.time_zone.clone(),
    })
}

fn shift_length(
    l: &Layer,
    id: &ObjectId,
    field: &str,
    problems: &mut Vec<Problem>,
) -> Option<routing::ShiftLength> {
    let problem = match (l.rotation, &l.shift_length) {
        (Rotation::Daily, None) => return Some(routing::ShiftLength::Days(1)),
        (Rotation::Weekly, None) => return Some(routing::ShiftLength::Days(7)),
        (Rotation::Custom, Some(len)) => match parse_shift_length(len) {
            Some(parsed) => return Some(parsed),
            None => format!(
                "{len:?} is not a shift length: write a whole number followed by h, d or w, such as 12h, 3d or 2w"
            ),
        },
        (Rotation::Custom, None) => {
            "required when rotation is Custom: set a length such as 12h, 3d or 2w".to_string()
        }
        (_, Some(_)) => {
            "only used with rotation Custom: remove it, or set rotation: Custom".to_string()
        }
    };
    problems.push(Problem::field(id, field, problem));
    None
}

fn overrides(
    spec: &[Override],
    tz: &TimeZone,
    names: &Names,
    problems: &mut Vec<Problem>,
) -> Vec<routing::Override> {
    let mut overrides = Vec::new();
    for (i, o) in spec.iter().enumerate() {
        let prefix = format!("spec.overrides[{i}].");
        overrides.extend(one_override(
            (&o.person, &o.start, &o.end),
            &prefix,
            tz,
            names,
            problems,
        ));
    }
    overrides
}

/// One override, `(person, start, end)` at the fields `{prefix}person`, `{prefix}start` and
/// `{prefix}end` (of a Schedule's `spec.overrides[i]` or a ScheduleOverride's `spec`): its
/// window when both times read and the end is after the start; each problem reported.
fn one_override(
    (person, start, end): (&str, &str, &str),
    prefix: &str,
    tz: &TimeZone,
    names: &Names,
    problems: &mut Vec<Problem>,
) -> Option<routing::Override> {
    let id = names.id;
    let at = |field: &str| format!("{prefix}{field}");
    names.check(at("person"), person, problems);
    let from = parse_instant(start, tz, id, &at("start"), problems);
    let until = parse_instant(end, tz, id, &at("end"), problems);
    let (from, until) = (from?, until?);
    if until <= from {
        problems.push(Problem::field(
            id,
            at("end"),
            format!(
                "the override ends ({end}) before it starts ({start}): end must be after start"
            ),
        ));
        return None;
    }
    Some(routing::Override {
        person: person.to_string(),
        start: from,
        end: until,
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

pub(super) fn parse_time(
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

pub(super) fn weekday(d: Day) -> civil::Weekday {
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
