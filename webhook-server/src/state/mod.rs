//! One call's state, kept in Redis between webhooks so any replica can serve any callback.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
pub use switchboard_routing::Outcome;
use switchboard_routing::{Alert, AlertKind, Contact, Responder, SharedRoute};

mod status;

pub use status::CallStatus;

/// Where a call is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// Reading the menu; `attempt` counts readings after the first.
    Menu {
        /// Retries used.
        attempt: u32,
    },
    /// Listening to the caller describe the problem.
    Describe,
    /// Closed: asking whether it is an emergency.
    Closed,
    /// Asking the caller to choose a language.
    Language,
    /// Asking for the PIN; `attempt` counts wrong ones so far.
    Pin {
        /// Wrong PINs so far.
        attempt: u32,
    },
    /// Between rings: offering the caller's choices (voicemail now, a call-back).
    Choosing,
    /// Ringing responders.
    Ringing,
    /// A responder accepted; the parties talk.
    Connected,
    /// Recording a voicemail.
    Voicemail,
    /// Over.
    Ended,
}

/// Someone rung in this call.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Ring {
    /// Person name, when a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// Name shown.
    pub display_name: String,
    /// Number or SIP URI.
    pub contact: Contact,
    /// What the contact is (`mobile`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_label: Option<String>,
    /// Which of the person's contacts this is (0: the first, as for a ring stored by a release
    /// that knew one contact per person).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub contact_no: u32,
    /// Whisper language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Why rung.
    pub reason: String,
    /// Chain step (0-based) and pass through the chain.
    pub step: usize,
    /// Pass through the chain (0-based).
    pub pass: u32,
    /// When the ring started.
    pub at: Timestamp,
    /// How it ended; None while it rings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<RingResult>,
}

impl Ring {
    /// `Dana Scully (+12125550201)`, or the number alone when it has no other name (a chain's
    /// plain number target).
    pub fn label(&self) -> String {
        let address = self.contact.address();
        if self.display_name == address {
            address.to_string()
        } else {
            format!("{} ({address})", self.display_name)
        }
    }
}

/// How one ring ended, as kept in the call's state and log (the names are the JSON ones).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RingResult {
    /// Pressed the accept key.
    Accepted,
    /// Picked up (a person or a voicemail) without pressing the accept key.
    NotAccepted,
    /// Accepted, then the line dropped before the caller was connected.
    Dropped,
    /// Hung up by Twilio: another leg was connected or picked up first.
    Canceled,
    /// The caller hung up while this phone rang.
    CallerHungUp,
    /// Rang out.
    NoAnswer,
    /// Busy.
    Busy,
    /// The call to this phone failed.
    Failed,
    /// Twilio's `completed` for a leg the flow did not see accept.
    Completed,
    /// Twilio's `answered` for a leg the flow did not see accept.
    Answered,
    /// A `DialCallStatus` Twilio does not document, or a name a later version wrote.
    #[serde(other)]
    Unknown,
}

impl RingResult {
    /// The result a `<Dial>` that nobody accepted gives its ringing legs.
    pub fn of_dial(status: CallStatus) -> RingResult {
        match status {
            CallStatus::Completed => RingResult::Completed,
            CallStatus::Answered => RingResult::Answered,
            CallStatus::Busy => RingResult::Busy,
            CallStatus::NoAnswer => RingResult::NoAnswer,
            CallStatus::Failed => RingResult::Failed,
            CallStatus::Canceled => RingResult::Canceled,
            _ => RingResult::Unknown,
        }
    }

    /// The name in the call log (`accepted`, `no-answer`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RingResult::Accepted => "accepted",
            RingResult::NotAccepted => "not-accepted",
            RingResult::Dropped => "dropped",
            RingResult::Canceled => "canceled",
            RingResult::CallerHungUp => "caller-hung-up",
            RingResult::NoAnswer => "no-answer",
            RingResult::Busy => "busy",
            RingResult::Failed => "failed",
            RingResult::Completed => "completed",
            RingResult::Answered => "answered",
            RingResult::Unknown => "unknown",
        }
    }
}

impl Ring {
    /// A ring of `r` at `step` of `pass`, starting `at`.
    pub fn of(r: &Responder, step: usize, pass: u32, at: Timestamp) -> Ring {
        Ring {
            person: r.person.clone(),
            display_name: r.display_name.clone(),
            contact: r.contact.clone(),
            contact_label: r.contact_label.clone(),
            contact_no: 0,
            language: r.language.clone(),
            reason: r.reason.clone(),
            step,
            pass,
            at,
            result: None,
        }
    }

