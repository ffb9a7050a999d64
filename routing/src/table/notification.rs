//! Where a policy's alerts go: the notification targets of a table (credentials stay in
//! Kubernetes Secrets; only their names are here).

use super::*;

/// The kind of a notification receiver, spelled as in the CRD (`Webhook`, `Slack`, ...).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// A JSON POST signed with an HMAC header.
    Webhook,
    /// A Slack incoming webhook.
    Slack,
    /// PagerDuty Events API v2.
    PagerDuty,
    /// The Alertmanager API.
    Alertmanager,
    /// A Grafana OnCall generic webhook integration.
    GrafanaOnCall,
    /// A kind a newer operator wrote that this version does not know: the rest of the table
    /// still serves calls; only this target is not delivered to.
    #[serde(other)]
    Unknown,
}

impl TargetKind {
    /// The kind as the CRD spells it (and as metrics label it).
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Webhook => "Webhook",
            TargetKind::Slack => "Slack",
            TargetKind::PagerDuty => "PagerDuty",
            TargetKind::Alertmanager => "Alertmanager",
            TargetKind::GrafanaOnCall => "GrafanaOnCall",
            TargetKind::Unknown => "Unknown",
        }
    }
}

impl std::fmt::Display for TargetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A notification receiver. Credentials stay in Kubernetes Secrets; only their names are here.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NotificationTarget {
    /// Name, unique in the policy.
    pub name: String,
    /// Receiver kind, as in the CRD.
    pub kind: TargetKind,
    /// Plain URL, when not secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Secret key holding the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_secret: Option<SecretKey>,
    /// Secret key holding the credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretKey>,
}

/// Names one key of a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SecretKey {
    /// Secret name.
    pub name: String,
    /// Key in it.
    pub key: String,
}
