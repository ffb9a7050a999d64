//! Opening hours, holidays and voicemail-only hotlines: whole calls through the real server
//! and Redis, one per rule.

use super::*;
use jiff::civil::{Weekday, time};
use switchboard_routing::hours::{ClosedAction, Holiday, OpeningHours, WhenClosed};
use switchboard_routing::table::VoicemailOnly;
use switchboard_routing::{Days, RoutingTable, Window};

const CLOSED: &str = "Acme is closed right now.";

/// Weekdays 09:00-17:00 in New York, Christmas a holiday, closed calls getting `action`.
fn with_hours(action: ClosedAction) -> RoutingTable {
    let mut t = table();
    t.policy.opening_hours = Some(OpeningHours {
        time_zone: "America/New_York".into(),
        weekly: vec![Window {
            days: Days::of([
                Weekday::Monday,
                Weekday::Tuesday,
                Weekday::Wednesday,
                Weekday::Thursday,
                Weekday::Friday,
            ]),
            start: time(9, 0, 0, 0),
            end: time(17, 0, 0, 0),
        }],
        holidays: vec![Holiday {
            date: jiff::civil::date(2026, 12, 25),
            name: "Christmas Day".into(),
        }],
        when_closed: WhenClosed {
            message: CLOSED.into(),
            action,
            raise_again_when_open: true,
        },
    });
    t.seal()
}

/// Friday 25 December 2026, 10:00 in New York: inside the weekday window, but Christmas.
fn christmas_morning() -> jiff::Timestamp {
    "2026-12-25T15:00:00Z".parse().unwrap()
}

fn events(call: &CallState) -> Vec<&str> {
    call.events.iter().map(|(_, e)| e.as_str()).collect()
}

