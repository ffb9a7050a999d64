//! `PhoneNumber`: one hotline number in a Twilio account, and the policy that answers it.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{CommonStatus, LocalRef, SecretRef};

/// A phone number in a Twilio account whose calls and texts Switchboard answers.
///
/// Either names a number the account already owns (`number`) or asks Switchboard to buy one
/// (`purchase`). The operator points the number's voice and SMS webhooks at Switchboard's webhook
/// server and publishes the routing table of its policy to Redis.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "switchboard.dev",
    version = "v1alpha1",
    kind = "PhoneNumber",
    doc = "A phone number in a Twilio account whose calls and texts Switchboard answers with an IncomingCallPolicy.",
    namespaced,
    status = "PhoneNumberStatus",
    shortname = "pn",
    category = "switchboard",
    printcolumn = r#"{"name":"Number","type":"string","jsonPath":".status.number","description":"The E.164 number, once known"}"#,
    printcolumn = r#"{"name":"Policy","type":"string","jsonPath":".spec.policyRef.name","description":"The IncomingCallPolicy that answers it"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("has(self.number) != has(self.purchase)").message("set exactly one of spec.number (a number your Twilio account already owns) or spec.purchase (Switchboard buys one)"))]
#[x_kube(validation = Rule::new("!self.releaseOnDelete || has(self.purchase)").message("spec.releaseOnDelete may only be true with spec.purchase: Switchboard never releases a number it did not buy").field_path(".releaseOnDelete"))]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumberSpec {
    /// A number the Twilio account already owns, in E.164 form (`+14155550100`).
    /// Leave it out and set `purchase` to have Switchboard buy one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^\+[1-9][0-9]{1,14}$"), length(max = 16))]
    pub number: Option<String>,

    /// Buy a new number with these filters. The operator records its intent and the result in
    /// status, and looks for a number it already bought for this object before it buys again, so a
    /// crash never buys two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase: Option<Purchase>,

    /// The Secret with the Twilio credentials. It must hold `accountSid` and `authToken` (the auth
    /// token is what Twilio signs its webhooks with); it may also hold `apiKeySid` and
    /// `apiKeySecret`, which are then used for REST API calls instead of the auth token.
    pub credentials_secret_ref: SecretRef,

    /// The IncomingCallPolicy, in this namespace, that answers this number's calls and texts.
    pub policy_ref: LocalRef,

    /// Where the Twilio REST API is reached. Leave it out for Twilio's default (`us1`, `ashburn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twilio: Option<TwilioEndpoint>,

    /// Release the number back to Twilio when this object is deleted. Only allowed with
    /// `purchase`, and only ever done for a number Switchboard itself bought (see
    /// `status.purchased`). Otherwise the number is kept and only pointed away from Switchboard.
    #[serde(default)]
    pub release_on_delete: bool,
}

/// What kind of number to buy and where.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Purchase {
    /// ISO 3166-1 alpha-2 country code of the number, such as `US`, `GB` or `DE`.
    #[schemars(regex(pattern = r"^[A-Z]{2}$"), length(max = 2))]
    pub country: String,

    /// The kind of number: `Local`, `TollFree` or `Mobile`.
    #[serde(default, rename = "type")]
    pub number_type: NumberType,

    /// Only numbers with this area code (North American numbers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 200, max = 999))]
    pub area_code: Option<u32>,

    /// Only numbers that contain this pattern: digits, letters (matched on the keypad) and `*` for
    /// any one digit, at least two characters, as Twilio's `Contains` filter takes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9A-Za-z*]{2,16}$"), length(max = 16))]
    pub contains: Option<String>,
}

/// The kind of number to buy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum NumberType {
    /// A geographic number.
    #[default]
    Local,
    /// A toll-free number.
    TollFree,
    /// A mobile number.
    Mobile,
}

/// Twilio's region and edge location for REST API calls.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TwilioEndpoint {
    /// Twilio region that holds the account's data, such as `us1`, `ie1` or `au1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2}[0-9]$"), length(max = 3))]
    pub region: Option<String>,
    /// Twilio edge location the API is reached through, such as `ashburn`, `dublin` or `sydney`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z][a-z-]{1,30}$"), length(max = 31))]
    pub edge: Option<String>,
}

/// What the operator knows about the number.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumberStatus {
    /// Conditions and observed generation.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// The number in E.164 form: `spec.number`, or the one bought for `spec.purchase`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub number: Option<String>,
    /// Twilio's SID of the number (`PN...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 34))]
    pub sid: Option<String>,
    /// True when Switchboard bought this number for this object. Only such a number is ever
    /// released on delete.
    #[serde(default)]
    pub purchased: bool,
    /// Set before a purchase is attempted: the friendly name that marks the bought number as this
    /// object's, so that a crash between buying and recording the result does not buy a second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 400))]
    pub purchase_intent: Option<String>,
    /// The routing table revision last published to Redis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub published_revision: Option<String>,
}
