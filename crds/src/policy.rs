//! `IncomingCallPolicy`: what a caller hears and which escalation chain rings for them.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::alerts::{Alerting, OptionAlerts, Severity};
pub use crate::choices::{CallerChoices, CallerRule, Callers, Pin};
use crate::common::{CommonStatus, LocalRef, SecretKeyRef};
pub use crate::hours::{ClosedAction, Holiday, OpeningHours, WhenClosed};
pub use crate::speech::{LanguageChoice, OtherLanguage};

/// How a hotline answers: greeting, optional menu, blocklist, the "press 1 to accept" check,
/// voicemail, recording and the escalation chain(s) that ring responders.
///
/// One policy can serve several PhoneNumbers; each PhoneNumber names exactly one policy.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "switchboard.dev",
    version = "v1alpha1",
    kind = "IncomingCallPolicy",
    doc = "How a hotline answers its calls and texts: greeting, menu, blocklist, acceptance check, voicemail and the escalation chains that ring responders.",
    namespaced,
    status = "IncomingCallPolicyStatus",
    shortname = "icp",
    category = "switchboard",
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Chain","type":"string","jsonPath":".spec.chainRef.name","description":"The chain rung when there is no menu"}"#,
    printcolumn = r#"{"name":"Numbers","type":"integer","jsonPath":".status.phoneNumbers","description":"PhoneNumbers answered by this policy"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("self.mode == 'VoicemailOnly' ? !(has(self.chainRef) && has(self.menu)) : has(self.chainRef) != has(self.menu)").message("set exactly one of spec.chainRef (ring one escalation chain) or spec.menu (let the caller choose); a VoicemailOnly policy may have neither"))]
#[x_kube(validation = Rule::new("self.mode in ['Active', 'VoicemailOnly'] || has(self.modeMessage)").message("spec.modeMessage is required when spec.mode is Disabled or Maintenance: it is what callers hear").field_path(".modeMessage"))]
#[serde(rename_all = "camelCase")]
pub struct IncomingCallPolicySpec {
    /// `Active` routes calls. `VoicemailOnly` rings nobody live: after the greeting (and the
    /// menu, when there is one) every caller hears `modeMessage`, if set, and leaves a voicemail,
    /// which raises the alert. `Disabled` and `Maintenance` answer every call with
    /// `modeMessage` and hang up, ringing nobody.
    #[serde(default)]
    pub mode: Mode,

    /// What callers hear when `mode` is `Disabled` or `Maintenance` (required then), or before
    /// the voicemail greeting when it is `VoicemailOnly`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub mode_message: Option<String>,

    /// Language of everything spoken to the caller (Twilio `<Say language>`), such as `en-US`:
    /// one of the phrase catalogue's (English, German, French, Spanish, Italian, Portuguese,
    /// Dutch, Japanese; any region, such as `de-AT`).
    #[serde(default = "default_language")]
    #[schemars(regex(pattern = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"), length(max = 35))]
    pub language: String,

    /// Voice of everything spoken (Twilio `<Say voice>`), such as `Polly.Joanna` or
    /// `Google.en-US-Neural2-F`. Leave it out for the phrase catalogue's voice of `language`
    /// (such as `Polly.Vicki` for `de-DE`; docs/phrases.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub voice: Option<String>,

    /// Built-in phrases said in this policy's words instead of the catalogue's, by key
    /// (`menuNotAnOption: "Sorry, no such option."`). A text may use the phrase's
    /// placeholders, such as `{option}` and `{digit}` of `menuOption`. The keys and
    /// placeholders are listed in docs/phrases.md; `switchboard validate` names
    /// any it does not know.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[schemars(schema_with = "crate::speech::phrases_schema")]
    pub phrases: std::collections::BTreeMap<String, String>,

    /// Let the caller choose the language first ("For English, press 1. Für Deutsch drücken
    /// Sie die 2."). Leave it out to speak `language` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_choice: Option<LanguageChoice>,

    /// The hotline's name as responders hear it in the whisper: "Incoming call to
    /// {hotlineName} from ...", such as `Acme's support line`. Default: `the <policy name>
    /// hotline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub hotline_name: Option<String>,

    /// What the caller hears first. Leave it out to go straight to the menu or the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<Greeting>,

    /// The other things callers hear. Each defaults to the phrase catalogue's text in `language`.
    #[serde(default)]
    pub messages: Messages,

