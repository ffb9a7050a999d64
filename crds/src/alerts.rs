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
