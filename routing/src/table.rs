//! The compiled routing table: one self-contained, versioned document per phone number.
//!
//! ```text
//!   RoutingTable (one per hotline number, JSON in Redis)
//!   ├── policy ─── entry: Chain(name) | Menu(options -> chain names)
//!   ├── chains ─── name -> steps -> targets (onCall / team / person -> schedule names)
//!   └── schedules ─ name -> people, layers, overrides        (evaluated by oncall.rs)
//! ```
//!
//! Everything a call needs is inside: the webhook server reads one key per call and never
//! follows a reference outside the document. Secrets are not in it; the table names the Twilio
//! account, and the webhook server holds that account's auth token itself.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::TableError;
use crate::schedule::Schedule;

mod notification;
mod speech;

pub use notification::{NotificationTarget, SecretKey, TargetKind};
pub use speech::{LanguageChoice, Speech, Translation};

/// The version of this document's shape. A reader refuses a table with a higher version.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything a call to one hotline number needs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RoutingTable {
    /// Shape version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Content hash of the table (without this field); changes exactly when the content does.
    pub revision: String,
    /// The hotline number, E.164.
    pub number: String,
    /// The PhoneNumber object that owns this table.
    pub owner: ObjectName,
    /// The Twilio account that owns the number, when known; its auth token checks signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_sid: Option<String>,
    /// How calls are answered.
    pub policy: Policy,
    /// The chains the policy rings, by name.
    pub chains: BTreeMap<String, Chain>,
    /// The schedules the chains use, by name.
    pub schedules: BTreeMap<String, Schedule>,
    /// The Person objects the chains name directly (not through a schedule), by name.
    /// Optional, so that a webhook server of the previous release still reads the table (it
    /// finds no such person, notes it and rings the rest of the step).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub people: BTreeMap<String, crate::schedule::Person>,
    /// `alert_route()` and `in_language()`, built once; not part of the document
    /// (`RouteMemo::default()`).
    #[serde(skip)]
    pub route_memo: RouteMemo,
}

/// What a table derives on first use, with the revision it was built from: its alert routes
/// (`RoutingTable::alert_route`) and the table in each language a caller may choose
/// (`RoutingTable::in_language`). Tables compare equal whatever their memos hold.
#[derive(Clone, Debug, Default)]
pub struct RouteMemo(
    std::sync::OnceLock<(String, Routes)>,
    std::sync::OnceLock<(String, speech::Translated)>,
);

/// The policy's alert route and each menu option's and caller rule's own, built together.
#[derive(Clone, Debug)]
struct Routes {
    policy: crate::alert::SharedRoute,
    options: Vec<(String, crate::alert::SharedRoute)>,
    rules: Vec<(String, crate::alert::SharedRoute)>,
}

impl PartialEq for RouteMemo {
    fn eq(&self, _: &RouteMemo) -> bool {
        true
    }
}

impl Eq for RouteMemo {}

/// A namespaced object name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectName {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl std::fmt::Display for ObjectName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The compiled IncomingCallPolicy, with every default filled in.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// The policy's name.
    pub name: String,
    /// The hotline's name in the whisper; `None`: "the <name> hotline".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hotline_name: Option<String>,
    /// Whether calls are routed.
    pub mode: Mode,
    /// Language and voice of everything said to the caller.
    pub speech: Speech,
    /// What the caller hears first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<Greeting>,
    /// The sentences spoken, defaults resolved.
    pub messages: Messages,
    /// A chain, or a menu of chains.
    pub entry: Entry,
    /// Callers rejected before anything else.
    pub blocklist: Blocklist,
    /// Which caller ID responders see.
    pub caller_id: CallerId,
    /// The "press 1 to accept" check; `None` connects the first pickup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance: Option<Acceptance>,
    /// Voicemail; `None` ends the call after `messages.no_answer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voicemail: Option<Voicemail>,
    /// Longest connected call, in seconds.
    pub max_call_duration_seconds: u32,
    /// The announcement said before a recorded conversation; `None` when not recording.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_announcement: Option<String>,
    /// Ask the caller to describe the problem first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub describe_problem: Option<DescribeProblem>,
    /// The reply to a routed text; `None` when texts are not routed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_reply: Option<String>,
    /// Where alerts go.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<NotificationTarget>,
    /// When alerts trigger and resolve.
    #[serde(default)]
    pub alerting: Alerting,
    /// Opening hours and holidays; `None`: always open. Optional: a webhook server of the
    /// previous release ignores them (and routes every call as if open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening_hours: Option<crate::hours::OpeningHours>,
    /// Nobody is rung live: every caller leaves a voicemail (the CRD's `mode: VoicemailOnly`;
    /// `mode` then says `Active`, so a webhook server of the previous release still reads the
    /// table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voicemail_only: Option<VoicemailOnly>,
    /// Keys the caller may press between rings; `None` offers nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_choices: Option<CallerChoices>,
    /// Rules on who is calling; `None`: every caller alike. Optional: a webhook server of the
    /// previous release treats every caller alike (and takes strangers an allowlist refuses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callers: Option<crate::callers::Callers>,
    /// The languages a caller may choose first; `None` speaks `speech.language` only.
    /// Optional: a webhook server of the previous release speaks the policy's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_choice: Option<LanguageChoice>,
    /// The PIN callers must key in; `None` asks none. Optional: a webhook server of the
    /// previous release asks no PIN (roll the webhook servers out first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<crate::pin::Pin>,
}

