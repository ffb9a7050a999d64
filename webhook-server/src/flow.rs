//! The call flow as pure functions: (routing table, call state, webhook) -> (new state, TwiML).
//!
//! ```text
//!   incoming ─► blocked? Reject ─► disabled? say, hang up ─► greeting
//!      ─► menu (Gather digit, retries, default) ─► describe (Gather speech) ─► escalate
//!   escalate ─► plan next step (who is on call now) ─► Dial(Number url=whisper) ─► dial callback
//!   whisper ─► Gather "press 1" ─► accept: state.accepted, empty TwiML bridges the call
//!   dial callback ─► accepted? done : redial rest of step / next target / next step / repeat
//!                 ─► voicemail (Record) or "no answer", hang up
//! ```
//!
//! NB: acceptance is read from the call state, not from `DialCallStatus`, because what Twilio
//! reports for a whispered leg that hangs up without accepting is not the signal to rely on;
//! the only proof of a human is the key press recorded by `accept`.
//!
//! NB: with several `<Number>`s in one `<Dial>`, Twilio connects the first leg that answers and
//! hangs up the others, and the whisper (`<Number url>`) runs only on that leg
//! (<https://www.twilio.com/docs/voice/twiml/number#url>, "Dialing multiple numbers" in
//! <https://www.twilio.com/docs/voice/twiml/dial>). So when the first pickup of an all-at-once
//! step does not accept (a personal voicemail, a pocket answer), the others of the step are rung
//! again for what is left of the step's time (`redial_rest`).

use jiff::{SignedDuration, Timestamp};
use switchboard_routing::table::{CallerId, Entry, Greeting, Mode, RingStrategy, RoutingTable};
use switchboard_routing::{CallProgress, Contact, voice};

use crate::state::{CallState, Outcome, Phase, Ring};
use crate::twiml::{Dial, Gather, Input, Noun, Record, RejectReason, Response, Say, Verb};

/// The call-log result of a responder still being rung when the caller hung up, whichever of
/// the `<Dial action>` and the status callback told first.
const CALLER_HUNG_UP: &str = "caller-hung-up";

/// The fewest seconds worth ringing the rest of a step again.
const MIN_REDIAL_SECONDS: i64 = 5;

/// Builds the absolute URLs Twilio calls back, from the configured public base URL.
#[derive(Clone, Debug)]
pub struct Urls {
    base: String,
}

impl Urls {
    /// `base` is the public URL Twilio reaches the server at, such as `https://sb.example.com`.
    pub fn new(base: &str) -> Urls {
        Urls {
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// `<base>/twilio/voice/<path>?<query>`. Query values are SIDs and numbers (no escaping needed).
    pub fn voice(&self, path: &str, query: &[(&str, String)]) -> String {
        let mut url = format!("{}/twilio/voice/{path}", self.base);
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.push_str(v);
        }
        url
    }
}

/// The first webhook of a call.
#[derive(Clone, Debug)]
pub struct Incoming<'a> {
    /// CallSid.
    pub call_sid: &'a str,
    /// Caller.
    pub from: &'a str,
    /// Hotline number.
    pub to: &'a str,
}

/// Said to an unknown number's caller.
pub const NOT_IN_SERVICE: &str = "The number you have called is not in service. Goodbye.";

fn say(t: &RoutingTable, text: &str) -> Verb {
    Verb::Say(Say {
        text: text.to_string(),
        voice: t.policy.speech.voice.clone(),
        language: Some(t.policy.speech.language.clone()),
    })
}

