//! The alert of a hotline call or text, and its lifecycle: what each notification target must
//! have been told by now.
//!
//! ```text
//!   webhook server ── each change of a call ──► Alert snapshot (this file) ──► Redis
//!   dispatcher ◄── due ── plan(alert, now): stages wanted, when to look again
//!       └── per target, in order: triggered ─► acknowledged ─► voicemail ─► transcription ─► resolved
//! ```
//!
//! The webhook server writes the latest snapshot of the alert with every change of the call;
//! the dispatcher compares it with the stages each target has been sent and sends the missing
//! ones, in lifecycle order. Being a function of the snapshot, the plan is the same however often
//! a webhook is retried, so a repeated webhook never repeats a notification.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::RoutingTable;
use crate::table::{Alerting, NotificationTarget, ObjectName};

mod outcome;

pub use outcome::Outcome;

mod route;

pub use route::{AlertRoute, SharedRoute};

/// Whether an alert is about a call or a text.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub enum AlertKind {
    /// A phone call to the hotline.
    Call,
    /// A text to the hotline.
    Text,
}

/// A text forwarded to a responder through Twilio's Messages API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Forward {
    /// The responder's number.
    pub to: String,
    /// The responder's name.
    pub name: String,
    /// Why they get it (`on call in schedule database via layer/weekly`).
    pub reason: String,
}

/// Everything a notification says about one call or text, as it is now.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// The CallSid or MessageSid.
    pub id: String,
    /// Call or text.
    pub kind: AlertKind,
    /// The hotline number.
    pub hotline: String,
    /// The caller or sender.
    pub caller: String,
    /// The policy (`namespace/name`).
    pub policy: String,
    /// When the call or text came in.
    pub started_at: Timestamp,
    /// The menu option chosen (or matched by a text's first word).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub menu_choice: Option<String>,
    /// The escalation chain rung.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    /// What the caller said the problem is (speech to text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The text's body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Who accepted the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<String>,
    /// When they accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<Timestamp>,
    /// How the call ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// Seconds the parties talked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talk_seconds: Option<u32>,
    /// The voicemail recording.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    /// The voicemail's transcription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcription: Option<String>,
    /// The recording of the connected conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_recording_url: Option<String>,
    /// Why the hotline was closed when the call came in (`holiday 'Christmas Day'`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<String>,
    /// When a voicemail left while closed is raised again (the hotline's next opening).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raise_again_at: Option<Timestamp>,
    /// When the caller's menu choice decided where the alert goes (its option has targets of
    /// its own): nothing is raised before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routed_at: Option<Timestamp>,
    /// The number the caller asked to be called back at (the call's outcome is then
    /// `no-answer`, which a dispatcher of the previous release still reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<String>,
    /// Where it goes.
    pub route: SharedRoute,
    /// For a text: the responders it is forwarded to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forwards: Vec<Forward>,
}

/// One step of an alert's lifecycle, in the order targets receive them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// The call or text is new (or went unanswered for the configured delay).
    Triggered,
    /// A responder accepted the call.
    Acknowledged,
    /// The caller asked to be called back; the alert carries the number.
    CallbackRequested,
    /// The caller left a voicemail; the alert carries the recording.
    Voicemail,
    /// The voicemail's transcription arrived.
    Transcription,
    /// The hotline opened after a voicemail was left while it was closed: the alert is raised
    /// again for the people now at work.
    RaisedAgain,
    /// The call is over (answered, or unanswered when the policy resolves those).
    Resolved,
}

impl Stage {
    /// The stage's name in payloads, metrics and delivery records.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Triggered => "triggered",
            Stage::Acknowledged => "acknowledged",
            Stage::CallbackRequested => "callback-requested",
            Stage::Voicemail => "voicemail",
            Stage::Transcription => "transcription",
            Stage::RaisedAgain => "raised-again",
            Stage::Resolved => "resolved",
        }
    }
}

/// What an alert needs at one instant.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Plan {
    /// The stages every target must have received by now, in order.
    pub stages: Vec<Stage>,
    /// When the plan changes by itself (a delayed trigger falling due).
    pub wake_at: Option<Timestamp>,
    /// Why nothing is sent, when the alert is suppressed.
    pub suppressed: Option<&'static str>,
}

impl Alert {
    /// The instant a delayed trigger falls due.
    pub fn trigger_due(&self) -> Timestamp {
        let delay = SignedDuration::from_secs(i64::from(self.route.alerting.trigger_delay_seconds));
        self.started_at
            .checked_add(delay)
            .unwrap_or(self.started_at)
    }

