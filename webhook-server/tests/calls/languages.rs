//! Every phrase in the caller's language: a choice of language first, the policy translated
//! for the caller who chose one, and responders whispered to in their own language, through
//! the real server and Redis.

use super::callers::call_from;
use super::*;
use switchboard_routing::RoutingTable;
use switchboard_routing::table::{Entry, LanguageChoice, Speech, Translation};

/// The support hotline offering German on 2: its policy said in German, the options named
/// in German (as the operator compiles `languageChoice`).
fn with_german() -> RoutingTable {
    let mut t = table();
    let mut de = t.policy.clone();
    de.speech = Speech {
        language: "de-DE".into(),
        voice: Some("Polly.Vicki".into()),
        phrases: Default::default(),
    };
    de.greeting = None;
    if let Entry::Menu(m) = &mut de.entry {
        m.prompt = None;
        for o in &mut m.options {
            o.name = format!("das Team {}", o.digit);
        }
    }
    t.policy.language_choice = Some(LanguageChoice {
        digit: "1".into(),
        timeout_seconds: 5,
        languages: vec![Translation {
            digit: "2".into(),
            policy: Box::new(de),
        }],
    });
    t.seal()
}

fn heard(t: &Transcript, text: &str) -> bool {
    t.heard.iter().any(|h| h.contains(text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_chooses_german_hears_the_rest_of_the_call_in_german() {
    let (t, call) = call_from(with_german(), CALLER, &["2", "2"]).await;
    assert!(heard(&t, "For English, press 1."), "{:?}", t.heard);
    assert!(heard(&t, "Für Deutsch drücken Sie die 2."), "{:?}", t.heard);
    assert!(
        heard(&t, "Für das Team 2 drücken Sie die 2."),
        "{:?}",
        t.heard
    );
    assert!(!heard(&t, "press 2."), "{:?}", t.heard);
    assert_eq!(call.language.as_deref(), Some("de-DE"));
    assert_eq!(call.chain.as_deref(), Some("database"));
    assert_eq!(call.outcome, Some(Outcome::Answered), "{}", t.render());
    // Dana speaks the policy's language: her whisper is English, whatever the caller chose.
    assert!(t.render().contains("Incoming call to"), "{}", t.render());
    // ... naming the option as the policy does, not as the German caller heard it.
    assert!(
        t.render().contains("The caller chose the database team."),
        "{}",
        t.render()
    );
    assert!(
        call.events
            .iter()
            .any(|(_, e)| e == "the caller chose de-DE (pressed 2)"),
        "{:?}",
        call.events
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_presses_nothing_goes_on_in_the_policys_language() {
    let (t, call) = call_from(with_german(), CALLER, &["", "2"]).await;
    assert!(
        heard(&t, "For the database team, press 2."),
        "{:?}",
        t.heard
    );
    assert!(!heard(&t, "Für das Team"), "{:?}", t.heard);
    assert_eq!(call.language, None);
    assert_eq!(call.outcome, Some(Outcome::Answered), "{}", t.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_german_policy_speaks_the_catalogues_german_and_whispers_in_german() {
    let mut t = table();
    t.policy.speech = Speech {
        language: "de-DE".into(),
        voice: None,
        phrases: [(
            "menuNotAnOption".to_string(),
            "Diese Taste gibt es nicht.".to_string(),
        )]
        .into(),
    };
    if let Entry::Menu(m) = &mut t.policy.entry {
        m.default_digit = None;
    }
    let (t, call) = call_from(t.seal(), CALLER, &["7", "2"]).await;
    assert!(heard(&t, "Diese Taste gibt es nicht."), "{:?}", t.heard);
    assert!(
        heard(&t, "Für the database team drücken Sie die 2."),
        "{:?}",
        t.heard
    );
    assert!(
        t.render()
            .contains("Eingehender Anruf für die Hotline support von"),
        "{}",
        t.render()
    );
    assert_eq!(call.outcome, Some(Outcome::Answered), "{}", t.render());
}
