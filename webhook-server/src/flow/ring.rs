//! Ringing: the escalation's next step, the `<Dial>` of it, the whisper that asks "press 1",
//! and the key press that accepts.

use jiff::{SignedDuration, Timestamp};
use switchboard_routing::phrases::{self, Phrase, Texts};
use switchboard_routing::table::{Acceptance, Chain, RingStrategy, RoutingTable, Voicemail};
use switchboard_routing::{CallProgress, Contact, voice};

use super::*;
use crate::state::{CallState, Outcome, Phase, Ring};
use crate::twiml::{Dial, Gather, Input, Noun, Record, Response, Say, Verb};

pub(super) fn start_escalation(
    t: &RoutingTable,
    mut state: CallState,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    if let (Some(only), Some(vm)) = (&t.policy.voicemail_only, &t.policy.voicemail) {
        let mut r = Response::new();
        if let Some(m) = &only.message {
            r = r.push(say(t, m));
        }
        let why = "voicemail-only hotline: nobody is rung live";
        return take_voicemail(t, state, r, vm, why, now, urls);
    }
    state.phase = Phase::Ringing;
    let mut r = Response::new();
    if let Some(a) = &t.policy.recording_announcement {
        r = r.push(say(t, a));
    }
    let (state, more) = next_dial(t, state, now, urls);
    (state, append(r, more))
}

/// Rings the next target: the rest of the current step, or the next step, pass or the end.
pub(super) fn next_dial(
    t: &RoutingTable,
    mut state: CallState,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    let Some(chain) = state.chain.as_deref().and_then(|c| t.chain(c)) else {
        state.event(now, "the chain is missing from the routing table");
        return finish_unanswered(t, state, now, urls);
    };
    // At most every step of every pass is planned once per call to this function.
    let limit = chain.steps.len() * (chain.repeat as usize + 1) + 1;
    for _ in 0..limit {
        if !state.pending.is_empty() {
            match pending_rings(chain, &mut state, now) {
                Some((rings, timeout)) => return dial(t, state, rings, timeout, now, urls),
                None => continue,
            }
        }
        if state.pending.is_empty() && !state.later_rounds.is_empty() {
            let (rings, timeout) = next_round(chain, &mut state, now);
            return dial(t, state, rings, timeout, now, urls);
        }
        if state.next_step >= chain.steps.len() {
            if state.pass >= chain.repeat {
                return finish_unanswered(t, state, now, urls);
            }
            state.pass += 1;
            state.next_step = 0;
            state.event(
                now,
                format!(
                    "chain {}: starting pass {} of {}",
                    chain.name,
                    state.pass + 1,
                    chain.repeat + 1
                ),
            );
        }
        if let Some((rings, timeout)) = plan_next_step(t, chain, &mut state, now) {
            return dial(t, state, rings, timeout, now, urls);
        }
    }
    finish_unanswered(t, state, now, urls)
}

/// The next of the current step's pending targets (all of them, for a Simultaneous step whose
/// time is not up) with the ring timeout; None when the step's time is up.
fn pending_rings(chain: &Chain, state: &mut CallState, now: Timestamp) -> Option<(Vec<Ring>, u32)> {
    let step = chain.steps.get(state.pending[0].step);
    let strategy = step.map(|s| s.strategy).unwrap_or(RingStrategy::Sequential);
    let timeout = step.map(|s| s.ring_timeout_seconds).unwrap_or(20);
    match (strategy, state.step_deadline) {
        (RingStrategy::Simultaneous, Some(deadline)) => {
            let left = deadline.duration_since(now).as_secs();
            if left < MIN_REDIAL_SECONDS {
                state.event(now, "step time is up; no ringing the rest of it again");
                state.pending.clear();
                return None;
            }
            let timeout = left.clamp(MIN_REDIAL_SECONDS, i64::from(timeout)) as u32;
            Some((std::mem::take(&mut state.pending), timeout))
        }
        _ => Some((vec![state.pending.remove(0)], timeout)),
    }
}

