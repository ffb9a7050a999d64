//! The alert lifecycle: plans, timelines and summaries.

use super::*;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn call(delay: u32, resolve_unanswered: bool) -> Alert {
    Alert {
        id: "CA1".into(),
        kind: AlertKind::Call,
        hotline: "+14155550100".into(),
        caller: "+14155550199".into(),
        policy: "switchboard/support".into(),
        started_at: at("2026-11-23T15:00:00Z"),
        menu_choice: None,
        chain: None,
        description: None,
        text: None,
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
        route: SharedRoute::new(AlertRoute {
            targets: vec![],
            alerting: Alerting {
                trigger_delay_seconds: delay,
                resolve_unanswered,
                severity: None,
            },
            owner: ObjectName {
                namespace: "switchboard".into(),
                name: "support".into(),
            },
            account_sid: None,
        }),
        forwards: vec![],
    }
}

#[test]
fn an_answered_call_triggers_acknowledges_then_resolves() {
    let mut a = call(0, false);
    let now = at("2026-11-23T15:00:01Z");
    assert_eq!(a.plan(now).stages, vec![Stage::Triggered]);
    a.accepted_by = Some("Hana Ito".into());
    a.accepted_at = Some(now);
    assert_eq!(
        a.plan(now).stages,
        vec![Stage::Triggered, Stage::Acknowledged]
    );
    a.outcome = Some(Outcome::Answered);
    a.ended_at = Some(now);
    assert_eq!(
        a.plan(now).stages,
        vec![Stage::Triggered, Stage::Acknowledged, Stage::Resolved]
    );
}

#[test]
fn an_abandoned_call_resolves_only_when_the_policy_says_so() {
    for (resolve, expected) in [
        (false, vec![Stage::Triggered]),
        (true, vec![Stage::Triggered, Stage::Resolved]),
    ] {
        let mut a = call(0, resolve);
        a.outcome = Some(Outcome::Abandoned);
        a.ended_at = Some(at("2026-11-23T15:00:30Z"));
        assert_eq!(a.plan(at("2026-11-23T15:00:31Z")).stages, expected);
    }
}

#[test]
fn a_voicemail_carries_recording_and_transcription_and_stays_open() {
    let mut a = call(0, true);
    a.outcome = Some(Outcome::Voicemail);
    a.ended_at = Some(at("2026-11-23T15:02:00Z"));
    a.recording_url = Some("https://api.twilio.com/rec/RE1".into());
    let now = at("2026-11-23T15:02:01Z");
    assert_eq!(a.plan(now).stages, vec![Stage::Triggered, Stage::Voicemail]);
    a.transcription = Some("the database is down".into());
    assert_eq!(
        a.plan(now).stages,
        vec![Stage::Triggered, Stage::Voicemail, Stage::Transcription]
    );
}

#[test]
fn a_call_back_request_is_alerted_whatever_the_delay_and_never_resolved() {
    let mut a = call(60, true);
    a.outcome = Some(Outcome::NoAnswer);
    a.callback = Some("+14155550199".into());
    // Asked for 40 s into the call, within the 60 s trigger delay.
    a.ended_at = Some(at("2026-11-23T15:00:40Z"));
    let plan = a.plan(at("2026-11-23T15:00:41Z"));
    assert_eq!(
        plan.stages,
        vec![Stage::Triggered, Stage::CallbackRequested]
    );
    assert_eq!(plan.suppressed, None);
    assert_eq!(
        a.timeline(),
        vec![
            (at("2026-11-23T15:00:40Z"), Stage::Triggered),
            (at("2026-11-23T15:00:40Z"), Stage::CallbackRequested)
        ]
    );
    assert!(
        a.summary()
            .ends_with(": call-back requested to +14155550199")
    );
    // Without the request the same call is dropped by the delay.
    a.callback = None;
    assert!(a.plan(at("2026-11-23T15:00:41Z")).suppressed.is_some());
}

#[test]
fn a_voicemail_left_while_closed_is_raised_again_when_the_hotline_opens() {
    let mut a = call(20, false);
    a.closed = Some("outside opening hours".into());
    a.raise_again_at = Some(at("2026-11-24T08:00:00Z"));
    a.outcome = Some(Outcome::Voicemail);
    a.ended_at = Some(at("2026-11-23T15:02:00Z"));
    // No recording yet (the caller hung up at the beep): nothing to raise again.
    let plan = a.plan(at("2026-11-24T09:00:00Z"));
    assert_eq!(plan.stages, vec![Stage::Triggered]);
    assert_eq!(plan.wake_at, None);
    a.recording_url = Some("https://api.twilio.com/rec/RE1".into());
    // Overnight: the voicemail is sent, and the dispatcher looks again at the opening.
    let night = a.plan(at("2026-11-23T15:02:01Z"));
    assert_eq!(night.stages, vec![Stage::Triggered, Stage::Voicemail]);
    assert_eq!(night.wake_at, Some(at("2026-11-24T08:00:00Z")));
    let morning = a.plan(at("2026-11-24T08:00:00Z"));
    assert_eq!(
        morning.stages,
        vec![Stage::Triggered, Stage::Voicemail, Stage::RaisedAgain]
    );
    assert_eq!(morning.wake_at, None);
    assert_eq!(
        a.timeline().last(),
        Some(&(at("2026-11-24T08:00:00Z"), Stage::RaisedAgain))
    );
    // An answered call is never raised again.
    a.outcome = Some(Outcome::Answered);
    assert!(
        !a.plan(at("2026-11-24T09:00:00Z"))
            .stages
            .contains(&Stage::RaisedAgain)
    );
}

