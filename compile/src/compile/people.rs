//! People: a Schedule's own `spec.people` and the namespace's Person objects (the directory),
//! compiled into the people of a routing schedule with their contacts in order.

use std::collections::BTreeMap;

use switchboard_crds::schedule::Person;
use switchboard_routing as routing;

use crate::problem::{ObjectId, Problem};

/// The Person objects of one namespace, by name: the people a Schedule may name besides its
/// own `spec.people`.
pub type Directory<'a> = BTreeMap<&'a str, &'a switchboard_crds::Person>;

/// Adds to `people` each of `named` that is not among them but is in `directory`, in the
/// order first named (the Schedule's own `spec.people` win over a Person of the same name).
pub(crate) fn add_from_directory<'n>(
    people: &mut Vec<routing::Person>,
    named: impl IntoIterator<Item = &'n str>,
    directory: &Directory<'_>,
) {
    for name in named {
        if people.iter().any(|p| p.name == name) {
            continue;
        }
        if let Some(p) = directory.get(name) {
            let contacts: Vec<(Option<&String>, Option<&String>, Option<&String>)> = p
                .spec
                .contacts
                .iter()
                .map(|c| (c.phone.as_ref(), c.sip.as_ref(), c.label.as_ref()))
                .collect();
            if let Some(person) = routing_person(
                name,
                p.spec.display_name.as_deref(),
                p.spec.language.as_deref(),
                &contacts,
            ) {
                people.push(person);
            }
        }
    }
}

/// A compiled person from its parts; None when a contact sets neither or both of phone and
/// sip (the schema refuses that, so only a hand-built object gets here).
fn routing_person(
    name: &str,
    display_name: Option<&str>,
    language: Option<&str>,
    contacts: &[(Option<&String>, Option<&String>, Option<&String>)],
) -> Option<routing::Person> {
    let mut all = Vec::new();
    for (phone, sip, label) in contacts {
        let contact = match (phone, sip) {
            (Some(phone), None) => routing::Contact::Phone(phone.to_string()),
            (None, Some(sip)) => routing::Contact::Sip(sip.to_string()),
            _ => return None,
        };
        all.push(routing::LabelledContact {
            contact,
            label: label.map(|l| l.to_string()),
        });
    }
    let mut all = all.into_iter();
    let first = all.next()?;
    Some(routing::Person {
        name: name.to_string(),
        display_name: display_name.unwrap_or(name).to_string(),
        contact: first.contact,
        contact_label: first.label,
        more_contacts: all.collect(),
        language: language.map(str::to_string),
    })
}

pub(super) fn people(
    spec: &[Person],
    id: &ObjectId,
    problems: &mut Vec<Problem>,
) -> Vec<routing::Person> {
    let mut people = Vec::new();
    for (i, p) in spec.iter().enumerate() {
        if let Some(l) = &p.language {
            let field = format!("spec.people[{i}].language");
            super::speech::check_language(id, &field, l, problems);
        }
        let contacts: Vec<_> = if p.contacts.is_empty() {
            vec![(p.phone.as_ref(), p.sip.as_ref(), None)]
        } else if p.phone.is_none() && p.sip.is_none() {
            p.contacts
                .iter()
                .map(|c| (c.phone.as_ref(), c.sip.as_ref(), c.label.as_ref()))
                .collect()
        } else {
            vec![(None, None, None)]
        };
        match routing_person(
            &p.name,
            p.display_name.as_deref(),
            p.language.as_deref(),
            &contacts,
        ) {
            Some(person) => people.push(person),
            None => problems.push(Problem::field(
                id,
                format!("spec.people[{i}]"),
                "a person sets exactly one of phone, sip or contacts, and each contact one of phone or sip",
            )),
        }
    }
    people
}
