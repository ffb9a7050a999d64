//! Whole calls through the pure call flow, on the hotline table compiled from `examples/`
//! (`tests/fixtures/support-hotline.json`, kept current by an operator test).

use jiff::{SignedDuration, Timestamp};
use switchboard_testkit::fixtures::{monday_10am, support_hotline_table as table};
use switchboard_webhook::flow::{self, DialResult, Incoming, Urls};
use switchboard_webhook::state::{CallState, CallStatus, Outcome, Phase};
use switchboard_webhook::twiml::{Response, Verb};

fn urls() -> Urls {
    Urls::new("https://sb.example.com/")
}

fn later(t: Timestamp, secs: i64) -> Timestamp {
    t.checked_add(SignedDuration::from_secs(secs)).unwrap()
}

fn dialed(r: &Response) -> Vec<String> {
    r.verbs()
        .iter()
        .filter_map(|v| match v {
            Verb::Dial(d) => Some(d.nouns.iter().map(|n| match n {
                switchboard_webhook::twiml::Noun::Number { number, .. } => number.clone(),
                switchboard_webhook::twiml::Noun::Sip { uri, .. } => uri.clone(),
            })),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Incoming call, menu choice `digit`, description: returns the state ringing step one.
fn call_to_team(digit: &str, now: Timestamp) -> (CallState, Response) {
    let t = table();
    let (s, r) = flow::incoming(
        Some(&t),
        &Incoming {
            call_sid: "CA1",
            from: "+15105550123",
            to: "+14155550100",
        },
        now,
        &urls(),
    );
    let xml = r.to_xml();
    assert!(xml.contains("Thank you for calling Acme"), "{xml}");
    assert!(xml.contains("For the database team, press 2."), "{xml}");
    let (s, r) = flow::menu(&t, s, 0, digit, now, &urls());
    assert_eq!(s.phase, Phase::Describe);
    assert!(r.to_xml().contains("input=\"speech\""));
    flow::describe(&t, s, "the primary database is down", now, &urls())
}

fn no_answer(seq: u32) -> DialResult {
    DialResult {
        seq,
        dial_status: CallStatus::parse("no-answer"),
        duration: None,
        call_status: CallStatus::parse("in-progress"),
    }
}

#[test]
fn the_whisper_names_the_hotline_by_its_hotline_name_when_it_has_one() {
    let mut t = table();
    t.policy.hotline_name = Some("Acme's support line".into());
    let now = monday_10am();
    let (s, _) = call_to_team("2", now);
    let (_, w) = flow::whisper(&t, s, 1, 0, later(now, 8), &urls());
    let wx = w.to_xml();
    assert!(
        wx.contains("Incoming call to Acme&apos;s support line from 1 5 1 0"),
        "{wx}"
    );
    assert!(!wx.contains("hotline"), "{wx}");
}

#[test]
fn answered_at_the_first_step_after_the_responder_presses_1() {
    let t = table();
    let now = monday_10am();
    let (s, r) = call_to_team("2", now);
    assert_eq!(dialed(&r), ["+12125550201"]); // dana
    insta::assert_snapshot!("first_step_dial", r.to_xml().replace("><", ">\n<"));
    let (s, w) = flow::whisper(&t, s, 1, 0, later(now, 8), &urls());
    let wx = w.to_xml();
    assert!(wx.contains("Incoming call to the support hotline from 1 5 1 0 5 5 5 0 1 2 3. The caller chose the database team. They said: the primary database is down."), "{wx}");
    assert!(wx.contains("accept?call=CA1&amp;seq=1&amp;ring=0"), "{wx}");
    let (s, a) = flow::accept(&t, s, 1, 0, "1", later(now, 12));
    assert_eq!(
        a.to_xml(),
        Response::new().to_xml(),
        "an empty response bridges the call"
    );
    let (s, end) = flow::dial_result(
        &t,
        s,
        &DialResult {
            seq: 1,
            dial_status: CallStatus::parse("completed"),
            duration: Some(300),
            call_status: CallStatus::parse("in-progress"),
        },
        later(now, 312),
        &urls(),
    );
    assert!(matches!(end.verbs(), [Verb::Hangup]));
    assert_eq!(s.outcome, Some(Outcome::Answered));
    assert_eq!(s.talk_seconds, Some(300));
    assert_eq!(
        s.accepted.as_ref().unwrap().0.person.as_deref(),
        Some("dana")
    );
    assert_eq!(s.rung[0].result.map(|r| r.as_str()), Some("accepted"));
    assert_eq!(s.menu_choice.as_deref(), Some("2 the database team"));
}

#[test]
fn a_voicemail_pickup_that_never_presses_1_does_not_stop_the_chain() {
    let t = table();
    let now = monday_10am();
    let (s, _) = call_to_team("2", now);
    // dana's voicemail picks up and hears the whisper, but nobody presses 1.
    let (s, _) = flow::whisper(&t, s, 1, 0, later(now, 5), &urls());
    let (s, r) = flow::dial_result(
        &t,
        s,
        &DialResult {
            seq: 1,
            dial_status: CallStatus::parse("completed"),
            duration: Some(15),
            call_status: CallStatus::parse("in-progress"),
        },
        later(now, 20),
        &urls(),
    );
    assert_eq!(s.rung[0].result.map(|r| r.as_str()), Some("not-accepted"));
    // Step two is sequential: the manager first.
    assert_eq!(dialed(&r), ["+12125550299"]);
    assert_eq!(s.outcome, None);
}

#[test]
fn no_answer_then_the_second_step_answers() {
    let t = table();
    let now = monday_10am();
    let (s, _) = call_to_team("2", now);
    let (s, r) = flow::dial_result(&t, s, &no_answer(1), later(now, 25), &urls());
    assert_eq!(dialed(&r), ["+12125550299"]);
    let (s, _) = flow::whisper(&t, s, 2, 0, later(now, 30), &urls());
    let (s, _) = flow::accept(&t, s, 2, 0, "1", later(now, 33));
    let (s, _) = flow::dial_result(
        &t,
        s,
        &DialResult {
            seq: 2,
            dial_status: CallStatus::parse("completed"),
            duration: Some(60),
            call_status: CallStatus::parse("in-progress"),
        },
        later(now, 93),
        &urls(),
    );
    assert_eq!(s.outcome, Some(Outcome::Answered));
    assert_eq!(s.accepted.unwrap().0.person.as_deref(), Some("dba-manager"));
}

#[test]
fn every_step_fails_the_chain_repeats_then_voicemail() {
    let t = table();
    let now = monday_10am();
    let (mut s, mut r) = call_to_team("2", now);
    let mut order = Vec::new();
    let mut t_now = now;
    while let [Verb::Dial(_), ..] | [Verb::Say(_), Verb::Dial(_), ..] = r.verbs() {
        order.extend(dialed(&r));
        t_now = later(t_now, 25);
        let seq = s.seq;
        (s, r) = flow::dial_result(&t, s, &no_answer(seq), t_now, &urls());
    }
    // Two passes (repeat: 1) of: dana, then manager and NOC one at a time.
    assert_eq!(
        order,
        [
            "+12125550201",
            "+12125550299",
            "+12125550999",
            "+12125550201",
            "+12125550299",
            "+12125550999"
        ]
    );
    assert_eq!(s.phase, Phase::Voicemail);
    let xml = r.to_xml();
    assert!(xml.contains("Sorry, nobody is available"), "{xml}");
    assert!(
        xml.contains("<Record action=\"https://sb.example.com/twilio/voice/voicemail\""),
        "{xml}"
    );
    assert!(xml.contains("transcribeCallback="), "{xml}");
    let (s, _) = flow::voicemail(
        &t,
        s,
        "https://api.twilio.com/rec/RE1",
        Some(42),
        later(t_now, 50),
    );
    assert_eq!(s.outcome, Some(Outcome::Voicemail));
    assert_eq!(
        s.recording_url.as_deref(),
        Some("https://api.twilio.com/rec/RE1")
    );
}

#[test]
fn an_all_at_once_step_rings_the_rest_again_after_a_pickup_that_does_not_accept() {
    let t = table();
    let now: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap(); // jonas on call for platform
    let (s, r) = call_to_team("1", now);
    assert_eq!(dialed(&r), ["+4930555010302"]);
    let (s, r) = flow::dial_result(&t, s, &no_answer(1), later(now, 25), &urls());
    // Step two rings the whole platform team at once (jonas was rung already: skipped).
    let team = dialed(&r);
    assert_eq!(team.len(), 5);
    // Ava's voicemail answers first; Twilio hangs up the other four legs.
    let (s, _) = flow::whisper(&t, s, 2, 0, later(now, 31), &urls());
    let (s, r) = flow::dial_result(
        &t,
        s,
        &DialResult {
            seq: 2,
            dial_status: CallStatus::parse("completed"),
            duration: Some(10),
            call_status: CallStatus::parse("in-progress"),
        },
        later(now, 41),
        &urls(),
    );
    let again = dialed(&r);
    assert_eq!(again, team[1..].to_vec(), "the four others are rung again");
    let Verb::Dial(d) = &r.verbs()[0] else {
        panic!()
    };
    // The step started at +25 s and Ava picked up at +31 s: the others had rung 6 of the
    // step's 30 seconds when Twilio stopped their phones, so they get the other 24.
    assert_eq!(
        d.timeout, 24,
        "for what was left of the step's 30 seconds at the pickup"
    );
    assert!(s.events.iter().any(|(_, e)| {
        e.contains("picked up without accepting: ringing the rest of the step again")
    }));
}

#[test]
fn the_caller_hanging_up_while_a_phone_rings_ends_the_escalation_as_abandoned() {
    let t = table();
    let now = monday_10am();
    let (s, _) = call_to_team("2", now);
    let (s, r) = flow::dial_result(
        &t,
        s,
        &DialResult {
            seq: 1,
            dial_status: CallStatus::parse("canceled"),
            duration: None,
            call_status: CallStatus::parse("completed"),
        },
        later(now, 9),
        &urls(),
    );
    assert!(dialed(&r).is_empty());
    assert_eq!(s.outcome, Some(Outcome::Abandoned));
    // The status callback afterwards changes nothing.
    let s = flow::status(s, CallStatus::parse("completed"), Some(40), later(now, 10));
    assert_eq!(s.outcome, Some(Outcome::Abandoned));
    assert_eq!(s.rung.len(), 1);
}

#[test]
fn a_blocklisted_caller_is_rejected_before_anything_else() {
    let t = table();
    let (s, r) = flow::incoming(
        Some(&t),
        &Incoming {
            call_sid: "CA2",
            from: "+449012345678",
            to: "+14155550100",
        },
        monday_10am(),
        &urls(),
    );
    assert_eq!(
        r.to_xml(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Reject reason=\"rejected\"/></Response>"
    );
    assert_eq!(s.outcome, Some(Outcome::Blocked));
}

#[test]
fn an_unknown_number_hears_not_in_service_and_a_hangup() {
    let (s, r) = flow::incoming(
        None,
        &Incoming {
            call_sid: "CA3",
            from: "+15105550123",
            to: "+14155559999",
        },
        monday_10am(),
        &urls(),
    );
    assert_eq!(
        r.to_xml(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>The number you have called is not in service. Goodbye.</Say><Hangup/></Response>"
    );
    assert_eq!(s.outcome, Some(Outcome::UnknownNumber));
}

#[test]
fn no_key_twice_is_asked_again_then_the_default_option_is_taken() {
    let t = table();
    let now = monday_10am();
    let (s, _) = flow::incoming(
        Some(&t),
        &Incoming {
            call_sid: "CA4",
            from: "+15105550123",
            to: "+14155550100",
        },
        now,
        &urls(),
    );
    let (s, r) = flow::menu(&t, s, 0, "", now, &urls());
    assert!(r.to_xml().contains("Sorry, I did not get that."));
    assert!(r.to_xml().contains("menu?attempt=1"));
    let (s, r) = flow::menu(&t, s, 1, "", now, &urls());
    assert!(r.to_xml().contains("menu?attempt=2"));
    // retries: 2 used up: the default option (1, the platform team) is taken.
    let (s, _) = flow::menu(&t, s, 2, "", now, &urls());
    assert_eq!(s.menu_choice.as_deref(), Some("1 the platform team"));
    assert_eq!(s.phase, Phase::Describe);
}

#[test]
fn an_unknown_key_goes_to_the_default_option_at_once() {
    let t = table();
    let now = monday_10am();
    let (s, _) = flow::incoming(
        Some(&t),
        &Incoming {
            call_sid: "CA5",
            from: "+15105550123",
            to: "+14155550100",
        },
        now,
        &urls(),
    );
    let (s, _) = flow::menu(&t, s, 0, "9", now, &urls());
    assert_eq!(s.menu_choice.as_deref(), Some("1 the platform team"));
}

#[test]
fn a_repeated_menu_callback_does_not_advance_the_call_twice() {
    let t = table();
    let now = monday_10am();
    let (s, _) = flow::incoming(
        Some(&t),
        &Incoming {
            call_sid: "CA6",
            from: "+15105550123",
            to: "+14155550100",
        },
        now,
        &urls(),
    );
    let (s, _) = flow::menu(&t, s, 0, "2", now, &urls());
    let before = s.clone();
    let (s, r) = flow::menu(&t, s, 0, "3", now, &urls());
    assert_eq!(s, before);
    assert!(r.verbs().is_empty());
}

#[test]
fn a_late_accept_after_the_dial_moved_on_does_not_connect() {
    let t = table();
    let now = monday_10am();
    let (s, _) = call_to_team("2", now);
    let (s, _) = flow::dial_result(&t, s, &no_answer(1), later(now, 25), &urls());
    let (s, r) = flow::accept(&t, s, 1, 0, "1", later(now, 26));
    assert!(s.accepted.is_none());
    assert!(r.to_xml().contains("not accepted"));
}

#[test]
fn control_characters_in_what_the_caller_said_become_spaces() {
    let t = table();
    let now = monday_10am();
    let (s, _) = flow::incoming(
        Some(&t),
        &Incoming {
            call_sid: "CA9",
            from: "+15105550123",
            to: "+14155550100",
        },
        now,
        &urls(),
    );
    let (s, _) = flow::menu(&t, s, 0, "2", now, &urls());
    let (s, r) = flow::describe(&t, s, " the db\u{0}is\u{1b}[31m down\r\n\t", now, &urls());
    assert_eq!(s.description.as_deref(), Some("the db is [31m down"));
    assert!(!r.to_xml().contains('\u{1b}'));
}
