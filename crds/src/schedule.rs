//! `Schedule`: people, rotation layers, restrictions and overrides; a time zone per schedule,
//! which a layer may replace with its own.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::CommonStatus;

/// Who is on call, and when.
///
/// Who is on call at an instant is the person of the override active then, if any; otherwise
/// the person of the highest layer (the last one listed) that has someone on call then.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "switchboard.dev",
    version = "v1alpha1",
    kind = "Schedule",
    doc = "Who is on call and when: people, rotation layers with restrictions, and overrides, in an IANA time zone that each layer may replace with its own.",
    namespaced,
    status = "ScheduleStatus",
    shortname = "sched",
    category = "switchboard",
    printcolumn = r#"{"name":"On Call","type":"string","jsonPath":".status.onCall","description":"Who is on call now"}"#,
    printcolumn = r#"{"name":"Next Handoff","type":"string","jsonPath":".status.nextHandoff.at","description":"When who is on call changes next, in the schedule's time zone (a date column would show a future time as <invalid>)"}"#,
    printcolumn = r#"{"name":"Next","type":"string","jsonPath":".status.nextHandoff.to","description":"Who is on call after the next handoff"}"#,
    printcolumn = r#"{"name":"Next Gap","type":"string","jsonPath":".status.nextGap.start","description":"The first time in the next two weeks with nobody on call"}"#,
    printcolumn = r#"{"name":"Time Zone","type":"string","jsonPath":".spec.timeZone","priority":1}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSpec {
    /// IANA time zone the layers' dates, handoff times and restrictions are in, such as
    /// `America/New_York` or `Europe/Berlin`, unless a layer sets its own `timeZone`; also the
    /// zone of local override times and of the handoff times in the status. Handoffs keep their
    /// local time across daylight saving changes.
    #[schemars(
        regex(pattern = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"),
        length(max = 64)
    )]
    pub time_zone: String,

    /// People defined in this schedule only, referred to by `name`. A name that is not here
    /// is looked up among the namespace's Person objects, the place for someone who is in
    /// several schedules or has more than one contact; an entry here wins over a Person of
    /// the same name.
    #[serde(default)]
    #[schemars(length(max = 100))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub people: Vec<Person>,

    /// Rotation layers, lowest first. Where a later layer has someone on call it wins over the
    /// earlier ones; where it has nobody (outside its restrictions, before its start) the
    /// earlier layers show through.
    #[serde(default)]
    #[schemars(length(max = 10))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub layers: Vec<Layer>,

    /// One-off replacements: while an override is active its person is on call, whatever the
    /// layers say. When overrides overlap, the one that started last wins.
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub overrides: Vec<Override>,
}

/// A person who can be rung.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("(has(self.phone) ? 1 : 0) + (has(self.sip) ? 1 : 0) + (has(self.contacts) ? 1 : 0) == 1").message("a person sets exactly one of phone, sip or contacts"))]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// How layers, overrides and escalation chains refer to the person (`alice`).
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub name: String,
    /// The name shown in alerts and call logs (`Alice Liddell`). Defaults to `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub display_name: Option<String>,
    /// Phone number in E.164 form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^\+[1-9][0-9]{1,14}$"), length(max = 16))]
    pub phone: Option<String>,
    /// A SIP URI instead of a phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^sips?:[^\s@]+@[^\s]+$"), length(max = 500))]
    pub sip: Option<String>,
    /// Several ways to reach the person, tried in order within their turn, instead of one
    /// `phone` or `sip`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1, max = 5))]
    pub contacts: Vec<crate::person::ContactSpec>,
    /// Language of the "press 1 to accept" whisper this person hears, such as `de-DE`.
    /// Defaults to the policy's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"), length(max = 35))]
    pub language: Option<String>,
}

/// A rotation of members through shifts of equal length.
///
/// NB: the schema gives list items no defaults (see `crds()`), so a rule here must not assume
/// that a defaulted field such as `rotation` is set.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("!has(self.rotation) || self.rotation != 'Custom' || has(self.shiftLength)").message("layers[].shiftLength is required when rotation is Custom").field_path(".shiftLength"))]
#[x_kube(validation = Rule::new("(has(self.rotation) && self.rotation == 'Custom') || !has(self.shiftLength)").message("layers[].shiftLength is only used with rotation Custom; Daily and Weekly have fixed lengths").field_path(".shiftLength"))]
#[serde(rename_all = "camelCase")]
pub struct Layer {
    /// Name of the layer, unique in the schedule (`primary`, `follow-the-sun-emea`).
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub name: String,

