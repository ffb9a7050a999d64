//! Who a step of an escalation chain rings, resolved at the moment the step starts.
//!
//! ```text
//!   Step.targets ──► onCall: schedule.on_call_at(now)   ─┐
//!                    team: every person of the schedule  ├─► dedupe ─► skip already rung ─► cap ─► order
//!                    person / number / sip               ─┘                 (skipAlreadyRung)  (maxRung)  (strategy)
//! ```
//!
//! Every responder carries the reason it is rung (which schedule, layer or override), and every
//! target that yields nobody says why, so the call log and `switchboard simulate` can explain
//! each ring.

use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::error::ScheduleError;
use crate::schedule::{Contact, LabelledContact, Person};
use crate::table::{Chain, RingStrategy, RoutingTable, Target};

/// Someone to ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Responder {
    /// The person's name in their schedule, for people; `None` for plain numbers and SIP URIs.
    pub person: Option<String>,
    /// Name shown and spoken.
    pub display_name: String,
    /// Number or SIP URI, rung first.
    pub contact: Contact,
    /// What `contact` is (`mobile`), when known.
    pub contact_label: Option<String>,
    /// The person's further contacts, in the order to try them within their turn when the
    /// one before is not accepted (each counts as a ring towards `maxRung`).
    pub more_contacts: Vec<LabelledContact>,
    /// Whisper language, when the person has one.
    pub language: Option<String>,
    /// Why they are rung (`on call in schedule database via layer/business-hours`).
    pub reason: String,
}

impl Responder {
    /// A person of a schedule, rung for `reason`.
    fn person(p: &Person, reason: String) -> Responder {
        Responder {
            person: Some(p.name.clone()),
            display_name: p.display_name.clone(),
            contact: p.contact.clone(),
            contact_label: p.contact_label.clone(),
            more_contacts: p.more_contacts.clone(),
            language: p.language.clone(),
            reason,
        }
    }

    /// A plain number or SIP URI named in a chain.
    fn address(contact: Contact, reason: &str) -> Responder {
        Responder {
            person: None,
            display_name: contact.address().to_string(),
            contact,
            contact_label: None,
            more_contacts: vec![],
            language: None,
            reason: reason.into(),
        }
    }

    /// How many rings this responder makes at most: one per contact.
    pub fn rings(&self) -> usize {
        1 + self.more_contacts.len()
    }
}

/// What one step rings.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StepPlan {
    /// Who to ring, in ringing order (for one-at-a-time strategies).
    pub responders: Vec<Responder>,
    /// Targets that gave nobody to ring, with the reason.
    pub notes: Vec<String>,
}

/// How far a call has got, as far as step resolution cares.
#[derive(Clone, Copy, Debug)]
pub struct CallProgress<'a> {
    /// The call's SID; seeds the `Random` order so a retried webhook gets the same order.
    pub call_sid: &'a str,
    /// Pass through the chain (0 for the first, then 1.. for repeats).
    pub pass: u32,
    /// Numbers and URIs already rung in this pass through the chain (`skipAlreadyRung`).
    pub already_rung: &'a [String],
    /// How many rings this call has made so far, in every pass (`maxRung`).
    pub rung_in_call: usize,
}

