//! What each kind of target receives for each stage of an alert. Pure: the dispatcher resolves
//! URLs and keys and sends what these functions build.
//!
//! | target        | request                                                                 |
//! |---------------|-------------------------------------------------------------------------|
//! | Webhook       | JSON `{version, delivery, event, summary, alert}`, signed: `X-Switchboard-Signature: sha256=HMAC-SHA256(key, "<timestamp>.<body>")` |
//! | Slack         | incoming webhook `{text, blocks}`: one message per stage (incoming webhooks cannot edit a message) |
//! | PagerDuty     | Events API v2: `trigger` (again with the news: voicemail, transcription, who accepted; one `dedup_key` per call), `acknowledge`, `resolve`; a voicemail raised again when the hotline opens is a new incident (`dedup_key` + `-raised-again`) |
//! | Alertmanager  | `POST /api/v2/alerts`: one alert, labels fixed per call, annotations updated, `endsAt` on resolution |
//! | GrafanaOnCall | `{from, message, target}` as Grafana OnCall's own Twilio flow posts, plus `alert_uid`, `state`, `title` for grouping and auto-resolve templates |

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use switchboard_routing::table::TargetKind;
use switchboard_routing::{Alert, AlertKind, Outcome, Stage};

/// PagerDuty's Events API v2 endpoint, used when a PagerDuty target sets no `url`.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// One HTTP POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Where.
    pub url: String,
    /// Extra headers (the body is always JSON).
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: String,
}

/// A target with its URL and credential resolved.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The receiver's kind.
    pub kind: TargetKind,
    /// The URL (from `url` or `urlSecretRef`; `None` for PagerDuty's default).
    pub url: Option<String>,
    /// The `secretRef` value: HMAC key or routing key.
    pub secret: Option<String>,
}

/// The requests that tell `target` about `stage` of `alert`, sent in order. `now` (Unix seconds)
/// goes into the webhook signature.
pub fn requests(
    target: &Resolved,
    stage: Stage,
    alert: &Alert,
    now: i64,
) -> Result<Vec<Request>, String> {
    let url = || {
        target
            .url
            .clone()
            .ok_or_else(|| format!("{} target has no URL", target.kind))
    };
    let secret = || {
        target
            .secret
            .clone()
            .ok_or_else(|| format!("{} target has no secretRef value", target.kind))
    };
    Ok(match target.kind {
        TargetKind::Webhook => vec![webhook(url()?, &secret()?, stage, alert, now)],
        TargetKind::Slack => vec![plain(url()?, slack(stage, alert))],
        TargetKind::PagerDuty => {
            let url = target
                .url
                .clone()
                .unwrap_or_else(|| PAGERDUTY_EVENTS_URL.to_string());
            pagerduty(&secret()?, stage, alert)
                .into_iter()
                .map(|b| plain(url.clone(), b))
                .collect()
        }
        TargetKind::Alertmanager => {
            let base = url()?;
            let url = if base.trim_end_matches('/').ends_with("/api/v2/alerts") {
                base
            } else {
                format!("{}/api/v2/alerts", base.trim_end_matches('/'))
            };
            vec![plain(url, alertmanager(stage, alert))]
        }
        TargetKind::GrafanaOnCall => vec![plain(url()?, grafana_oncall(stage, alert))],
        TargetKind::Unknown => {
            return Err("a notification type this version does not know".to_string());
        }
    })
}

fn plain(url: String, body: Value) -> Request {
    Request {
        url,
        headers: vec![],
        body: body.to_string(),
    }
}

/// The alert's fields for receivers (where it is routed and forwarded stays internal).
fn fields(alert: &Alert) -> Value {
    let mut v = serde_json::to_value(alert).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("route");
        o.remove("forwards");
        o.insert("severity".into(), severity(alert).into());
    }
    v
}

/// The alert's severity, as PagerDuty and Alertmanager spell it.
fn severity(alert: &Alert) -> &'static str {
    alert.route.alerting.severity.unwrap_or_default().as_str()
}

