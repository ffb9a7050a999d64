//! The PIN: asked after the language choice and before anything else, checked against the
//! table's keyed digest (`switchboard_routing::pin`); wrong ones asked again, too many end the
//! call. The digits are never written to the call log or the state.

use jiff::Timestamp;
use switchboard_routing::phrases::Phrase;
use switchboard_routing::pin::Pin;
use switchboard_routing::table::RoutingTable;

use super::*;
use crate::state::{CallState, Outcome, Phase};
use crate::twiml::{Gather, Input, Response, Verb};

/// The question: digits up to the pound key (Twilio's default `finishOnKey`) or the timeout.
pub(super) fn prompt(t: &RoutingTable, pin: &Pin, attempt: u32, urls: &Urls) -> Response {
    let ask = t.policy.speech.texts().get(Phrase::PinPrompt);
    Response::new().push(Verb::Gather(Gather {
        action: urls.voice("pin", &[("attempt", attempt.to_string())]),
        input: Input::Dtmf,
        num_digits: None,
        timeout: pin.timeout_seconds,
        language: None,
        action_on_empty_result: true,
        prompts: vec![say(t, ask)],
    }))
}

/// The caller keyed `digits` at PIN question `attempt`; `auth_token` is the account's (the
/// digest's key), `None` when this server does not hold it (nothing matches then).
pub fn pin(
    t: &RoutingTable,
    mut state: CallState,
    attempt: u32,
    digits: &str,
    auth_token: Option<&str>,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    let Some(p) = &t.policy.pin else {
        // The table no longer asks a PIN: on as if it had been right.
        state.pin_passed = true;
        state.phase = Phase::Ringing;
        let known = verdict(t, &state.from);
        return admitted(t, state, known, now, urls);
    };
    if state.phase != (Phase::Pin { attempt }) {
        // A late or repeated callback: the call has moved on.
        return (state, Response::new());
    }
    let policy = format!("{}/{}", t.owner.namespace, t.policy.name);
    if auth_token.is_some_and(|k| p.matches(k, &policy, digits)) {
        state.event(now, "the caller keyed the right PIN");
        state.pin_passed = true;
        state.phase = Phase::Ringing;
        let known = verdict(t, &state.from);
        return admitted(t, state, known, now, urls);
    }
    let wrong = attempt + 1;
    let texts = t.policy.speech.texts();
    if wrong >= p.attempts {
        state.event(now, format!("wrong PIN {wrong} time(s): the call ends"));
        state.end(Outcome::Blocked, now);
        let r = Response::new().push(say(t, texts.get(Phrase::PinLocked)));
        return (state, r.hangup());
    }
    state.event(
        now,
        if digits.is_empty() {
            format!("no PIN keyed ({wrong} of {}): asking again", p.attempts)
        } else {
            format!("wrong PIN ({wrong} of {}): asking again", p.attempts)
        },
    );
    state.phase = Phase::Pin { attempt: wrong };
    let r = Response::new().push(say(t, texts.get(Phrase::PinWrong)));
    (state, append(r, prompt(t, p, wrong, urls)))
}
