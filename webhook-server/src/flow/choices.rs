//! The caller's choices between rings: leave a voicemail now, or ask to be called back.
//!
//! ```text
//!   ring ended, nobody accepted, the chain rings on ─► Gather "To leave a message, press 1 ..."
//!       ─► voicemail key: <Record>      ─► call-back key: "We will call you back", end
//!       └► no key (or another): ring on
//! ```
//!
//! NB (Twilio, `<Dial>`): while a `<Dial>` rings, Twilio does not pass the caller's keys to the
//! application (`hangupOnStar` only ends a connected call), so the choice is offered between
//! rings, where a `<Gather>` can take it. <https://www.twilio.com/docs/voice/twiml/dial>

use jiff::Timestamp;
use switchboard_routing::table::RoutingTable;

use super::*;
use crate::state::{CallState, Outcome, Phase};
use crate::twiml::{Gather, Input, Response, Verb};

/// After a ring nobody accepted: the next ring, with the caller's choices offered first when
/// the policy has any and the chain really rings on (not when it ends in voicemail or "nobody").
pub(super) fn ring_on(
    t: &RoutingTable,
    state: CallState,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    let Some(c) = &t.policy.caller_choices else {
        return next_dial(t, state, now, urls);
    };
    let prompt = if can_call_back(t, &state) {
        Some(&c.prompt)
    } else {
        c.prompt_without_callback.as_ref()
    };
    let Some(prompt) = prompt else {
        return next_dial(t, state, now, urls);
    };
    // The plan is pure: tried on a copy, it says whether anyone rings next.
    let (next, twiml) = next_dial(t, state.clone(), now, urls);
    if next.phase != Phase::Ringing || next.ringing.is_empty() {
        return (next, twiml);
    }
    let mut state = state;
    state.phase = Phase::Choosing;
    let gather = Verb::Gather(Gather {
        action: urls.voice("choice", &[("seq", state.seq.to_string())]),
        input: Input::Dtmf,
        num_digits: Some(1),
        timeout: c.timeout_seconds,
        language: None,
        action_on_empty_result: true,
        prompts: vec![say(t, prompt)],
    });
    (state, Response::new().push(gather))
}

/// Whether the caller may ask for a call-back: the policy offers it and their number is known
/// (not withheld: `anonymous`, or one of Twilio's placeholder numbers).
fn can_call_back(t: &RoutingTable, state: &CallState) -> bool {
    t.policy
        .caller_choices
        .as_ref()
        .is_some_and(|c| c.callback_digit.is_some())
        && switchboard_routing::is_known_caller(&state.from)
}

/// The caller's key (`digits`, empty for none) at the choice offered after dial `seq`.
pub fn choice(
    t: &RoutingTable,
    mut state: CallState,
    seq: u32,
    digits: &str,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    if state.phase != Phase::Choosing || seq != state.seq {
        // A late or repeated callback: the call has moved on.
        return (state, Response::new());
    }
    state.phase = Phase::Ringing;
    let Some(c) = &t.policy.caller_choices else {
        return next_dial(t, state, now, urls);
    };
    if !digits.is_empty()
        && c.voicemail_digit.as_deref() == Some(digits)
        && let Some(vm) = &t.policy.voicemail
    {
        state.pending.clear();
        state.later_rounds.clear();
        let why = format!("the caller pressed {digits}: voicemail now, nobody else is rung");
        return take_voicemail(t, state, Response::new(), vm, &why, now, urls);
    }
    if !digits.is_empty() && c.callback_digit.as_deref() == Some(digits) && can_call_back(t, &state)
    {
        state.pending.clear();
        state.later_rounds.clear();
        state.callback = Some(state.from.clone());
        state.event(
            now,
            format!(
                "the caller pressed {digits}: call-back requested to {}",
                state.from
            ),
        );
        state.end(Outcome::NoAnswer, now);
        let texts = t.policy.speech.texts();
        let number = caller_spoken(&state.from, texts);
        let thanks = texts.say(Phrase::CallbackConfirmed, &[("number", &number)]);
        let r = Response::new()
            .push(say(t, &thanks))
            .push(say(t, &t.policy.messages.goodbye))
            .hangup();
        return (state, r);
    }
    if !digits.is_empty() {
        state.event(
            now,
            format!("the caller pressed {digits}, which is not a choice: ringing on"),
        );
    }
    next_dial(t, state, now, urls)
}