/// The next round of an all-at-once step whose round ended with nobody accepting: the next
/// contact of each person who has one, rung together for the step's ring timeout.
fn next_round(chain: &Chain, state: &mut CallState, now: Timestamp) -> (Vec<Ring>, u32) {
    let next = state
        .later_rounds
        .iter()
        .map(|r| r.contact_no)
        .min()
        .unwrap_or(0);
    let (round, rest): (Vec<Ring>, Vec<Ring>) = std::mem::take(&mut state.later_rounds)
        .into_iter()
        .partition(|r| r.contact_no == next);
    state.later_rounds = rest;
    let step = round.first().and_then(|r| chain.steps.get(r.step));
    let timeout = step.map(|s| s.ring_timeout_seconds).unwrap_or(20);
    let deadline = SignedDuration::from_secs(i64::from(timeout));
    state.step_deadline = Some(now.saturating_add(deadline).unwrap_or(now));
    state.event(
        now,
        format!(
            "step {}: nobody accepted; ringing contact {} of everyone who has one",
            step.map(|s| s.name.as_str()).unwrap_or("?"),
            next + 1
        ),
    );
    let rings = round
        .into_iter()
        .map(|mut r| {
            r.at = now;
            r
        })
        .collect();
    (rings, timeout)
}

/// Plans the chain's next step: Some(rings, timeout) to ring a Simultaneous step now; None when
/// the step was skipped or its targets were queued in `state.pending` to ring one by one.
fn plan_next_step(
    t: &RoutingTable,
    chain: &Chain,
    state: &mut CallState,
    now: Timestamp,
) -> Option<(Vec<Ring>, u32)> {
    let step_index = state.next_step;
    state.next_step += 1;
    let step = &chain.steps[step_index];
    // `skipAlreadyRung` leaves out who was rung earlier in this pass: a repeated chain rings
    // its team step again on every pass.
    let pass = state.pass;
    let already: Vec<String> = state
        .rung
        .iter()
        .filter(|r| r.pass == pass)
        .map(|r| r.contact.address().to_string())
        .collect();
    let progress = CallProgress {
        call_sid: &state.call_sid,
        pass: state.pass,
        already_rung: &already,
        rung_in_call: state.rung.len(),
    };
    let plan = match t.plan_step(chain, step_index, now, progress) {
        Ok(p) => p,
        Err(e) => {
            state.event(now, format!("step {}: {e}", step.name));
            return None;
        }
    };
    for note in &plan.notes {
        state.event(now, format!("step {}: {note}", step.name));
    }
    if plan.responders.is_empty() {
        state.event(now, format!("step {}: nobody to ring, skipped", step.name));
        return None;
    }
    let first = |r| Ring::of(r, step_index, state.pass, now);
    let further = |r| Ring::further(r, step_index, state.pass, now);
    match step.strategy {
        // Everyone's first contact at once, then each further contact as a round of its own.
        RingStrategy::Simultaneous => {
            let timeout = SignedDuration::from_secs(i64::from(step.ring_timeout_seconds));
            state.step_deadline = Some(now.saturating_add(timeout).unwrap_or(now));
            state.later_rounds = plan.responders.iter().flat_map(further).collect();
            Some((
                plan.responders.iter().map(first).collect(),
                step.ring_timeout_seconds,
            ))
        }
        // A person's turn is each of their contacts in order, before the next person.
        RingStrategy::Sequential | RingStrategy::Random => {
            state.step_deadline = None;
            state.pending = plan
                .responders
                .iter()
                .flat_map(|r| std::iter::once(first(r)).chain(further(r)))
                .collect();
            None
        }
    }
}

pub(super) fn dial(
    t: &RoutingTable,
    mut state: CallState,
    rings: Vec<Ring>,
    timeout: u32,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    state.seq += 1;
    state.picked_up = None;
    state.picked_up_at = None;
    let seq = state.seq.to_string();
    let nouns = rings
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let url = Some(urls.voice(
                "whisper",
                &[
                    ("call", state.call_sid.clone()),
                    ("seq", seq.clone()),
                    ("ring", i.to_string()),
                ],
            ));
            match &r.contact {
                Contact::Phone(n) => Noun::Number {
                    number: n.clone(),
                    url,
                },
                Contact::Sip(u) => Noun::Sip {
                    uri: u.clone(),
                    url,
                },
            }
        })
        .collect();
    let chain = state.chain.as_deref().and_then(|c| t.chain(c));
    for r in &rings {
        let step = chain
            .and_then(|c| c.steps.get(r.step))
            .map(|s| format!("step {} ({}), pass {}", r.step + 1, s.name, r.pass + 1))
            .unwrap_or_default();
        state.event(
            now,
            format!("ringing {} for {timeout}s, {step}: {}", r.label(), r.reason),
        );
    }
    state.ringing = rings.clone();
    state.rung.extend(rings);
    let d = Dial {
        action: Some(urls.voice("dial", &[("seq", seq)])),
        timeout,
        caller_id: Some(caller_id(t.policy.caller_id, &state.from, &state.to)),
        answer_on_bridge: true,
        time_limit: Some(t.policy.max_call_duration_seconds),
        recording_status_callback: t
            .policy
            .recording_announcement
            .as_ref()
            .map(|_| urls.voice("recording", &[])),
        nouns,
    };
    (state, Response::new().push(Verb::Dial(d)))
}

