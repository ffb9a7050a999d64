//! `EscalationChain`: who is rung, in which order, for how long.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::CommonStatus;

/// Ordered steps of responders to ring until one accepts the call.
///
/// Each step's targets are resolved when the step starts, so a handoff during a long call is
/// honoured. After the last step the chain starts again `repeat` more times.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "switchboard.dev",
    version = "v1alpha1",
    kind = "EscalationChain",
    doc = "Ordered steps of responders to ring until one accepts the call, with timeouts and repeats.",
    namespaced,
    status = "EscalationChainStatus",
    shortname = "chain",
    category = "switchboard",
    printcolumn = r#"{"name":"Steps","type":"integer","jsonPath":".status.steps"}"#,
    printcolumn = r#"{"name":"Repeat","type":"integer","jsonPath":".spec.repeat"}"#,
    printcolumn = r#"{"name":"Next Gap","type":"string","jsonPath":".status.nextGap.start","description":"The first time in the next two weeks when the first step has nobody to ring"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct EscalationChainSpec {
    /// The steps, tried in order.
    #[schemars(length(min = 1, max = 20))]
    pub steps: Vec<Step>,

    /// How many more times the whole chain is tried after its last step, before voicemail.
    #[serde(default)]
    #[schemars(range(min = 0, max = 5))]
    pub repeat: u32,

    /// The most people one call may ring, over all steps and repeats. A cap on how far one
    /// call can spread.
    #[serde(default = "default_max_rung")]
    #[schemars(range(min = 1, max = 100))]
    pub max_rung: u32,
}

fn default_max_rung() -> u32 {
    20
}

/// One step: the targets rung together or in turn, and for how long.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// A name for the step, used in the call log ("step primary").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub name: Option<String>,

    /// Who is rung.
    #[schemars(length(min = 1, max = 20))]
    pub targets: Vec<Target>,

    /// `Simultaneous` rings every target at once; `Sequential` rings them one at a time in the
    /// order given; `Random` one at a time in a random order (spreads the load in a team).
    #[serde(default)]
    pub strategy: RingStrategy,

    /// Seconds each ring lasts before it counts as not answered (Twilio `<Dial timeout>`).
    /// With `Sequential` or `Random` every target gets this long.
    #[serde(default = "default_ring_timeout")]
    #[schemars(range(min = 5, max = 120))]
    pub ring_timeout_seconds: u32,

    /// Do not ring a number that was already rung earlier in this pass through the chain
    /// (each repeat of the chain starts afresh).
    #[serde(default)]
    pub skip_already_rung: bool,
}

fn default_ring_timeout() -> u32 {
    25
}

/// How a step's targets are rung.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RingStrategy {
    /// All at once.
    #[default]
    Simultaneous,
    /// One at a time, in the order given.
    Sequential,
    /// One at a time, in a random order.
    Random,
}

/// One thing to ring. Set exactly one field.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("(has(self.onCall) ? 1 : 0) + (has(self.team) ? 1 : 0) + (has(self.person) ? 1 : 0) + (has(self.number) ? 1 : 0) + (has(self.sip) ? 1 : 0) == 1").message("a target sets exactly one of onCall, team, person, number or sip"))]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// Whoever is on call, when the step starts, in the Schedule of this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
        length(max = 253)
    )]
    pub on_call: Option<String>,
    /// Everyone in the Schedule of this name (its `people`), as a team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
        length(max = 253)
    )]
    pub team: Option<String>,
    /// One named person of a Schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<PersonRef>,
    /// A plain phone number in E.164 form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^\+[1-9][0-9]{1,14}$"), length(max = 16))]
    pub number: Option<String>,
    /// A SIP URI (`sip:noc@pbx.example.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^sips?:[^\s@]+@[^\s]+$"), length(max = 500))]
    pub sip: Option<String>,
}

/// A person to ring: a Person object of the namespace (`name` alone), or a person of a
/// Schedule (`schedule` and `name`: one of its `spec.people`, or a Person it may name).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersonRef {
    /// The Schedule whose `spec.people` defines the person; leave it out for a Person object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
        length(max = 253)
    )]
    pub schedule: Option<String>,
    /// The person's `name`: in that Schedule's `spec.people`, or a Person object's name.
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub name: String,
}

/// What the operator knows about the chain.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EscalationChainStatus {
    /// Conditions and observed generation.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// How many steps the chain has.
    #[serde(default)]
    pub steps: u32,
    /// The first period in the next two weeks when the first step has nobody to ring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_gap: Option<crate::common::GapStatus>,
}
