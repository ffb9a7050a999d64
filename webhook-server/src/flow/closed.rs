//! A call while the hotline is closed (outside its opening hours, or on a holiday): the closed
//! message instead of the greeting, then the policy's closed action.
//!
//! ```text
//!   closed ─► Hangup: message, goodbye
//!          ─► Voicemail: message, <Record> (raised again at the next opening, when asked)
//!          ─► Chain(c): message, ring c (the description first, when the policy asks for one)
//!          ─► Emergency: Gather "press 1" ─► key: ring the chain (or the usual menu/chain)
//!                                          └► none: voicemail, or goodbye
//! ```

use jiff::Timestamp;
use switchboard_routing::hours::{ClosedAction, Closure, OpeningHours};
use switchboard_routing::table::RoutingTable;

use super::*;
use crate::state::{CallState, Outcome, Phase};
use crate::twiml::{Gather, Input, Response, Verb};

/// Answers a call that came in while the hotline is closed for `why`.
pub(super) fn answer(
    t: &RoutingTable,
    mut state: CallState,
    hours: &OpeningHours,
    why: Closure<'_>,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    let closed = &hours.when_closed;
    state.closed = Some(why.to_string());
    state.event(now, format!("closed: {why}"));
    let r = Response::new();
    match &closed.action {
        ClosedAction::Hangup => {
            state.end(Outcome::Unavailable, now);
            let r = r
                .push(say(t, &closed.message))
                .push(say(t, &t.policy.messages.goodbye))
                .hangup();
            (state, r)
        }
        ClosedAction::Voicemail => {
            voicemail(t, state, hours, r.push(say(t, &closed.message)), now, urls)
        }
        ClosedAction::Chain(chain) => {
            state.alert_route = route(t);
            state.chain = Some(chain.clone());
            state.event(now, format!("closed: ringing chain {chain}"));
            let (state, more) = after_choice(t, state, now, urls);
            (state, append(r.push(say(t, &closed.message)), more))
        }
        ClosedAction::Emergency {
            prompt,
            digit: _,
            timeout_seconds,
            chain: _,
        } => {
            state.alert_route = route(t);
            state.phase = Phase::Closed;
            let gather = Verb::Gather(Gather {
                action: urls.voice("closed", &[]),
                input: Input::Dtmf,
                num_digits: Some(1),
                timeout: *timeout_seconds,
                language: None,
                action_on_empty_result: true,
                prompts: vec![say(t, &closed.message), say(t, prompt)],
            });
            (state, r.push(gather))
        }
    }
}

/// The caller's answer to "if this is an emergency, press 1" (`digits`, empty for none).
pub fn emergency(
    t: &RoutingTable,
    mut state: CallState,
    digits: &str,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    if state.phase != Phase::Closed {
        // A late or repeated callback: the call has moved on.
        return (state, Response::new());
    }
    let Some(hours) = &t.policy.opening_hours else {
        // The table changed under the call (opening hours removed): route it as usual.
        return usual_entry(t, state, now, urls);
    };
    let ClosedAction::Emergency { digit, chain, .. } = &hours.when_closed.action else {
        return usual_entry(t, state, now, urls);
    };
    if digits != digit {
        state.event(
            now,
            if digits.is_empty() {
                "closed: no emergency key pressed".to_string()
            } else {
                format!("closed: {digits} is not the emergency key")
            },
        );
        return voicemail(t, state, hours, Response::new(), now, urls);
    }
    state.event(
        now,
        format!("closed: the caller pressed {digit} for an emergency"),
    );
    match chain {
        Some(c) => {
            state.chain = Some(c.clone());
            after_choice(t, state, now, urls)
        }
        None => usual_entry(t, state, now, urls),
    }
}

/// A voicemail while closed, raised again at the next opening when the policy asks; goodbye
/// when the policy takes no voicemail.
fn voicemail(
    t: &RoutingTable,
    mut state: CallState,
    hours: &OpeningHours,
    r: Response,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    let Some(vm) = &t.policy.voicemail else {
        state.end(Outcome::Unavailable, now);
        return (state, r.push(say(t, &t.policy.messages.goodbye)).hangup());
    };
    state.alert_route = route(t);
    if hours.when_closed.raise_again_when_open {
        state.raise_again_at = hours.next_opening(now);
        if let Some(at) = state.raise_again_at {
            state.event(
                now,
                format!("closed: a voicemail is raised again when the hotline opens, at {at}"),
            );
        }
    }
    take_voicemail(t, state, r, vm, "closed: voicemail", now, urls)
}

fn route(t: &RoutingTable) -> Option<switchboard_routing::SharedRoute> {
    (!t.policy.notifications.is_empty()).then(|| t.alert_route())
}
