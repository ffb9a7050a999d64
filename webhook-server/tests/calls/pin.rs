//! The PIN: asked before anything else, checked against the table's keyed digest, wrong ones
//! asked again, too many ending the call; known callers skip it. Through the real server and
//! Redis, the simulator keying digits as Twilio's `<Gather>` takes them (up to `#`).

use super::callers::call_from;
use super::*;
use switchboard_routing::RoutingTable;
use switchboard_routing::callers::{CallerRule, Callers, RuleTarget};
use switchboard_routing::pin::{Pin, digest};
use switchboard_routing::table::SecretKey;

const PIN: &str = "482916";

fn with_pin(ask_known_callers: bool) -> RoutingTable {
    let mut t = table();
    let policy = format!("{}/{}", t.owner.namespace, t.policy.name);
    t.policy.pin = Some(Pin {
        secret: SecretKey {
            name: "hotline-pin".into(),
            key: "pin".into(),
        },
        digest: digest(TOKEN, &policy, PIN),
        attempts: 3,
        ask_known_callers,
        timeout_seconds: 10,
    });
    t.policy.callers = Some(Callers {
        rules: vec![CallerRule {
            name: "noc".into(),
            exact: vec![NOC.into()],
            prefixes: vec![],
            to: RuleTarget::Option("2".into()),
            alerts: None,
        }],
        allowlist_only: false,
        reject_message: "Sorry.".into(),
    });
    t.seal()
}

fn count(t: &Transcript, text: &str) -> usize {
    t.heard.iter().filter(|h| h.contains(text)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pin_is_asked_again_and_the_right_one_puts_the_caller_through() {
    let wrong = "111111#";
    let right = format!("{PIN}#");
    let (t, call) = call_from(with_pin(false), CALLER, &[wrong, &right, "2"]).await;
    assert_eq!(count(&t, "Please enter your PIN"), 2, "{:?}", t.heard);
    assert_eq!(
        count(&t, "Sorry, that PIN is not right."),
        1,
        "{:?}",
        t.heard
    );
    assert_eq!(count(&t, "Which team do you need?"), 1, "{:?}", t.heard);
    assert!(call.pin_passed);
    assert_eq!(call.chain.as_deref(), Some("database"));
    assert_eq!(call.outcome, Some(Outcome::Answered), "{}", t.render());
    // The call log says what happened, never the digits.
    let log: Vec<&str> = call.events.iter().map(|(_, e)| e.as_str()).collect();
    assert!(log.contains(&"wrong PIN (1 of 3): asking again"), "{log:?}");
    assert!(log.contains(&"the caller keyed the right PIN"), "{log:?}");
    assert!(
        !log.iter().any(|e| e.contains(PIN) || e.contains("111111")),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_wrong_pins_end_the_call_before_anyone_is_rung() {
    let (t, call) = call_from(with_pin(false), CALLER, &["1234#", "", "999999#"]).await;
    assert_eq!(count(&t, "Please enter your PIN"), 3, "{:?}", t.heard);
    assert_eq!(
        count(&t, "Sorry, that PIN was wrong too many times. Goodbye."),
        1,
        "{:?}",
        t.heard
    );
    assert_eq!(count(&t, "Which team"), 0, "{:?}", t.heard);
    assert!(t.dials.is_empty(), "{:?}", t.dials);
    assert_eq!(call.outcome, Some(Outcome::Blocked), "{}", t.render());
    assert!(!call.pin_passed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_caller_skips_the_pin_unless_the_policy_asks_them_too() {
    let (t, call) = call_from(with_pin(false), NOC, &[]).await;
    assert_eq!(count(&t, "Please enter your PIN"), 0, "{:?}", t.heard);
    assert_eq!(call.chain.as_deref(), Some("database"), "{}", t.render());

    let right = format!("{PIN}#");
    let (t, call) = call_from(with_pin(true), NOC, &[&right]).await;
    assert_eq!(count(&t, "Please enter your PIN"), 1, "{:?}", t.heard);
    assert!(call.pin_passed);
    assert_eq!(call.chain.as_deref(), Some("database"), "{}", t.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_sealed_with_another_accounts_token_matches_nothing() {
    let mut t = with_pin(false);
    if let Some(p) = &mut t.policy.pin {
        p.digest = digest("another-token", "oncall/support", PIN);
    }
    let right = format!("{PIN}#");
    let (t, call) = call_from(t.seal(), CALLER, &[&right, &right, &right]).await;
    assert_eq!(call.outcome, Some(Outcome::Blocked), "{}", t.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_checks_are_counted_by_result() {
    let c = Cluster::with_table(1, monday_10am(), with_pin(false)).await;
    let right = format!("{PIN}#");
    for keys in [
        vec!["1111#", "2222#", "3333#"],
        vec!["1111#", right.as_str(), "2"],
    ] {
        let script = Script::call(CALLER, HOTLINE)
            .press(&keys)
            .responder(DANA, Behaviour::Accept { after: 3 });
        let t = c.simulator().run(script).await.unwrap();
        finished(&c, &t).await;
    }
    let text = c.replicas[0].metrics().encode();
    let count = |result: &str| {
        let line = format!("switchboard_webhook_pin_checks_total{{result=\"{result}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&line))
            .unwrap_or_else(|| panic!("no {line} in\n{text}"))
            .to_string()
    };
    assert_eq!(count("wrong"), "3");
    assert_eq!(count("locked"), "1");
    assert_eq!(count("right"), "1");
}