pub(super) fn finish_unanswered(
    t: &RoutingTable,
    mut state: CallState,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    state.ringing.clear();
    state.pending.clear();
    state.later_rounds.clear();
    let message = if state.rung.is_empty() {
        &t.policy.messages.no_one_on_call
    } else {
        &t.policy.messages.no_answer
    };
    let r = Response::new().push(say(t, message));
    match &t.policy.voicemail {
        Some(vm) => take_voicemail(t, state, r, vm, "nobody accepted: voicemail", now, urls),
        None => {
            state.end(Outcome::NoAnswer, now);
            (state, r.push(say(t, &t.policy.messages.goodbye)).hangup())
        }
    }
}

/// Appends the voicemail greeting and `<Record>` to `r`: the caller leaves a message.
pub(super) fn take_voicemail(
    t: &RoutingTable,
    mut state: CallState,
    r: Response,
    vm: &Voicemail,
    why: &str,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    state.phase = Phase::Voicemail;
    state.event(now, why);
    let r = r
        .push(say(t, &t.policy.messages.voicemail_greeting))
        .push(Verb::Record(Record {
            action: urls.voice("voicemail", &[]),
            max_length: vm.max_length_seconds,
            transcribe_callback: vm.transcribe.then(|| urls.voice("transcription", &[])),
            recording_status_callback: None,
        }));
    // NB: when the caller records nothing, Twilio skips the action and runs the next verb.
    let r = r.push(say(t, &t.policy.messages.goodbye)).hangup();
    (state, r)
}

/// A rung responder picked up (`<Number url>`): they hear who is calling and are asked to accept.
pub fn whisper(
    t: &RoutingTable,
    mut state: CallState,
    seq: u32,
    ring: usize,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    let Some(r) = state
        .ringing
        .get(ring)
        .cloned()
        .filter(|_| seq == state.seq && state.phase == Phase::Ringing)
    else {
        return (state, Response::new().hangup());
    };
    state.picked_up = Some(ring);
    state.picked_up_at = Some(now);
    state.event(now, format!("{} picked up", r.display_name));
    let speech = ResponderSpeech::of(t, r.language.as_deref());
    let (texts, speak) = (speech.texts, |text: String| speech.say(text));
    let intro = whisper_intro(t, &state, texts);
    let Some(acceptance) = &t.policy.acceptance else {
        // No acceptance check: the pickup is the acceptance; an empty response bridges the call.
        state.accepted = Some((r, now));
        state.phase = Phase::Connected;
        return (state, Response::new().push(speak(intro)));
    };
    let gather = Verb::Gather(Gather {
        action: urls.voice(
            "accept",
            &[
                ("call", state.call_sid.clone()),
                ("seq", seq.to_string()),
                ("ring", ring.to_string()),
            ],
        ),
        input: Input::Dtmf,
        num_digits: Some(1),
        timeout: acceptance.timeout_seconds,
        language: None,
        action_on_empty_result: false,
        prompts: vec![speak(intro), speak(speech.accept_prompt(acceptance))],
    });
    // Falling out of the Gather (no key) hangs up this leg; the caller is not connected.
    (
        state,
        Response::new()
            .push(gather)
            .push(speak(texts.get(Phrase::NotAccepted).into()))
            .hangup(),
    )
}