/// Keys the caller may press between rings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CallerChoices {
    /// What the caller hears.
    pub prompt: String,
    /// What a caller who cannot be called back (their number is withheld) hears; `None`
    /// offers them nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_without_callback: Option<String>,
    /// The key that leaves a voicemail now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voicemail_digit: Option<String>,
    /// The key that asks for a call-back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_digit: Option<String>,
    /// Seconds to wait for a key.
    pub timeout_seconds: u32,
}

/// A voicemail-only hotline.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VoicemailOnly {
    /// Said before the voicemail greeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// When a call's alert triggers and resolves.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Alerting {
    /// Trigger only when nobody has accepted after this many seconds (0: at once).
    #[serde(default)]
    pub trigger_delay_seconds: u32,
    /// Resolve the alert of a call that ended unanswered without a voicemail.
    #[serde(default)]
    pub resolve_unanswered: bool,
    /// The alerts' severity; `None` is critical (a table of the previous release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

/// How severe an alert is, in PagerDuty's words (Alertmanager's `severity` label too).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// Somebody must act now.
    #[default]
    Critical,
    /// Something is broken.
    Error,
    /// Something may break.
    Warning,
    /// For information.
    Info,
}

impl Severity {
    /// The lower-case name PagerDuty and Alertmanager use.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// Where the alerts of calls (and texts) that chose one menu option go.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OptionAlerts {
    /// The option's own targets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<NotificationTarget>,
    /// Only the option's targets (otherwise the policy's and the option's).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replace: bool,
    /// The severity of this option's alerts; `None`: the policy's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

/// Whether calls are routed, and if not, what callers hear.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// Calls are routed.
    Active,
    /// Switched off: say the message and hang up.
    Disabled {
        /// What callers hear.
        message: String,
    },
    /// Under maintenance: say the message and hang up.
    Maintenance {
        /// What callers hear.
        message: String,
    },
}

/// The greeting.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Greeting {
    /// Spoken text.
    Say(String),
    /// An audio URL.
    Play(String),
}

/// The sentences spoken to the caller and to responders.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Messages {
    /// Nobody accepted after every step.
    pub no_answer: String,
    /// Nobody to ring at all.
    pub no_one_on_call: String,
    /// Before the voicemail beep.
    pub voicemail_greeting: String,
    /// Before hanging up.
    pub goodbye: String,
}

/// Where a call goes after the greeting.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Entry {
    /// Ring this chain.
    Chain(String),
    /// Ask the caller to choose.
    Menu(Menu),
}

impl Entry {
    /// The menu option of key `digit`; `None` for an unknown key or a chain.
    pub fn option(&self, digit: &str) -> Option<&MenuOption> {
        match self {
            Entry::Menu(m) => m.options.iter().find(|o| o.digit == digit),
            Entry::Chain(_) => None,
        }
    }
}

/// A keypad menu.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Menu {
    /// Said before the options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The options, in reading order.
    pub options: Vec<MenuOption>,
    /// The option taken for an unknown key or after the last retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_digit: Option<String>,
    /// How many more times the menu is read.
    pub retries: u32,
    /// Seconds to wait for a key.
    pub timeout_seconds: u32,
}