    /// The escalation chain that rings when there is no menu.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_ref: Option<LocalRef>,

    /// A keypad menu: each digit leads to its own escalation chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub menu: Option<Menu>,

    /// When the hotline takes calls as usual, its holidays, and what a caller gets while it
    /// is closed (voicemail, a message, another chain, or "press 1 if this is an emergency").
    /// Leave it out for a hotline that is always open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening_hours: Option<OpeningHours>,

    /// Who is calling: rules that send known callers straight to a chain or a menu option, and
    /// an allowlist-only mode. (The blocklist below still comes first.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callers: Option<Callers>,

    /// A PIN callers must key in before they are put through. Leave it out to ask none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<Pin>,

    /// Callers who are rejected before anything else happens: exact E.164 numbers
    /// (`+14155550123`) or prefixes ending in `*` (`+4420*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000))]
    #[schemars(inner(regex(pattern = r"^\+[0-9]{1,15}\*?$"), length(max = 17)))]
    pub blocklist: Vec<String>,

    /// The caller ID responders see when they are rung: `Hotline` (the hotline number, so they
    /// know it is a hotline call) or `Caller` (the caller's own number).
    #[serde(default)]
    pub caller_id: CallerId,

    /// The check that a human took the call: a rung responder hears who is calling and must
    /// press a key before the caller is connected, so a personal voicemail never swallows a call.
    #[serde(default)]
    pub acceptance: Acceptance,

    /// Voicemail when nobody accepts.
    #[serde(default)]
    pub voicemail: Voicemail,

    /// Keys the caller may press between rings, while responders are being tried: leave a
    /// voicemail now, or ask to be called back. Leave it out to offer nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_choices: Option<CallerChoices>,

    /// Longest a connected call may last, in seconds (Twilio `<Dial timeLimit>`; 4 hours at most).
    #[serde(default = "default_max_call_duration")]
    #[schemars(range(min = 60, max = 14400))]
    pub max_call_duration_seconds: u32,

    /// Record the connected conversation.
    #[serde(default)]
    pub recording: Recording,

    /// Ask the caller to describe the problem in a few words before responders are rung. The
    /// speech-to-text result goes into the alert and the call log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub describe_problem: Option<DescribeProblem>,

    /// Texts to the hotline number.
    #[serde(default)]
    pub sms: Sms,

    /// Where alerts about this policy's calls and texts are sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub notifications: Vec<NotificationTarget>,

    /// When the alert of a call is raised and resolved at the `notifications` targets.
    #[serde(default)]
    pub alerting: Alerting,
}

fn default_language() -> String {
    "en-US".to_string()
}

fn default_max_call_duration() -> u32 {
    3600
}

/// Whether the policy routes calls.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Mode {
    /// Calls are routed.
    #[default]
    Active,
    /// Nobody is rung live: every caller leaves a voicemail.
    VoicemailOnly,
    /// The hotline is switched off; callers hear `modeMessage`.
    Disabled,
    /// The hotline is under maintenance; callers hear `modeMessage`.
    Maintenance,
}

/// What the caller hears first: spoken text or an audio file.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.text) != has(self.audioUrl)").message("set exactly one of greeting.text or greeting.audioUrl"))]
#[serde(rename_all = "camelCase")]
pub struct Greeting {
    /// Text spoken with the policy's language and voice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2000))]
    pub text: Option<String>,
    /// An https URL of an audio file (MP3 or WAV) that Twilio plays (`<Play>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://\S+$"), length(max = 2000))]
    pub audio_url: Option<String>,
}

/// The sentences Switchboard speaks. Leave one out for its default.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Messages {
    /// Said when every step of the chain was tried and nobody accepted, before voicemail or hang-up.
    /// Default (in English; catalogued in other languages): "Sorry, nobody is available to take your call right now."
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub no_answer: Option<String>,
    /// Said when the chain has nobody to ring at all (every schedule is empty right now).
    /// Default (in English): "Sorry, nobody is on call right now."
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub no_one_on_call: Option<String>,
    /// Said before the voicemail beep.
    /// Default (in English): "Please leave a message after the tone, and press the pound key when you are done."
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub voicemail_greeting: Option<String>,
    /// Said before Switchboard hangs up. Default (in English): "Goodbye."
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub goodbye: Option<String>,
}