/// Answers the first webhook of a call with the new call state and its TwiML. A call that ends
/// at once (unknown number, blocked, disabled) comes back already ended, with its outcome.
pub fn incoming(
    table: Option<&RoutingTable>,
    req: &Incoming<'_>,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    let mut state = CallState {
        call_sid: req.call_sid.to_string(),
        to: req.to.to_string(),
        from: req.from.to_string(),
        started_at: now,
        policy: String::new(),
        revision: String::new(),
        phase: Phase::Ringing,
        menu_choice: None,
        chain: None,
        description: None,
        pass: 0,
        next_step: 0,
        pending: vec![],
        ringing: vec![],
        step_deadline: None,
        seq: 0,
        picked_up: None,
        picked_up_at: None,
        accepted: None,
        rung: vec![],
        talk_seconds: None,
        recording_url: None,
        conversation_recording_url: None,
        transcription: None,
        outcome: None,
        ended_at: None,
        alert_route: None,
        events: vec![],
    };
    let Some(t) = table else {
        state.event(now, format!("no routing table for {}", req.to));
        state.end(Outcome::UnknownNumber, now);
        return (
            state,
            Response::new().say(NOT_IN_SERVICE, None, None).hangup(),
        );
    };
    state.policy = format!("{}/{}", t.owner.namespace, t.policy.name);
    state.revision = t.revision.clone();
    // Blocked callers are refused before the call is answered (no greeting, no charge).
    if t.policy.blocklist.blocks(req.from) {
        state.event(now, format!("caller {} is on the blocklist", req.from));
        state.end(Outcome::Blocked, now);
        return (
            state,
            Response::new().push(Verb::Reject(RejectReason::Rejected)),
        );
    }
    if let Mode::Disabled { message } | Mode::Maintenance { message } = &t.policy.mode {
        state.event(now, "the policy is not active");
        state.end(Outcome::Unavailable, now);
        return (state, Response::new().push(say(t, message)).hangup());
    }
    if !t.policy.notifications.is_empty() {
        state.alert_route = Some(t.alert_route());
    }
    let mut r = Response::new();
    match &t.policy.greeting {
        Some(Greeting::Say(text)) => r = r.push(say(t, text)),
        Some(Greeting::Play(url)) => r = r.push(Verb::Play(url.clone())),
        None => {}
    }
    match &t.policy.entry {
        Entry::Menu(_) => {
            state.phase = Phase::Menu { attempt: 0 };
            let (state, more) = menu_prompt(t, state, urls);
            (state, append(r, more))
        }
        Entry::Chain(chain) => {
            state.chain = Some(chain.clone());
            let (state, more) = after_choice(t, state, now, urls);
            (state, append(r, more))
        }
    }
}

fn append(mut r: Response, more: Response) -> Response {
    for v in more.verbs() {
        r = r.push(v.clone());
    }
    r
}

fn menu_prompt(t: &RoutingTable, state: CallState, urls: &Urls) -> (CallState, Response) {
    let Entry::Menu(menu) = &t.policy.entry else {
        unreachable!("menu_prompt is only called for a menu")
    };
    let Phase::Menu { attempt } = state.phase else {
        unreachable!("menu_prompt is only called in the menu")
    };
    let mut prompts = Vec::new();
    if let Some(p) = &menu.prompt {
        prompts.push(say(t, p));
    }
    for o in &menu.options {
        prompts.push(say(t, &format!("For {}, press {}.", o.name, o.digit)));
    }
    let gather = Verb::Gather(Gather {
        action: urls.voice("menu", &[("attempt", attempt.to_string())]),
        input: Input::Dtmf,
        num_digits: Some(1),
        timeout: menu.timeout_seconds,
        language: None,
        action_on_empty_result: true,
        prompts,
    });
    (state, Response::new().push(gather))
}

/// The caller pressed `digits` (or nothing) at menu reading `attempt`.
pub fn menu(
    t: &RoutingTable,
    mut state: CallState,
    attempt: u32,
    digits: &str,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    let Entry::Menu(menu) = &t.policy.entry else {
        return (
            state,
            Response::new()
                .push(say(t, &t.policy.messages.goodbye))
                .hangup(),
        );
    };
    if state.phase != (Phase::Menu { attempt }) {
        // A late or repeated menu callback: the call has moved on.
        return (state, Response::new());
    }
    let chosen = menu.options.iter().find(|o| o.digit == digits);
    let default = menu
        .default_digit
        .as_ref()
        .and_then(|d| menu.options.iter().find(|o| &o.digit == d));
    let option = match (chosen, digits.is_empty()) {
        (Some(o), _) => Some(o),
        // An unknown key goes to the default option when there is one.
        (None, false) if default.is_some() => default,
        _ if attempt < menu.retries => {
            state.event(
                now,
                if digits.is_empty() {
                    "menu: no key pressed, asking again".to_string()
                } else {
                    format!("menu: {digits} is not an option, asking again")
                },
            );
            state.phase = Phase::Menu {
                attempt: attempt + 1,
            };
            let (state, r) = menu_prompt(t, state, urls);
            let again = if digits.is_empty() {
                "Sorry, I did not get that."
            } else {
                "Sorry, that is not an option."
            };
            return (state, append(Response::new().push(say(t, again)), r));
        }
        _ => default,
    };
    let Some(option) = option else {
        state.event(now, "menu: no valid choice after every retry");
        state.end(Outcome::NoAnswer, now);
        return (
            state,
            Response::new()
                .push(say(t, &t.policy.messages.goodbye))
                .hangup(),
        );
    };
    state.menu_choice = Some(format!("{} {}", option.digit, option.name));
    state.chain = Some(option.chain.clone());
    state.event(
        now,
        format!("menu: chose {} ({})", option.digit, option.name),
    );
    after_choice(t, state, now, urls)
}