/// One menu choice.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MenuOption {
    /// The key, `0`-`9`.
    pub digit: String,
    /// Spoken name.
    pub name: String,
    /// The chain it rings.
    pub chain: String,
    /// Where this option's alerts go, when not (only) to the policy's targets. Optional: a
    /// webhook server of the previous release alerts the policy's targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<OptionAlerts>,
}

/// A blocklist, split for matching.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Blocklist {
    /// Exact numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exact: Vec<String>,
    /// Prefixes (without the `*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
}

impl Blocklist {
    /// Builds a blocklist from entries as written in the policy (`+4420*` is a prefix).
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a str>) -> Blocklist {
        let mut list = Blocklist::default();
        for e in entries {
            match e.strip_suffix('*') {
                Some(prefix) => list.prefixes.push(prefix.to_string()),
                None => list.exact.push(e.to_string()),
            }
        }
        list
    }

    /// Whether `caller` is blocked.
    pub fn blocks(&self, caller: &str) -> bool {
        self.exact.iter().any(|n| n == caller)
            || self.prefixes.iter().any(|p| caller.starts_with(p.as_str()))
    }
}

/// Which caller ID responders see.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum CallerId {
    /// The hotline number.
    Hotline,
    /// The caller's number.
    Caller,
}

/// The "press 1 to accept" check.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Acceptance {
    /// Said after who is calling.
    pub prompt: String,
    /// The key that accepts.
    pub digit: String,
    /// Seconds to press it.
    pub timeout_seconds: u32,
    /// The key that passes the call on at once, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline_digit: Option<String>,
}

/// Voicemail settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Voicemail {
    /// Longest message, seconds.
    pub max_length_seconds: u32,
    /// Ask Twilio for a transcription.
    pub transcribe: bool,
}

/// Speech-to-text description of the problem.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DescribeProblem {
    /// What the caller is asked.
    pub prompt: String,
    /// Seconds of silence that end it.
    pub timeout_seconds: u32,
}

/// An escalation chain.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Chain {
    /// The chain's name.
    pub name: String,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Extra passes through the chain.
    pub repeat: u32,
    /// Most people one call may ring.
    pub max_rung: u32,
}

/// One step of a chain.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Name for logs (`step-2` when none was given).
    pub name: String,
    /// Who is rung.
    pub targets: Vec<Target>,
    /// All at once or one at a time.
    pub strategy: RingStrategy,
    /// Seconds each ring lasts.
    pub ring_timeout_seconds: u32,
    /// Skip numbers already rung in this call.
    pub skip_already_rung: bool,
}

/// How a step's targets are rung.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum RingStrategy {
    /// All at once.
    Simultaneous,
    /// One at a time, in order.
    Sequential,
    /// One at a time, random order.
    Random,
}

/// One thing a step rings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Target {
    /// Whoever is on call in the schedule.
    OnCall {
        /// Schedule name.
        schedule: String,
    },
    /// Everyone in the schedule.
    Team {
        /// Schedule name.
        schedule: String,
    },
    /// One person of a schedule, or of the table's `people` (the directory) when `schedule`
    /// is empty.
    Person {
        /// Schedule name; empty for a person of the directory.
        schedule: String,
        /// Person name.
        person: String,
    },
    /// A plain number.
    Number(String),
    /// A SIP URI.
    Sip(String),
}

impl RoutingTable {
    /// Where alerts of calls and texts to this hotline go, built and serialized once per table
    /// revision (the webhook server asks for it with every call).
    pub fn alert_route(&self) -> crate::alert::SharedRoute {
        self.with_routes(|r| r.policy.clone())
    }

    /// Where the alerts of a call or text that chose menu option `digit` go: the option's own
    /// route when it has one, else the policy's. Built once per table revision.
    pub fn option_route(&self, digit: &str) -> crate::alert::SharedRoute {
        self.with_routes(|r| {
            r.options
                .iter()
                .find(|(d, _)| d == digit)
                .map_or_else(|| r.policy.clone(), |(_, route)| route.clone())
        })
    }

