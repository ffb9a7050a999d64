//! Texts to a hotline: who gets them, and what the sender is told. Pure, like `flow/`.
//!
//! ```text
//!   opt-out/help keyword ─► no reply (Twilio answers those itself)
//!   unknown number / texts not routed / blocked sender ─► no reply, no alert
//!   otherwise: first word ─► menu option (digit or a word of its name) | default option | the policy's chain
//!              ─► first step of that chain with someone to text ─► forwards
//!              ─► alert (targets + forwards, sent by the dispatcher) ─► <Message> reply
//! ```

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use switchboard_routing::callers::{RuleTarget, Verdict};
use switchboard_routing::table::{Entry, Mode, RoutingTable};
use switchboard_routing::{Alert, AlertKind, CallProgress, Contact, Forward};

use crate::twiml::{Response, Verb};

/// An incoming text.
#[derive(Clone, Debug)]
pub struct Text<'a> {
    /// Twilio's MessageSid.
    pub message_sid: &'a str,
    /// The sender.
    pub from: &'a str,
    /// The hotline number.
    pub to: &'a str,
    /// What they wrote.
    pub body: &'a str,
    /// Twilio's `OptOutType` parameter (`STOP`, `START`, `HELP`), set when Twilio recognised an
    /// opt-out, opt-in or help keyword of a Messaging Service with Advanced Opt-Out.
    pub opt_out_type: &'a str,
}

/// A text as the text log keeps it (`switchboard calls --texts`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TextRecord {
    /// Twilio's MessageSid.
    pub message_sid: String,
    /// The sender.
    pub from: String,
    /// The hotline number.
    pub to: String,
    /// What they wrote.
    pub body: String,
    /// When it came in.
    pub received_at: Timestamp,
    /// `routed` (an alert, forwards) or `ignored`.
    pub outcome: String,
    /// Why: the menu option and chain it went to, or why it was ignored.
    pub note: String,
    /// The responders it was forwarded to, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forwarded_to: Vec<String>,
}

impl TextRecord {
    /// The record of `text`, answered with `answer` at `now`.
    pub fn of(text: &Text<'_>, answer: &Answer, now: Timestamp) -> TextRecord {
        TextRecord {
            message_sid: text.message_sid.to_string(),
            from: text.from.to_string(),
            to: text.to.to_string(),
            body: text.body.to_string(),
            received_at: now,
            outcome: if answer.alert.is_some() {
                "routed"
            } else {
                "ignored"
            }
            .to_string(),
            note: answer.note.clone(),
            forwarded_to: answer
                .alert
                .iter()
                .flat_map(|a| a.forwards.iter().map(|f| f.name.clone()))
                .collect(),
        }
    }
}

/// What to do with a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The TwiML answered to Twilio (a `<Message>` reply, or nothing).
    pub reply: Response,
    /// The alert to raise and the forwards to send, when the text is routed.
    pub alert: Option<Alert>,
    /// Why, for the log.
    pub note: String,
}

/// Twilio's default opt-out (STOP, ...), opt-in (START, ...) and help (HELP, INFO) keywords.
/// Twilio replies to these itself and keeps its opt-out list; a reply of ours to an opted-out
/// sender would be refused (error 21610). See "Twilio support for opt-out keywords (SMS STOP
/// filtering)": <https://help.twilio.com/articles/223134027>.
pub const TWILIO_KEYWORDS: [&str; 13] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
    "START",
    "YES",
    "UNSTOP",
    "HELP",
    "INFO",
];

/// The longest body Twilio's Messages API accepts.
const MAX_BODY_CHARS: usize = 1600;

fn nothing(note: impl Into<String>) -> Answer {
    Answer {
        reply: Response::new(),
        alert: None,
        note: note.into(),
    }
}