fn after_choice(
    t: &RoutingTable,
    mut state: CallState,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    if let Some(d) = &t.policy.describe_problem {
        state.phase = Phase::Describe;
        let gather = Verb::Gather(Gather {
            action: urls.voice("describe", &[]),
            input: Input::Speech,
            num_digits: None,
            timeout: d.timeout_seconds,
            language: Some(t.policy.speech.language.clone()),
            action_on_empty_result: true,
            prompts: vec![say(t, &d.prompt)],
        });
        return (state, Response::new().push(gather));
    }
    start_escalation(t, state, now, urls)
}

/// The caller's spoken description (`SpeechResult`, empty when they said nothing).
pub fn describe(
    t: &RoutingTable,
    mut state: CallState,
    speech: &str,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    if state.phase != Phase::Describe {
        return (state, Response::new());
    }
    // What the caller said is spoken in the whisper and sent in alerts: control characters
    // (which XML cannot carry, and which a terminal would act on) become spaces.
    let speech = speech
        .split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if !speech.is_empty() {
        state.event(now, format!("caller described the problem: {speech:?}"));
        state.description = Some(speech);
    }
    start_escalation(t, state, now, urls)
}

fn start_escalation(
    t: &RoutingTable,
    mut state: CallState,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    state.phase = Phase::Ringing;
    let mut r = Response::new();
    if let Some(a) = &t.policy.recording_announcement {
        r = r.push(say(t, a));
    }
    let (state, more) = next_dial(t, state, now, urls);
    (state, append(r, more))
}

/// Rings the next target: the rest of the current step, or the next step, pass or the end.
fn next_dial(
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
            let strategy = chain
                .steps
                .get(state.pending[0].step)
                .map(|s| s.strategy)
                .unwrap_or(RingStrategy::Sequential);
            let timeout = chain
                .steps
                .get(state.pending[0].step)
                .map(|s| s.ring_timeout_seconds)
                .unwrap_or(20);
            let rings: Vec<Ring> = match (strategy, state.step_deadline) {
                (RingStrategy::Simultaneous, Some(deadline)) => {
                    let left = deadline.duration_since(now).as_secs();
                    if left < MIN_REDIAL_SECONDS {
                        state.event(now, "step time is up; no ringing the rest of it again");
                        state.pending.clear();
                        continue;
                    }
                    std::mem::take(&mut state.pending)
                }
                _ => vec![state.pending.remove(0)],
            };
            let timeout = match (strategy, state.step_deadline) {
                (RingStrategy::Simultaneous, Some(deadline)) => deadline
                    .duration_since(now)
                    .as_secs()
                    .clamp(MIN_REDIAL_SECONDS, i64::from(timeout))
                    as u32,
                _ => timeout,
            };
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
        let step_index = state.next_step;
        state.next_step += 1;
        let step = &chain.steps[step_index];
        // `skipAlreadyRung` leaves out who was rung earlier in this pass: a repeated chain
        // rings its team step again on every pass.
        let pass = state.pass;
        let already: Vec<String> = state
            .rung
            .iter()
            .filter(|r| r.pass == pass)
            .map(|r| r.contact.address().to_string())
            .collect();
        let plan = match t.plan_step(
            chain,
            step_index,
            now,
            CallProgress {
                call_sid: &state.call_sid,
                pass: state.pass,
                already_rung: &already,
                rung_in_call: state.rung.len(),
            },
        ) {
            Ok(p) => p,
            Err(e) => {
                state.event(now, format!("step {}: {e}", step.name));
                continue;
            }
        };
        for note in &plan.notes {
            state.event(now, format!("step {}: {note}", step.name));
        }
        if plan.responders.is_empty() {
            state.event(now, format!("step {}: nobody to ring, skipped", step.name));
            continue;
        }
        let rings: Vec<Ring> = plan
            .responders
            .iter()
            .map(|r| Ring::of(r, step_index, state.pass, now))
            .collect();
        match step.strategy {
            RingStrategy::Simultaneous => {
                state.step_deadline = Some(
                    now.saturating_add(SignedDuration::from_secs(i64::from(
                        step.ring_timeout_seconds,
                    )))
                    .unwrap_or(now),
                );
                return dial(t, state, rings, step.ring_timeout_seconds, now, urls);
            }
            RingStrategy::Sequential | RingStrategy::Random => {
                state.step_deadline = None;
                state.pending = rings;
                continue;
            }
        }
    }
    finish_unanswered(t, state, now, urls)
}

