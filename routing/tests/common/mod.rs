//! Builders for compiled schedules, shared by the on-call tests.
#![allow(dead_code)]

use jiff::{Timestamp, civil};
use switchboard_routing::{Contact, Days, Layer, Override, Person, Schedule, ShiftLength, Window};

pub fn person(name: &str) -> Person {
    Person {
        name: name.to_string(),
        display_name: name.to_string(),
        contact: Contact::Phone(format!("+1555000{:04}", name.len())),
        contact_label: None,
        more_contacts: vec![],
        language: None,
    }
}

pub fn schedule(tz: &str, layers: Vec<Layer>) -> Schedule {
    let mut names: Vec<String> = layers.iter().flat_map(|l| l.members.clone()).collect();
    names.sort();
    names.dedup();
    Schedule {
        name: "test".into(),
        time_zone: tz.into(),
        people: names.iter().map(|n| person(n)).collect(),
        layers,
        overrides: vec![],
    }
}

pub fn layer(name: &str, shift: ShiftLength, start: &str, members: &[&str]) -> Layer {
    Layer {
        name: name.into(),
        shift,
        start: start.parse::<civil::DateTime>().expect("start"),
        members: members.iter().map(|m| m.to_string()).collect(),
        restrictions: vec![],
        time_zone: None,
    }
}

pub fn window(days: &[civil::Weekday], start: &str, end: &str) -> Window {
    Window {
        days: Days::of(days.iter().copied()),
        start: start.parse().expect("start time"),
        end: end.parse().expect("end time"),
    }
}

pub fn with_override(mut s: Schedule, person_name: &str, start: &str, end: &str) -> Schedule {
    if s.person(person_name).is_none() {
        s.people.push(person(person_name));
    }
    s.overrides.push(Override {
        person: person_name.into(),
        start: ts(start),
        end: ts(end),
    });
    s
}

/// An instant from RFC 3339 with an offset.
pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap_or_else(|e| panic!("timestamp {s}: {e}"))
}

pub fn who(s: &Schedule, at: &str) -> Option<String> {
    s.on_call_at(ts(at)).expect("on call").person
}
