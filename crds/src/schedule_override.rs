//! `ScheduleOverride`: "take my shift tonight" as an object of its own, beside the Schedule.
//!
//! A Schedule kept in Git (and synced by Argo CD or Flux with self-heal) is not edited for a
//! one-off swap: the override is its own object, which the GitOps tool does not own and so
//! leaves alone, created with `switchboard override` or `kubectl`, and allowed by RBAC to
//! people who may not edit schedules.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::common::{CommonStatus, LocalRef};

/// The label `switchboard override` sets: the operator deletes the object once it has ended
/// (objects without it, say kept in Git, are only marked `Ended`).
pub const DELETE_AFTER_END_LABEL: &str = "switchboard.dev/delete-after-end";

/// A one-off replacement on a Schedule: while it is active its person is on call, whatever
/// the Schedule's layers say.
///
/// It works as an entry of the Schedule's `spec.overrides`: when overrides overlap, the one
/// that started last wins. A wrong override (an unknown person, an end before its start) is
/// reported on this object and ignored; the Schedule itself stays valid.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "switchboard.dev",
    version = "v1alpha1",
    kind = "ScheduleOverride",
    doc = "A one-off replacement on a Schedule (\"take my shift tonight\"), kept apart from the Schedule so that GitOps tools leave it alone and on-call engineers can create it without editing schedules.",
    namespaced,
    status = "ScheduleOverrideStatus",
    // Both, as cert-manager does (`cert`, `certs`): kubectl matches a short name exactly, and
    // `kubectl get overrides` is what people type (found against a real API server).
    shortname = "override",
    shortname = "overrides",
    category = "switchboard",
    printcolumn = r#"{"name":"Schedule","type":"string","jsonPath":".spec.scheduleRef.name"}"#,
    printcolumn = r#"{"name":"Person","type":"string","jsonPath":".spec.person"}"#,
    printcolumn = r#"{"name":"Start","type":"string","jsonPath":".spec.start"}"#,
    printcolumn = r#"{"name":"End","type":"string","jsonPath":".spec.end"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state","description":"Pending, Active, Ended or Invalid"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleOverrideSpec {
    /// The Schedule, in this namespace, whose on-call person this replaces.
    pub schedule_ref: LocalRef,
    /// The person on call during the override: a `name` of the Schedule's `spec.people`, or a
    /// Person object in this namespace.
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub person: String,
    /// When it starts: an RFC 3339 time (`2026-12-24T18:00:00Z`) or a local time in the
    /// Schedule's zone (`2026-12-24T18:00`).
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
    /// Why, for whoever reads `kubectl get overrides` (`covering Sam's shift, sick`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub reason: Option<String>,
}

/// What the operator knows about the override.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleOverrideStatus {
    /// Conditions and observed generation.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// `Pending` (starts later), `Active` (its person is on call now), `Ended`, or `Invalid`
    /// (the Ready condition says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20))]
    pub state: Option<String>,
}
