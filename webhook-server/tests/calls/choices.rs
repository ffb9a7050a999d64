//! The caller's choices between rings (voicemail now, a call-back): whole calls through the
//! real server and Redis.

use super::*;
use switchboard_routing::RoutingTable;
use switchboard_routing::table::CallerChoices;

const PROMPT: &str = "We are still trying to reach someone. To leave a message, press 1. To be called back, press 2. Otherwise, please stay on the line.";
const WITHOUT_CALLBACK: &str = "We are still trying to reach someone. To leave a message, press 1. Otherwise, please stay on the line.";

fn with_choices() -> RoutingTable {
    let mut t = table();
    t.policy.caller_choices = Some(CallerChoices {
        prompt: PROMPT.into(),
        prompt_without_callback: Some(WITHOUT_CALLBACK.into()),
        voicemail_digit: Some("1".into()),
        callback_digit: Some("2".into()),
        timeout_seconds: 3,
    });
    t.seal()
}

/// The database call (menu 2), Dana not answering, then `keys` at the choice.
async fn choose(keys: &str, from: &str) -> (Cluster, Transcript, CallState) {
    let c = Cluster::with_table(1, monday_10am(), with_choices()).await;
    let mut script = database_call()
        .responder(DANA, Behaviour::NoAnswer)
        .responder(DBA_MANAGER, Behaviour::Accept { after: 3 });
    script.from = from.to_string();
    script.presses.push(keys.to_string());
    script.message = Some(Message {
        seconds: 10,
        transcript: "call me".into(),
    });
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    (c, t, call)
}

fn metric(c: &Cluster, choice: &str) -> String {
    let text = c.replicas[0].metrics().encode();
    let line = format!("switchboard_webhook_caller_choices_total{{choice=\"{choice}\"}}");
    text.lines()
        .find(|l| l.starts_with(&line))
        .unwrap_or_else(|| panic!("no {line} in\n{text}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_voicemail_key_between_rings_takes_a_message_and_rings_nobody_else() {
    let (c, t, call) = choose("1", CALLER).await;
    assert_eq!(flat(&t), [DANA], "nobody after the choice: {}", t.render());
    assert!(t.heard.iter().any(|h| h == PROMPT), "{:?}", t.heard);
    assert!(t.voicemail_left);
    assert_eq!(call.outcome, Some(Outcome::Voicemail));
    assert!(
        call.events
            .iter()
            .any(|(_, e)| e == "the caller pressed 1: voicemail now, nobody else is rung")
    );
    assert!(metric(&c, "voicemail").ends_with(" 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_back_key_ends_the_call_and_the_alert_names_the_number() {
    let (c, t, call) = choose("2", CALLER).await;
    assert_eq!(flat(&t), [DANA], "{}", t.render());
    assert!(!t.voicemail_left);
    assert!(
        t.heard
            .iter()
            .any(|h| h.starts_with("Thank you. We will call you back at 1 5 1 0")),
        "{:?}",
        t.heard
    );
    assert_eq!(call.outcome, Some(Outcome::NoAnswer));
    assert_eq!(call.callback.as_deref(), Some(CALLER));
    let alert = call.alert().expect("an alert");
    assert_eq!(alert.callback.as_deref(), Some(CALLER));
    let stages = alert.plan(alert.ended_at.unwrap()).stages;
    assert!(
        stages.contains(&switchboard_routing::Stage::CallbackRequested),
        "{stages:?}"
    );
    assert!(
        !stages.contains(&switchboard_routing::Stage::Resolved),
        "somebody must call back"
    );
    assert!(metric(&c, "callback").ends_with(" 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_at_the_choice_rings_on() {
    let (c, t, call) = choose("", CALLER).await;
    assert_eq!(flat(&t), [DANA, DBA_MANAGER], "{}", t.render());
    assert_eq!(call.outcome, Some(Outcome::Answered));
    assert!(metric(&c, "stayed").ends_with(" 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withheld_number_is_not_offered_a_call_back_and_its_key_rings_on() {
    let (_c, t, call) = choose("2", "+266696687").await;
    assert!(
        t.heard.iter().any(|h| h == WITHOUT_CALLBACK),
        "{:?}",
        t.heard
    );
    assert!(!t.heard.iter().any(|h| h == PROMPT));
    assert_eq!(call.callback, None);
    assert_eq!(flat(&t), [DANA, DBA_MANAGER], "{}", t.render());
    assert!(
        call.events
            .iter()
            .any(|(_, e)| e == "the caller pressed 2, which is not a choice: ringing on")
    );
}

/// The database option's alerts go to the database team's own PagerDuty service only, as
/// warnings; the others keep the policy's targets.
fn with_database_alerts() -> RoutingTable {
    use switchboard_routing::table::{
        Entry, NotificationTarget, OptionAlerts, SecretKey, Severity, TargetKind,
    };
    let mut t = table();
    let Entry::Menu(menu) = &mut t.policy.entry else {
        panic!("the fixture has a menu")
    };
    let db = menu.options.iter_mut().find(|o| o.digit == "2").unwrap();
    db.alerts = Some(OptionAlerts {
        targets: vec![NotificationTarget {
            name: "database-pagerduty".into(),
            kind: TargetKind::PagerDuty,
            url: None,
            url_secret: None,
            secret: Some(SecretKey {
                name: "database-keys".into(),
                key: "pagerduty".into(),
            }),
        }],
        replace: true,
        severity: Some(Severity::Warning),
    });
    t.seal()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_menu_options_alert_goes_to_its_own_targets_once_the_caller_has_chosen() {
    let c = Cluster::with_table(1, monday_10am(), with_database_alerts()).await;
    let policy_targets: Vec<String> = table()
        .policy
        .notifications
        .iter()
        .map(|n| n.name.clone())
        .collect();
    assert!(!policy_targets.is_empty());

    let script = database_call().responder(DANA, Behaviour::Accept { after: 3 });
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    let alert = call.alert().expect("an alert");
    let names: Vec<&str> = alert
        .route
        .targets
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(names, ["database-pagerduty"], "replaced, not added");
    assert_eq!(
        alert.route.alerting.severity,
        Some(switchboard_routing::table::Severity::Warning)
    );
    // Raised at the choice, not when the call came in.
    let chose = call
        .events
        .iter()
        .find(|(_, e)| e.starts_with("menu: chose 2"))
        .map(|(at, _)| *at)
        .unwrap();
    assert_eq!(alert.routed_at, Some(chose));
    assert!(alert.timeline()[0].0 >= chose, "{:?}", alert.timeline());
    // The stored snapshot is the option's too.
    let stored = c.store().call(&t.call_sid).await.unwrap().unwrap();
    assert_eq!(
        stored.alert().unwrap().route.targets[0].name,
        "database-pagerduty"
    );

    // Another option keeps the policy's targets.
    let t = c
        .simulator()
        .run(Script::call(CALLER, HOTLINE).press(&["1"]))
        .await
        .unwrap();
    let call = finished(&c, &t).await;
    let names: Vec<String> = call
        .alert()
        .unwrap()
        .route
        .targets
        .iter()
        .map(|n| n.name.clone())
        .collect();
    assert_eq!(names, policy_targets);

    // A caller who hangs up in the menu is alerted to the policy's targets.
    let mut gone = Script::call(CALLER, HOTLINE);
    gone.caller_hangs_up_after = Some(5);
    let t = c.simulator().run(gone).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(call.outcome, Some(Outcome::Abandoned));
    assert_eq!(
        call.alert().unwrap().route.targets.len(),
        policy_targets.len()
    );
}
