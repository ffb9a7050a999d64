//! The build step: CRD objects in, one routing table per phone number (or precise problems) out.
//!
//! ```text
//!   Schedule ──compile_schedule──► routing::Schedule ─┐
//!   EscalationChain ──compile_chain (names schedules)──► table::Chain ─┤
//!   IncomingCallPolicy ──compile_policy (names chains)──► table::Policy ┤
//!   PhoneNumber ──(policy + its chains + their schedules)──────────────► RoutingTable (sealed)
//! ```
//!
//! Pure: no I/O, no clock. An object with problems produces no output, and everything that
//! refers to it gets a problem saying so, so one bad object never takes down the others.

pub mod chain;
pub mod choices;
pub mod hidden;
pub mod hours;
pub mod people;
pub mod policy;
pub mod schedule;
mod shared;
pub mod speech;
mod targets;

use std::collections::{BTreeMap, BTreeSet};

use kube::ResourceExt;
use switchboard_routing::{self as routing, RoutingTable, table};

use crate::manifests::{Objects, Sourced};
use crate::problem::{ObjectId, Problem};

/// Secrets' account SIDs, by (namespace, Secret name); filled in by the operator, which reads
/// the Secrets. The compile step never sees the auth token.
pub type AccountSids = BTreeMap<(String, String), String>;

/// What the build step produced.
#[derive(Debug, Default)]
pub struct Compiled {
    /// Valid schedules by (namespace, name).
    pub schedules: BTreeMap<(String, String), routing::Schedule>,
    /// One table per PhoneNumber whose policy, chains and schedules are all valid.
    pub tables: Vec<RoutingTable>,
    /// PhoneNumbers that are valid but have no number yet (a purchase not yet made).
    pub awaiting_number: Vec<ObjectId>,
    /// Everything wrong, each on the object at fault.
    pub problems: Vec<Problem>,
}

impl Compiled {
    /// What is worth a warning though nothing is invalid: layers that never ring anyone in the
    /// eight weeks from `now` ([`hidden::hidden_layers`]), and a Schedule's own person that
    /// hides a Person of the same name, with the origins of `objects`.
    pub fn warnings(&self, objects: &Objects, now: jiff::Timestamp) -> Vec<Problem> {
        let mut out = Vec::new();
        for s in &objects.schedules {
            let id = id_of(&s.object);
            for (i, p) in s.object.spec.people.iter().enumerate() {
                let shadowed = objects.people.iter().any(|d| {
                    d.object.metadata.name.as_deref() == Some(p.name.as_str())
                        && id_of(&d.object).namespace == id.namespace
                });
                if shadowed {
                    out.push(
                        Problem::field(
                            &id,
                            format!("spec.people[{i}]"),
                            format!(
                                "{:?} is defined here and as a Person of namespace {}: this entry wins; remove it to use the Person",
                                p.name, id.namespace
                            ),
                        )
                        .at(s.origin.as_ref()),
                    );
                }
            }
        }
        for ((namespace, name), s) in &self.schedules {
            let id = ObjectId::new("Schedule", namespace, name);
            let origin = objects
                .schedules
                .iter()
                .find(|o| id_of(&o.object) == id)
                .and_then(|o| o.origin.as_ref());
            out.extend(
                hidden::hidden_layers(s, &id, now)
                    .into_iter()
                    .map(|p| p.at(origin)),
            );
        }
        out
    }

    /// The problems of one object.
    pub fn problems_of<'a>(&'a self, id: &'a ObjectId) -> impl Iterator<Item = &'a Problem> + 'a {
        self.problems
            .iter()
            .filter(move |p| p.object.as_ref() == Some(id))
    }
}

/// Reports each name that repeats an earlier one: the problem is at `field(index)` and says
/// `message(name)`.
pub(crate) fn report_repeated_names<'a>(
    id: &ObjectId,
    names: impl IntoIterator<Item = &'a str>,
    field: impl Fn(usize) -> String,
    message: impl Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) {
    let mut seen = BTreeSet::new();
    for (i, name) in names.into_iter().enumerate() {
        if !seen.insert(name) {
            problems.push(Problem::field(id, field(i), message(name)));
        }
    }
}

type ByNamespace<T> = BTreeMap<String, BTreeMap<String, Option<T>>>;

