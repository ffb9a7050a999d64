//! Which objects a PhoneNumber needs, and which PhoneNumbers need an object (pure).
//!
//! ```text
//!   PhoneNumber ─policyRef─► IncomingCallPolicy ─chainRef, menu.options[].chainRef─► EscalationChain
//!        └─credentialsSecretRef─► Secret                 steps[].targets[] onCall/team/person ─► Schedule
//! ```
//!
//! `closure` gathers what one PhoneNumber's routing table is compiled from, so a reconcile
//! compiles only that, never the whole namespace. The `*_users` functions walk the arrows
//! backwards, so that a change to a Schedule, chain, policy or Secret re-reconciles exactly the
//! PhoneNumbers that depend on it.

use std::collections::BTreeSet;
use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use switchboard_crds::{
    CallerList, EscalationChain, HolidayCalendar, IncomingCallPolicy, Person, PhoneNumber,
    Schedule, ScheduleOverride,
};

use crate::manifests::{Objects, Sourced};

/// The objects a policy's calls can reach, by name, within one namespace.
fn chain_names(p: &IncomingCallPolicy) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = p.spec.chain_ref.iter().map(|r| r.name.clone()).collect();
    if let Some(menu) = &p.spec.menu {
        names.extend(menu.options.iter().map(|o| o.chain_ref.name.clone()));
    }
    if let Some(c) = p
        .spec
        .opening_hours
        .as_ref()
        .and_then(|h| h.when_closed.chain_ref.as_ref())
    {
        names.insert(c.name.clone());
    }
    for rule in p.spec.callers.iter().flat_map(|c| &c.rules) {
        names.extend(rule.chain_ref.iter().map(|c| c.name.clone()));
    }
    names
}

fn schedule_names(c: &EscalationChain) -> BTreeSet<String> {
    c.spec
        .steps
        .iter()
        .flat_map(|s| &s.targets)
        .flat_map(|t| {
            [
                t.on_call.clone(),
                t.team.clone(),
                t.person.as_ref().and_then(|p| p.schedule.clone()),
            ]
        })
        .flatten()
        .collect()
}

fn same_ns<'a, K: ResourceExt>(
    ns: &'a str,
    items: &'a [Arc<K>],
) -> impl Iterator<Item = &'a Arc<K>> {
    items
        .iter()
        .filter(move |o| o.namespace().as_deref() == Some(ns))
}

fn sourced<K: Clone>(o: &Arc<K>) -> Sourced<K> {
    Sourced {
        object: (**o).clone(),
        origin: None,
    }
}

/// Adds to `objects` the ScheduleOverrides that name one of its Schedules.
pub fn add_overrides(objects: &mut Objects, overrides: &[Arc<ScheduleOverride>]) {
    let named: BTreeSet<(String, String)> = objects
        .schedules
        .iter()
        .map(|s| {
            (
                s.object.namespace().unwrap_or_default(),
                s.object.name_any(),
            )
        })
        .collect();
    objects.schedule_overrides = overrides
        .iter()
        .filter(|o| {
            named.contains(&(
                o.namespace().unwrap_or_default(),
                o.spec.schedule_ref.name.clone(),
            ))
        })
        .map(sourced)
        .collect();
}

/// Adds to `objects` the Person objects of the namespaces of its Schedules and chains (the
/// directory a Schedule's members, overrides and chains' person targets are looked up in).
pub fn add_people(objects: &mut Objects, people: &[Arc<Person>]) {
    let namespaces: BTreeSet<String> = objects
        .schedules
        .iter()
        .map(|s| s.object.namespace().unwrap_or_default())
        .chain(
            objects
                .chains
                .iter()
                .map(|c| c.object.namespace().unwrap_or_default()),
        )
        .collect();
    objects.people = people
        .iter()
        .filter(|p| namespaces.contains(&p.namespace().unwrap_or_default()))
        .map(sourced)
        .collect();
}

/// Adds to `objects` the HolidayCalendars and CallerLists of its policies' namespaces (what
/// `openingHours.calendarRefs` and `callers.rules[].listRefs` name).
pub fn add_lists(
    objects: &mut Objects,
    calendars: &[Arc<HolidayCalendar>],
    lists: &[Arc<CallerList>],
) {
    let namespaces: BTreeSet<String> = objects
        .policies
        .iter()
        .map(|p| p.object.namespace().unwrap_or_default())
        .collect();
    let wanted = |ns: Option<String>| namespaces.contains(&ns.unwrap_or_default());
    objects.calendars = calendars
        .iter()
        .filter(|c| wanted(c.namespace()))
        .map(sourced)
        .collect();
    objects.caller_lists = lists
        .iter()
        .filter(|l| wanted(l.namespace()))
        .map(sourced)
        .collect();
}