/// The responder pressed `digits` in the whisper.
pub fn accept(
    t: &RoutingTable,
    mut state: CallState,
    seq: u32,
    ring: usize,
    digits: &str,
    now: Timestamp,
) -> (CallState, Response) {
    let digit = t
        .policy
        .acceptance
        .as_ref()
        .map(|a| a.digit.as_str())
        .unwrap_or("1");
    let decline = t
        .policy
        .acceptance
        .as_ref()
        .and_then(|a| a.decline_digit.as_deref());
    let current = seq == state.seq && state.phase == Phase::Ringing && state.accepted.is_none();
    let rung = state.ringing.get(ring);
    let speech = ResponderSpeech::of(t, rung.and_then(|r| r.language.as_deref()));
    let bye = |p: Phrase| {
        let text = speech.texts.get(p).to_string();
        Response::new().push(speech.say(text)).hangup()
    };
    match rung.cloned() {
        Some(r) if current && digits == digit => {
            state.event(now, format!("{} accepted the call", r.display_name));
            state.accepted = Some((r, now));
            state.phase = Phase::Connected;
            // An empty response ends the whisper, and Twilio bridges the two parties.
            (state, Response::new())
        }
        Some(_) if state.phase == Phase::Ended => (state, bye(Phrase::CallerHungUp)),
        // The decline key: this leg hangs up now, so Twilio ends the `<Dial>` and its action
        // moves the escalation on, without waiting out the whisper's or the step's timeout.
        Some(r) if current && decline == Some(digits) => {
            state.declines += 1;
            state.event(
                now,
                format!(
                    "{} declined the call (pressed {digits}): passing it on",
                    r.display_name
                ),
            );
            (state, bye(Phrase::PassingOn))
        }
        _ => (state, bye(Phrase::NotAccepted)),
    }
}

/// What a responder hears the whisper in: the policy's texts when they speak its language
/// (with its overrides), else the catalogue's in their own; the policy's voice where it can
/// speak their language, else the catalogue's voice of it.
struct ResponderSpeech<'t> {
    texts: Texts<'t>,
    voice: Option<String>,
    language: String,
    /// The responder speaks the policy's language.
    own: bool,
}

impl<'t> ResponderSpeech<'t> {
    fn of(t: &'t RoutingTable, language: Option<&str>) -> ResponderSpeech<'t> {
        let speech = &t.policy.speech;
        let language = language.unwrap_or(&speech.language).to_string();
        let own = phrases::same_language(&language, &speech.language);
        let texts = if own {
            speech.texts()
        } else {
            Texts::new(&language, None)
        };
        // The policy's voice only where it can speak the responder's language (Twilio may
        // fail a `<Say>` with a voice and language that do not go together;
        // `switchboard_routing::voice`).
        let voice = voice::voice_for(speech.voice.as_deref(), &speech.language, &language)
            .or_else(|| phrases::voice(&language));
        ResponderSpeech {
            texts,
            voice,
            language,
            own,
        }
    }

    /// `text`, said in the responder's language and voice.
    fn say(&self, text: String) -> Verb {
        Verb::Say(Say {
            text,
            voice: self.voice.clone(),
            language: Some(self.language.clone()),
        })
    }

    /// The acceptance prompt: the policy's, or the catalogue's in a responder's other
    /// language.
    fn accept_prompt(&self, a: &Acceptance) -> String {
        if self.own {
            return a.prompt.clone();
        }
        match &a.decline_digit {
            Some(d) => self.texts.say(
                Phrase::AcceptPrompt,
                &[("accept", &a.digit), ("decline", d)],
            ),
            None => self
                .texts
                .say(Phrase::AcceptOnlyPrompt, &[("accept", &a.digit)]),
        }
    }
}

/// Who is calling which hotline, and what the responder should know first.
fn whisper_intro(t: &RoutingTable, state: &CallState, texts: Texts<'_>) -> String {
    let hotline = match &t.policy.hotline_name {
        Some(name) => name.clone(),
        None => texts.say(Phrase::HotlineName, &[("name", &t.policy.name)]),
    };
    let caller = caller_spoken(&state.from, texts);
    let mut intro = vec![texts.say(
        Phrase::Whisper,
        &[("hotline", &hotline), ("caller", &caller)],
    )];
    if let Some(choice) = &state.menu_choice {
        // The option's name in the policy's language (a caller who chose another language
        // chose it under a translated name).
        let (digit, name) = choice.split_once(' ').unwrap_or((choice, choice));
        let option = t
            .policy
            .entry
            .option(digit)
            .map_or(name, |o| o.name.as_str());
        intro.push(texts.say(Phrase::WhisperChoice, &[("option", option)]));
    }
    if state.closed.is_some() {
        // Rung while closed (an emergency, or the closed chain): say so.
        intro.push(texts.get(Phrase::WhisperClosed).to_string());
    }
    if let Some(d) = &state.description {
        intro.push(texts.say(Phrase::WhisperDescription, &[("description", d)]));
    }
    texts.join(&intro)
}
