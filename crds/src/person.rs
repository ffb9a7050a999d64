//! `Person`: someone who can be rung, defined once for every Schedule of the namespace, with
//! an ordered list of contacts.
//!
//! A Schedule's layers and overrides, a ScheduleOverride and an EscalationChain's `person`
//! target name a person; the name is looked up in the Schedule's own `spec.people` first and
//! then among the Person objects of the namespace, so a person in three schedules is written
//! once, and a Schedule written before this kind existed keeps working unchanged.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Someone who can be rung: how they are named and spoken to, and how to reach them, in the
/// order to try.
///
/// Within the person's turn in an escalation step, Switchboard rings the first contact; when
/// it is not accepted (no answer, busy, a voicemail that picked up, a key not pressed) it
/// rings the next one, and so on, before the step moves on.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "switchboard.dev",
    version = "v1alpha1",
    kind = "Person",
    plural = "people",
    doc = "Someone who can be rung, defined once for every Schedule and EscalationChain of the namespace: display name, whisper language and contacts tried in order.",
    namespaced,
    category = "switchboard",
    printcolumn = r#"{"name":"Display Name","type":"string","jsonPath":".spec.displayName"}"#,
    printcolumn = r#"{"name":"First Contact","type":"string","jsonPath":".spec.contacts[0].phone","description":"The first phone number tried"}"#,
    printcolumn = r#"{"name":"Language","type":"string","jsonPath":".spec.language","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PersonSpec {
    /// The name shown in alerts and call logs (`Dana Scully`). Defaults to the object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub display_name: Option<String>,
    /// Language of the "press 1 to accept" whisper this person hears, such as `de-DE`.
    /// Defaults to the policy's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"), length(max = 35))]
    pub language: Option<String>,
    /// How to reach the person, in the order to try (`mobile`, then `desk`, then a SIP phone).
    #[schemars(length(min = 1, max = 5))]
    pub contacts: Vec<ContactSpec>,
}

/// One way to reach a person: a phone number or a SIP URI.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("has(self.phone) != has(self.sip)").message("a contact sets exactly one of phone or sip"))]
#[serde(rename_all = "camelCase")]
pub struct ContactSpec {
    /// What this contact is, for the call log and `switchboard simulate` (`mobile`, `desk`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9][-A-Za-z0-9 ._]*$"), length(max = 30))]
    pub label: Option<String>,
    /// Phone number in E.164 form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^\+[1-9][0-9]{1,14}$"), length(max = 16))]
    pub phone: Option<String>,
    /// A SIP URI instead of a phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^sips?:[^\s@]+@[^\s]+$"), length(max = 500))]
    pub sip: Option<String>,
}