/// The policies of namespace `ns` that name HolidayCalendar (`calendar`) or CallerList
/// (`!calendar`) `name`.
pub fn policies_naming_list(
    ns: &str,
    name: &str,
    calendar: bool,
    policies: &[Arc<IncomingCallPolicy>],
) -> Vec<ObjectRef<IncomingCallPolicy>> {
    same_ns(ns, policies)
        .filter(|p| {
            if calendar {
                let h = p.spec.opening_hours.as_ref();
                h.is_some_and(|h| h.calendar_refs.iter().any(|r| r.name == name))
            } else {
                let c = p.spec.callers.as_ref();
                c.is_some_and(|c| {
                    c.rules
                        .iter()
                        .any(|r| r.list_refs.iter().any(|l| l.name == name))
                })
            }
        })
        .map(|p| ObjectRef::from_obj(&**p))
        .collect()
}

/// The PhoneNumbers whose policies name HolidayCalendar (`calendar`) or CallerList `ns/name`.
pub fn list_users(
    ns: &str,
    name: &str,
    calendar: bool,
    numbers: &[Arc<PhoneNumber>],
    policies: &[Arc<IncomingCallPolicy>],
) -> Vec<ObjectRef<PhoneNumber>> {
    policies_naming_list(ns, name, calendar, policies)
        .iter()
        .flat_map(|p| policy_users(ns, &p.name, numbers))
        .collect()
}

/// The Schedules of namespace `ns` that name person `name`: in a layer, an override, a
/// ScheduleOverride or a chain's person target. Inline entries of `spec.people` do not count:
/// they are people of their own, whom a Person of the same name does not change.
pub fn schedules_naming(
    ns: &str,
    name: &str,
    schedules: &[Arc<Schedule>],
    overrides: &[Arc<ScheduleOverride>],
    chains: &[Arc<EscalationChain>],
) -> Vec<ObjectRef<Schedule>> {
    let mut named: BTreeSet<String> = same_ns(ns, overrides)
        .filter(|o| o.spec.person == name)
        .map(|o| o.spec.schedule_ref.name.clone())
        .collect();
    for c in same_ns(ns, chains) {
        let targets = c.spec.steps.iter().flat_map(|s| &s.targets);
        named.extend(
            targets
                .filter_map(|t| t.person.as_ref())
                .filter(|p| p.name == name)
                .filter_map(|p| p.schedule.clone()),
        );
    }
    same_ns(ns, schedules)
        .filter(|s| !s.spec.people.iter().any(|p| p.name == name))
        .filter(|s| {
            named.contains(&s.name_any())
                || s.spec
                    .layers
                    .iter()
                    .any(|l| l.members.iter().any(|m| m == name))
                || s.spec.overrides.iter().any(|o| o.person == name)
        })
        .map(|s| ObjectRef::from_obj(&**s))
        .collect()
}

/// The Person objects of namespace `ns`, by name, as the compile step looks people up.
pub fn directory<'a>(
    ns: &'a str,
    people: &'a [Arc<Person>],
) -> switchboard_compile::compile::schedule::Directory<'a> {
    same_ns(ns, people)
        .map(|p| (p.metadata.name.as_deref().unwrap_or_default(), &**p))
        .collect()
}

/// The chains of namespace `ns` that name person `name` directly (a `person` target
/// without a schedule).
pub fn chains_naming(
    ns: &str,
    name: &str,
    chains: &[Arc<EscalationChain>],
) -> Vec<ObjectRef<EscalationChain>> {
    same_ns(ns, chains)
        .filter(|c| {
            c.spec
                .steps
                .iter()
                .flat_map(|s| &s.targets)
                .filter_map(|t| t.person.as_ref())
                .any(|p| p.schedule.is_none() && p.name == name)
        })
        .map(|c| ObjectRef::from_obj(&**c))
        .collect()
}

/// The Schedule an override names.
pub fn schedule_of_override(o: &ScheduleOverride) -> ObjectRef<Schedule> {
    ObjectRef::new(&o.spec.schedule_ref.name).within(&o.namespace().unwrap_or_default())
}