    /// The stages wanted at `now`.
    ///
    /// A call's alert triggers at once, or, with a trigger delay, only when nobody has accepted
    /// and the caller is still there (or left a voicemail) once the delay is over; a call
    /// accepted or hung up within the delay raises no alert at all. It is acknowledged when a
    /// responder accepts, gets the voicemail and its transcription when they exist, and is
    /// resolved when an answered call ends, or when an unanswered call without voicemail ends
    /// and the policy resolves those. A voicemail's alert stays open: somebody has to listen to it.
    /// A text's alert only triggers.
    pub fn plan(&self, now: Timestamp) -> Plan {
        if self.kind == AlertKind::Text {
            return Plan {
                stages: vec![Stage::Triggered],
                ..Plan::default()
            };
        }
        let voicemail = self.outcome == Some(Outcome::Voicemail);
        // Somebody has to call back: a call-back request is alerted whatever the delay.
        let callback = self.callback.is_some();
        if self.route.alerting.trigger_delay_seconds > 0 && !voicemail && !callback {
            let due = self.trigger_due();
            if self.accepted_at.is_some_and(|a| a < due) {
                return Plan {
                    suppressed: Some("accepted within the trigger delay"),
                    ..Plan::default()
                };
            }
            if self.ended_at.is_some_and(|e| e < due) {
                return Plan {
                    suppressed: Some("ended within the trigger delay"),
                    ..Plan::default()
                };
            }
            if now < due {
                return Plan {
                    wake_at: Some(due),
                    ..Plan::default()
                };
            }
        }
        let mut stages = vec![Stage::Triggered];
        if self.accepted_by.is_some() {
            stages.push(Stage::Acknowledged);
        }
        if callback {
            stages.push(Stage::CallbackRequested);
        }
        if voicemail && self.recording_url.is_some() {
            stages.push(Stage::Voicemail);
        }
        if voicemail && self.transcription.is_some() {
            stages.push(Stage::Transcription);
        }
        // A voicemail left while closed, raised again when the hotline opens.
        let mut wake_at = None;
        if let Some(at) = self
            .raise_again_at
            .filter(|_| voicemail && self.recording_url.is_some())
        {
            if now >= at {
                stages.push(Stage::RaisedAgain);
            } else {
                wake_at = Some(at);
            }
        }
        let answered = self.outcome == Some(Outcome::Answered);
        if self.ended_at.is_some()
            && (answered || (!voicemail && !callback && self.route.alerting.resolve_unanswered))
        {
            stages.push(Stage::Resolved);
        }
        Plan {
            stages,
            wake_at,
            ..Plan::default()
        }
    }

    /// When each stage of this alert fell due, as a dispatcher watching it from the start
    /// sends them, judged at its end (`ended_at`, else the last thing that happened): the
    /// trigger at once, or when its delay ran out (at the voicemail, if that came first); the
    /// acknowledgement when a responder accepted; a voicemail left while closed raised again
    /// when the hotline opens; the rest when the call ended. Empty when
    /// nothing is sent ([`Plan::suppressed`]). `switchboard simulate` prints it.
    pub fn timeline(&self) -> Vec<(Timestamp, Stage)> {
        let end = self
            .ended_at
            .or(self.accepted_at)
            .unwrap_or(self.started_at);
        let triggered =
            if self.kind == AlertKind::Text || self.route.alerting.trigger_delay_seconds == 0 {
                self.started_at
            } else if self.outcome == Some(Outcome::Voicemail) || self.callback.is_some() {
                self.trigger_due().min(end)
            } else {
                self.trigger_due()
            };
        // Nothing is raised before the menu choice that decided where the alert goes.
        let triggered = triggered.max(self.routed_at.unwrap_or(triggered));
        self.plan(end.max(self.raise_again_at.unwrap_or(end)))
            .stages
            .into_iter()
            .map(|stage| {
                let at = match stage {
                    Stage::Triggered => triggered,
                    Stage::Acknowledged => self.accepted_at.unwrap_or(end),
                    Stage::RaisedAgain => self.raise_again_at.unwrap_or(end),
                    Stage::CallbackRequested
                    | Stage::Voicemail
                    | Stage::Transcription
                    | Stage::Resolved => end,
                };
                (at, stage)
            })
            .collect()
    }

    /// The text forwarded to a responder (at most 1600 characters, the Messages API's limit).
    pub fn forward_body(&self) -> String {
        let body = format!(
            "[Switchboard {}] Text from {}{}: {}",
            self.hotline,
            self.caller,
            self.menu_choice
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default(),
            self.text.as_deref().unwrap_or("")
        );
        body.chars().take(1600).collect()
    }

    /// One line saying what happened, for titles and summaries.
    pub fn summary(&self) -> String {
        let what = match self.kind {
            AlertKind::Call => format!("Hotline call from {} to {}", self.caller, self.hotline),
            AlertKind::Text => format!("Hotline text from {} to {}", self.caller, self.hotline),
        };
        let choice = self
            .menu_choice
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        let state = match (&self.accepted_by, self.outcome) {
            (Some(who), _) => format!(": accepted by {who}"),
            (None, Some(Outcome::Voicemail)) => match &self.closed {
                Some(why) => format!(": voicemail left while closed ({why})"),
                None => ": voicemail left".to_string(),
            },
            (None, Some(Outcome::Abandoned)) => {
                ": the caller hung up before anyone answered".to_string()
            }
            (None, Some(Outcome::NoAnswer)) => match &self.callback {
                Some(number) => format!(": call-back requested to {number}"),
                None => ": nobody answered".to_string(),
            },
            _ => String::new(),
        };
        format!("{what}{choice}{state}")
    }
}

#[cfg(test)]
mod tests;