/// Whether the whole text is one of Twilio's keywords (Twilio matches the whole message,
/// trimmed, in any case).
pub fn is_twilio_keyword(body: &str) -> bool {
    let word = body.trim().trim_end_matches(['.', '!']);
    TWILIO_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// Decides what happens to text `t` at `now`.
pub fn text(table: Option<&RoutingTable>, t: &Text<'_>, now: Timestamp) -> Answer {
    if !t.opt_out_type.is_empty() || is_twilio_keyword(t.body) {
        return nothing("an opt-out, opt-in or help keyword: Twilio answers it itself");
    }
    let Some(table) = table else {
        return nothing(format!("no routing table for {}", t.to));
    };
    let policy = &table.policy;
    let Some(reply) = &policy.sms_reply else {
        return nothing("the policy does not route texts (spec.sms.enabled is false)");
    };
    if policy.blocklist.blocks(t.from) {
        return nothing(format!("sender {} is on the blocklist", t.from));
    }
    if let Mode::Disabled { message } | Mode::Maintenance { message } = &policy.mode {
        return Answer {
            reply: Response::new().push(Verb::Message(message.clone())),
            alert: None,
            note: "the policy is not active".into(),
        };
    }
    let known = policy.callers.as_ref().map(|c| c.judge(t.from));
    if let Some(Verdict::Rejected { .. }) = known {
        return nothing(format!(
            "sender {} is not on the allowlist (spec.callers.allowlistOnly)",
            t.from
        ));
    }
    // A text cannot key a PIN: only senders a caller rule names get past it (unless the PIN
    // is asked of them too, which a text cannot answer either).
    if let Some(pin) = &policy.pin {
        let named = matches!(known, Some(Verdict::Rule { .. }));
        if !named || pin.ask_known_callers {
            return nothing(format!(
                "sender {} cannot key the hotline's PIN (spec.pin) in a text",
                t.from
            ));
        }
    }
    let (menu_choice, chain) = match known {
        // A known sender goes where their rule sends callers.
        Some(Verdict::Rule { rule, .. }) => match &rule.to {
            RuleTarget::Chain(c) => (None, Some(c.clone())),
            RuleTarget::Option(d) => match policy.entry.option(d) {
                Some(o) => (
                    Some(format!("{} {}", o.digit, o.name)),
                    Some(o.chain.clone()),
                ),
                None => route(table, t.body),
            },
            RuleTarget::Usual => route(table, t.body),
        },
        _ => route(table, t.body),
    };
    // The sender's rule's own targets, else the chosen option's, when they have them.
    let rule_route = match known {
        Some(Verdict::Rule { rule, .. }) => table.rule_route(&rule.name),
        _ => None,
    };
    let alert_route = match (
        rule_route,
        menu_choice.as_deref().and_then(|c| c.split(' ').next()),
    ) {
        (Some(route), _) => route,
        (None, Some(digit)) => table.option_route(digit),
        (None, None) => table.alert_route(),
    };
    let forwards = chain
        .as_deref()
        .map(|c| on_call(table, c, t.message_sid, now))
        .unwrap_or_default();
    if forwards.is_empty() && alert_route.targets.is_empty() {
        return Answer {
            reply: Response::new().push(Verb::Message(policy.messages.no_one_on_call.clone())),
            alert: None,
            note: format!(
                "nobody to forward it to in chain {} and no notification targets",
                chain.as_deref().unwrap_or("(none)")
            ),
        };
    }
    let note = format!(
        "routed to chain {}; forwarded to {}",
        chain.as_deref().unwrap_or("(none)"),
        if forwards.is_empty() {
            "nobody (no one is on call)".to_string()
        } else {
            forwards
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let alert = Alert {
        id: t.message_sid.to_string(),
        kind: AlertKind::Text,
        hotline: t.to.to_string(),
        caller: t.from.to_string(),
        policy: format!("{}/{}", table.owner.namespace, policy.name),
        started_at: now,
        menu_choice,
        chain,
        description: None,
        text: Some(t.body.chars().take(MAX_BODY_CHARS).collect()),
        accepted_by: None,
        accepted_at: None,
        outcome: None,
        ended_at: None,
        talk_seconds: None,
        recording_url: None,
        transcription: None,
        conversation_recording_url: None,
        closed: None,
        raise_again_at: None,
        routed_at: None,
        callback: None,
        route: alert_route,
        forwards,
    };
    Answer {
        reply: Response::new().push(Verb::Message(reply.clone())),
        alert: Some(alert),
        note,
    }
}

/// The menu option the text's first word names, else the menu's default option, else its first;
/// the policy's chain when there is no menu. A first word names an option when it is the
/// option's digit, or one of the words of the option's name (three letters or more, any case)
/// that no other option's name has: with "the platform team" and "the database team",
/// "database" names the second, while "the" and "team" name neither.
fn route(table: &RoutingTable, body: &str) -> (Option<String>, Option<String>) {
    let menu = match &table.policy.entry {
        Entry::Chain(c) => return (None, Some(c.clone())),
        Entry::Menu(m) => m,
    };
    let first = body
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    let words = |name: &str| -> Vec<String> {
        name.split_whitespace()
            .map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric())
                    .to_lowercase()
            })
            .filter(|w| w.chars().count() >= 3)
            .collect()
    };
    let named = menu.options.iter().find(|o| {
        o.digit == first
            || (words(&o.name).contains(&first)
                && menu
                    .options
                    .iter()
                    .filter(|other| other.digit != o.digit)
                    .all(|other| !words(&other.name).contains(&first)))
    });
    let chosen = named
        .or_else(|| {
            menu.default_digit
                .as_deref()
                .and_then(|d| menu.options.iter().find(|o| o.digit == d))
        })
        .or_else(|| menu.options.first());
    match chosen {
        Some(o) => (
            Some(format!("{} {}", o.digit, o.name)),
            Some(o.chain.clone()),
        ),
        None => (None, None),
    }
}