/// Adds the `kind` objects that failed their schema checks as present but invalid (`None`).
fn add_rejected<T>(by_ns: &mut ByNamespace<T>, objects: &Objects, kind: &str) {
    for id in objects.rejected.iter().filter(|id| id.kind == kind) {
        by_ns
            .entry(id.namespace.clone())
            .or_default()
            .entry(id.name.clone())
            .or_insert(None);
    }
}

fn id_of<K: kube::Resource<DynamicType = ()>>(o: &K) -> ObjectId {
    ObjectId::new(
        &K::kind(&()),
        o.namespace().as_deref().unwrap_or("default"),
        &o.name_any(),
    )
}

/// Keeps the first object of each name and reports the others.
fn unique<'a, K: kube::Resource<DynamicType = ()>>(
    objects: &'a [Sourced<K>],
    problems: &mut Vec<Problem>,
) -> Vec<(ObjectId, &'a Sourced<K>)> {
    let mut seen: BTreeMap<ObjectId, &Sourced<K>> = BTreeMap::new();
    let mut out = Vec::new();
    for o in objects {
        let id = id_of(&o.object);
        if let Some(first) = seen.get(&id) {
            let where_ = first
                .origin
                .as_ref()
                .map(|f| format!(" (first in {})", f.file.display()))
                .unwrap_or_default();
            problems.push(
                Problem::field(
                    &id,
                    "metadata.name",
                    format!("defined twice{where_}: each object needs its own name"),
                )
                .at(o.origin.as_ref()),
            );
            continue;
        }
        seen.insert(id.clone(), o);
        out.push((id, o));
    }
    out
}

/// Compiles a whole set of objects.
pub fn compile(objects: &Objects, account_sids: &AccountSids) -> Compiled {
    let mut out = Compiled::default();
    let directories = directories(objects, &mut out.problems);
    shared::check_calendars(objects, &mut out.problems);
    let schedules = compile_schedules(objects, &directories, &mut out);
    let chains = compile_chains(objects, &schedules, &directories, &mut out.problems);
    let policies = compile_policies(objects, &chains, &mut out.problems);
    let mut numbers: BTreeMap<String, ObjectId> = BTreeMap::new();
    for (id, n) in unique(&objects.phone_numbers, &mut out.problems) {
        let origin = n.origin.as_ref();
        let policy = policy_of(&id, &n.object, &policies, &mut out.problems, origin);
        let number = n
            .object
            .spec
            .number
            .clone()
            .or_else(|| n.object.status.as_ref().and_then(|s| s.number.clone()));
        if let Some(num) = &number {
            if let Some(first) = numbers.get(num) {
                out.problems.push(Problem::field(&id, "spec.number", format!("{num} is already answered by PhoneNumber {}/{}: one number can have only one PhoneNumber", first.namespace, first.name)).at(origin));
                continue;
            }
            numbers.insert(num.clone(), id.clone());
        }
        let (Some(policy), Some(number)) = (policy, number) else {
            if policy.is_some() {
                out.awaiting_number.push(id);
            }
            continue;
        };
        let account_sid = account_sids
            .get(&(
                id.namespace.clone(),
                n.object.spec.credentials_secret_ref.name.clone(),
            ))
            .cloned();
        let directory = directories.get(&id.namespace);
        let table = table_for(
            &id,
            number,
            account_sid,
            policy,
            &chains,
            &schedules,
            directory,
        );
        out.tables.push(table);
    }
    crate::problem::order(&mut out.problems);
    out
}

/// The Person objects of each namespace, by name (a repeated one reported).
fn directories<'a>(
    objects: &'a Objects,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, schedule::Directory<'a>> {
    let mut directories: BTreeMap<String, schedule::Directory<'a>> = BTreeMap::new();
    for (id, p) in unique(&objects.people, problems) {
        if let Some(l) = &p.object.spec.language {
            speech::check_language(&id, "spec.language", l, problems);
        }
        directories.entry(id.namespace).or_default().insert(
            p.object.metadata.name.as_deref().unwrap_or_default(),
            &p.object,
        );
    }
    directories
}

