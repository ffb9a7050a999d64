//! EscalationChain (CRD) -> compiled chain: checks every schedule and person it names.

use std::collections::BTreeMap;

use switchboard_crds::chain::{RingStrategy, Target};
use switchboard_routing::{self as routing, table};

use crate::problem::{ObjectId, Problem};

/// The most numbers one `<Dial>` rings at once. NB (Twilio, TwiML `<Number>`): "You can
/// specify up to ten `<Number>`s within a `<Dial>` verb to dial simultaneously."
/// <https://www.twilio.com/docs/voice/twiml/number>
pub const MAX_NUMBERS_PER_DIAL: usize = 10;

/// Compiles one chain. `schedules` holds the compiled schedules of the chain's namespace by
/// name; `None` for a schedule that exists but has problems of its own. `directory` holds the
/// namespace's Person objects, for `person` targets that name no schedule.
pub fn compile_chain(
    c: &switchboard_crds::EscalationChain,
    id: &ObjectId,
    schedules: &BTreeMap<String, Option<&routing::Schedule>>,
    directory: &super::schedule::Directory<'_>,
) -> Result<table::Chain, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut steps = Vec::new();
    for (i, step) in c.spec.steps.iter().enumerate() {
        let targets: Vec<table::Target> = step
            .targets
            .iter()
            .enumerate()
            .filter_map(|(j, t)| {
                let field = format!("spec.steps[{i}].targets[{j}]");
                target(t, &field, id, (schedules, directory), &mut problems)
            })
            .collect();
        if step.strategy == RingStrategy::Simultaneous {
            check_at_once(&targets, schedules, id, i, &mut problems);
        }
        steps.push(table::Step {
            name: step
                .name
                .clone()
                .unwrap_or_else(|| format!("step-{}", i + 1)),
            targets,
            strategy: match step.strategy {
                RingStrategy::Simultaneous => table::RingStrategy::Simultaneous,
                RingStrategy::Sequential => table::RingStrategy::Sequential,
                RingStrategy::Random => table::RingStrategy::Random,
            },
            ring_timeout_seconds: step.ring_timeout_seconds,
            skip_already_rung: step.skip_already_rung,
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(table::Chain {
        name: id.name.clone(),
        steps,
        repeat: c.spec.repeat,
        max_rung: c.spec.max_rung,
    })
}

/// One target at `field`, or None with the problems that make it unusable.
fn target(
    t: &Target,
    field: &str,
    id: &ObjectId,
    (schedules, directory): (
        &BTreeMap<String, Option<&routing::Schedule>>,
        &super::schedule::Directory<'_>,
    ),
    problems: &mut Vec<Problem>,
) -> Option<table::Target> {
    let mut schedule_ref = |name: &str, sub: &str| -> bool {
        match schedules.get(name) {
            Some(Some(_)) => true,
            Some(None) => {
                problems.push(Problem::invalid_reference(
                    id,
                    format!("{field}.{sub}"),
                    "Schedule",
                    name,
                ));
                false
            }
            None => {
                problems.push(Problem::missing_reference(
                    id,
                    format!("{field}.{sub}"),
                    "Schedule",
                    name,
                    schedules.keys().map(String::as_str),
                ));
                false
            }
        }
    };
    match (&t.on_call, &t.team, &t.person, &t.number, &t.sip) {
        (Some(s), None, None, None, None) => {
            schedule_ref(s, "onCall").then(|| table::Target::OnCall {
                schedule: s.clone(),
            })
        }
        (None, Some(s), None, None, None) => schedule_ref(s, "team").then(|| table::Target::Team {
            schedule: s.clone(),
        }),
        (None, None, Some(p), None, None) => {
            let Some(schedule_name) = &p.schedule else {
                return directory_person(&p.name, field, id, directory, problems);
            };
            if !schedule_ref(schedule_name, "person.schedule") {
                return None;
            }
            let schedule = schedules.get(schedule_name).copied().flatten()?;
            if schedule.person(&p.name).is_some() {
                Some(table::Target::Person {
                    schedule: schedule_name.clone(),
                    person: p.name.clone(),
                })
            } else {
                let hint = crate::problem::did_you_mean(
                    &p.name,
                    schedule.people.iter().map(|x| x.name.as_str()),
                );
                problems.push(Problem::field(id, format!("{field}.person.name"), format!("Schedule {schedule_name:?} has no person {:?}: add them to its spec.people or fix the name{hint}", p.name)));
                None
            }
        }
        (None, None, None, Some(n), None) => Some(table::Target::Number(n.clone())),
        (None, None, None, None, Some(s)) => Some(table::Target::Sip(s.clone())),
        _ => {
            problems.push(Problem::field(
                id,
                field,
                "a target sets exactly one of onCall, team, person, number or sip",
            ));
            None
        }
    }
}

/// The Person objects `chain` names directly (`person` targets without a schedule).
pub fn directory_people_of(chain: &table::Chain) -> impl Iterator<Item = &str> {
    chain
        .steps
        .iter()
        .flat_map(|s| &s.targets)
        .filter_map(|t| match t {
            table::Target::Person { schedule, person } if schedule.is_empty() => {
                Some(person.as_str())
            }
            _ => None,
        })
}

/// A `person` target naming no schedule: a Person of the namespace, rung from the table's
/// `people`.
fn directory_person(
    name: &str,
    field: &str,
    id: &ObjectId,
    directory: &super::schedule::Directory<'_>,
    problems: &mut Vec<Problem>,
) -> Option<table::Target> {
    if directory.contains_key(name) {
        return Some(table::Target::Person {
            schedule: String::new(),
            person: name.to_string(),
        });
    }
    let hint = crate::problem::did_you_mean(name, directory.keys().copied());
    problems.push(Problem::field(
        id,
        format!("{field}.person.name"),
        format!(
            "no Person named {name:?} in namespace {}: create it, or name the Schedule that defines the person in person.schedule{hint}",
            id.namespace
        ),
    ));
    None
}

/// A Simultaneous step rings every target (each person of a team) in one `<Dial>`.
fn check_at_once(
    targets: &[table::Target],
    schedules: &BTreeMap<String, Option<&routing::Schedule>>,
    id: &ObjectId,
    step: usize,
    problems: &mut Vec<Problem>,
) {
    let at_once: usize = targets
        .iter()
        .map(|t| match t {
            table::Target::Team { schedule } => schedules
                .get(schedule)
                .copied()
                .flatten()
                .map_or(1, |s| s.people.len()),
            _ => 1,
        })
        .sum();
    if at_once > MAX_NUMBERS_PER_DIAL {
        problems.push(Problem::field(
            id,
            format!("spec.steps[{step}].targets"),
            format!("this Simultaneous step can ring {at_once} numbers at once, but Twilio dials at most {MAX_NUMBERS_PER_DIAL} in one call (more fail the whole step): split it into steps of {MAX_NUMBERS_PER_DIAL} or fewer, or make it Sequential"),
        ));
    }
}

/// The schedules a compiled chain names.
pub fn schedules_of(chain: &table::Chain) -> impl Iterator<Item = &str> {
    chain
        .steps
        .iter()
        .flat_map(|s| &s.targets)
        .filter_map(|t| match t {
            table::Target::Person { schedule, .. } if schedule.is_empty() => None,
            table::Target::OnCall { schedule }
            | table::Target::Team { schedule }
            | table::Target::Person { schedule, .. } => Some(schedule.as_str()),
            table::Target::Number(_) | table::Target::Sip(_) => None,
        })
}