    /// Shift length: `Daily` (one day), `Weekly` (seven days) or `Custom` (`shiftLength`).
    #[serde(default)]
    pub rotation: Rotation,

    /// With rotation `Custom`: a whole number of hours, days or weeks (`12h`, `3d`, `2w`). Shifts
    /// are counted in local clock time, so a `12h` rotation handing off at 09:00 hands off at
    /// 09:00 and 21:00 on both sides of a daylight saving change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[1-9][0-9]{0,3}[hdw]$"), length(max = 5))]
    pub shift_length: Option<String>,

    /// The local date the first shift starts, `YYYY-MM-DD`. It may be in the future: the layer
    /// has nobody on call before it.
    #[schemars(
        regex(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"),
        length(max = 10)
    )]
    pub start_date: String,

    /// The local time of day, `HH:MM`, when one shift hands off to the next.
    #[serde(default = "default_handoff_time")]
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"), length(max = 5))]
    pub handoff_time: String,

    /// The people who take turns, in order: the first one has the shift starting on
    /// `startDate`. Each is a `name` of `spec.people` or a Person object in the namespace.
    #[schemars(length(min = 1, max = 50))]
    #[schemars(inner(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63)))]
    pub members: Vec<String>,

    /// Limit the layer to these windows of the week. Outside every window the layer has nobody
    /// on call and lower layers show through. Leave it out for around the clock.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 14))]
    pub restrictions: Vec<Restriction>,

    /// This layer's own IANA time zone (`America/Los_Angeles`), for its `startDate`,
    /// `handoffTime` and `restrictions`; the schedule's `spec.timeZone` when left out. With one
    /// zone per layer a follow-the-sun schedule keeps each region's hours in its own local time
    /// across every daylight saving change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"),
        length(max = 64)
    )]
    pub time_zone: Option<String>,
}

fn default_handoff_time() -> String {
    "09:00".to_string()
}

/// How long a layer's shifts are.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Rotation {
    /// One day per shift.
    Daily,
    /// Seven days per shift.
    #[default]
    Weekly,
    /// `shiftLength` per shift.
    Custom,
}

/// A window of local time on some days of the week.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Restriction {
    /// The days the window starts on. Leave it out for every day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 7))]
    pub days: Vec<Day>,
    /// Local start time, `HH:MM`.
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"), length(max = 5))]
    pub start: String,
    /// Local end time, `HH:MM`. An end at or before the start crosses midnight: `22:00` to
    /// `06:00` on Friday covers Friday night until Saturday 06:00.
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"), length(max = 5))]
    pub end: String,
}

/// A day of the week.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[allow(missing_docs)]
pub enum Day {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

/// A one-off replacement.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Override {
    /// The person on call during the override: a `name` of `spec.people` or a Person object.
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub person: String,
    /// When it starts: an RFC 3339 time (`2026-12-24T18:00:00Z`, `2026-12-24T18:00:00+01:00`) or a
    /// local time in the schedule's zone (`2026-12-24T18:00`).
    #[schemars(
        regex(
            pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?$"
        ),
        length(max = 35)
    )]
    pub start: String,
    /// When it ends (exclusive), in the same forms as `start`. Must be after `start`.
    #[schemars(
        regex(
            pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?$"
        ),
        length(max = 35)
    )]
    pub end: String,
}

/// What the operator knows about the schedule.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleStatus {
    /// Conditions and observed generation.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// Who is on call now (the person's `name`), empty when nobody is. Refreshed at each handoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub on_call: Option<String>,
    /// Where the person on call comes from: `override` or `layer/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub on_call_source: Option<String>,
    /// The next change of who is on call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_handoff: Option<HandoffStatus>,
    /// The first period in the next two weeks with nobody on call (the `Covered` condition
    /// says how many more); absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_gap: Option<crate::common::GapStatus>,
}

/// One change of who is on call.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HandoffStatus {
    /// When, in RFC 3339 with the schedule's own UTC offset (`2026-11-30T09:00:00-05:00`).
    #[schemars(length(max = 40))]
    pub at: String,
    /// Who is on call from then on (a person's `name`), or empty for nobody.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub to: Option<String>,
}
