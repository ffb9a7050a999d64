//! Types and schema helpers shared by the four kinds.
//!
//! Patterns live here once so that the schema, the docs and the operator's own checks
//! agree on what an E.164 number or a time of day looks like.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// E.164: a plus sign, a country code that does not start with 0, at most 15 digits in all.
pub const E164_PATTERN: &str = r"^\+[1-9][0-9]{1,14}$";
/// A SIP URI as Twilio's `<Sip>` noun accepts it (`sip:` or `sips:` then user@host).
pub const SIP_PATTERN: &str = r"^sips?:[^\s@]+@[^\s]+$";
/// A 24-hour local time of day, `HH:MM`.
pub const TIME_OF_DAY_PATTERN: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9]$";
/// A calendar date, `YYYY-MM-DD`.
pub const DATE_PATTERN: &str = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";
/// A Kubernetes object name (RFC 1123 label), also used for names inside an object.
pub const NAME_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// A BCP 47 language tag as Twilio's `<Say language>` takes it, such as `en-US` or `de-DE`.
pub const LANGUAGE_PATTERN: &str = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$";

/// A reference to another Switchboard object in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct LocalRef {
    /// Name of the object, in the same namespace as the object that refers to it.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A reference to a Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretRef {
    /// Name of the Secret, in the same namespace as the object that refers to it.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A reference to one key of a Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret, in the same namespace as the object that refers to it.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key in the Secret's `data` that holds the value.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// What every Switchboard object reports back: the conditions and the generation they describe.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommonStatus {
    /// The `metadata.generation` that the operator last acted on. When it is lower than
    /// `metadata.generation`, the conditions describe an older version of the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Standard conditions. `Ready` sums up the others; `ReferencesResolved` says whether every
    /// object this one names exists and is valid; `RoutesPublished` whether the compiled routing
    /// table is live in Redis; `TwilioConfigured` (PhoneNumber only) whether Twilio sends the
    /// number's calls and texts to Switchboard. Each has a reason and a message that names the
    /// field at fault and the fix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}

/// The schema of `status.conditions`: `metav1.Condition` with the bounds the API server's own
/// type declares (types/conditions in k8s.io/apimachinery: `type` at most 316 characters,
/// `reason` 1024, `message` 32768), so that every string and list of the CRDs is bounded as
/// the Kubernetes API conventions ask. k8s-openapi's schema of `Condition` carries none of them.
fn conditions_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "maxItems": 16,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "description": "One aspect of the object's state: its type, whether it holds (True, False, Unknown), since when, and why.",
            "type": "object",
            "required": ["type", "status", "lastTransitionTime", "reason", "message"],
            "properties": {
                "type": {
                    "description": "The aspect: Ready, ReferencesResolved, RoutesPublished or TwilioConfigured.",
                    "type": "string",
                    "maxLength": 316
                },
                "status": {
                    "description": "True, False or Unknown.",
                    "type": "string",
                    "enum": ["True", "False", "Unknown"]
                },
                "observedGeneration": {
                    "description": "The metadata.generation the condition was set for.",
                    "type": "integer",
                    "format": "int64",
                    "minimum": 0
                },
                "lastTransitionTime": {
                    "description": "When the status last changed.",
                    "type": "string",
                    "format": "date-time"
                },
                "reason": {
                    "description": "A CamelCase word for why (InvalidReferences, CredentialsMissing, ...).",
                    "type": "string",
                    "maxLength": 1024
                },
                "message": {
                    "description": "What is wrong, naming the field at fault and the fix.",
                    "type": "string",
                    "maxLength": 32768
                }
            }
        }
    })
}

/// The condition types the operator writes, as constants so that code and docs use one spelling.
pub mod condition {
    /// Sums up the other conditions: the object is doing its job.
    pub const READY: &str = "Ready";
    /// Every object this one names exists and is valid.
    pub const REFERENCES_RESOLVED: &str = "ReferencesResolved";
    /// The compiled routing table is current in Redis.
    pub const ROUTES_PUBLISHED: &str = "RoutesPublished";
    /// Twilio sends the number's calls and texts to Switchboard's webhook server.
    pub const TWILIO_CONFIGURED: &str = "TwilioConfigured";
    /// Someone can be rung at every moment of the next two weeks (Schedules, and the first
    /// step of EscalationChains). Advice: it does not count towards `Ready`, since a hotline
    /// may be meant to have nobody at night.
    pub const COVERED: &str = "Covered";
}

/// A period with nobody to ring.
#[derive(
    serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct GapStatus {
    /// When it starts, in RFC 3339 with the schedule's own UTC offset.
    #[schemars(length(max = 40))]
    pub start: String,
    /// When someone is on call again (the end of the two weeks looked at, when later).
    #[schemars(length(max = 40))]
    pub end: String,
}