/// The overrides that name Schedule `namespace/name`.
pub fn overrides_of_schedule(
    namespace: &str,
    name: &str,
    overrides: &[Arc<ScheduleOverride>],
) -> Vec<ObjectRef<ScheduleOverride>> {
    same_ns(namespace, overrides)
        .filter(|o| o.spec.schedule_ref.name == name)
        .map(|o| ObjectRef::from_obj(&**o))
        .collect()
}

/// Everything `pn`'s routing table is compiled from (what exists of it): the number, and its
/// policy's closure when the policy exists.
pub fn closure(
    pn: &PhoneNumber,
    policies: &[Arc<IncomingCallPolicy>],
    chains: &[Arc<EscalationChain>],
    schedules: &[Arc<Schedule>],
) -> Objects {
    let ns = pn.namespace().unwrap_or_default();
    let mut objects = same_ns(&ns, policies)
        .find(|p| p.name_any() == pn.spec.policy_ref.name)
        .map(|p| policy_closure(p, chains, schedules))
        .unwrap_or_default();
    objects.phone_numbers = vec![Sourced {
        object: pn.clone(),
        origin: None,
    }];
    objects
}

fn refs(numbers: impl Iterator<Item = Arc<PhoneNumber>>) -> Vec<ObjectRef<PhoneNumber>> {
    numbers.map(|n| ObjectRef::from_obj(&*n)).collect()
}

/// The PhoneNumbers answered by policy `ns/name`.
pub fn policy_users(
    ns: &str,
    name: &str,
    numbers: &[Arc<PhoneNumber>],
) -> Vec<ObjectRef<PhoneNumber>> {
    refs(
        same_ns(ns, numbers)
            .filter(|n| n.spec.policy_ref.name == name)
            .cloned(),
    )
}

/// The PhoneNumbers whose policies ring chain `ns/name`.
pub fn chain_users(
    ns: &str,
    name: &str,
    numbers: &[Arc<PhoneNumber>],
    policies: &[Arc<IncomingCallPolicy>],
) -> Vec<ObjectRef<PhoneNumber>> {
    let users: BTreeSet<String> = same_ns(ns, policies)
        .filter(|p| chain_names(p).contains(name))
        .map(|p| p.name_any())
        .collect();
    refs(
        same_ns(ns, numbers)
            .filter(|n| users.contains(&n.spec.policy_ref.name))
            .cloned(),
    )
}

/// The PhoneNumbers whose chains use schedule `ns/name`.
pub fn schedule_users(
    ns: &str,
    name: &str,
    numbers: &[Arc<PhoneNumber>],
    policies: &[Arc<IncomingCallPolicy>],
    chains: &[Arc<EscalationChain>],
) -> Vec<ObjectRef<PhoneNumber>> {
    let chain_set: BTreeSet<String> = same_ns(ns, chains)
        .filter(|c| schedule_names(c).contains(name))
        .map(|c| c.name_any())
        .collect();
    let policy_set: BTreeSet<String> = same_ns(ns, policies)
        .filter(|p| !chain_names(p).is_disjoint(&chain_set))
        .map(|p| p.name_any())
        .collect();
    refs(
        same_ns(ns, numbers)
            .filter(|n| policy_set.contains(&n.spec.policy_ref.name))
            .cloned(),
    )
}

/// The PhoneNumbers whose Twilio credentials are Secret `ns/name`.
pub fn secret_users(
    ns: &str,
    name: &str,
    numbers: &[Arc<PhoneNumber>],
    policies: &[Arc<IncomingCallPolicy>],
) -> Vec<ObjectRef<PhoneNumber>> {
    // A PIN's Secret: the numbers of the policies that ask it.
    let asking: BTreeSet<String> = same_ns(ns, policies)
        .filter(|p| {
            p.spec
                .pin
                .as_ref()
                .is_some_and(|pin| pin.secret_ref.name == name)
        })
        .map(|p| p.name_any())
        .collect();
    refs(
        same_ns(ns, numbers)
            .filter(|n| {
                n.spec.credentials_secret_ref.name == name
                    || asking.contains(&n.spec.policy_ref.name)
            })
            .cloned(),
    )
}