/// The signature of a webhook delivery: hex HMAC-SHA256 of `"<timestamp>.<body>"` with `key`.
pub fn webhook_signature(key: &str, timestamp: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn webhook(url: String, key: &str, stage: Stage, alert: &Alert, now: i64) -> Request {
    let delivery = format!("{}:{}", alert.id, stage.as_str());
    let body = json!({
        "version": "v1",
        "delivery": delivery,
        "event": stage.as_str(),
        "summary": alert.summary(),
        "alert": fields(alert),
    })
    .to_string();
    Request {
        url,
        headers: vec![
            ("X-Switchboard-Event".into(), stage.as_str().into()),
            ("X-Switchboard-Delivery".into(), delivery),
            ("X-Switchboard-Timestamp".into(), now.to_string()),
            (
                "X-Switchboard-Signature".into(),
                format!("sha256={}", webhook_signature(key, now, &body)),
            ),
        ],
        body,
    }
}

/// Slack's mrkdwn needs `&`, `<` and `>` escaped in text that is not a link.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn mmss(secs: u32) -> String {
    format!("{}m{:02}s", secs / 60, secs % 60)
}

fn slack(stage: Stage, a: &Alert) -> Value {
    let who = esc(&a.caller);
    let (headline, mut lines) = match stage {
        Stage::Triggered => {
            let what = match a.kind {
                AlertKind::Call => "Hotline call",
                AlertKind::Text => "Hotline text",
            };
            (
                format!(":rotating_light: {what} from {who} to {}", esc(&a.hotline)),
                vec![format!("*Policy:* {}", esc(&a.policy))],
            )
        }
        Stage::Acknowledged => (
            format!(
                ":white_check_mark: {} accepted the call from {who}",
                esc(a.accepted_by.as_deref().unwrap_or("someone"))
            ),
            vec![],
        ),
        Stage::CallbackRequested => (
            format!(
                ":telephone_receiver: {who} asked to be called back at {}",
                esc(a.callback.as_deref().unwrap_or(&a.caller))
            ),
            vec![format!("*Policy:* {}", esc(&a.policy))],
        ),
        Stage::Voicemail => (format!(":mailbox_with_mail: Voicemail from {who}"), vec![]),
        Stage::RaisedAgain => (
            format!(
                ":alarm_clock: The hotline is open: voicemail from {who} left while closed{}",
                a.closed
                    .as_deref()
                    .map(|c| format!(" ({})", esc(c)))
                    .unwrap_or_default()
            ),
            vec![format!("*Policy:* {}", esc(&a.policy))],
        ),
        Stage::Transcription => (
            format!(":memo: Transcription of the voicemail from {who}"),
            vec![],
        ),
        Stage::Resolved => {
            let how = match (&a.accepted_by, a.outcome) {
                (Some(by), _) => format!(
                    "answered by {}{}",
                    esc(by),
                    a.talk_seconds
                        .map(|s| format!(", talked {}", mmss(s)))
                        .unwrap_or_default()
                ),
                (None, Some(Outcome::Abandoned)) => {
                    "the caller hung up before anyone answered".into()
                }
                (None, Some(o)) => o.as_str().replace('-', " "),
                (None, None) => "ended".into(),
            };
            (
                format!(":checkered_flag: Call from {who} is over: {how}"),
                vec![],
            )
        }
    };
    if stage == Stage::Triggered {
        if let Some(c) = &a.menu_choice {
            lines.push(format!("*Menu:* {}", esc(c)));
        }
        if severity(a) != "critical" {
            lines.push(format!("*Severity:* {}", severity(a)));
        }
        if let Some(d) = &a.description {
            lines.push(format!("*Said:* “{}”", esc(d)));
        }
        if let Some(t) = &a.text {
            lines.push(format!("*Text:* “{}”", esc(t)));
        }
        if !a.forwards.is_empty() {
            let names: Vec<String> = a.forwards.iter().map(|f| esc(&f.name)).collect();
            lines.push(format!("*Forwarded to:* {}", names.join(", ")));
        }
    }
    if matches!(stage, Stage::Voicemail | Stage::RaisedAgain)
        && let Some(u) = &a.recording_url
    {
        lines.push(format!("<{u}|Listen to the recording>"));
    }
    if matches!(stage, Stage::Transcription | Stage::RaisedAgain)
        && let Some(t) = &a.transcription
    {
        lines.push(format!("“{}”", esc(t)));
    }
    let mut text = headline.clone();
    for l in &lines {
        text.push('\n');
        text.push_str(l);
    }
    json!({
        "text": headline,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    })
}

