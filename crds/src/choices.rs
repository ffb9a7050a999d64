//! What a caller may choose while responders are being tried: leave a voicemail now, or ask
//! to be called back.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Choices offered to the caller each time a ring ends with nobody accepting and the chain
/// goes on: "To leave a message, press 1. To be called back, press 2. Otherwise, please stay
/// on the line." (Twilio cannot take the caller's keys while their call rings out, so the
/// choice is offered between rings.)
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.voicemailDigit) || has(self.callbackDigit)").message("set callerChoices.voicemailDigit, callerChoices.callbackDigit or both: the keys the caller may press"))]
#[x_kube(validation = Rule::new("!has(self.voicemailDigit) || !has(self.callbackDigit) || self.voicemailDigit != self.callbackDigit").message("callerChoices.callbackDigit must differ from callerChoices.voicemailDigit").field_path(".callbackDigit"))]
#[serde(rename_all = "camelCase")]
pub struct CallerChoices {
    /// The key that leaves a voicemail at once (needs `spec.voicemail`), `0` to `9`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]$"), length(max = 1))]
    pub voicemail_digit: Option<String>,
    /// The key that asks to be called back at the caller's number: the call ends, and its
    /// alert says "call-back requested" with the number (offered only to callers whose
    /// number is known), `0` to `9`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]$"), length(max = 1))]
    pub callback_digit: Option<String>,
    /// What the caller hears. Default (in English; the phrase catalogue's in other languages): "We are still trying to reach someone. To leave a
    /// message, press 1. To be called back, press 2. Otherwise, please stay on the line."
    /// (with this policy's keys; a choice that is not offered is left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub prompt: Option<String>,
    /// Seconds to wait for a key after the prompt before ringing on (Twilio `<Gather
    /// timeout>`).
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 1, max = 10))]
    pub timeout_seconds: u32,
}

fn default_timeout() -> u32 {
    3
}

/// Who is calling: rules on the caller's number, and whether strangers are taken at all.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Callers {
    /// Rules that send known callers somewhere of their own, skipping the menu. The most
    /// specific match wins: an exact number over any prefix, a longer prefix over a shorter
    /// one, then the first rule. They apply while the hotline is open; a closed hotline does
    /// what `openingHours.whenClosed` says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub rules: Vec<CallerRule>,
    /// Take only callers a rule names: everyone else, and every caller who withholds their
    /// number, hears `rejectMessage` and the call ends (at any hour).
    #[serde(default)]
    pub allowlist_only: bool,
    /// What a caller turned away hears. Default (in English; the phrase catalogue's in other languages): "Sorry, this hotline only takes calls from
    /// registered numbers. Goodbye."
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub reject_message: Option<String>,
}

/// Callers sent somewhere of their own.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("!(has(self.chainRef) && has(self.menuDigit))").message("set at most one of chainRef and menuDigit: where these callers go"))]
#[x_kube(validation = Rule::new("(has(self.numbers) && size(self.numbers) > 0) || (has(self.listRefs) && size(self.listRefs) > 0)").message("set numbers, listRefs or both: the callers this rule names"))]
#[serde(rename_all = "camelCase")]
pub struct CallerRule {
    /// A name for the rule, unique in the policy; transcripts and the call log show it.
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub name: String,
    /// The callers: exact E.164 numbers (`+14155550123`) or prefixes ending in `*`
    /// (`+4420*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000))]
    #[schemars(inner(regex(pattern = r"^\+[0-9]{1,15}\*?$"), length(max = 17)))]
    pub numbers: Vec<String>,
    /// CallerLists of the namespace whose numbers this rule names too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub list_refs: Vec<crate::common::LocalRef>,
    /// Ring this chain, skipping the menu.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_ref: Option<crate::common::LocalRef>,
    /// Go where this menu digit goes (its chain and its alerts), skipping the menu.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]$"), length(max = 1))]
    pub menu_digit: Option<String>,
    /// Where the alerts of these callers' calls and texts go: targets added to the policy's (or
    /// replacing them) and a severity. They win over the alerts of the menu option `menuDigit`
    /// names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<crate::alerts::OptionAlerts>,
}

/// A PIN every caller keys in before anything else is said (after the language choice):
/// "Please enter your PIN, then press the pound key." A wrong PIN is asked again; after
/// `attempts` wrong ones the caller hears that the PIN was wrong too many times and the call
/// ends. The PIN stays in its Secret: the operator publishes only a digest keyed by the Twilio
/// account's auth token (so the PhoneNumber's credentials Secret must hold `authToken`).
/// Texts cannot key a PIN: only those from senders a `callers` rule names are routed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pin {
    /// The Secret key of the PIN, 4 to 12 digits, in the policy's namespace (`kubectl create
    /// secret generic partner-pin --from-literal=pin=482916`). Not the PhoneNumber's Twilio
    /// credentials Secret. A changed PIN is published as soon as the operator sees the Secret change.
    pub secret_ref: crate::common::SecretKeyRef,
    /// Wrong PINs allowed before the call ends.
    #[serde(default = "default_attempts")]
    #[schemars(range(min = 1, max = 5))]
    pub attempts: u32,
    /// Also ask callers that a `callers` rule names (they skip the PIN otherwise).
    #[serde(default)]
    pub ask_known_callers: bool,
    /// Seconds to wait for the digits (Twilio `<Gather timeout>`; the pound key ends them
    /// sooner).
    #[serde(default = "default_pin_timeout")]
    #[schemars(range(min = 3, max = 30))]
    pub timeout_seconds: u32,
}

fn default_attempts() -> u32 {
    3
}

fn default_pin_timeout() -> u32 {
    10
}