/// Every Schedule, compiled (with the ScheduleOverride objects that name it) or None (its
/// problems reported); valid ones also in `out.schedules`.
fn compile_schedules<'a>(
    objects: &'a Objects,
    directories: &BTreeMap<String, schedule::Directory<'a>>,
    out: &mut Compiled,
) -> ByNamespace<routing::Schedule> {
    let mut schedules: ByNamespace<routing::Schedule> = BTreeMap::new();
    let overrides = unique(&objects.schedule_overrides, &mut out.problems);
    // The people chains ring through a schedule, by (namespace, schedule).
    let mut chain_people: BTreeMap<(String, &str), Vec<&str>> = BTreeMap::new();
    for c in &objects.chains {
        let ns = c.object.namespace().unwrap_or_else(|| "default".into());
        let refs = c.object.spec.steps.iter().flat_map(|s| &s.targets);
        for p in refs.filter_map(|t| t.person.as_ref()) {
            if let Some(schedule) = &p.schedule {
                chain_people
                    .entry((ns.clone(), schedule.as_str()))
                    .or_default()
                    .push(p.name.as_str());
            }
        }
    }
    let empty = schedule::Directory::new();
    for (id, s) in unique(&objects.schedules, &mut out.problems) {
        let directory = directories.get(&id.namespace).unwrap_or(&empty);
        let also = chain_people
            .get(&(id.namespace.clone(), id.name.as_str()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut compiled = schedule::compile_schedule(&s.object, &id, directory, also)
            .map_err(|ps| {
                out.problems
                    .extend(ps.into_iter().map(|p| p.at(s.origin.as_ref())))
            })
            .ok();
        if let Some(c) = &mut compiled {
            let mine: Vec<_> = overrides
                .iter()
                .filter(|(oid, o)| {
                    oid.namespace == id.namespace && o.object.spec.schedule_ref.name == id.name
                })
                .collect();
            let mut found = Vec::new();
            schedule::add_override_objects(
                c,
                mine.iter().map(|(oid, o)| (oid, &o.object)),
                directory,
                &mut found,
            );
            for p in found {
                let origin = mine
                    .iter()
                    .find(|(oid, _)| p.object.as_ref() == Some(oid))
                    .and_then(|(_, o)| o.origin.as_ref());
                out.problems.push(p.at(origin));
            }
            out.schedules
                .insert((id.namespace.clone(), id.name.clone()), c.clone());
        }
        schedules
            .entry(id.namespace.clone())
            .or_default()
            .insert(id.name.clone(), compiled);
    }
    add_rejected(&mut schedules, objects, "Schedule");
    for (oid, o) in &overrides {
        let name = &o.object.spec.schedule_ref.name;
        let in_ns = schedules.get(&oid.namespace);
        let problem = match in_ns.and_then(|m| m.get(name)) {
            Some(Some(_)) => continue,
            Some(None) => {
                Problem::invalid_reference(oid, "spec.scheduleRef.name", "Schedule", name)
            }
            None => Problem::missing_reference(
                oid,
                "spec.scheduleRef.name",
                "Schedule",
                name,
                in_ns.into_iter().flat_map(|m| m.keys()).map(String::as_str),
            ),
        };
        out.problems.push(problem.at(o.origin.as_ref()));
    }
    schedules
}

/// Every EscalationChain, compiled against the Schedules of its namespace, or None.
fn compile_chains(
    objects: &Objects,
    schedules: &ByNamespace<routing::Schedule>,
    directories: &BTreeMap<String, schedule::Directory<'_>>,
    problems: &mut Vec<Problem>,
) -> ByNamespace<table::Chain> {
    let mut chains: ByNamespace<table::Chain> = BTreeMap::new();
    let empty = schedule::Directory::new();
    for (id, c) in unique(&objects.chains, problems) {
        let directory = directories.get(&id.namespace).unwrap_or(&empty);
        let in_ns: BTreeMap<String, Option<&routing::Schedule>> = schedules
            .get(&id.namespace)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_ref())).collect())
            .unwrap_or_default();
        let compiled = chain::compile_chain(&c.object, &id, &in_ns, directory)
            .map_err(|ps| problems.extend(ps.into_iter().map(|p| p.at(c.origin.as_ref()))))
            .ok();
        chains
            .entry(id.namespace.clone())
            .or_default()
            .insert(id.name.clone(), compiled);
    }
    add_rejected(&mut chains, objects, "EscalationChain");
    chains
}

