//! HolidayCalendars and CallerLists merged into the policies that name them, before the
//! policy is compiled: a calendar's holidays beside `openingHours.holidays`, a list's numbers
//! beside a rule's `numbers`. A name that finds no object is a problem on the policy's field;
//! a calendar date that is not a date is a problem on the calendar.

use std::borrow::Cow;

use jiff::civil;
use kube::ResourceExt;
use switchboard_crds::IncomingCallPolicy;

use crate::Objects;
use crate::problem::{ObjectId, Problem};

/// `p` with what it names merged in (`p` itself when it names nothing).
pub(super) fn resolve<'a>(
    p: &'a IncomingCallPolicy,
    id: &ObjectId,
    objects: &Objects,
    problems: &mut Vec<Problem>,
) -> Cow<'a, IncomingCallPolicy> {
    let names_calendars = p
        .spec
        .opening_hours
        .as_ref()
        .is_some_and(|h| !h.calendar_refs.is_empty());
    let names_lists = p
        .spec
        .callers
        .as_ref()
        .is_some_and(|c| c.rules.iter().any(|r| !r.list_refs.is_empty()));
    if !names_calendars && !names_lists {
        return Cow::Borrowed(p);
    }
    let mut p = p.clone();
    let ns = &id.namespace;
    let in_ns = |o: &Option<String>| o.as_deref().unwrap_or("default") == ns;
    if let Some(h) = &mut p.spec.opening_hours {
        let calendars: Vec<_> = objects
            .calendars
            .iter()
            .filter(|c| in_ns(&c.object.metadata.namespace))
            .collect();
        for (i, r) in h.calendar_refs.iter().enumerate() {
            let Some(c) = calendars.iter().find(|c| c.object.name_any() == r.name) else {
                let known = calendars
                    .iter()
                    .map(|c| c.object.metadata.name.as_deref().unwrap_or(""));
                problems.push(Problem::missing_reference(
                    id,
                    format!("spec.openingHours.calendarRefs[{i}].name"),
                    "HolidayCalendar",
                    &r.name,
                    known,
                ));
                continue;
            };
            for d in &c.object.spec.holidays {
                let valid = d.date.parse::<civil::Date>().is_ok();
                if valid && !h.holidays.iter().any(|o| o.date == d.date) {
                    h.holidays.push(d.clone());
                }
            }
        }
    }
    if let Some(callers) = &mut p.spec.callers {
        let lists: Vec<_> = objects
            .caller_lists
            .iter()
            .filter(|l| in_ns(&l.object.metadata.namespace))
            .collect();
        for (i, rule) in callers.rules.iter_mut().enumerate() {
            for (j, r) in rule.list_refs.iter().enumerate() {
                let Some(l) = lists.iter().find(|l| l.object.name_any() == r.name) else {
                    let known = lists
                        .iter()
                        .map(|l| l.object.metadata.name.as_deref().unwrap_or(""));
                    problems.push(Problem::missing_reference(
                        id,
                        format!("spec.callers.rules[{i}].listRefs[{j}].name"),
                        "CallerList",
                        &r.name,
                        known,
                    ));
                    continue;
                };
                for n in &l.object.spec.numbers {
                    if !rule.numbers.contains(n) {
                        rule.numbers.push(n.clone());
                    }
                }
            }
        }
    }
    Cow::Owned(p)
}

/// Each HolidayCalendar's dates are dates, each listed once.
pub(super) fn check_calendars(objects: &Objects, problems: &mut Vec<Problem>) {
    for c in &objects.calendars {
        let id = ObjectId::new(
            "HolidayCalendar",
            c.object.metadata.namespace.as_deref().unwrap_or("default"),
            &c.object.name_any(),
        );
        let mut seen: Vec<&str> = Vec::new();
        for (i, d) in c.object.spec.holidays.iter().enumerate() {
            let field = format!("spec.holidays[{i}].date");
            if d.date.parse::<civil::Date>().is_err() {
                problems.push(
                    Problem::field(
                        &id,
                        field,
                        format!(
                            "{:?} is not a date: write YYYY-MM-DD, such as 2026-12-25",
                            d.date
                        ),
                    )
                    .at(c.origin.as_ref()),
                );
            } else if seen.contains(&d.date.as_str()) {
                problems.push(
                    Problem::field(
                        &id,
                        field,
                        format!("{} is listed twice: list each date once", d.date),
                    )
                    .at(c.origin.as_ref()),
                );
            }
            seen.push(&d.date);
        }
    }
}