impl RoutingTable {
    /// The chain of this name.
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.get(name)
    }

    /// Resolves step `step` of chain `chain` at instant `at`.
    pub fn plan_step(
        &self,
        chain: &Chain,
        step: usize,
        at: Timestamp,
        call: CallProgress<'_>,
    ) -> Result<StepPlan, ScheduleError> {
        let mut plan = StepPlan::default();
        let Some(s) = chain.steps.get(step) else {
            return Ok(plan);
        };
        let mut candidates = Vec::new();
        for target in &s.targets {
            self.candidates(target, at, &mut candidates, &mut plan.notes)?;
        }
        let mut seen: Vec<&str> = Vec::new();
        let mut budget = (chain.max_rung as usize).saturating_sub(call.rung_in_call);
        for r in &candidates {
            let addr = r.contact.address();
            if seen.contains(&addr) {
                continue;
            }
            seen.push(addr);
            if s.skip_already_rung && call.already_rung.iter().any(|a| a == addr) {
                plan.notes.push(format!(
                    "{} ({addr}) was already rung in this pass",
                    r.display_name
                ));
                continue;
            }
            if budget == 0 {
                plan.notes.push(format!(
                    "{} ({addr}) not rung: the chain's maxRung of {} is reached",
                    r.display_name, chain.max_rung
                ));
                continue;
            }
            let mut r = r.clone();
            if r.rings() > budget {
                plan.notes.push(format!(
                    "{} rung on {} of {} contacts: the chain's maxRung of {} is reached",
                    r.display_name,
                    budget,
                    r.rings(),
                    chain.max_rung
                ));
                r.more_contacts.truncate(budget - 1);
            }
            budget -= r.rings();
            plan.responders.push(r);
        }
        if s.strategy == RingStrategy::Random {
            shuffle(
                &mut plan.responders,
                &format!("{}/{}/{}/{}", call.call_sid, chain.name, call.pass, step),
            );
        }
        Ok(plan)
    }

    /// Who one target names at instant `at`, added to `out`; a note for what it cannot name.
    fn candidates(
        &self,
        target: &Target,
        at: Timestamp,
        out: &mut Vec<Responder>,
        notes: &mut Vec<String>,
    ) -> Result<(), ScheduleError> {
        match target {
            Target::OnCall { schedule } => {
                let Some(sched) = self.schedules.get(schedule) else {
                    notes.push(format!(
                        "schedule {schedule} is missing from the routing table"
                    ));
                    return Ok(());
                };
                let oc = sched.on_call_at(at)?;
                match oc.person.as_deref().and_then(|n| sched.person(n)) {
                    Some(p) => out.push(Responder::person(
                        p,
                        format!("on call in schedule {schedule} via {}", oc.source.label()),
                    )),
                    None => notes.push(format!("nobody is on call in schedule {schedule}")),
                }
            }
            Target::Team { schedule } => match self.schedules.get(schedule) {
                Some(sched) => out.extend(
                    sched
                        .people
                        .iter()
                        .map(|p| Responder::person(p, format!("member of team {schedule}"))),
                ),
                None => notes.push(format!(
                    "schedule {schedule} is missing from the routing table"
                )),
            },
            Target::Person { schedule, person } if schedule.is_empty() => {
                match self.people.get(person) {
                    Some(p) => out.push(Responder::person(
                        p,
                        format!("named in the chain ({person})"),
                    )),
                    None => {
                        notes.push(format!("person {person} is missing from the routing table"))
                    }
                }
            }
            Target::Person { schedule, person } => {
                match self.schedules.get(schedule).and_then(|s| s.person(person)) {
                    Some(p) => out.push(Responder::person(
                        p,
                        format!("named in the chain ({schedule}/{person})"),
                    )),
                    None => notes.push(format!(
                        "person {schedule}/{person} is missing from the routing table"
                    )),
                }
            }
            Target::Number(n) => out.push(Responder::address(
                Contact::Phone(n.clone()),
                "number named in the chain",
            )),
            Target::Sip(u) => out.push(Responder::address(
                Contact::Sip(u.clone()),
                "SIP address named in the chain",
            )),
        }
        Ok(())
    }
}

/// A Fisher-Yates shuffle driven by a hash of `seed`: random across calls, repeatable within one.
fn shuffle<T>(items: &mut [T], seed: &str) {
    let mut state = Sha256::digest(seed.as_bytes()).to_vec();
    for i in (1..items.len()).rev() {
        state = Sha256::digest(&state).to_vec();
        let r = u64::from_le_bytes(state[..8].try_into().expect("8 bytes"));
        items.swap(i, (r % (i as u64 + 1)) as usize);
    }
}