fn dial(
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
            format!(
                "ringing {} ({}) for {timeout}s, {step}: {}",
                r.display_name,
                r.contact.address(),
                r.reason
            ),
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

fn finish_unanswered(
    t: &RoutingTable,
    mut state: CallState,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    state.ringing.clear();
    state.pending.clear();
    let message = if state.rung.is_empty() {
        &t.policy.messages.no_one_on_call
    } else {
        &t.policy.messages.no_answer
    };
    let r = Response::new().push(say(t, message));
    match &t.policy.voicemail {
        Some(vm) => {
            state.phase = Phase::Voicemail;
            state.event(now, "nobody accepted: voicemail");
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
        None => {
            state.end(Outcome::NoAnswer, now);
            (state, r.push(say(t, &t.policy.messages.goodbye)).hangup())
        }
    }
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
    let language = r
        .language
        .clone()
        .unwrap_or_else(|| t.policy.speech.language.clone());
    // The policy's voice only where it can speak the responder's language (Twilio may fail a
    // `<Say>` with a voice and language that do not go together; `switchboard_routing::voice`).
    let voice = voice::voice_for(
        t.policy.speech.voice.as_deref(),
        &t.policy.speech.language,
        &language,
    );
    let speak = |text: String| {
        Verb::Say(Say {
            text,
            voice: voice.clone(),
            language: Some(language.clone()),
        })
    };
    let mut intro = format!(
        "Incoming call to the {} hotline from {}.",
        t.policy.name,
        caller_spoken(&state.from)
    );
    if let Some(choice) = &state.menu_choice {
        intro.push_str(&format!(
            " The caller chose {}.",
            choice.split_once(' ').map(|(_, n)| n).unwrap_or(choice)
        ));
    }
    if let Some(d) = &state.description {
        intro.push_str(&format!(" They said: {d}."));
    }
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
        prompts: vec![speak(intro), speak(acceptance.prompt.clone())],
    });
    // Falling out of the Gather (no key) hangs up this leg; the caller is not connected.
    (
        state,
        Response::new()
            .push(gather)
            .push(speak("The call was not accepted. Goodbye.".into()))
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
    let current = seq == state.seq && state.phase == Phase::Ringing && state.accepted.is_none();
    match state.ringing.get(ring).cloned() {
        Some(r) if current && digits == digit => {
            state.event(now, format!("{} accepted the call", r.display_name));
            state.accepted = Some((r, now));
            state.phase = Phase::Connected;
            // An empty response ends the whisper, and Twilio bridges the two parties.
            (state, Response::new())
        }
        Some(_) if state.phase == Phase::Ended => (
            state,
            Response::new()
                .say("The caller has hung up. Goodbye.", None, None)
                .hangup(),
        ),
        _ => (
            state,
            Response::new()
                .say("The call was not accepted. Goodbye.", None, None)
                .hangup(),
        ),
    }
}

/// What Twilio reports when a `<Dial>` ends.
#[derive(Clone, Debug)]
pub struct DialResult<'a> {
    /// The dial's sequence number (from the action URL).
    pub seq: u32,
    /// `DialCallStatus`: completed, answered, busy, no-answer, failed, canceled.
    pub dial_status: &'a str,
    /// `DialCallDuration`, seconds, when the legs were bridged.
    pub duration: Option<u32>,
    /// `CallStatus` of the caller's leg; `completed` when the caller hung up during the dial.
    pub call_status: &'a str,
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
    res: &DialResult<'_>,
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
    let caller_gone = res.call_status == "completed" || res.call_status == "canceled";
    if let Some((who, at)) = state.accepted.clone() {
        // A responder who accepted and whose leg then dropped before any conversation (no talk
        // time) leaves a caller who is still on the line: the escalation goes on.
        if !caller_gone && res.duration.unwrap_or(0) == 0 {
            mark(&mut state, &who, "dropped");
            settle_ringing(&mut state, "canceled");
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
            return next_dial(t, state, now, urls);
        }
        let note = format!(
            "{} talked with the caller for {}s (answered after {}s)",
            who.display_name,
            res.duration.unwrap_or(0),
            at.duration_since(state.started_at).as_secs()
        );
        end_answered(&mut state, &who, res.duration, note, now);
        return (state, Response::new().hangup());
    }
    if caller_gone {
        settle_ringing(&mut state, CALLER_HUNG_UP);
        state.event(now, "the caller hung up while responders were rung");
        state.end(Outcome::Abandoned, now);
        return (state, Response::new().hangup());
    }
    let picked = state.picked_up.and_then(|i| state.ringing.get(i).cloned());
    let result = if picked.is_some() {
        "not-accepted".to_string()
    } else {
        res.dial_status.to_string()
    };
    for r in state.ringing.clone() {
        let this = if picked.as_ref() == Some(&r) {
            result.clone()
        } else if picked.is_some() {
            "canceled".into()
        } else {
            result.clone()
        };
        mark(&mut state, &r, &this);
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
    next_dial(t, state, now, urls)
}

/// Ends an accepted call answered, whichever callback told of its end: `who` accepted, the
/// others still ringing were hung up by Twilio.
fn end_answered(
    state: &mut CallState,
    who: &Ring,
    talk_seconds: Option<u32>,
    note: String,
    now: Timestamp,
) {
    state.talk_seconds = talk_seconds;
    mark(state, who, "accepted");
    settle_ringing(state, "canceled");
    state.event(now, note);
    state.end(Outcome::Answered, now);
}

/// Gives everyone still ringing without a result `result` (the legs Twilio hung up when
/// another leg was connected, or when the caller went).
fn settle_ringing(state: &mut CallState, result: &str) {
    for r in state.ringing.clone() {
        mark(state, &r, result);
    }
}

fn mark(state: &mut CallState, who: &Ring, result: &str) {
    if let Some(r) = state
        .rung
        .iter_mut()
        .rev()
        .find(|r| r.contact == who.contact && r.result.is_none())
    {
        r.result = Some(result.to_string());
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
    call_status: &str,
    call_duration: Option<u32>,
    now: Timestamp,
) -> CallState {
    if !matches!(
        call_status,
        "completed" | "canceled" | "busy" | "failed" | "no-answer"
    ) || state.outcome.is_some()
    {
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
        settle_ringing(&mut state, CALLER_HUNG_UP);
        state.end(Outcome::Abandoned, now);
    }
    state
}

/// The caller ID a rung responder sees. NB (Twilio, TwiML `<Dial callerId>` and error 13214):
/// the caller ID must be a phone number in E.164 that the account owns or verified, or the
/// number of the incoming call being forwarded; a caller who withholds their number arrives
/// as `anonymous` (clients and SIP endpoints as `client:...` / `sip:...`), which Twilio
/// refuses, failing the `<Dial>`. Such callers are shown with the hotline number, so that
/// responders are still rung for exactly the callers who withhold theirs.
/// <https://www.twilio.com/docs/voice/twiml/dial#callerid>
fn caller_id(policy: CallerId, from: &str, to: &str) -> String {
    match policy {
        CallerId::Caller if switchboard_routing::is_e164(from) => from.to_string(),
        _ => to.to_string(),
    }
}

/// The caller's number as the whisper says it, or what stands for one that is withheld.
fn caller_spoken(from: &str) -> String {
    if switchboard_routing::is_e164(from) {
        spell(from)
    } else {
        "a withheld number".to_string()
    }
}

/// A number read digit by digit (`+1 4 1 5 ...`), so text to speech does not say "four billion".
fn spell(number: &str) -> String {
    number
        .chars()
        .filter(|c| c.is_ascii_digit())
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod caller_id_tests {
    use super::*;

    #[test]
    fn a_withheld_client_or_sip_caller_is_shown_and_announced_without_a_refused_caller_id() {
        let hotline = "+14155550100";
        assert_eq!(
            caller_id(CallerId::Caller, "+15105550123", hotline),
            "+15105550123"
        );
        for withheld in [
            "anonymous",
            "client:alice",
            "sip:bob@pbx.example.com",
            "",
            "+0123",
            "266696687",
        ] {
            assert_eq!(
                caller_id(CallerId::Caller, withheld, hotline),
                hotline,
                "{withheld}"
            );
            assert_eq!(caller_spoken(withheld), "a withheld number", "{withheld}");
        }
        assert_eq!(
            caller_id(CallerId::Hotline, "+15105550123", hotline),
            hotline
        );
        assert_eq!(caller_spoken("+15105550123"), "1 5 1 0 5 5 5 0 1 2 3");
    }
}