/// Everything policy `p` is compiled from: itself, its chains and their schedules.
pub fn policy_closure(
    p: &IncomingCallPolicy,
    chains: &[Arc<EscalationChain>],
    schedules: &[Arc<Schedule>],
) -> Objects {
    let ns = p.namespace().unwrap_or_default();
    let wanted = chain_names(p);
    let chain: Vec<_> = same_ns(&ns, chains)
        .filter(|c| wanted.contains(&c.name_any()))
        .collect();
    let wanted_schedules: BTreeSet<String> = chain.iter().flat_map(|c| schedule_names(c)).collect();
    Objects {
        policies: vec![Sourced {
            object: p.clone(),
            origin: None,
        }],
        chains: chain.iter().map(|c| sourced(c)).collect(),
        schedules: same_ns(&ns, schedules)
            .filter(|s| wanted_schedules.contains(&s.name_any()))
            .map(sourced)
            .collect(),
        ..Objects::default()
    }
}

/// Everything chain `c` is compiled from: itself and its schedules.
pub fn chain_closure(c: &EscalationChain, schedules: &[Arc<Schedule>]) -> Objects {
    let ns = c.namespace().unwrap_or_default();
    let wanted = schedule_names(c);
    Objects {
        chains: vec![Sourced {
            object: c.clone(),
            origin: None,
        }],
        schedules: same_ns(&ns, schedules)
            .filter(|s| wanted.contains(&s.name_any()))
            .map(sourced)
            .collect(),
        ..Objects::default()
    }
}

/// The policies that ring chain `ns/name`.
pub fn policies_of_chain(
    ns: &str,
    name: &str,
    policies: &[Arc<IncomingCallPolicy>],
) -> Vec<ObjectRef<IncomingCallPolicy>> {
    same_ns(ns, policies)
        .filter(|p| chain_names(p).contains(name))
        .map(|p| ObjectRef::from_obj(&**p))
        .collect()
}

/// The chains that use schedule `ns/name`.
pub fn chains_of_schedule(
    ns: &str,
    name: &str,
    chains: &[Arc<EscalationChain>],
) -> Vec<ObjectRef<EscalationChain>> {
    same_ns(ns, chains)
        .filter(|c| schedule_names(c).contains(name))
        .map(|c| ObjectRef::from_obj(&**c))
        .collect()
}

/// The number a PhoneNumber claims: `spec.number`, or the one bought for it (`status.number`).
pub fn claimed_number(pn: &PhoneNumber) -> Option<&str> {
    pn.spec
        .number
        .as_deref()
        .or_else(|| pn.status.as_ref().and_then(|s| s.number.as_deref()))
}

/// The PhoneNumber that owns `pn`'s number across the cluster, when it is another one: of all
/// PhoneNumbers claiming the number, the oldest (by creation, then namespace and name, so
/// every reconcile picks the same one). A PhoneNumber being deleted keeps its claim until it is
/// gone, so that its cleanup and a duplicate taking over never act on the number at once.
pub fn other_owner<'a>(
    pn: &PhoneNumber,
    numbers: &'a [Arc<PhoneNumber>],
) -> Option<&'a PhoneNumber> {
    let number = claimed_number(pn)?;
    let rank = |p: &PhoneNumber| {
        (
            p.metadata.creation_timestamp.as_ref().map(|t| t.0),
            p.namespace().unwrap_or_default(),
            p.name_any(),
        )
    };
    let me = (pn.namespace().unwrap_or_default(), pn.name_any());
    numbers
        .iter()
        .map(|p| &**p)
        .filter(|p| claimed_number(p) == Some(number))
        .filter(|p| (p.namespace().unwrap_or_default(), p.name_any()) != me)
        .min_by_key(|p| rank(p))
        .filter(|owner| rank(owner) < rank(pn))
}

/// The other PhoneNumbers claiming `pn`'s number: re-reconciled when it changes or goes, so
/// that a duplicate takes over when the owner is deleted.
pub fn number_peers(pn: &PhoneNumber, numbers: &[Arc<PhoneNumber>]) -> Vec<ObjectRef<PhoneNumber>> {
    let Some(number) = claimed_number(pn) else {
        return Vec::new();
    };
    let me = (pn.namespace(), pn.name_any());
    numbers
        .iter()
        .filter(|p| claimed_number(p) == Some(number) && (p.namespace(), p.name_any()) != me)
        .map(|p| ObjectRef::from_obj(&**p))
        .collect()
}