/// Whoever the first step of `chain` with someone reachable by text would ring now.
fn on_call(table: &RoutingTable, chain: &str, sid: &str, now: Timestamp) -> Vec<Forward> {
    let Some(c) = table.chain(chain) else {
        return vec![];
    };
    for step in 0..c.steps.len() {
        let progress = CallProgress {
            call_sid: sid,
            pass: 0,
            already_rung: &[],
            rung_in_call: 0,
        };
        let Ok(plan) = table.plan_step(c, step, now, progress) else {
            continue;
        };
        let forwards: Vec<Forward> = plan
            .responders
            .iter()
            .filter_map(|r| match &r.contact {
                Contact::Phone(n) => Some(Forward {
                    to: n.clone(),
                    name: r.display_name.clone(),
                    reason: r.reason.clone(),
                }),
                Contact::Sip(_) => None,
            })
            .collect();
        if !forwards.is_empty() {
            return forwards;
        }
    }
    vec![]
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_routing::table::Mode;

    fn table() -> RoutingTable {
        RoutingTable::from_json(include_str!("../tests/fixtures/support-hotline.json")).unwrap()
    }

    fn monday_10am() -> Timestamp {
        "2026-11-23T15:00:00Z".parse().unwrap()
    }

    fn send(t: &RoutingTable, from: &str, body: &str, opt_out: &str) -> Answer {
        let text = Text {
            message_sid: "SM1",
            from,
            to: "+14155550100",
            body,
            opt_out_type: opt_out,
        };
        text_of(Some(t), &text)
    }

    fn text_of(t: Option<&RoutingTable>, x: &Text<'_>) -> Answer {
        text(t, x, monday_10am())
    }

    #[test]
    fn a_known_sender_goes_where_their_rule_sends_callers_and_strangers_are_ignored_when_allowlisted()
     {
        use switchboard_routing::callers::{CallerRule, Callers};
        let mut t = table();
        t.policy.callers = Some(Callers {
            rules: vec![CallerRule {
                name: "dba".into(),
                exact: vec!["+15105550123".into()],
                prefixes: vec![],
                to: RuleTarget::Option("2".into()),
                alerts: None,
            }],
            allowlist_only: true,
            reject_message: "Sorry.".into(),
        });
        let t = t.seal();
        let a = send(&t, "+15105550123", "payments failing", "")
            .alert
            .unwrap();
        assert_eq!(
            a.menu_choice.as_deref(),
            Some("2 the database team"),
            "the rule wins over the word"
        );
        let stranger = send(&t, "+12125550100", "payments failing", "");
        assert!(stranger.alert.is_none());
        assert!(
            stranger.note.contains("not on the allowlist"),
            "{}",
            stranger.note
        );
    }

    #[test]
    fn a_pin_hotline_takes_texts_only_from_senders_a_rule_names() {
        use switchboard_routing::callers::{CallerRule, Callers};
        use switchboard_routing::pin::Pin;
        let mut t = table();
        t.policy.callers = Some(Callers {
            rules: vec![CallerRule {
                name: "noc".into(),
                exact: vec!["+15105550123".into()],
                prefixes: vec![],
                to: RuleTarget::Usual,
                alerts: None,
            }],
            allowlist_only: false,
            reject_message: "Sorry.".into(),
        });
        let mut pin = Pin {
            secret: switchboard_routing::table::SecretKey {
                name: "pin".into(),
                key: "pin".into(),
            },
            digest: "00".into(),
            attempts: 3,
            ask_known_callers: false,
            timeout_seconds: 10,
        };
        t.policy.pin = Some(pin.clone());
        let sealed = t.clone().seal();
        assert!(send(&sealed, "+15105550123", "db down", "").alert.is_some());
        let stranger = send(&sealed, "+12125550100", "db down", "");
        assert!(stranger.alert.is_none());
        assert!(
            stranger.note.contains("cannot key the hotline's PIN"),
            "{}",
            stranger.note
        );
        // Asked of known callers too: nobody's text gets past it.
        pin.ask_known_callers = true;
        t.policy.pin = Some(pin);
        let t = t.seal();
        assert!(send(&t, "+15105550123", "db down", "").alert.is_none());
    }

    #[test]
    fn a_text_to_an_option_with_its_own_targets_is_alerted_there() {
        use switchboard_routing::table::{Entry, OptionAlerts};
        let mut t = table();
        let policy_targets = t.policy.notifications.len();
        let Entry::Menu(menu) = &mut t.policy.entry else {
            panic!("the fixture has a menu")
        };
        let own = t.policy.notifications[0].clone();
        let mut extra = own.clone();
        extra.name = "database-channel".into();
        menu.options[1].alerts = Some(OptionAlerts {
            targets: vec![extra],
            replace: false,
            severity: None,
        });
        let t = t.seal();
        let a = send(&t, "+15105550123", "database: replication lag", "")
            .alert
            .unwrap();
        assert_eq!(
            a.route.targets.len(),
            policy_targets + 1,
            "added to the policy's"
        );
        assert_eq!(a.route.targets.last().unwrap().name, "database-channel");
        let a = send(&t, "+15105550123", "payments failing", "")
            .alert
            .unwrap();
        assert_eq!(a.route.targets.len(), policy_targets);
    }

    #[test]
    fn the_first_word_picks_the_menu_option_by_digit_or_distinctive_name() {
        let t = table();
        for (body, choice) in [
            ("2 db down", "2 the database team"),
            ("Database: replication lag", "2 the database team"),
            ("payments failing", "3 the payments team"),
            ("the site is down", "1 the platform team"),
            ("team, help!", "1 the platform team"),
        ] {
            let a = send(&t, "+15105550123", body, "").alert.unwrap();
            assert_eq!(a.menu_choice.as_deref(), Some(choice), "{body}");
        }
    }

    #[test]
    fn a_routed_text_is_forwarded_to_the_on_call_and_answered() {
        let a = send(&table(), "+15105550123", "database down", "");
        assert_eq!(
            a.reply.to_xml(),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thanks, the on-call engineer has been notified.</Message></Response>"#
        );
        let alert = a.alert.unwrap();
        assert_eq!(alert.kind, AlertKind::Text);
        assert_eq!(alert.forwards.len(), 1);
        assert_eq!(alert.forwards[0].to, "+12125550201");
        assert_eq!(alert.text.as_deref(), Some("database down"));
    }

    #[test]
    fn twilio_keywords_blocked_senders_and_unrouted_policies_get_no_reply() {
        let t = table();
        for kw in ["STOP", "stop", " Unsubscribe ", "HELP", "info", "START"] {
            let a = send(&t, "+15105550123", kw, "");
            assert_eq!(a.reply, Response::new(), "{kw}");
            assert!(a.alert.is_none());
        }
        assert!(send(&t, "+15105550123", "arrêt", "STOP").alert.is_none());
        assert!(!is_twilio_keyword("stop the database"));
        let blocked = send(&t, "+449012345678", "hello", "");
        assert_eq!(blocked.reply, Response::new());
        assert!(blocked.alert.is_none());
        let mut off = t.clone();
        off.policy.sms_reply = None;
        assert!(send(&off, "+15105550123", "hello", "").alert.is_none());
        let unknown = Text {
            message_sid: "SM2",
            from: "+15105550123",
            to: "+14155550199",
            body: "hello",
            opt_out_type: "",
        };
        assert_eq!(text_of(None, &unknown).reply, Response::new());
    }

    #[test]
    fn a_policy_in_maintenance_replies_with_its_message() {
        let mut t = table();
        t.policy.mode = Mode::Maintenance {
            message: "Down for maintenance until 06:00 UTC.".into(),
        };
        let a = send(&t, "+15105550123", "database down", "");
        assert!(a.alert.is_none());
        assert_eq!(
            a.reply,
            Response::new().push(Verb::Message(
                "Down for maintenance until 06:00 UTC.".into()
            ))
        );
    }
}
