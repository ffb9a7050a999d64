//! Whole calls through the real HTTP server and a real Redis server, with the simulator
//! playing Twilio's part (signed webhooks, TwiML executed as Twilio documents it).

mod common;

use common::*;
use switchboard_sim::{Behaviour, CallbackOrder, Message, Script, Transcript};
use switchboard_webhook::state::{CallState, Outcome};

const DANA: &str = "+12125550201";
const DBA_MANAGER: &str = "+12125550299";
const NOC: &str = "+12125550999";

fn database_call() -> Script {
    let mut s = Script::call(CALLER, HOTLINE).press(&["2"]);
    s.speech = Some("the primary database is down".into());
    s
}

async fn finished(c: &Cluster, t: &Transcript) -> CallState {
    assert!(
        t.application_errors.is_empty(),
        "{:?}\n{}",
        t.application_errors,
        t.render()
    );
    c.store()
        .call(&t.call_sid)
        .await
        .unwrap()
        .expect("call logged")
}

fn flat(t: &Transcript) -> Vec<String> {
    t.dials.iter().flatten().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_at_the_first_step() {
    let c = Cluster::start(1, monday_10am()).await;
    let script = database_call().responder(DANA, Behaviour::Accept { after: 4 });
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(t.connected.as_deref(), Some(DANA), "{}", t.render());
    assert_eq!(call.outcome, Some(Outcome::Answered));
    assert_eq!(call.talk_seconds, Some(60));
    assert_eq!(call.menu_choice.as_deref(), Some("2 the database team"));
    assert_eq!(
        call.description.as_deref(),
        Some("the primary database is down")
    );
    let (who, at) = call.accepted.clone().unwrap();
    assert_eq!(who.contact.address(), DANA);
    assert!(at > call.started_at);
    assert!(
        t.render()
            .contains("hears: \"Incoming call to the support hotline"),
        "{}",
        t.render()
    );
    // The call log lists it, with its events.
    let recent = c.store().recent_calls(10).await.unwrap();
    assert_eq!(recent[0].call_sid, t.call_sid);
    assert!(
        call.events
            .iter()
            .any(|(_, e)| e.contains("accepted the call"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_then_the_second_step_answers() {
    let c = Cluster::start(1, monday_10am()).await;
    let script = database_call().responder(DBA_MANAGER, Behaviour::Accept { after: 6 });
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(flat(&t), [DANA, DBA_MANAGER]);
    assert_eq!(call.outcome, Some(Outcome::Answered));
    assert_eq!(call.rung[0].result.as_deref(), Some("no-answer"));
    assert_eq!(call.rung[1].result.as_deref(), Some("accepted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voicemail_that_picks_up_but_never_presses_1_does_not_stop_the_chain() {
    let c = Cluster::start(1, monday_10am()).await;
    let script = database_call()
        .responder(DANA, Behaviour::Voicemail { after: 3 })
        .responder(DBA_MANAGER, Behaviour::Accept { after: 5 });
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert!(t.render().contains("voicemail picks up"), "{}", t.render());
    assert_eq!(flat(&t), [DANA, DBA_MANAGER]);
    assert_eq!(t.connected.as_deref(), Some(DBA_MANAGER));
    assert_eq!(call.rung[0].result.as_deref(), Some("not-accepted"));
    assert_eq!(call.outcome, Some(Outcome::Answered));
}

/// Saturday 10:00 UTC, when jonas is on call for platform (menu option 1): the cluster, and a
/// first call to platform where nobody answers (its second dial rings the rest of the team).
async fn saturday_platform_unanswered() -> (Cluster, Transcript, CallState) {
    let c = Cluster::start(1, "2026-11-21T10:00:00Z".parse().unwrap()).await;
    let t = c
        .simulator()
        .run(Script::call(CALLER, HOTLINE).press(&["1"]))
        .await
        .unwrap();
    let call = finished(&c, &t).await;
    (c, t, call)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voicemail_that_answers_first_in_an_all_at_once_step_does_not_cancel_the_others() {
    // Saturday 10:00 UTC: jonas is on call for platform; step two rings the other five,
    // found from a first dry run where nobody answers.
    let first = "+4930555010302";
    let (c, dry, _) = saturday_platform_unanswered().await;
    let team = dry.dials[1].clone();
    assert_eq!(team.len(), 5);
    let mut script = Script::call(CALLER, HOTLINE)
        .press(&["1"])
        .responder(&team[0], Behaviour::Voicemail { after: 2 })
        .responder(&team[3], Behaviour::Accept { after: 8 });
    script.speech = None;
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(t.dials[0], [first]);
    assert_eq!(t.dials[1], team);
    assert_eq!(t.dials[2], team[1..].to_vec(), "{}", t.render());
    assert!(t.render().contains("first pickup wins"));
    assert_eq!(t.connected.as_deref(), Some(team[3].as_str()));
    assert_eq!(call.outcome, Some(Outcome::Answered));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_fails_the_chain_repeats_then_voicemail() {
    let c = Cluster::start(1, monday_10am()).await;
    let mut script = database_call()
        .responder(DANA, Behaviour::NoAnswer)
        .responder(DBA_MANAGER, Behaviour::Busy)
        .responder(NOC, Behaviour::Ignore { after: 5 });
    script.message = Some(Message {
        seconds: 20,
        transcript: "please call me back about the database".into(),
    });
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(flat(&t), [DANA, DBA_MANAGER, NOC, DANA, DBA_MANAGER, NOC]);
    assert!(t.voicemail_left);
    assert_eq!(call.outcome, Some(Outcome::Voicemail));
    assert!(
        call.recording_url
            .as_deref()
            .unwrap()
            .contains("/Recordings/RE")
    );
    assert_eq!(
        call.transcription.as_deref(),
        Some("please call me back about the database")
    );
    assert!(
        t.heard.iter().any(|h| h.contains("leave a message")),
        "{:?}",
        t.heard
    );
    let results: Vec<_> = call
        .rung
        .iter()
        .map(|r| r.result.clone().unwrap())
        .collect();
    assert_eq!(
        results,
        [
            "no-answer",
            "busy",
            "not-accepted",
            "no-answer",
            "busy",
            "not-accepted"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caller_hanging_up_while_a_phone_rings_is_abandoned() {
    let c = Cluster::start(1, monday_10am()).await;
    let mut script = database_call();
    script.caller_hangs_up_after = Some(35);
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert!(t.render().contains("caller hangs up while the phones ring"));
    assert_eq!(call.outcome, Some(Outcome::Abandoned));
    assert_eq!(flat(&t), [DANA]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_caller_is_rejected() {
    let c = Cluster::start(1, monday_10am()).await;
    let t = c
        .simulator()
        .run(Script::call("+19005550100", HOTLINE))
        .await
        .unwrap();
    let call = finished(&c, &t).await;
    assert!(
        t.render().contains("Twilio rejects the call"),
        "{}",
        t.render()
    );
    assert!(t.heard.is_empty() && t.dials.is_empty());
    assert_eq!(call.outcome, Some(Outcome::Blocked));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_number_is_not_in_service() {
    let c = Cluster::start(1, monday_10am()).await;
    let t = c
        .simulator()
        .run(Script::call(CALLER, "+14155559999"))
        .await
        .unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(t.heard, [switchboard_webhook::flow::NOT_IN_SERVICE]);
    assert_eq!(call.outcome, Some(Outcome::UnknownNumber));
}

fn menu_without_default() -> switchboard_routing::RoutingTable {
    let mut t = table();
    if let switchboard_routing::table::Entry::Menu(m) = &mut t.policy.entry {
        m.default_digit = None;
    }
    t.seal()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_menu_digit_twice_is_asked_again_then_the_third_answer_counts() {
    let c = Cluster::with_table(1, monday_10am(), menu_without_default()).await;
    let script = database_call()
        .press(&[])
        .responder(DANA, Behaviour::Accept { after: 3 });
    let mut script = script;
    script.presses = vec!["9".into(), "7".into(), "2".into()];
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    let sorry = t
        .heard
        .iter()
        .filter(|h| h.contains("not an option"))
        .count();
    assert_eq!(sorry, 2, "{:?}", t.heard);
    assert_eq!(call.menu_choice.as_deref(), Some("2 the database team"));
    assert_eq!(call.outcome, Some(Outcome::Answered));

    // Three invalid keys: the retries are used up and, with no default, goodbye.
    let mut script = database_call();
    script.presses = vec!["9".into(), "9".into(), "9".into()];
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(t.heard.last().map(String::as_str), Some("Goodbye."));
    assert!(t.dials.is_empty());
    assert_eq!(call.outcome, Some(Outcome::NoAnswer));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_in_the_middle_of_a_call_gives_the_fallback_not_an_error() {
    let c = Cluster::start(1, monday_10am()).await;
    let mut sim = c.simulator();
    // Stop Redis just before Twilio reports the first dial's result.
    let stop = c.redis.stopper();
    sim.before_request = Some(Box::new(move |path: &str| {
        if path.starts_with("/twilio/voice/dial") {
            stop();
        }
    }));
    let t = sim.run(database_call()).await.unwrap();
    assert!(
        t.application_errors.is_empty(),
        "{:?}",
        t.application_errors
    );
    assert!(
        t.heard.iter().any(|h| h.contains("having trouble")),
        "{}",
        t.render()
    );
    assert_eq!(t.dials.last().unwrap(), &[FALLBACK_NUMBER.to_string()]);
    let metrics = c.replicas[0].metrics().encode();
    assert!(
        metrics.contains("switchboard_webhook_fallbacks_total{endpoint=\"dial\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_serve_alternate_webhooks_of_one_call() {
    let c = Cluster::start(2, monday_10am()).await;
    let script = database_call()
        .responder(DANA, Behaviour::Voicemail { after: 3 })
        .responder(DBA_MANAGER, Behaviour::Accept { after: 5 });
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(call.outcome, Some(Outcome::Answered));
    assert_eq!(t.connected.as_deref(), Some(DBA_MANAGER));
    for r in &c.replicas {
        let m = r.metrics().encode();
        assert!(
            m.contains("switchboard_webhook_webhook_duration_seconds_count"),
            "{m}"
        );
    }
    let served = |i: usize, endpoint: &str| {
        c.replicas[i].metrics().encode().contains(&format!(
            "webhook_duration_seconds_count{{endpoint=\"{endpoint}\"}}"
        ))
    };
    assert!(served(0, "incoming") && served(1, "menu"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_webhooks_get_the_same_answer_and_ring_nobody_twice() {
    let c = Cluster::start(1, monday_10am()).await;
    let script = || {
        database_call()
            .responder(DANA, Behaviour::Voicemail { after: 3 })
            .responder(DBA_MANAGER, Behaviour::Accept { after: 5 })
    };
    let once = c.simulator().run(script()).await.unwrap();
    let mut sim = c.simulator();
    sim.deliver_twice = true;
    let twice = sim.run(script()).await.unwrap();
    assert!(
        twice.replay_mismatches.is_empty(),
        "{:?}",
        twice.replay_mismatches
    );
    assert_eq!(twice.dials, once.dials);
    let a = finished(&c, &once).await;
    let b = finished(&c, &twice).await;
    assert_eq!(b.rung.len(), a.rung.len());
    assert_eq!(b.events.len(), a.events.len());
    assert_eq!(b.outcome, Some(Outcome::Answered));
    let m = c.replicas[0].metrics().encode();
    assert!(
        m.contains("switchboard_webhook_replays_total{endpoint=\"dial\"}"),
        "{m}"
    );
    assert!(
        m.contains("switchboard_webhook_replays_total{endpoint=\"incoming\"}"),
        "{m}"
    );
    // A new call's first commit is a draft renamed into place: the retried first webhook's
    // draft was refused and deleted, and the call keeps the retention TTL the draft had.
    let mut conn = redis::Client::open(c.redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let drafts: Vec<String> = redis::cmd("KEYS")
        .arg(format!(
            "{}:call:*:draft:*",
            switchboard_routing::keys::PREFIX
        ))
        .query(&mut conn)
        .unwrap();
    assert!(drafts.is_empty(), "{drafts:?}");
    let ttl: i64 = redis::cmd("TTL")
        .arg(switchboard_routing::keys::call(&twice.call_sid))
        .query(&mut conn)
        .unwrap();
    assert!(ttl > 6 * 24 * 3600, "ttl {ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_in_maintenance_says_its_message_and_hangs_up() {
    let mut t = table();
    t.policy.mode = switchboard_routing::table::Mode::Maintenance {
        message: "The hotline is down for maintenance until 06:00 UTC.".into(),
    };
    let c = Cluster::with_table(1, monday_10am(), t.seal()).await;
    let t = c.simulator().run(database_call()).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(
        t.heard,
        ["The hotline is down for maintenance until 06:00 UTC."]
    );
    assert!(t.dials.is_empty());
    assert_eq!(call.outcome, Some(Outcome::Unavailable));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_conversation_is_announced_and_its_recording_kept() {
    let mut t = table();
    t.policy.recording_announcement = Some("This call is recorded.".into());
    let c = Cluster::with_table(1, monday_10am(), t.seal()).await;
    let script = database_call().responder(DANA, Behaviour::Accept { after: 4 });
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    let announced = t.heard.iter().position(|h| h == "This call is recorded.");
    let first_ring = t
        .lines
        .iter()
        .position(|l| l.text.starts_with("Twilio rings"))
        .unwrap();
    let said_at = t
        .lines
        .iter()
        .position(|l| l.text.contains("This call is recorded."))
        .unwrap();
    assert!(
        announced.is_some() && said_at < first_ring,
        "{}",
        t.render()
    );
    assert_eq!(call.outcome, Some(Outcome::Answered));
    assert!(
        call.conversation_recording_url
            .as_deref()
            .is_some_and(|u| u.contains("/Recordings/RE")),
        "{call:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_that_empties_the_script_cache_does_not_break_a_call() {
    let dial: fn(&str) -> bool = |path| path.starts_with("/twilio/voice/dial");
    // A call's first webhook commits by its own path (one round trip) once the table is cached.
    let first: fn(&str) -> bool = |path| path == "/twilio/voice";
    for webhook in [dial, first] {
        script_cache_emptied_before(webhook).await;
    }
}

/// A call whose script cache is emptied just before each webhook `webhook` picks.
async fn script_cache_emptied_before(webhook: fn(&str) -> bool) {
    let c = Cluster::start(1, monday_10am()).await;
    // A first call, so that the replica has the table cached.
    let warm = c.simulator().run(database_call()).await.unwrap();
    finished(&c, &warm).await;
    let mut sim = c.simulator();
    let url = c.redis.url.clone();
    sim.before_request = Some(Box::new(move |path: &str| {
        if webhook(path) {
            let mut conn = redis::Client::open(url.as_str())
                .unwrap()
                .get_connection()
                .unwrap();
            let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut conn).unwrap();
        }
    }));
    let script = database_call().responder(DBA_MANAGER, Behaviour::Accept { after: 5 });
    let t = sim.run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(call.outcome, Some(Outcome::Answered));
    assert_eq!(t.connected.as_deref(), Some(DBA_MANAGER));
    let m = c.replicas[0].metrics().encode();
    assert!(!m.contains("fallbacks_total{"), "{m}");
}

/// The alert snapshot stored for call `sid`, if any.
fn stored_alert(c: &Cluster, sid: &str) -> Option<String> {
    let mut conn = redis::Client::open(c.redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    redis::cmd("HGET")
        .arg(switchboard_routing::keys::call(sid))
        .arg("alert")
        .query(&mut conn)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_after_the_table_changed_is_decided_on_the_new_table() {
    // A first call makes the replica cache the table; its next first webhook is decided on
    // that cache and committed with a read of the current revision in the same round trip.
    let c = Cluster::start(1, monday_10am()).await;
    let first = c.simulator().run(database_call()).await.unwrap();
    assert!(finished(&c, &first).await.alert().is_some());
    assert!(stored_alert(&c, &first.call_sid).is_some());

    // The operator publishes a new revision: maintenance, and no notification targets.
    let mut t = table();
    t.policy.mode = switchboard_routing::table::Mode::Maintenance {
        message: "Back at 06:00 UTC.".into(),
    };
    t.policy.notifications.clear();
    let t = t.seal();
    assert_ne!(t.revision, table().revision);
    c.store().put_table(&t).await.unwrap();

    let mut sim = c.simulator();
    sim.deliver_twice = true;
    let second = sim.run(database_call()).await.unwrap();
    let call = finished(&c, &second).await;
    assert_eq!(second.heard, ["Back at 06:00 UTC."], "{}", second.render());
    assert!(
        second.replay_mismatches.is_empty(),
        "{:?}",
        second.replay_mismatches
    );
    assert_eq!(call.outcome, Some(Outcome::Unavailable));
    assert_eq!(call.revision, t.revision);
    // The decision made on the stale table left no alert behind (the new table notifies
    // nobody).
    assert_eq!(stored_alert(&c, &second.call_sid), None);

    // The number unpublished: not in service, though the replica still holds the maintenance
    // table, and the events of the decision made on that table are gone.
    c.store().remove_table(HOTLINE).await.unwrap();
    let third = c.simulator().run(database_call()).await.unwrap();
    let call = finished(&c, &third).await;
    assert_eq!(third.heard, [switchboard_webhook::flow::NOT_IN_SERVICE]);
    assert_eq!(call.outcome, Some(Outcome::UnknownNumber));
    let events: Vec<&str> = call.events.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(events[0], format!("no routing table for {HOTLINE}"));
    assert!(
        !events.iter().any(|e| e.contains("not active")),
        "{events:?}"
    );
    // The replica forgot the unpublished table: later calls are not decided on it first.
    assert!(c.replicas[0].store().cached_table(HOTLINE).is_none());
}

/// Each `(order, call log)` of `script` played once per order Twilio allows for the last
/// callbacks ([`CallbackOrder`]), each on a fresh server and Redis.
async fn in_every_order(script: &Script) -> Vec<(CallbackOrder, Transcript, CallState, Cluster)> {
    let mut out = vec![];
    for order in CallbackOrder::ALL {
        let c = Cluster::start(1, monday_10am()).await;
        let mut sim = c.simulator();
        sim.order = order;
        let t = sim.run(script.clone()).await.unwrap();
        let call = finished(&c, &t).await;
        out.push((order, t, call, c));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_on_the_conversation_is_answered_with_its_talk_time_in_every_order() {
    let mut script = database_call().responder(DANA, Behaviour::Accept { after: 4 });
    script.talk_seconds = 45;
    script.caller_ends_the_conversation = true;
    for (order, t, call, c) in in_every_order(&script).await {
        let log = format!("{order:?}\n{}", t.render());
        assert_eq!(call.outcome, Some(Outcome::Answered), "{log}");
        assert_eq!(call.talk_seconds, Some(45), "{log}");
        assert_eq!(call.rung[0].result.as_deref(), Some("accepted"), "{log}");
        let alert = stored_alert(&c, &t.call_sid).expect("an alert snapshot");
        assert!(alert.contains(r#""outcome":"answered""#), "{alert}");
        assert!(alert.contains(r#""talkSeconds":45"#), "{alert}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_mid_conversation_gets_the_time_they_talked() {
    // Accepted about 36 s into the call; the caller hangs up at 80 s.
    let mut script = database_call().responder(DANA, Behaviour::Accept { after: 4 });
    script.caller_hangs_up_after = Some(80);
    for (order, t, call, _c) in in_every_order(&script).await {
        let log = format!("{order:?}\n{}", t.render());
        assert_eq!(call.outcome, Some(Outcome::Answered), "{log}");
        let (_, at) = call.accepted.clone().unwrap();
        let expected = 80 - at.duration_since(call.started_at).as_secs() as u32;
        assert_eq!(call.talk_seconds, Some(expected), "{log}");
        assert!(expected > 0 && expected < 60, "{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_while_phones_ring_is_abandoned_in_every_order() {
    let mut script = database_call();
    script.caller_hangs_up_after = Some(35);
    for (order, t, call, c) in in_every_order(&script).await {
        let log = format!("{order:?}\n{}", t.render());
        assert_eq!(call.outcome, Some(Outcome::Abandoned), "{log}");
        assert_eq!(call.talk_seconds, None, "{log}");
        assert_eq!(
            call.rung[0].result.as_deref(),
            Some("caller-hung-up"),
            "{log}"
        );
        let alert = stored_alert(&c, &t.call_sid).expect("an alert snapshot");
        assert!(alert.contains(r#""outcome":"abandoned""#), "{alert}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_responder_whose_line_drops_after_accepting_sends_the_call_back_to_the_escalation() {
    let script = database_call()
        .responder(DANA, Behaviour::AcceptThenDrop { after: 4 })
        .responder(DBA_MANAGER, Behaviour::Accept { after: 5 });
    let t = c_run(script).await;
    let (t, call) = (t.0, t.1);
    assert!(t.render().contains("line drops"), "{}", t.render());
    assert_eq!(flat(&t), [DANA, DBA_MANAGER]);
    assert_eq!(t.connected.as_deref(), Some(DBA_MANAGER), "{}", t.render());
    assert_eq!(call.outcome, Some(Outcome::Answered));
    assert_eq!(call.rung[0].result.as_deref(), Some("dropped"));
    assert_eq!(call.rung[1].result.as_deref(), Some("accepted"));
    assert_eq!(call.accepted.unwrap().0.contact.address(), DBA_MANAGER);
}

async fn c_run(script: Script) -> (Transcript, CallState) {
    let c = Cluster::start(1, monday_10am()).await;
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    (t, call)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_with_nothing_in_it_is_no_voicemail() {
    let mut script = database_call();
    script.message = Some(Message {
        seconds: 0,
        transcript: String::new(),
    });
    let (t, call) = c_run(script).await;
    assert!(
        t.voicemail_left,
        "Twilio posted the empty recording: {}",
        t.render()
    );
    assert_eq!(call.outcome, Some(Outcome::NoAnswer));
    assert_eq!(call.recording_url, None);
    assert_eq!(call.transcription, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_transcription_leaves_the_voicemail_without_a_transcription() {
    let mut script = database_call();
    script.message = Some(Message {
        seconds: 12,
        transcript: "never delivered".into(),
    });
    script.transcription_fails = true;
    let (_t, call) = c_run(script).await;
    assert_eq!(call.outcome, Some(Outcome::Voicemail));
    assert!(call.recording_url.is_some());
    assert_eq!(call.transcription, None);
    assert!(
        call.events
            .iter()
            .any(|(_, e)| e == "voicemail transcription failed"),
        "{:?}",
        call.events
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_chain_rings_its_skip_already_rung_team_step_again_on_the_second_pass() {
    // Saturday 10:00 UTC: jonas is on call for platform; its team step skips who was rung
    // earlier in the pass, and the chain repeats once.
    let (_c, t, call) = saturday_platform_unanswered().await;
    assert_eq!(t.dials.len(), 4, "{}", t.render());
    assert_eq!(t.dials[0], t.dials[2]);
    assert_eq!(t.dials[1].len(), 5);
    // The chain's maxRung of 10 stops the second pass's team step after three of the five.
    assert_eq!(t.dials[3], t.dials[1][..3].to_vec());
    assert!(
        call.events
            .iter()
            .any(|(_, e)| e.contains("maxRung of 10 is reached")),
        "{:?}",
        call.events
    );
    assert!(!t.dials[1].contains(&t.dials[0][0]));
    assert!(
        call.rung.iter().all(|r| r.result.is_some()),
        "{:?}",
        call.rung
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyone_of_an_all_at_once_step_has_a_result_in_the_call_log_when_one_accepts() {
    let (c, dry, _) = saturday_platform_unanswered().await;
    let team = dry.dials[1].clone();
    let script = Script::call(CALLER, HOTLINE)
        .press(&["1"])
        .responder(&team[0], Behaviour::Ignore { after: 2 })
        .responder(&team[2], Behaviour::Accept { after: 6 });
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(call.outcome, Some(Outcome::Answered));
    let results: Vec<(String, Option<String>)> = call
        .rung
        .iter()
        .map(|r| (r.contact.address().to_string(), r.result.clone()))
        .collect();
    assert!(results.iter().all(|(_, r)| r.is_some()), "{results:?}");
    let accepted: Vec<_> = results
        .iter()
        .filter(|(_, r)| r.as_deref() == Some("accepted"))
        .collect();
    assert_eq!(accepted.len(), 1, "{results:?}");
    assert_eq!(accepted[0].0, team[2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_german_speaking_responder_hears_the_whisper_in_german_without_the_english_voice() {
    // The policy speaks en-US with Polly.Joanna; jonas (de-DE) is on call for platform on
    // Saturdays. Joanna cannot speak German, which Twilio may refuse (13511, as the simulator
    // does): his whisper goes without the voice, in Twilio's default German voice.
    let c = Cluster::start(1, "2026-11-21T10:00:00Z".parse().unwrap()).await;
    let jonas = "+4930555010302";
    let script = Script::call(CALLER, HOTLINE)
        .press(&["1"])
        .responder(jonas, Behaviour::Accept { after: 3 });
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(t.connected.as_deref(), Some(jonas), "{}", t.render());
    assert_eq!(call.outcome, Some(Outcome::Answered));
    assert_eq!(table().policy.speech.voice.as_deref(), Some("Polly.Joanna"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_talks_for_ages_is_whispered_in_parts_twilio_accepts() {
    // The caller's description goes into the whisper; 4,000 characters would be over Twilio's
    // 3,000 for one <Say> (13521, as the simulator refuses it).
    let mut script = database_call().responder(DANA, Behaviour::Accept { after: 4 });
    script.speech = Some("the database is down and ".repeat(160));
    let (t, call) = c_run(script).await;
    assert_eq!(call.outcome, Some(Outcome::Answered), "{}", t.render());
    let whispered: Vec<_> = t
        .lines
        .iter()
        .filter(|l| l.text.contains("hears: \"") && l.text.contains("the database is down"))
        .collect();
    assert!(whispered.len() >= 2, "{}", t.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_cuts_every_connection_the_next_call_is_still_routed() {
    // Redis healthy, but every client connection cut (a proxy restart, a failover, a network
    // blip): the first command on the dead connection fails with a broken pipe, and is tried
    // again on a new connection rather than giving the caller the fallback.
    let c = Cluster::start(1, monday_10am()).await;
    let mut admin = redis::Client::open(c.redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut fallbacks = 0;
    for _ in 0..10 {
        c.simulator().run(database_call()).await.unwrap();
        let _: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .arg("SKIPME")
            .arg("yes")
            .query(&mut admin)
            .unwrap();
        let t = c
            .simulator()
            .run(database_call().responder(DANA, Behaviour::Accept { after: 4 }))
            .await
            .unwrap();
        if t.heard.iter().any(|h| h.contains("having trouble")) {
            fallbacks += 1;
        }
    }
    assert_eq!(
        fallbacks, 0,
        "calls that heard the fallback after a connection cut"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_first_webhooks_list_each_call_once_in_the_call_log() {
    let c = Cluster::start(2, monday_10am()).await;
    for _ in 0..20 {
        let mut sim = c.simulator();
        sim.deliver_twice = true;
        sim.run(database_call()).await.unwrap();
    }
    let mut conn = redis::Client::open(c.redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let entries: usize = redis::cmd("ZCARD")
        .arg(switchboard_routing::keys::call_log())
        .query(&mut conn)
        .unwrap();
    assert_eq!(entries, 20);
    let recent = c.store().recent_calls(20).await.unwrap();
    assert_eq!(recent.len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_comes_back_empty_still_routes_numbers_this_replica_knew_but_not_unpublished_ones()
 {
    let c = Cluster::start(1, monday_10am()).await;
    let first = c.simulator().run(database_call()).await.unwrap();
    assert!(first.application_errors.is_empty(), "{}", first.render());
    // Redis restarts with nothing (no persistence), and the operator has not written the
    // tables again yet.
    c.redis.restart();
    let t = c
        .simulator()
        .run(database_call().responder(DANA, Behaviour::Accept { after: 4 }))
        .await
        .unwrap();
    assert!(
        !t.heard.iter().any(|h| h.contains("not in service")),
        "{}",
        t.render()
    );
    assert_eq!(t.connected.as_deref(), Some(DANA), "{}", t.render());
    // A number taken out of service is, on the same replica.
    c.store().remove_table(HOTLINE).await.unwrap();
    let t = c.simulator().run(database_call()).await.unwrap();
    assert_eq!(
        t.heard,
        [switchboard_webhook::flow::NOT_IN_SERVICE],
        "{}",
        t.render()
    );
}