#[test]
fn a_delayed_trigger_waits_and_is_dropped_when_the_call_is_taken_in_time() {
    let mut a = call(30, true);
    let plan = a.plan(at("2026-11-23T15:00:10Z"));
    assert!(plan.stages.is_empty());
    assert_eq!(plan.wake_at, Some(at("2026-11-23T15:00:30Z")));
    assert_eq!(
        a.plan(at("2026-11-23T15:00:30Z")).stages,
        vec![Stage::Triggered]
    );

    a.accepted_by = Some("Hana Ito".into());
    a.accepted_at = Some(at("2026-11-23T15:00:20Z"));
    let plan = a.plan(at("2026-11-23T15:01:00Z"));
    assert!(plan.stages.is_empty());
    assert_eq!(plan.suppressed, Some("accepted within the trigger delay"));

    let mut misdial = call(30, true);
    misdial.outcome = Some(Outcome::Abandoned);
    misdial.ended_at = Some(at("2026-11-23T15:00:05Z"));
    assert!(misdial.plan(at("2026-11-23T15:01:00Z")).stages.is_empty());

    // A voicemail always alerts, even when it was left within the delay.
    let mut vm = call(300, false);
    vm.outcome = Some(Outcome::Voicemail);
    vm.ended_at = Some(at("2026-11-23T15:01:00Z"));
    vm.recording_url = Some("https://api.twilio.com/rec/RE1".into());
    assert_eq!(
        vm.plan(at("2026-11-23T15:01:01Z")).stages,
        vec![Stage::Triggered, Stage::Voicemail]
    );
}

#[test]
fn a_call_accepted_after_the_delay_is_triggered_then_acknowledged() {
    let mut a = call(30, false);
    a.accepted_by = Some("Hana Ito".into());
    a.accepted_at = Some(at("2026-11-23T15:00:45Z"));
    assert_eq!(
        a.plan(at("2026-11-23T15:00:46Z")).stages,
        vec![Stage::Triggered, Stage::Acknowledged]
    );
}

#[test]
fn the_timeline_says_when_each_stage_fell_due() {
    // Accepted after a 20 s delay, answered: triggered when the delay ran out.
    let mut a = call(20, false);
    a.accepted_by = Some("Hana Ito".into());
    a.accepted_at = Some(at("2026-11-23T15:01:21Z"));
    a.outcome = Some(Outcome::Answered);
    a.ended_at = Some(at("2026-11-23T15:02:21Z"));
    assert_eq!(
        a.timeline(),
        vec![
            (at("2026-11-23T15:00:20Z"), Stage::Triggered),
            (at("2026-11-23T15:01:21Z"), Stage::Acknowledged),
            (at("2026-11-23T15:02:21Z"), Stage::Resolved),
        ]
    );
    // Without a delay: at once.
    let mut now = a.clone();
    now.route = SharedRoute::new(AlertRoute {
        alerting: Alerting::default(),
        ..(*a.route).clone()
    });
    assert_eq!(now.timeline()[0], (a.started_at, Stage::Triggered));
    // A voicemail within the delay triggers at the voicemail.
    let mut vm = call(300, false);
    vm.outcome = Some(Outcome::Voicemail);
    vm.ended_at = Some(at("2026-11-23T15:01:00Z"));
    vm.recording_url = Some("https://api.twilio.com/rec/RE1".into());
    assert_eq!(
        vm.timeline(),
        vec![
            (at("2026-11-23T15:01:00Z"), Stage::Triggered),
            (at("2026-11-23T15:01:00Z"), Stage::Voicemail),
        ]
    );
    // Accepted within the delay: nothing is sent.
    a.accepted_at = Some(at("2026-11-23T15:00:10Z"));
    assert!(a.timeline().is_empty());
}

#[test]
fn a_text_only_triggers() {
    let mut a = call(30, true);
    a.kind = AlertKind::Text;
    a.text = Some("db down".into());
    assert_eq!(a.plan(a.started_at).stages, vec![Stage::Triggered]);
}
