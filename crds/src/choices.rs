//! What a caller may choose while responders are being tried: leave a voicemail now, or ask
//! to be called back.

use kube::KubeSchema;
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
    /// What the caller hears. Default: "We are still trying to reach someone. To leave a
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