/// Every IncomingCallPolicy, compiled against the chains of its namespace, or None.
fn compile_policies(
    objects: &Objects,
    chains: &ByNamespace<table::Chain>,
    problems: &mut Vec<Problem>,
) -> ByNamespace<table::Policy> {
    let mut policies: ByNamespace<table::Policy> = BTreeMap::new();
    for (id, p) in unique(&objects.policies, problems) {
        let (valid, invalid): (BTreeSet<String>, BTreeSet<String>) = chains
            .get(&id.namespace)
            .map(|m| {
                let (valid, invalid): (Vec<_>, Vec<_>) = m.iter().partition(|(_, c)| c.is_some());
                (
                    valid.into_iter().map(|(k, _)| k.clone()).collect(),
                    invalid.into_iter().map(|(k, _)| k.clone()).collect(),
                )
            })
            .unwrap_or_default();
        let mut unresolved = Vec::new();
        let resolved = shared::resolve(&p.object, &id, objects, &mut unresolved);
        let compiled = match policy::compile_policy(&resolved, &id, &valid, &invalid) {
            Ok(c) if unresolved.is_empty() => Some(c),
            result => {
                let all = unresolved
                    .into_iter()
                    .chain(result.err().unwrap_or_default());
                problems.extend(all.map(|p2| p2.at(p.origin.as_ref())));
                None
            }
        };
        policies
            .entry(id.namespace.clone())
            .or_default()
            .insert(id.name.clone(), compiled);
    }
    add_rejected(&mut policies, objects, "IncomingCallPolicy");
    policies
}

/// The valid policy a PhoneNumber names, or None with a problem saying why not.
fn policy_of<'a>(
    id: &ObjectId,
    number: &switchboard_crds::PhoneNumber,
    policies: &'a ByNamespace<table::Policy>,
    problems: &mut Vec<Problem>,
    origin: Option<&crate::problem::Origin>,
) -> Option<&'a table::Policy> {
    let policy_name = &number.spec.policy_ref.name;
    match policies.get(&id.namespace).and_then(|m| m.get(policy_name)) {
        Some(Some(p)) => Some(p),
        Some(None) => {
            problems.push(
                Problem::invalid_reference(
                    id,
                    "spec.policyRef.name",
                    "IncomingCallPolicy",
                    policy_name,
                )
                .at(origin),
            );
            None
        }
        None => {
            let known = policies
                .get(&id.namespace)
                .into_iter()
                .flat_map(|m| m.keys());
            problems.push(
                Problem::missing_reference(
                    id,
                    "spec.policyRef.name",
                    "IncomingCallPolicy",
                    policy_name,
                    known.map(String::as_str),
                )
                .at(origin),
            );
            None
        }
    }
}

/// The sealed table of one PhoneNumber: its valid policy with every chain and schedule it uses.
fn table_for(
    id: &ObjectId,
    number: String,
    account_sid: Option<String>,
    policy: &table::Policy,
    chains: &ByNamespace<table::Chain>,
    schedules: &ByNamespace<routing::Schedule>,
    directory: Option<&schedule::Directory<'_>>,
) -> RoutingTable {
    let mut table_chains = BTreeMap::new();
    let mut table_schedules = BTreeMap::new();
    let mut direct: Vec<&str> = Vec::new();
    for chain_name in policy::chains_of(policy) {
        // A policy may name no chain at all (voicemail only): then its namespace may have none.
        let chain = chains
            .get(&id.namespace)
            .and_then(|c| c.get(chain_name))
            .and_then(Option::as_ref)
            .expect("a valid policy names valid chains");
        for schedule_name in chain::schedules_of(chain) {
            let schedule = schedules[&id.namespace][schedule_name]
                .as_ref()
                .expect("a valid chain names valid schedules");
            table_schedules.insert(schedule_name.to_string(), schedule.clone());
        }
        direct.extend(chain::directory_people_of(chain));
        table_chains.insert(chain_name.to_string(), chain.clone());
    }
    let mut people = Vec::new();
    if let Some(directory) = directory {
        people::add_from_directory(&mut people, direct, directory);
    }
    RoutingTable {
        schema_version: table::SCHEMA_VERSION,
        revision: String::new(),
        number,
        owner: table::ObjectName {
            namespace: id.namespace.clone(),
            name: id.name.clone(),
        },
        account_sid,
        policy: policy.clone(),
        chains: table_chains,
        schedules: table_schedules,
        people: people.into_iter().map(|p| (p.name.clone(), p)).collect(),
        route_memo: table::RouteMemo::default(),
    }
    .seal()
}
