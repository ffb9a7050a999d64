//! A policy's opening hours and holidays, and what the hotline does while it is closed.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::LocalRef;
use crate::schedule::Restriction;

/// When the hotline takes calls as usual. Outside these hours (and all day on a holiday) the
/// caller gets `whenClosed` instead of the greeting, menu and chain.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpeningHours {
    /// IANA time zone of the windows and holidays, such as `Europe/Berlin`. Windows keep their
    /// local hours across daylight-saving changes.
    #[schemars(length(min = 1, max = 64))]
    pub time_zone: String,
    /// The weekly windows when the hotline is open, each on some days of the week (every day
    /// when `days` is left out) from `start` to `end` (`HH:MM`). An end at or before the start
    /// crosses midnight: `22:00` to `06:00` on Friday is open until Saturday 06:00, and `00:00`
    /// to `00:00` is the whole day.
    #[schemars(length(min = 1, max = 50))]
    pub weekly: Vec<Restriction>,
    /// Days the hotline is closed all day (00:00 to 24:00 in `timeZone`), whatever `weekly`
    /// says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 400))]
    pub holidays: Vec<Holiday>,
    /// HolidayCalendars of the namespace whose holidays this hotline keeps too (a date in
    /// `holidays` wins over a calendar's; an earlier calendar over a later one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub calendar_refs: Vec<LocalRef>,
    /// What a caller gets while the hotline is closed.
    #[serde(default)]
    pub when_closed: WhenClosed,
}

/// A day the hotline is closed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct Holiday {
    /// The local date, `YYYY-MM-DD`.
    #[schemars(regex(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), length(max = 10))]
    pub date: String,
    /// Its name, as transcripts and alerts show it (`Christmas Day`).
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
}

/// What a closed hotline does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("self.action != 'Chain' || has(self.chainRef)").message("whenClosed.chainRef is required when whenClosed.action is Chain: name the chain that rings while closed").field_path(".chainRef"))]
#[x_kube(validation = Rule::new("!has(self.chainRef) || self.action in ['Chain', 'EmergencyPrompt']").message("whenClosed.chainRef is only used by the actions Chain and EmergencyPrompt: remove it, or change whenClosed.action").field_path(".chainRef"))]
#[serde(rename_all = "camelCase")]
pub struct WhenClosed {
    /// `Voicemail` (the default) takes a message; `Message` says `message` and hangs up;
    /// `Chain` rings `chainRef` instead of the usual menu or chain; `EmergencyPrompt` asks
    /// "if this is an emergency, press 1": the key rings `chainRef` (or the usual menu or chain
    /// when it is left out), no key takes a voicemail.
    #[serde(default)]
    pub action: ClosedAction,
    /// Said first, instead of the greeting. Default (in English; the phrase catalogue's in other languages): "We are closed right now."
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub message: Option<String>,
    /// The chain of `Chain` and `EmergencyPrompt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_ref: Option<LocalRef>,
    /// What `EmergencyPrompt` asks. Default (in English; the phrase catalogue's in other languages): "If this is an emergency, press 1." (with
    /// `emergencyDigit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub emergency_prompt: Option<String>,
    /// The key of `EmergencyPrompt`, `0` to `9`.
    #[serde(default = "default_emergency_digit")]
    #[schemars(regex(pattern = r"^[0-9]$"), length(max = 1))]
    pub emergency_digit: String,
    /// Seconds `EmergencyPrompt` waits for the key (Twilio `<Gather timeout>`).
    #[serde(default = "default_emergency_timeout")]
    #[schemars(range(min = 1, max = 30))]
    pub emergency_timeout_seconds: u32,
    /// Raise a voicemail's alert again when the hotline opens, so a message left overnight or
    /// over a holiday is seen by the people at work (the alerts' targets get a second
    /// notification, "left while closed"). Within the call log's retention (7 days by default).
    #[serde(default)]
    pub raise_again_when_open: bool,
}

impl Default for WhenClosed {
    fn default() -> Self {
        WhenClosed {
            action: ClosedAction::default(),
            message: None,
            chain_ref: None,
            emergency_prompt: None,
            emergency_digit: default_emergency_digit(),
            emergency_timeout_seconds: default_emergency_timeout(),
            raise_again_when_open: false,
        }
    }
}

fn default_emergency_digit() -> String {
    "1".to_string()
}

fn default_emergency_timeout() -> u32 {
    6
}

/// The action of a closed hotline.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ClosedAction {
    /// Take a voicemail (with the policy's voicemail settings).
    #[default]
    Voicemail,
    /// Say `message` and hang up, ringing nobody and raising no alert.
    Message,
    /// Ring `chainRef` instead of the usual menu or chain.
    Chain,
    /// Ask whether it is an emergency: the key rings `chainRef` (or the usual menu or chain),
    /// no key takes a voicemail.
    EmergencyPrompt,
}