    /// The rings of `r`'s further contacts, in order, each tried when the one before was not
    /// accepted: the same person and reason, with which contact it is and why.
    pub fn further(r: &Responder, step: usize, pass: u32, at: Timestamp) -> Vec<Ring> {
        // Most people have one contact: nothing to build on the call path.
        if r.more_contacts.is_empty() {
            return Vec::new();
        }
        let first = Ring::of(r, step, pass, at);
        let mut before = first.contact_name();
        r.more_contacts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut ring = first.clone();
                ring.contact = c.contact.clone();
                ring.contact_label = c.label.clone();
                ring.contact_no = i as u32 + 1;
                ring.reason = format!(
                    "{}; contact {} of {}, {}, as {before} was not accepted",
                    first.reason,
                    i + 2,
                    r.rings(),
                    ring.contact_name()
                );
                before = ring.contact_name();
                ring
            })
            .collect()
    }

    /// `mobile (+12125550201)`, or the address alone when the contact has no label.
    fn contact_name(&self) -> String {
        match &self.contact_label {
            Some(l) => format!("{l} ({})", self.contact.address()),
            None => self.contact.address().to_string(),
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One call.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CallState {
    /// Twilio's CallSid.
    pub call_sid: String,
    /// The hotline number called.
    pub to: String,
    /// The caller.
    pub from: String,
    /// When the call came in.
    pub started_at: Timestamp,
    /// The policy that answered (namespace/name of its PhoneNumber's policy).
    pub policy: String,
    /// Routing table revision used when the call came in.
    pub revision: String,
    /// Where the call is.
    pub phase: Phase,
    /// The menu option chosen (`2 the database team`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub menu_choice: Option<String>,
    /// The chain being rung.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    /// What the caller said the problem is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Why the hotline was closed when the call came in (`holiday 'Christmas Day'`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<String>,
    /// When a voicemail left while closed raises its alert again (the hotline's next opening).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raise_again_at: Option<Timestamp>,
    /// The alert waits for the caller's menu choice: some option sends its alerts elsewhere.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub route_pending: bool,
    /// When the menu choice decided where the alert goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routed_at: Option<Timestamp>,
    /// The number the caller asked to be called back at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<String>,
    /// The language the caller chose, when it is not the policy's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The caller rule whose own alerts this call's alert follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_rule: Option<String>,
    /// The caller keyed the right PIN.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pin_passed: bool,
    /// Pass through the chain.
    pub pass: u32,
    /// Next step to plan (index into the chain's steps).
    pub next_step: usize,
    /// Numbers of the current step still to ring (one-at-a-time strategies, and the rest of an
    /// all-at-once step after a pickup that did not accept).
    pub pending: Vec<Ring>,
    /// The further contacts of the people of the current all-at-once step: when a round of
    /// the step ends with nobody accepting, the next contact of each rings together.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub later_rounds: Vec<Ring>,
    /// The rings of the current `<Dial>`.
    pub ringing: Vec<Ring>,
    /// How many responders pressed the decline key (for the metric).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub declines: u32,
    /// When the current all-at-once step's time runs out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_deadline: Option<Timestamp>,
    /// Increases with each `<Dial>`; callbacks carry it, so a late one is recognised.
    pub seq: u32,
    /// Which ring of the current dial picked up (index into `ringing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picked_up: Option<usize>,
    /// When that pickup happened (Twilio stopped ringing the others then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picked_up_at: Option<Timestamp>,
    /// Who accepted, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<(Ring, Timestamp)>,
    /// Everyone rung so far, in order.
    pub rung: Vec<Ring>,
    /// Seconds the parties talked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talk_seconds: Option<u32>,
    /// Voicemail recording URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    /// Recording of the connected conversation, when the policy records calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_recording_url: Option<String>,
    /// Voicemail transcription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcription: Option<String>,
    /// How it ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// Where the call's alert goes, when its policy has notification targets (set once the
    /// call got past the blocklist and the policy's mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_route: Option<SharedRoute>,
    /// What happened, in order, for the call log (`step on-call: nobody is on call ...`).
    /// Not part of the state's JSON: the store keeps them in a list of their own and appends
    /// a change's new events, so serializing a state never copies or writes its history.
    #[serde(skip)]
    pub events: Vec<(Timestamp, String)>,
}

impl CallState {
    /// A call that has just come in, from `from` to the hotline `to`.
    pub fn new(call_sid: &str, from: &str, to: &str, now: Timestamp) -> CallState {
        CallState {
            call_sid: call_sid.to_string(),
            to: to.to_string(),
            from: from.to_string(),
            started_at: now,
            policy: String::new(),
            revision: String::new(),
            phase: Phase::Ringing,
            menu_choice: None,
            chain: None,
            description: None,
            closed: None,
            raise_again_at: None,
            callback: None,
            language: None,
            pin_passed: false,
            alert_rule: None,
            route_pending: false,
            routed_at: None,
            pass: 0,
            next_step: 0,
            pending: vec![],
            later_rounds: vec![],
            ringing: vec![],
            declines: 0,
            step_deadline: None,
            seq: 0,
            picked_up: None,
            picked_up_at: None,
            accepted: None,
            rung: vec![],
            talk_seconds: None,
            recording_url: None,
            conversation_recording_url: None,
            transcription: None,
            outcome: None,
            ended_at: None,
            alert_route: None,
            events: vec![],
        }
    }

    /// The call's alert as it is now, when the call raises one.
    pub fn alert(&self) -> Option<Alert> {
        if self.route_pending && self.outcome.is_none() {
            // Raised once the caller has chosen where it goes (or, ending first, at the
            // policy's targets).
            return None;
        }
        let route = self.alert_route.clone()?;
        Some(Alert {
            id: self.call_sid.clone(),
            kind: AlertKind::Call,
            hotline: self.to.clone(),
            caller: self.from.clone(),
            policy: self.policy.clone(),
            started_at: self.started_at,
            menu_choice: self.menu_choice.clone(),
            chain: self.chain.clone(),
            description: self.description.clone(),
            text: None,
            closed: self.closed.clone(),
            raise_again_at: self.raise_again_at,
            routed_at: self.routed_at,
            callback: self.callback.clone(),
            accepted_by: self.accepted.as_ref().map(|(r, _)| r.display_name.clone()),
            accepted_at: self.accepted.as_ref().map(|(_, at)| *at),
            outcome: self.outcome,
            ended_at: self.ended_at,
            talk_seconds: self.talk_seconds,
            recording_url: self.recording_url.clone(),
            transcription: self.transcription.clone(),
            conversation_recording_url: self.conversation_recording_url.clone(),
            route,
            forwards: vec![],
        })
    }

    /// Records an event.
    pub fn event(&mut self, at: Timestamp, text: impl Into<String>) {
        self.events.push((at, text.into()));
    }

    /// Ends the call with `outcome` unless it already has one.
    pub fn end(&mut self, outcome: Outcome, at: Timestamp) {
        if self.outcome.is_none() {
            self.outcome = Some(outcome);
            self.ended_at = Some(at);
            self.event(at, format!("outcome: {}", outcome.as_str()));
        }
        self.phase = Phase::Ended;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_results_keep_the_names_calls_already_in_redis_carry() {
        let all = [
            RingResult::Accepted,
            RingResult::NotAccepted,
            RingResult::Dropped,
            RingResult::Canceled,
            RingResult::CallerHungUp,
            RingResult::NoAnswer,
            RingResult::Busy,
            RingResult::Failed,
            RingResult::Completed,
            RingResult::Answered,
            RingResult::Unknown,
        ];
        for r in all {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert_eq!(serde_json::from_str::<RingResult>(&json).unwrap(), r);
        }
        // A name this version does not know is read, not refused (the call goes on).
        assert_eq!(
            serde_json::from_str::<RingResult>("\"declined\"").unwrap(),
            RingResult::Unknown
        );
    }

    #[test]
    fn every_documented_status_parses_and_only_the_final_ones_end_a_call() {
        let finals = ["completed", "busy", "failed", "no-answer", "canceled"];
        for s in ["queued", "ringing", "in-progress", "answered"] {
            assert!(!CallStatus::parse(s).is_final(), "{s}");
            assert_ne!(CallStatus::parse(s), CallStatus::Unknown, "{s}");
        }
        for s in finals {
            assert!(CallStatus::parse(s).is_final(), "{s}");
        }
        assert_eq!(CallStatus::parse(""), CallStatus::Unknown);
        assert_eq!(
            RingResult::of_dial(CallStatus::parse("no-answer")),
            RingResult::NoAnswer
        );
    }
}