fn dedup_key(a: &Alert) -> String {
    format!("switchboard-{}", a.id)
}

/// A voicemail raised again when the hotline opens is an alert of its own (PagerDuty opens a
/// new incident, Alertmanager and Grafana OnCall a new alert group), so the people now at
/// work are paged even if the first alert was acknowledged or resolved overnight.
const RAISED_AGAIN_SUFFIX: &str = "-raised-again";

fn pagerduty(key: &str, stage: Stage, a: &Alert) -> Vec<Value> {
    let dedup = match stage {
        Stage::RaisedAgain => format!("{}{RAISED_AGAIN_SUFFIX}", dedup_key(a)),
        _ => dedup_key(a),
    };
    let trigger = || {
        let mut details = fields(a);
        if let Some(o) = details.as_object_mut() {
            o.remove("id");
        }
        let mut links = vec![];
        if let Some(u) = &a.recording_url {
            links.push(json!({"href": u, "text": "Voicemail recording"}));
        }
        if let Some(u) = &a.conversation_recording_url {
            links.push(json!({"href": u, "text": "Call recording"}));
        }
        let summary = match stage {
            Stage::RaisedAgain => format!("The hotline is open: {}", a.summary()),
            _ => a.summary(),
        };
        let summary: String = summary.chars().take(1024).collect();
        json!({
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": dedup,
            "payload": {
                "summary": summary,
                "source": a.hotline,
                "severity": severity(a),
                "timestamp": a.started_at.to_string(),
                "component": "switchboard",
                "group": a.policy,
                "class": match a.kind { AlertKind::Call => "hotline-call", AlertKind::Text => "hotline-text" },
                "custom_details": details,
            },
            "client": "Switchboard",
            "links": links,
        })
    };
    let action = |action: &str| json!({"routing_key": key, "event_action": action, "dedup_key": dedup_key(a)});
    match stage {
        // A trigger with the same dedup_key updates the open alert instead of opening another.
        Stage::Triggered | Stage::CallbackRequested | Stage::Voicemail | Stage::Transcription => {
            vec![trigger()]
        }
        // A new incident (its own dedup_key), for the people now at work.
        Stage::RaisedAgain => vec![trigger()],
        // `acknowledge` carries no details: who accepted goes in a trigger update first.
        Stage::Acknowledged => vec![trigger(), action("acknowledge")],
        Stage::Resolved => vec![action("resolve")],
    }
}

