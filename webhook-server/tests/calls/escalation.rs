//! Calls through the escalation: steps, strategies, the menu, blocked and unknown callers.

use super::*;

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
    assert_eq!(call.rung[0].result.map(|r| r.as_str()), Some("no-answer"));
    assert_eq!(call.rung[1].result.map(|r| r.as_str()), Some("accepted"));
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
    assert_eq!(
        call.rung[0].result.map(|r| r.as_str()),
        Some("not-accepted")
    );
    assert_eq!(call.outcome, Some(Outcome::Answered));
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
        .map(|r| r.result.unwrap().as_str())
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
async fn a_responder_who_declines_moves_the_escalation_on_at_once_and_is_counted() {
    let c = Cluster::start(1, monday_10am()).await;
    let script = database_call()
        .responder(DANA, Behaviour::Decline { after: 3 })
        .responder(DBA_MANAGER, Behaviour::Accept { after: 5 });
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(flat(&t), [DANA, DBA_MANAGER]);
    assert_eq!(t.connected.as_deref(), Some(DBA_MANAGER), "{}", t.render());
    assert!(
        call.events
            .iter()
            .any(|(_, e)| e.contains("declined the call (pressed 2): passing it on")),
        "{:?}",
        call.events
    );
    assert_eq!(
        call.rung[0].result.map(|r| r.as_str()),
        Some("not-accepted")
    );
    // The manager's phone rings as Dana's leg ends: sooner than after a pickup that presses
    // nothing and waits out the acceptance timeout (10 s in the examples).
    let gap = call.rung[1].at.duration_since(call.rung[0].at).as_secs();
    let c2 = Cluster::start(1, monday_10am()).await;
    let silent = database_call()
        .responder(DANA, Behaviour::Ignore { after: 3 })
        .responder(DBA_MANAGER, Behaviour::Accept { after: 5 });
    let t2 = c2.simulator().run(silent).await.unwrap();
    let call2 = finished(&c2, &t2).await;
    let silent_gap = call2.rung[1].at.duration_since(call2.rung[0].at).as_secs();
    assert!(
        gap + 10 <= silent_gap,
        "declined: next ring after {gap}s; silent pickup: after {silent_gap}s"
    );
    assert!(
        c.replicas[0]
            .metrics()
            .encode()
            .contains("switchboard_webhook_declines_total 1"),
        "{}",
        c.replicas[0].metrics().encode()
    );
}