    /// The alert route of the callers caller rule `name` names, when it has alerts of its own.
    pub fn rule_route(&self, name: &str) -> Option<crate::alert::SharedRoute> {
        self.with_routes(|r| {
            r.rules
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, route)| route.clone())
        })
    }

    /// Whether some menu option sends its alerts elsewhere than the policy's targets.
    pub fn has_option_routes(&self) -> bool {
        matches!(&self.policy.entry, Entry::Menu(m) if m.options.iter().any(|o| o.alerts.is_some()))
    }

    fn with_routes<T>(&self, f: impl Fn(&Routes) -> T) -> T {
        let build = || {
            let policy = crate::alert::AlertRoute::of(self);
            let own = |alerts: &OptionAlerts| {
                let mut route = policy.clone();
                if alerts.replace {
                    route.targets.clear();
                }
                route.targets.extend(alerts.targets.iter().cloned());
                if alerts.severity.is_some() {
                    route.alerting.severity = alerts.severity;
                }
                crate::alert::SharedRoute::new(route)
            };
            let options = match &self.policy.entry {
                Entry::Menu(m) => m
                    .options
                    .iter()
                    .filter_map(|o| Some((o.digit.clone(), own(o.alerts.as_ref()?))))
                    .collect(),
                Entry::Chain(_) => Vec::new(),
            };
            let rules = self
                .policy
                .callers
                .iter()
                .flat_map(|c| &c.rules)
                .filter_map(|r| Some((r.name.clone(), own(r.alerts.as_ref()?))))
                .collect();
            Routes {
                policy: crate::alert::SharedRoute::new(policy),
                options,
                rules,
            }
        };
        let (revision, routes) = self
            .route_memo
            .0
            .get_or_init(|| (self.revision.clone(), build()));
        if *revision == self.revision {
            f(routes)
        } else {
            // Changed and sealed again after the memo was filled: build it afresh.
            f(&build())
        }
    }

    /// Sets `revision` to the hash of the rest of the content.
    pub fn seal(mut self) -> RoutingTable {
        self.route_memo = RouteMemo::default();
        self.revision = String::new();
        let bytes = serde_json::to_vec(&self).expect("a routing table always serializes");
        let digest = Sha256::digest(&bytes);
        self.revision = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        self
    }

    /// The JSON document stored in Redis.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a routing table always serializes")
    }

    /// Reads a stored document, refusing one from a newer schema.
    pub fn from_json(json: &str) -> Result<RoutingTable, TableError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Header {
            schema_version: u32,
        }
        let header: Header = serde_json::from_str(json)?;
        if header.schema_version > SCHEMA_VERSION {
            return Err(TableError::UnsupportedSchema {
                found: header.schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(serde_json::from_str(json)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocklist_matches_exact_numbers_and_prefixes_only() {
        let list = Blocklist::from_entries(["+4420*", "+14155550123"]);
        assert!(list.blocks("+442071234567"));
        assert!(list.blocks("+14155550123"));
        assert!(!list.blocks("+14155550124"));
        assert!(!list.blocks("+4421"));
        assert!(!list.blocks("+1415555012"));
    }

    /// The example hotline's table, as the operator compiles it from `examples/`.
    fn example() -> RoutingTable {
        RoutingTable::from_json(include_str!(
            "../../webhook-server/tests/fixtures/support-hotline.json"
        ))
        .unwrap()
    }

    #[test]
    fn the_alert_route_is_built_once_and_writes_the_same_json_as_a_plain_route() {
        let t = example();
        let (a, b) = (t.alert_route(), t.alert_route());
        assert!(std::sync::Arc::ptr_eq(&a.0, &b.0), "built twice");
        assert!(!a.targets.is_empty());
        let plain = crate::alert::AlertRoute::of(&t);
        assert_eq!(*a, plain);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&plain).unwrap()
        );
        let back: crate::alert::SharedRoute =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn a_table_changed_and_sealed_again_gets_its_new_route() {
        let t = example();
        let before = t.alert_route();
        // A clone shares the filled memo; changing it and sealing it again must not.
        let mut changed = t.clone();
        changed.policy.notifications.truncate(1);
        let changed = changed.seal();
        assert_eq!(changed.alert_route().targets.len(), 1);
        assert!(before.targets.len() > 1);
        // Changed without sealing: the revision still names the old content, the memo too.
        let mut unsealed = t.clone();
        unsealed.revision = "edited".into();
        assert_eq!(
            *unsealed.alert_route(),
            crate::alert::AlertRoute::of(&unsealed)
        );
        assert_eq!(
            t,
            t.clone().seal(),
            "the memo is not part of a table's equality"
        );
    }
}