/// A keypad menu.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("self.options.all(o, self.options.exists_one(p, p.digit == o.digit))").message("each menu.options[].digit may be used only once").field_path(".options"))]
#[x_kube(validation = Rule::new("!has(self.defaultDigit) || self.options.exists(o, o.digit == self.defaultDigit)").message("menu.defaultDigit must be the digit of one of menu.options").field_path(".defaultDigit"))]
#[serde(rename_all = "camelCase")]
pub struct Menu {
    /// Said before the options. The options themselves are read out automatically
    /// ("For Database, press 1.").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub prompt: Option<String>,

    /// The choices, read out in this order.
    #[schemars(length(min = 1, max = 9))]
    pub options: Vec<MenuOption>,

    /// The option (by its digit) for a caller who presses a key that is not an option, or
    /// presses nothing after every retry. Without it such a caller is asked again, up to
    /// `retries` times, then hears `messages.goodbye`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]$"), length(max = 1))]
    pub default_digit: Option<String>,

    /// How many more times the menu is read out after no key or an unknown key.
    #[serde(default = "default_menu_retries")]
    #[schemars(range(min = 0, max = 5))]
    pub retries: u32,

    /// Seconds to wait for a key press after the menu (Twilio `<Gather timeout>`).
    #[serde(default = "default_menu_timeout")]
    #[schemars(range(min = 1, max = 30))]
    pub timeout_seconds: u32,

    /// Read the menu even when it has only one option. Otherwise a one-option menu rings that
    /// option's chain straight away.
    #[serde(default)]
    pub always_ask: bool,
}

fn default_menu_retries() -> u32 {
    2
}

fn default_menu_timeout() -> u32 {
    6
}

/// One menu choice.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MenuOption {
    /// The key the caller presses, `0` to `9`.
    #[schemars(regex(pattern = r"^[0-9]$"), length(max = 1))]
    pub digit: String,
    /// The spoken name of the choice ("Database"); read out as "For Database, press 1."
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
    /// The escalation chain this choice rings.
    pub chain_ref: LocalRef,
    /// Where this choice's alerts go (the database team's own PagerDuty service and Slack
    /// channel) and how severe they are. Default: the policy's `notifications` and
    /// `alerting.severity`. A call's alert is raised once the caller has chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<OptionAlerts>,
}

/// Which caller ID a rung responder sees.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum CallerId {
    /// The hotline number itself.
    #[default]
    Hotline,
    /// The caller's own number. NB: Twilio only allows a caller ID the account owns or has
    /// verified, or the number of the incoming call being forwarded, which this is.
    Caller,
}

/// The "press 1 to accept" check.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.declineDigit) || !has(self.digit) || self.declineDigit != self.digit").message("acceptance.declineDigit must differ from acceptance.digit").field_path(".declineDigit"))]
pub struct Acceptance {
    /// Ask responders to accept. Turn it off only for targets that are never a personal phone
    /// (a staffed desk, a SIP queue): then the first pickup is connected.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// What the responder hears after who is calling which hotline. Default (in English; in the responder's language when theirs differs): "Press 1 to
    /// accept this call, or 2 to pass it on." (with this policy's keys). A prompt of your own
    /// should name the decline key too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub prompt: Option<String>,
    /// The key that accepts, `0` to `9`.
    #[serde(default = "default_accept_digit")]
    #[schemars(regex(pattern = r"^[0-9]$"), length(max = 1))]
    pub digit: String,
    /// Seconds the responder has to press it before the call is treated as not answered.
    #[serde(default = "default_accept_timeout")]
    #[schemars(range(min = 3, max = 60))]
    pub timeout_seconds: u32,
    /// The key that passes the call on at once (the next responder is rung without waiting
    /// out the step's timeout), `0` to `9`. Default `2` (none when `digit` is `2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]$"), length(max = 1))]
    pub decline_digit: Option<String>,
}

