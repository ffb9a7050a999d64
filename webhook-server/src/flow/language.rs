//! The caller chooses a language first: each offered language says its own line in its own
//! voice ("For English, press 1. Für Deutsch drücken Sie die 2."); the rest of the call is
//! said from the policy as translated into the chosen one (`RoutingTable::in_language`).

use jiff::Timestamp;
use switchboard_routing::phrases::Phrase;
use switchboard_routing::table::{LanguageChoice, Policy, RoutingTable};

use super::*;
use crate::state::{CallState, Phase};
use crate::twiml::{Gather, Input, Response, Say, Verb};

/// `policy`'s line of the choice, in its own language and voice.
fn line(policy: &Policy, digit: &str) -> Verb {
    Verb::Say(Say {
        text: policy
            .speech
            .say(Phrase::LanguageOption, &[("digit", digit)]),
        voice: policy.speech.voice.clone(),
        language: Some(policy.speech.language.clone()),
    })
}

/// The choice: a `<Gather>` of one key, each language's line in turn.
pub(super) fn prompt(t: &RoutingTable, choice: &LanguageChoice, urls: &Urls) -> Response {
    let mut prompts = vec![line(&t.policy, &choice.digit)];
    prompts.extend(choice.languages.iter().map(|l| line(&l.policy, &l.digit)));
    Response::new().push(Verb::Gather(Gather {
        action: urls.voice("language", &[]),
        input: Input::Dtmf,
        num_digits: Some(1),
        timeout: choice.timeout_seconds,
        language: None,
        // No key: the policy's own language.
        action_on_empty_result: true,
        prompts,
    }))
}

/// The caller pressed `digits` (or nothing) at the language choice.
pub fn language(
    t: &RoutingTable,
    mut state: CallState,
    digits: &str,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    let Some(choice) = &t.policy.language_choice else {
        // The table changed since the choice was offered: on in the policy's language.
        state.phase = Phase::Ringing;
        let known = verdict(t, &state.from);
        return admitted(t, state, known, now, urls);
    };
    if state.phase != Phase::Language {
        // A late or repeated callback: the call has moved on.
        return (state, Response::new());
    }
    let chosen = choice.languages.iter().find(|l| l.digit == digits);
    state.language = chosen.map(|l| l.policy.speech.language.clone());
    state.event(
        now,
        match (chosen, digits.is_empty()) {
            (Some(l), _) => format!(
                "the caller chose {} (pressed {digits})",
                l.policy.speech.language
            ),
            (None, true) => format!("no language chosen: {}", t.policy.speech.language),
            (None, false) => format!("the caller pressed {digits}: {}", t.policy.speech.language),
        },
    );
    state.phase = Phase::Ringing;
    let translated = t.in_language(state.language.as_deref());
    let t = translated.as_deref().unwrap_or(t);
    let known = verdict(t, &state.from);
    admitted(t, state, known, now, urls)
}