fn alertmanager(stage: Stage, a: &Alert) -> Value {
    let mut annotations = serde_json::Map::new();
    annotations.insert("summary".into(), a.summary().into());
    let said = a.description.as_ref().or(a.text.as_ref());
    if let Some(d) = said {
        annotations.insert("description".into(), d.clone().into());
    }
    let outcome = a.outcome.map(|o| o.as_str().to_string());
    let optional = [
        ("menu_choice", &a.menu_choice),
        ("chain", &a.chain),
        ("accepted_by", &a.accepted_by),
        ("outcome", &outcome),
        ("recording_url", &a.recording_url),
        ("transcription", &a.transcription),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            annotations.insert(k.into(), v.clone().into());
        }
    }
    if let Some(c) = &a.closed {
        annotations.insert("closed".into(), c.clone().into());
    }
    if let Some(n) = &a.callback {
        annotations.insert("callback".into(), n.clone().into());
    }
    let mut alert = json!({
        "labels": {
            "alertname": match (a.kind, stage) {
                // A label set of its own: a new alert, notified afresh.
                (_, Stage::RaisedAgain) => "SwitchboardHotlineVoicemailRaisedAgain",
                (AlertKind::Call, _) => "SwitchboardHotlineCall",
                (AlertKind::Text, _) => "SwitchboardHotlineText",
            },
            "severity": severity(a),
            "policy": a.policy,
            "number": a.hotline,
            "caller": a.caller,
            "id": a.id,
        },
        "annotations": annotations,
        "startsAt": a.started_at.to_string(),
    });
    if stage == Stage::Resolved {
        alert["endsAt"] = a.ended_at.unwrap_or(a.started_at).to_string().into();
    }
    json!([alert])
}

