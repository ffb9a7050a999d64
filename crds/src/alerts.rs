//! Where a menu option's alerts go, and how severe a policy's or an option's alerts are.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::policy::NotificationTarget;

/// How severe an alert is: PagerDuty's `payload.severity`, Alertmanager's `severity` label,
/// the webhook payload's `severity`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Severity {
    /// Somebody must act now (the default).
    #[default]
    Critical,
    /// Something is broken.
    Error,
    /// Something may break.
    Warning,
    /// For information.
    Info,
}

/// Where the alerts of calls and texts that chose this option go.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OptionAlerts {
    /// The option's own notification targets, in addition to the policy's
    /// `spec.notifications` (or instead of them with `replace`). Names must differ from the
    /// policy's targets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub targets: Vec<NotificationTarget>,
    /// Send this option's alerts only to its own `targets`, not to the policy's.
    #[serde(default)]
    pub replace: bool,
    /// The severity of this option's alerts. Default: the policy's `alerting.severity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

/// When the alert of a call is raised and resolved.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Alerting {
    /// Raise the alert only when nobody has accepted the call after this many seconds, and the
    /// caller is still on the line (or left a voicemail): a misdialled call that hangs up at once,
    /// or a call taken within the delay, raises no alert. 0 raises it as soon as the call comes
    /// in. Texts are always raised at once.
    #[serde(default)]
    #[schemars(range(max = 600))]
    pub trigger_delay_seconds: u32,
    /// How severe the alerts are (PagerDuty's severity, Alertmanager's `severity` label). A
    /// menu option may set its own.
    #[serde(default)]
    pub severity: Severity,
    /// Also resolve the alert of a call that ended with nobody answering and no voicemail (the
    /// caller hung up, or nobody answered). Off by default: such an alert stays open so somebody
    /// calls back. Answered calls are always resolved when they end; a voicemail's alert always
    /// stays open for somebody to listen to it.
    #[serde(default)]
    pub resolve_unanswered: bool,
}