impl Default for Acceptance {
    fn default() -> Self {
        Self {
            enabled: true,
            prompt: None,
            digit: default_accept_digit(),
            timeout_seconds: default_accept_timeout(),
            decline_digit: None,
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_accept_digit() -> String {
    "1".to_string()
}

fn default_accept_timeout() -> u32 {
    10
}

/// Voicemail when nobody accepts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("!self.transcribe || self.maxLengthSeconds <= 120").message("voicemail.transcribe needs voicemail.maxLengthSeconds of 120 or less: Twilio only transcribes recordings up to 2 minutes").field_path(".maxLengthSeconds"))]
#[serde(rename_all = "camelCase")]
pub struct Voicemail {
    /// Offer voicemail. Without it the caller hears `messages.noAnswer` and the call ends.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Longest message, in seconds (Twilio `<Record maxLength>`).
    #[serde(default = "default_voicemail_length")]
    #[schemars(range(min = 10, max = 3600))]
    pub max_length_seconds: u32,
    /// Ask Twilio for a transcription of the message (recordings up to 120 seconds only).
    #[serde(default)]
    pub transcribe: bool,
}

impl Default for Voicemail {
    fn default() -> Self {
        Self {
            enabled: true,
            max_length_seconds: default_voicemail_length(),
            transcribe: false,
        }
    }
}

fn default_voicemail_length() -> u32 {
    120
}

/// Recording of the connected conversation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recording {
    /// Record the conversation from the moment a responder accepts.
    #[serde(default)]
    pub enabled: bool,
    /// Said to the caller before they are connected when recording is on.
    /// Default (in English): "This call will be recorded."
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub announcement: Option<String>,
}

/// Ask the caller to describe the problem (speech to text) before responders are rung.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DescribeProblem {
    /// What the caller is asked. Default (in English): "After the tone, please describe the problem in a few
    /// words."
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub prompt: Option<String>,
    /// Seconds of silence that end the description (Twilio `<Gather timeout>`).
    #[serde(default = "default_describe_timeout")]
    #[schemars(range(min = 1, max = 30))]
    pub timeout_seconds: u32,
}

fn default_describe_timeout() -> u32 {
    3
}

/// Texts to the hotline number.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sms {
    /// Route texts: forward them to whoever is on call and reply to the sender. Without it texts
    /// get no reply (Twilio's STOP and HELP handling still applies).
    #[serde(default)]
    pub enabled: bool,
    /// The reply the sender gets. Default (in English): "Thanks, the on-call engineer has been notified."
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 320))]
    pub reply: Option<String>,
}

/// A place alerts about calls and texts are sent to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("self.type == 'PagerDuty' || has(self.url) || has(self.urlSecretRef)").message("set url or urlSecretRef: where the notification is sent"))]
#[x_kube(validation = Rule::new("!(has(self.url) && has(self.urlSecretRef))").message("set only one of url and urlSecretRef"))]
#[x_kube(validation = Rule::new("!(self.type in ['Webhook', 'PagerDuty']) || has(self.secretRef)").message("secretRef is required for Webhook (the HMAC signing key) and PagerDuty (the integration's routing key)").field_path(".secretRef"))]
#[serde(rename_all = "camelCase")]
pub struct NotificationTarget {
    /// A name for this target, unique in the policy; used in metrics and logs.
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub name: String,
    /// The kind of receiver.
    #[serde(rename = "type")]
    pub target_type: NotificationType,
    /// Where to send it, when the URL is not a secret: a webhook receiver, or an Alertmanager's
    /// base URL (`http://alertmanager.monitoring:9093`; `/api/v2/alerts` is appended). For
    /// PagerDuty it defaults to `https://events.pagerduty.com/v2/enqueue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://\S+$"), length(max = 2000))]
    pub url: Option<String>,
    /// Where to send it, when the URL itself is a credential (a Slack incoming webhook, a
    /// Grafana OnCall integration URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_secret_ref: Option<SecretKeyRef>,
    /// The credential: the HMAC-SHA256 key that signs `Webhook` deliveries
    /// (`X-Switchboard-Signature`), or the integration's routing key for `PagerDuty`. Required
    /// for both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
}

/// The kind of notification receiver.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum NotificationType {
    /// A JSON POST signed with an HMAC header.
    Webhook,
    /// A Slack incoming webhook.
    Slack,
    /// PagerDuty Events API v2.
    PagerDuty,
    /// The Alertmanager API (`POST /api/v2/alerts`).
    Alertmanager,
    /// A Grafana OnCall generic webhook integration.
    GrafanaOnCall,
}

/// What the operator knows about the policy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IncomingCallPolicyStatus {
    /// Conditions and observed generation.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// How many PhoneNumbers this policy answers.
    #[serde(default)]
    pub phone_numbers: u32,
}
