//! Who is calling: known callers sent straight to a chain or a menu option, and the
//! allowlist-only mode, through the real server and Redis.

use super::*;
use switchboard_routing::RoutingTable;
use switchboard_routing::callers::{CallerRule, Callers, RuleTarget};

const VIP: &str = "+14155550142";
const REJECT: &str = "Sorry, this hotline only takes calls from registered numbers. Goodbye.";

fn with_rules(allowlist_only: bool) -> RoutingTable {
    let mut t = table();
    t.policy.callers = Some(Callers {
        rules: vec![
            CallerRule {
                name: "vip".into(),
                exact: vec![VIP.into()],
                prefixes: vec![],
                to: RuleTarget::Chain("database".into()),
                alerts: None,
            },
            CallerRule {
                name: "bay-area".into(),
                exact: vec![],
                prefixes: vec!["+1415".into()],
                to: RuleTarget::Option("2".into()),
                alerts: None,
            },
            CallerRule {
                name: "staff".into(),
                exact: vec![],
                prefixes: vec!["+1510".into()],
                to: RuleTarget::Usual,
                alerts: None,
            },
        ],
        allowlist_only,
        reject_message: REJECT.into(),
    });
    t.seal()
}

/// One call from `from` pressing `keys`; Dana accepts, the caller describes a database outage.
pub(super) async fn call_from(
    table: RoutingTable,
    from: &str,
    keys: &[&str],
) -> (Transcript, CallState) {
    let c = Cluster::with_table(1, monday_10am(), table).await;
    let mut script = Script::call(from, HOTLINE)
        .press(keys)
        .responder(DANA, Behaviour::Accept { after: 3 });
    script.speech = Some("the primary database is down".into());
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    (t, call)
}

fn has_event(call: &CallState, text: &str) -> bool {
    call.events.iter().any(|(_, e)| e == text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exact_number_beats_its_prefix_and_skips_the_menu_to_its_chain() {
    let (t, call) = call_from(with_rules(false), VIP, &[]).await;
    assert!(
        !t.heard.iter().any(|h| h.contains("Which team")),
        "{:?}",
        t.heard
    );
    assert_eq!(call.chain.as_deref(), Some("database"));
    assert_eq!(call.menu_choice, None);
    assert!(
        has_event(
            &call,
            "known caller +14155550142 (rule vip, +14155550142): chain database"
        ),
        "{:?}",
        call.events
    );
    assert_eq!(call.outcome, Some(Outcome::Answered), "{}", t.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_rule_goes_where_its_menu_digit_goes() {
    let (t, call) = call_from(with_rules(false), "+14155550177", &[]).await;
    assert!(
        !t.heard.iter().any(|h| h.contains("Which team")),
        "{:?}",
        t.heard
    );
    assert_eq!(call.menu_choice.as_deref(), Some("2 the database team"));
    assert!(
        has_event(
            &call,
            "known caller +14155550177 (rule bay-area, +1415*): menu option 2 (the database team)"
        ),
        "{:?}",
        call.events
    );
    assert_eq!(call.outcome, Some(Outcome::Answered), "{}", t.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowlist_only_turns_strangers_and_withheld_callers_away_and_admits_the_named() {
    for (from, why) in [
        (
            "+12125550100",
            "caller +12125550100 is not on the allowlist",
        ),
        (
            "anonymous",
            "caller anonymous withholds their number: the hotline takes only the callers its rules name",
        ),
    ] {
        let (t, call) = call_from(with_rules(true), from, &[]).await;
        assert_eq!(t.heard, [REJECT], "{from}");
        assert!(t.dials.is_empty());
        assert_eq!(call.outcome, Some(Outcome::Blocked));
        assert!(has_event(&call, why), "{:?}", call.events);
        assert!(call.alert().is_none(), "no alert for a caller turned away");
    }
    // A rule without a target admits its callers to the usual menu.
    let (t, call) = call_from(with_rules(true), "+15105550123", &["2"]).await;
    assert!(
        t.heard.iter().any(|h| h.contains("Which team")),
        "{:?}",
        t.heard
    );
    assert_eq!(call.menu_choice.as_deref(), Some("2 the database team"));
    assert!(has_event(
        &call,
        "known caller +15105550123 (rule staff, +1510*): admitted"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rules_own_alerts_replace_the_policys_and_win_over_its_menu_options() {
    use switchboard_routing::table::{NotificationTarget, OptionAlerts, Severity, TargetKind};
    let mut t = with_rules(false);
    let alerts = OptionAlerts {
        targets: vec![NotificationTarget {
            name: "vip-pager".into(),
            kind: TargetKind::Slack,
            url: Some("https://hooks.example.com/vip".into()),
            url_secret: None,
            secret: None,
        }],
        replace: true,
        severity: Some(Severity::Warning),
    };
    if let Some(c) = &mut t.policy.callers {
        for r in &mut c.rules {
            r.alerts = Some(alerts.clone());
        }
    }
    let t = t.seal();
    for (from, keys) in [
        (VIP, &[][..]),
        ("+14155550177", &[][..]),
        ("+15105550123", &["2"][..]),
    ] {
        let (tr, call) = call_from(t.clone(), from, keys).await;
        let alert = call.alert().expect("an alert");
        let names: Vec<&str> = alert
            .route
            .targets
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["vip-pager"], "{from}: {}", tr.render());
        assert_eq!(
            alert.route.alerting.severity,
            Some(Severity::Warning),
            "{from}"
        );
    }
}
