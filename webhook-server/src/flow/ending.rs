//! How a dial and a call end: the `<Dial action>`, the status callback in either order,
//! voicemail, its recording and transcription.

use jiff::Timestamp;
use switchboard_routing::table::RoutingTable;

use super::*;
use crate::state::{CallState, CallStatus, Outcome, Phase, Ring, RingResult};
use crate::twiml::Response;

/// What Twilio reports when a `<Dial>` ends.
#[derive(Clone, Debug)]
pub struct DialResult {
    /// The dial's sequence number (from the action URL).
    pub seq: u32,
    /// `DialCallStatus`: completed, answered, busy, no-answer, failed, canceled.
    pub dial_status: CallStatus,
    /// `DialCallDuration`, seconds, when the legs were bridged.
    pub duration: Option<u32>,
    /// `CallStatus` of the caller's leg; `completed` when the caller hung up during the dial.
    pub call_status: CallStatus,
}

/// The `<Dial action>` callback: connected, or on to the next ring.
///
/// NB (Twilio, "Voice webhooks" and the `<Dial>` `action` attribute): the `<Dial action>` and
/// the caller's status callback are separate requests and Twilio does not promise their order;
/// when the caller hangs up, the status callback may come first, and the action may not come
/// at all. So a call whose caller hung up while connected is ended `answered` by [`status`],
/// with its talk time measured there, and a Dial action arriving afterwards only replaces that
/// measure with Twilio's own `DialCallDuration`.
/// <https://www.twilio.com/docs/voice/twiml/dial#action>,
/// <https://www.twilio.com/docs/usage/webhooks/voice-webhooks>
pub fn dial_result(
    t: &RoutingTable,
    mut state: CallState,
    res: &DialResult,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    if res.seq == state.seq
        && state.phase == Phase::Ended
        && state.outcome == Some(Outcome::Answered)
        && let Some(d) = res.duration
    {
        // The status callback came first and ended the call; Twilio's figure is the exact one.
        if state.talk_seconds != Some(d) {
            state.talk_seconds = Some(d);
            state.event(now, format!("Twilio reports {d}s of talk time"));
        }
        return (state, Response::new().hangup());
    }
    if res.seq != state.seq || !matches!(state.phase, Phase::Ringing | Phase::Connected) {
        return (state, Response::new());
    }
    if let Some(accepted) = state.accepted.clone() {
        return accepted_leg_ended(t, state, accepted, res, now, urls);
    }
    if res.call_status.caller_gone() {
        settle_ringing(&mut state, RingResult::CallerHungUp);
        state.event(now, "the caller hung up while responders were rung");
        state.end(Outcome::Abandoned, now);
        return (state, Response::new().hangup());
    }
    settle_unaccepted(&mut state, res.dial_status, now);
    ring_on(t, state, now, urls)
}

/// The `<Dial>` of a responder who accepted has ended: the call is answered, unless the
/// responder's leg dropped before any conversation while the caller is still on the line.
fn accepted_leg_ended(
    t: &RoutingTable,
    mut state: CallState,
    (who, at): (Ring, Timestamp),
    res: &DialResult,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    // A responder who accepted and whose leg then dropped before any conversation (no talk
    // time) leaves a caller who is still on the line: the escalation goes on.
    if !res.call_status.caller_gone() && res.duration.unwrap_or(0) == 0 {
        mark(&mut state, &who, RingResult::Dropped);
        settle_ringing(&mut state, RingResult::Canceled);
        state.accepted = None;
        state.phase = Phase::Ringing;
        state.event(
            now,
            format!(
                "{} accepted but the line dropped before the caller was connected: \
                 the escalation goes on",
                who.display_name
            ),
        );
        return ring_on(t, state, now, urls);
    }
    let note = format!(
        "{} talked with the caller for {}s (answered after {}s)",
        who.display_name,
        res.duration.unwrap_or(0),
        at.duration_since(state.started_at).as_secs()
    );
    end_answered(&mut state, &who, res.duration, note, now);
    (state, Response::new().hangup())
}

/// Nobody accepted: each ringing leg gets its result (`dial_status`, or `not-accepted` for a
/// pickup that did not press the key and `canceled` for the phones Twilio stopped then), and
/// the rest of an all-at-once step is queued to ring again.
fn settle_unaccepted(state: &mut CallState, dial_status: CallStatus, now: Timestamp) {
    let picked = state.picked_up.and_then(|i| state.ringing.get(i).cloned());
    for r in state.ringing.clone() {
        let this = match &picked {
            Some(p) if *p == r => RingResult::NotAccepted,
            Some(_) => RingResult::Canceled,
            None => RingResult::of_dial(dial_status),
        };
        mark(state, &r, this);
    }
    // An all-at-once step whose first pickup did not accept: ring the others again, for the
    // time the step still had when that pickup stopped their phones (the whisper itself may
    // have taken most of the step's time).
    if let (Some(p), Some(deadline)) = (&picked, state.step_deadline)
        && state.ringing.len() > 1
    {
        let left = deadline.duration_since(state.picked_up_at.unwrap_or(now));
        state.step_deadline = Some(now.saturating_add(left).unwrap_or(now));
        state.pending = state
            .ringing
            .iter()
            .filter(|r| *r != p)
            .cloned()
            .map(|mut r| {
                r.at = now;
                r.result = None;
                r
            })
            .collect();
        state.event(
            now,
            format!(
                "{} picked up without accepting: ringing the rest of the step again",
                p.display_name
            ),
        );
    }
    state.ringing.clear();
}