fn grafana_oncall(stage: Stage, a: &Alert) -> Value {
    let target = a
        .menu_choice
        .as_deref()
        .map(|c| c.split_once(' ').map(|(_, name)| name).unwrap_or(c))
        .unwrap_or("default");
    let message = a
        .text
        .clone()
        .or_else(|| a.description.clone())
        .unwrap_or_else(|| a.summary());
    json!({
        "from": a.caller,
        "message": message,
        "target": target,
        "alert_uid": match stage {
            Stage::RaisedAgain => format!("{}{RAISED_AGAIN_SUFFIX}", a.id),
            _ => a.id.clone(),
        },
        "state": if stage == Stage::Resolved { "ok" } else { "alerting" },
        "title": a.summary(),
        "event": stage.as_str(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_routing::table::{Alerting, ObjectName};
    use switchboard_routing::{AlertRoute, Forward};

    fn alert() -> Alert {
        Alert {
            id: "CA1".into(),
            kind: AlertKind::Call,
            hotline: "+14155550100".into(),
            caller: "+15105550123".into(),
            policy: "oncall/support".into(),
            started_at: "2026-11-23T15:00:00Z".parse().unwrap(),
            menu_choice: Some("2 the database team".into()),
            chain: Some("database".into()),
            description: Some("orders <fail> & refunds".into()),
            text: None,
            accepted_by: None,
            accepted_at: None,
            outcome: Some(Outcome::Voicemail),
            ended_at: Some("2026-11-23T15:03:00Z".parse().unwrap()),
            talk_seconds: None,
            recording_url: Some(
                "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1".into(),
            ),
            transcription: Some("call me back".into()),
            conversation_recording_url: None,
            closed: None,
            raise_again_at: None,
            routed_at: None,
            callback: None,
            route: AlertRoute {
                targets: vec![],
                alerting: Alerting::default(),
                owner: ObjectName {
                    namespace: "oncall".into(),
                    name: "support-hotline".into(),
                },
                account_sid: Some("AC1".into()),
            }
            .into(),
            forwards: vec![],
        }
    }

    fn target(kind: TargetKind) -> Resolved {
        Resolved {
            kind,
            url: Some("http://receiver.test/x".into()),
            secret: Some("key".into()),
        }
    }

    #[test]
    fn the_webhook_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: python3 -c "import hmac,hashlib;
        // print(hmac.new(b'whsec-test', b'1700000000.{\"a\":1}', hashlib.sha256).hexdigest())"
        assert_eq!(
            webhook_signature("whsec-test", 1_700_000_000, r#"{"a":1}"#),
            "fed7a1a6c799a6367d73724d76bc70c16678908a32a879cd1ded6565ac05cece"
        );
    }

    #[test]
    fn slack_text_is_escaped_and_links_the_recording() {
        let a = alert();
        let r = requests(&target(TargetKind::Slack), Stage::Triggered, &a, 0).unwrap();
        let body: Value = serde_json::from_str(&r[0].body).unwrap();
        let text = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(text.contains("orders &lt;fail&gt; &amp; refunds"), "{text}");
        let r = requests(&target(TargetKind::Slack), Stage::Voicemail, &a, 0).unwrap();
        let body: Value = serde_json::from_str(&r[0].body).unwrap();
        assert_eq!(
            body["blocks"][0]["text"]["text"],
            ":mailbox_with_mail: Voicemail from +15105550123\n<https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1|Listen to the recording>"
        );
    }

    #[test]
    fn pagerduty_defaults_to_the_events_api_and_needs_its_routing_key() {
        let a = alert();
        let t = Resolved {
            kind: TargetKind::PagerDuty,
            url: None,
            secret: Some("rk".into()),
        };
        let r = requests(&t, Stage::Resolved, &a, 0).unwrap();
        assert_eq!(r[0].url, PAGERDUTY_EVENTS_URL);
        let missing = Resolved { secret: None, ..t };
        assert!(requests(&missing, Stage::Triggered, &a, 0).is_err());
    }

    #[test]
    fn a_voicemail_raised_again_is_a_new_alert_at_every_kind_of_target() {
        let mut a = alert();
        a.closed = Some("holiday 'Christmas Day'".into());
        a.raise_again_at = Some("2026-12-28T08:00:00Z".parse().unwrap());
        let body = |kind, stage| -> Value {
            let t = Resolved {
                kind,
                ..target(kind)
            };
            serde_json::from_str(&requests(&t, stage, &a, 0).unwrap()[0].body).unwrap()
        };
        let slack = body(TargetKind::Slack, Stage::RaisedAgain);
        let text = slack["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(
            text.starts_with(":alarm_clock: The hotline is open: voicemail from +15105550123 left while closed (holiday 'Christmas Day')"),
            "{text}"
        );
        assert!(text.contains("|Listen to the recording>") && text.contains("call me back"));
        let first = body(TargetKind::PagerDuty, Stage::Voicemail);
        let again = body(TargetKind::PagerDuty, Stage::RaisedAgain);
        assert_eq!(first["dedup_key"], "switchboard-CA1");
        assert_eq!(again["dedup_key"], "switchboard-CA1-raised-again");
        assert_eq!(again["event_action"], "trigger");
        assert!(
            again["payload"]["summary"]
                .as_str()
                .unwrap()
                .starts_with("The hotline is open: Hotline call from +15105550123"),
            "{again}"
        );
        let am = body(TargetKind::Alertmanager, Stage::RaisedAgain);
        assert_eq!(
            am[0]["labels"]["alertname"],
            "SwitchboardHotlineVoicemailRaisedAgain"
        );
        assert_eq!(am[0]["annotations"]["closed"], "holiday 'Christmas Day'");
        let g = body(TargetKind::GrafanaOnCall, Stage::RaisedAgain);
        assert_eq!(g["alert_uid"], "CA1-raised-again");
        assert_eq!(g["state"], "alerting");
        let w = body(TargetKind::Webhook, Stage::RaisedAgain);
        assert_eq!(w["event"], "raised-again");
        assert_eq!(w["alert"]["raiseAgainAt"], "2026-12-28T08:00:00Z");
    }

    #[test]
    fn a_call_back_request_names_the_number_at_every_kind_of_target() {
        let mut a = alert();
        a.outcome = Some(Outcome::NoAnswer);
        a.recording_url = None;
        a.transcription = None;
        a.callback = Some("+15105550123".into());
        let body = |kind| -> Value {
            let t = target(kind);
            let r = requests(&t, Stage::CallbackRequested, &a, 0).unwrap();
            serde_json::from_str(&r[0].body).unwrap()
        };
        assert_eq!(
            body(TargetKind::Slack)["text"],
            ":telephone_receiver: +15105550123 asked to be called back at +15105550123"
        );
        let pd = body(TargetKind::PagerDuty);
        assert_eq!(pd["dedup_key"], "switchboard-CA1");
        assert_eq!(pd["event_action"], "trigger");
        assert_eq!(pd["payload"]["custom_details"]["callback"], "+15105550123");
        assert!(
            pd["payload"]["summary"]
                .as_str()
                .unwrap()
                .ends_with(": call-back requested to +15105550123"),
            "{pd}"
        );
        assert_eq!(
            body(TargetKind::Alertmanager)[0]["annotations"]["callback"],
            "+15105550123"
        );
        assert_eq!(body(TargetKind::Webhook)["event"], "callback-requested");
    }

    #[test]
    fn the_routes_severity_reaches_pagerduty_alertmanager_webhooks_and_slack() {
        let mut a = alert();
        let body = |a: &Alert, kind| -> Value {
            let r = requests(&target(kind), Stage::Triggered, a, 0).unwrap();
            serde_json::from_str(&r[0].body).unwrap()
        };
        assert_eq!(
            body(&a, TargetKind::PagerDuty)["payload"]["severity"],
            "critical"
        );
        let mut route = (*a.route).clone();
        route.alerting.severity = Some(switchboard_routing::table::Severity::Warning);
        a.route = route.into();
        assert_eq!(
            body(&a, TargetKind::PagerDuty)["payload"]["severity"],
            "warning"
        );
        assert_eq!(
            body(&a, TargetKind::Alertmanager)[0]["labels"]["severity"],
            "warning"
        );
        assert_eq!(
            body(&a, TargetKind::Webhook)["alert"]["severity"],
            "warning"
        );
        let slack = body(&a, TargetKind::Slack);
        assert!(
            slack["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .contains("*Severity:* warning"),
            "{slack}"
        );
    }

    #[test]
    fn alertmanager_gets_the_api_path_once() {
        let a = alert();
        for base in [
            "http://am:9093",
            "http://am:9093/",
            "http://am:9093/api/v2/alerts",
        ] {
            let t = Resolved {
                kind: TargetKind::Alertmanager,
                url: Some(base.into()),
                secret: None,
            };
            let r = requests(&t, Stage::Transcription, &a, 0).unwrap();
            assert_eq!(r[0].url, "http://am:9093/api/v2/alerts");
            let body: Value = serde_json::from_str(&r[0].body).unwrap();
            assert_eq!(body[0]["annotations"]["transcription"], "call me back");
            assert!(body[0].get("endsAt").is_none());
        }
    }

    #[test]
    fn a_text_reaches_grafana_oncall_as_grafanas_own_twilio_flow_posts_it() {
        let mut a = alert();
        a.kind = AlertKind::Text;
        a.text = Some("db down".into());
        a.description = None;
        a.outcome = None;
        a.forwards = vec![Forward {
            to: "+12125550201".into(),
            name: "Dana Cruz".into(),
            reason: "on call".into(),
        }];
        let r = requests(&target(TargetKind::GrafanaOnCall), Stage::Triggered, &a, 0).unwrap();
        let body: Value = serde_json::from_str(&r[0].body).unwrap();
        assert_eq!(body["from"], "+15105550123");
        assert_eq!(body["message"], "db down");
        assert_eq!(body["target"], "the database team");
        assert_eq!(body["state"], "alerting");
        let slack = requests(&target(TargetKind::Slack), Stage::Triggered, &a, 0).unwrap();
        assert!(
            slack[0].body.contains("*Forwarded to:* Dana Cruz"),
            "{}",
            slack[0].body
        );
    }

    #[test]
    fn an_unknown_kind_or_a_missing_url_is_an_error_not_a_panic() {
        let a = alert();
        assert!(requests(&target(TargetKind::Unknown), Stage::Triggered, &a, 0).is_err());
        let no_url = Resolved {
            kind: TargetKind::Slack,
            url: None,
            secret: None,
        };
        assert!(requests(&no_url, Stage::Triggered, &a, 0).is_err());
    }
}