fn emergency(chain: Option<&str>) -> ClosedAction {
    ClosedAction::Emergency {
        prompt: "If this is an emergency, press 1.".into(),
        digit: "1".into(),
        timeout_seconds: 5,
        chain: chain.map(String::from),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_the_window_the_call_is_routed_as_usual() {
    let c = Cluster::with_table(1, monday_10am(), with_hours(ClosedAction::Hangup)).await;
    let script = database_call().responder(DANA, Behaviour::Accept { after: 4 });
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(call.outcome, Some(Outcome::Answered));
    assert_eq!(call.closed, None);
    assert!(!t.heard.iter().any(|h| h == CLOSED), "{:?}", t.heard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_holiday_the_closed_message_is_said_and_nobody_is_rung() {
    let c = Cluster::with_table(1, christmas_morning(), with_hours(ClosedAction::Hangup)).await;
    let t = c.simulator().run(database_call()).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(t.heard, [CLOSED, "Goodbye."], "no greeting, no menu");
    assert!(t.dials.is_empty());
    assert_eq!(call.outcome, Some(Outcome::Unavailable));
    assert_eq!(call.closed.as_deref(), Some("holiday 'Christmas Day'"));
    assert!(events(&call).contains(&"closed: holiday 'Christmas Day'"));
    assert!(call.alert().is_none(), "a closed message raises no alert");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_night_a_closed_chain_rings_without_the_menu() {
    // Monday 2026-11-23 23:00 in New York.
    let night = "2026-11-24T04:00:00Z".parse().unwrap();
    let c = Cluster::with_table(1, night, with_hours(ClosedAction::Chain("database".into()))).await;
    // No key pressed anywhere: the menu must not be read.
    let mut script =
        Script::call(CALLER, HOTLINE).responder(DBA_MANAGER, Behaviour::Accept { after: 3 });
    script.speech = Some("the primary database is down".into());
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(t.heard.first().map(String::as_str), Some(CLOSED));
    assert!(
        !t.heard.iter().any(|h| h.contains("Which team")),
        "{:?}",
        t.heard
    );
    assert_eq!(call.chain.as_deref(), Some("database"));
    assert_eq!(call.closed.as_deref(), Some("outside opening hours"));
    assert_eq!(call.outcome, Some(Outcome::Answered), "{}", t.render());
    // The responder hears that the call came in out of hours.
    assert!(
        t.lines.iter().any(|l| l
            .text
            .contains("The hotline is closed: this call came in out of hours.")),
        "{}",
        t.render()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emergency_key_leads_into_the_usual_menu_and_chain() {
    let c = Cluster::with_table(1, christmas_morning(), with_hours(emergency(None))).await;
    // 1 at the emergency question, then 2 (database) at the menu.
    let mut script = Script::call(CALLER, HOTLINE)
        .press(&["1", "2"])
        .responder(DBA_MANAGER, Behaviour::Accept { after: 3 });
    script.speech = Some("the primary database is down".into());
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(t.heard[..2], [CLOSED, "If this is an emergency, press 1."]);
    assert!(
        t.heard.iter().any(|h| h.contains("Which team")),
        "{:?}",
        t.heard
    );
    assert_eq!(call.menu_choice.as_deref(), Some("2 the database team"));
    assert_eq!(call.outcome, Some(Outcome::Answered), "{}", t.render());
    assert!(events(&call).contains(&"closed: the caller pressed 1 for an emergency"));
    assert_eq!(call.raise_again_at, None, "not a voicemail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emergency_key_may_ring_a_chain_of_its_own() {
    let c = Cluster::with_table(
        1,
        christmas_morning(),
        with_hours(emergency(Some("database"))),
    )
    .await;
    let mut script = Script::call(CALLER, HOTLINE)
        .press(&["1"])
        .responder(DBA_MANAGER, Behaviour::Accept { after: 3 });
    script.speech = Some("the primary database is down".into());
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert!(
        !t.heard.iter().any(|h| h.contains("Which team")),
        "{:?}",
        t.heard
    );
    assert_eq!(call.chain.as_deref(), Some("database"));
    assert_eq!(call.outcome, Some(Outcome::Answered), "{}", t.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_emergency_key_takes_a_voicemail_raised_again_at_the_next_opening() {
    let c = Cluster::with_table(1, christmas_morning(), with_hours(emergency(None))).await;
    let mut script = Script::call(CALLER, HOTLINE);
    script.message = Some(Message {
        seconds: 12,
        transcript: "please call me back".into(),
    });
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert!(t.voicemail_left, "{}", t.render());
    assert!(t.dials.is_empty());
    assert_eq!(call.outcome, Some(Outcome::Voicemail));
    // Christmas is a Friday: the next opening is Monday 28 December, 09:00 in New York.
    let reopens: jiff::Timestamp = "2026-12-28T14:00:00Z".parse().unwrap();
    assert_eq!(call.raise_again_at, Some(reopens));
    let alert = call.alert().expect("the voicemail raises an alert");
    assert_eq!(alert.raise_again_at, Some(reopens));
    assert_eq!(alert.closed.as_deref(), Some("holiday 'Christmas Day'"));
    assert!(events(&call).contains(&"closed: no emergency key pressed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voicemail_only_hotline_rings_nobody_after_the_menu() {
    let mut tb = table();
    tb.policy.voicemail_only = Some(VoicemailOnly {
        message: Some("Nobody answers this line live.".into()),
    });
    let c = Cluster::with_table(1, monday_10am(), tb.seal()).await;
    let mut script = database_call();
    script.message = Some(Message {
        seconds: 10,
        transcript: "feedback".into(),
    });
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert!(t.dials.is_empty(), "{}", t.render());
    assert!(t.voicemail_left);
    assert!(
        t.heard
            .iter()
            .any(|h| h == "Nobody answers this line live.")
    );
    assert_eq!(call.menu_choice.as_deref(), Some("2 the database team"));
    assert_eq!(call.outcome, Some(Outcome::Voicemail));
    assert!(events(&call).contains(&"voicemail-only hotline: nobody is rung live"));
}
