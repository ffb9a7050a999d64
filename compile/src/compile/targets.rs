//! A policy's notification targets: checked (names, keys, where they go) and compiled, for
//! the policy, its menu options and its caller rules.

use switchboard_crds::policy::{self as api, NotificationType};
use switchboard_routing::table;

use crate::problem::{ObjectId, Problem};

/// The voicemail can be transcribed; each notification target has a unique name, its key and
/// where it goes.
pub(super) fn check_notifications(
    spec: &switchboard_crds::policy::IncomingCallPolicySpec,
    id: &ObjectId,
    problems: &mut Vec<Problem>,
) {
    if spec.voicemail.transcribe && spec.voicemail.max_length_seconds > 120 {
        problems.push(Problem::field(id, "spec.voicemail.maxLengthSeconds", "voicemail.transcribe needs voicemail.maxLengthSeconds of 120 or less: Twilio only transcribes recordings up to 2 minutes"));
    }
    super::report_repeated_names(
        id,
        spec.notifications.iter().map(|n| n.name.as_str()),
        |i| format!("spec.notifications[{i}].name"),
        |name| format!("{name:?} is used by two notification targets: names must be unique"),
        problems,
    );
    check_targets(id, &spec.notifications, "spec.notifications", problems);
    let options = spec.menu.iter().flat_map(|m| m.options.iter().enumerate());
    let options = options.map(|(i, o)| (format!("spec.menu.options[{i}]"), o.alerts.as_ref()));
    let rules = spec.callers.iter().flat_map(|c| c.rules.iter().enumerate());
    let rules = rules.map(|(i, r)| (format!("spec.callers.rules[{i}]"), r.alerts.as_ref()));
    for (at, alerts) in options.chain(rules) {
        let Some(alerts) = alerts else { continue };
        let prefix = format!("{at}.alerts.targets");
        check_targets(id, &alerts.targets, &prefix, problems);
        for (j, t) in alerts.targets.iter().enumerate() {
            let clash = spec.notifications.iter().any(|n| n.name == t.name)
                || alerts.targets[..j].iter().any(|n| n.name == t.name);
            if clash {
                problems.push(Problem::field(
                    id,
                    format!("{prefix}[{j}].name"),
                    format!("{:?} is already the name of a notification target of this policy: give each target its own name", t.name),
                ));
            }
        }
    }
}

/// Each target has its key and where it goes.
fn check_targets(
    id: &ObjectId,
    targets: &[api::NotificationTarget],
    prefix: &str,
    problems: &mut Vec<Problem>,
) {
    for (i, n) in targets.iter().enumerate() {
        let needs_key = matches!(
            n.target_type,
            NotificationType::Webhook | NotificationType::PagerDuty
        );
        if needs_key && n.secret_ref.is_none() {
            problems.push(Problem::field(
                id,
                format!("{prefix}[{i}].secretRef"),
                "set secretRef: Webhook targets sign with it (HMAC key), PagerDuty targets route with it (routing key)",
            ));
        }
        if n.target_type != NotificationType::PagerDuty
            && n.url.is_none()
            && n.url_secret_ref.is_none()
        {
            problems.push(Problem::field(
                id,
                format!("{prefix}[{i}].url"),
                "set url or urlSecretRef: where the notification is sent",
            ));
        }
    }
}

/// A menu option's or a caller rule's alerts, compiled.
pub(super) fn option_alerts(a: &api::OptionAlerts) -> table::OptionAlerts {
    table::OptionAlerts {
        targets: a.targets.iter().map(target).collect(),
        replace: a.replace,
        severity: a.severity.map(severity),
    }
}

pub(super) fn target(n: &api::NotificationTarget) -> table::NotificationTarget {
    let key = |s: &switchboard_crds::SecretKeyRef| table::SecretKey {
        name: s.name.clone(),
        key: s.key.clone(),
    };
    table::NotificationTarget {
        name: n.name.clone(),
        kind: notification_kind(n.target_type),
        url: n.url.clone(),
        url_secret: n.url_secret_ref.as_ref().map(key),
        secret: n.secret_ref.as_ref().map(key),
    }
}

pub(super) fn severity(s: api::Severity) -> table::Severity {
    match s {
        api::Severity::Critical => table::Severity::Critical,
        api::Severity::Error => table::Severity::Error,
        api::Severity::Warning => table::Severity::Warning,
        api::Severity::Info => table::Severity::Info,
    }
}

fn notification_kind(t: NotificationType) -> table::TargetKind {
    use table::TargetKind;
    match t {
        NotificationType::Webhook => TargetKind::Webhook,
        NotificationType::Slack => TargetKind::Slack,
        NotificationType::PagerDuty => TargetKind::PagerDuty,
        NotificationType::Alertmanager => TargetKind::Alertmanager,
        NotificationType::GrafanaOnCall => TargetKind::GrafanaOnCall,
    }
}
