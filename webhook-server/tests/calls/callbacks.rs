//! Twilio's callbacks in every order it allows, recordings, transcriptions and whispers.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_on_the_conversation_is_answered_with_its_talk_time_in_every_order() {
    let mut script = database_call().responder(DANA, Behaviour::Accept { after: 4 });
    script.talk_seconds = 45;
    script.caller_ends_the_conversation = true;
    for (order, t, call, c) in in_every_order(&script).await {
        let log = format!("{order:?}\n{}", t.render());
        assert_eq!(call.outcome, Some(Outcome::Answered), "{log}");
        assert_eq!(call.talk_seconds, Some(45), "{log}");
        assert_eq!(
            call.rung[0].result.map(|r| r.as_str()),
            Some("accepted"),
            "{log}"
        );
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
            call.rung[0].result.map(|r| r.as_str()),
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
    assert_eq!(call.rung[0].result.map(|r| r.as_str()), Some("dropped"));
    assert_eq!(call.rung[1].result.map(|r| r.as_str()), Some("accepted"));
    assert_eq!(call.accepted.unwrap().0.contact.address(), DBA_MANAGER);
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
    let results: Vec<(String, Option<&str>)> = call
        .rung
        .iter()
        .map(|r| {
            (
                r.contact.address().to_string(),
                r.result.map(|r| r.as_str()),
            )
        })
        .collect();
    assert!(results.iter().all(|(_, r)| r.is_some()), "{results:?}");
    let accepted: Vec<_> = results
        .iter()
        .filter(|(_, r)| *r == Some("accepted"))
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