/// Ends an accepted call answered, whichever callback told of its end: `who` accepted, the
/// others still ringing were hung up by Twilio.
pub(super) fn end_answered(
    state: &mut CallState,
    who: &Ring,
    talk_seconds: Option<u32>,
    note: String,
    now: Timestamp,
) {
    state.talk_seconds = talk_seconds;
    mark(state, who, RingResult::Accepted);
    settle_ringing(state, RingResult::Canceled);
    state.event(now, note);
    state.end(Outcome::Answered, now);
}

/// Gives everyone still ringing without a result `result` (the legs Twilio hung up when
/// another leg was connected, or when the caller went).
pub(super) fn settle_ringing(state: &mut CallState, result: RingResult) {
    for r in state.ringing.clone() {
        mark(state, &r, result);
    }
}

pub(super) fn mark(state: &mut CallState, who: &Ring, result: RingResult) {
    if let Some(r) = state
        .rung
        .iter_mut()
        .rev()
        .find(|r| r.contact == who.contact && r.result.is_none())
    {
        r.result = Some(result);
    }
}

/// The voicemail recording ended (`<Record action>`). NB (Twilio, `<Record>`): Twilio may
/// request the action of a recording that holds nothing (`RecordingDuration` 0, or no
/// `RecordingUrl`) when the caller hung up at the beep; that is no message, and the call
/// ends without one.
/// <https://www.twilio.com/docs/voice/twiml/record#action>
pub fn voicemail(
    t: &RoutingTable,
    mut state: CallState,
    recording_url: &str,
    duration: Option<u32>,
    now: Timestamp,
) -> (CallState, Response) {
    if state.phase == Phase::Voicemail {
        if recording_url.is_empty() || duration == Some(0) {
            state.event(now, "the voicemail recording was empty: no message left");
            state.end(Outcome::NoAnswer, now);
        } else {
            state.recording_url = Some(recording_url.to_string());
            state.event(
                now,
                format!("voicemail of {}s recorded", duration.unwrap_or(0)),
            );
            state.end(Outcome::Voicemail, now);
        }
    }
    (
        state,
        Response::new()
            .push(say(t, &t.policy.messages.goodbye))
            .hangup(),
    )
}

/// Twilio's transcription of the voicemail arrived. NB (Twilio, `<Record transcribeCallback>`):
/// the callback carries `TranscriptionStatus` (`completed` or `failed`) and, only when it
/// completed, `TranscriptionText`; a failed transcription is noted, never stored as text.
/// <https://www.twilio.com/docs/voice/twiml/record#transcribecallback>
pub fn transcription(mut state: CallState, status: &str, text: &str, now: Timestamp) -> CallState {
    let text = text.trim();
    if status == "failed" || text.is_empty() {
        state.event(
            now,
            format!(
                "voicemail transcription {}",
                if status.is_empty() { "empty" } else { status }
            ),
        );
        return state;
    }
    state.transcription = Some(text.to_string());
    state.event(now, "voicemail transcription received");
    state
}

/// The recording of the connected conversation is ready (`recordingStatusCallback`).
pub fn recording(mut state: CallState, url: &str, now: Timestamp) -> CallState {
    state.conversation_recording_url = Some(url.to_string());
    state.event(now, "conversation recording available");
    state
}

/// The caller's call ended (status callback). A call that had no outcome yet was abandoned,
/// unless a responder had accepted it: then the caller hung up on the conversation, and the
/// call is answered, whether or not the `<Dial action>` comes afterwards (see [`dial_result`]).
/// The talk time is the caller's `CallDuration` less the time before the acceptance.
/// <https://www.twilio.com/docs/voice/api/call-resource#statuscallback>
pub fn status(
    mut state: CallState,
    call_status: CallStatus,
    call_duration: Option<u32>,
    now: Timestamp,
) -> CallState {
    if !call_status.is_final() || state.outcome.is_some() {
        return state;
    }
    if let Some((who, at)) = state.accepted.clone() {
        let before = at.duration_since(state.started_at).as_secs().max(0) as u32;
        let talk = match call_duration {
            Some(d) => d.saturating_sub(before),
            None => now.duration_since(at).as_secs().max(0) as u32,
        };
        let note = format!(
            "the caller hung up after talking with {} for about {talk}s",
            who.display_name
        );
        end_answered(&mut state, &who, Some(talk), note, now);
    } else if state.phase == Phase::Voicemail {
        // Hung up during the voicemail prompt without recording anything.
        state.end(Outcome::NoAnswer, now);
    } else {
        settle_ringing(&mut state, RingResult::CallerHungUp);
        state.end(Outcome::Abandoned, now);
    }
    state
}
