//! HolidayCalendars and CallerLists merged into the policies that name them, before the
//! policy is compiled: a calendar's holidays beside `openingHours.holidays`, a list's numbers
//! beside a rule's `numbers`. A name that finds no object is a problem on the policy's field;
//! a calendar date that is not a date is a problem on the calendar.

use std::borrow::Cow;

use jiff::civil;
use kube::ResourceExt;
use switchboard_crds::IncomingCallPolicy;

use crate::Objects;
use crate::manifests::Sourced;
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
    if let Some(h) = &mut p.spec.opening_hours {
        for (i, r) in h.calendar_refs.iter().enumerate() {
            let field = format!("spec.openingHours.calendarRefs[{i}].name");
            let Some(c) = named(
                &objects.calendars,
                id,
                field,
                "HolidayCalendar",
                &r.name,
                problems,
            ) else {
                continue;
            };
            for d in &c.spec.holidays {
                let valid = d.date.parse::<civil::Date>().is_ok();
                if valid && !h.holidays.iter().any(|o| o.date == d.date) {
                    h.holidays.push(d.clone());
                }
            }
        }
    }
    if let Some(callers) = &mut p.spec.callers {
        for (i, rule) in callers.rules.iter_mut().enumerate() {
            for (j, r) in rule.list_refs.iter().enumerate() {
                let field = format!("spec.callers.rules[{i}].listRefs[{j}].name");
                let Some(l) = named(
                    &objects.caller_lists,
                    id,
                    field,
                    "CallerList",
                    &r.name,
                    problems,
                ) else {
                    continue;
                };
                for n in &l.spec.numbers {
                    if !rule.numbers.contains(n) {
                        rule.numbers.push(n.clone());
                    }
                }
            }
        }
    }
    Cow::Owned(p)
}

/// The object named `name` among `items` in the namespace of `id`, or `None` with the problem
/// on `field` (naming the ones there are).
fn named<'o, K: ResourceExt>(
    items: &'o [Sourced<K>],
    id: &ObjectId,
    field: String,
    kind: &str,
    name: &str,
    problems: &mut Vec<Problem>,
) -> Option<&'o K> {
    let in_ns = items
        .iter()
        .map(|s| &s.object)
        .filter(|o| o.namespace().as_deref().unwrap_or("default") == id.namespace);
    let found = in_ns.clone().find(|o| o.name_any() == name);
    if found.is_none() {
        let known: Vec<String> = in_ns.map(|o| o.name_any()).collect();
        problems.push(Problem::missing_reference(
            id,
            field,
            kind,
            name,
            known.iter().map(String::as_str),
        ));
    }
    found
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
