//! The call flow as pure functions: (routing table, call state, webhook) -> (new state, TwiML).
//!
//! ```text
//!   incoming ─► blocked? Reject ─► disabled? say, hang up ─► allowlist? say, hang up
//!      ─► language choice (language.rs) ─► PIN (pin.rs) ─► closed? closed.rs ─► greeting
//!      ─► menu (Gather digit, retries, default) ─► describe (Gather speech) ─► escalate
//!   escalate ─► plan next step (who is on call now) ─► Dial(Number url=whisper) ─► dial callback
//!   whisper ─► Gather "press 1" ─► accept: state.accepted, empty TwiML bridges the call
//!   dial callback ─► accepted? done : redial rest of step / next target / next step / repeat
//!                 ─► voicemail (Record) or "no answer", hang up
//!   voicemail-only hotline: escalate ─► voicemail (Record), nobody rung
//!   between rings (callerChoices): Gather ─► voicemail now / call-back requested / ring on
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

use jiff::Timestamp;
use switchboard_routing::callers::{CallerRule, RuleTarget, Verdict};
use switchboard_routing::phrases::Phrase;
use switchboard_routing::table::{Entry, Greeting, Mode, RoutingTable};

mod caller;
mod choices;
mod closed;
mod ending;
mod language;
mod pin;
mod ring;

pub use choices::choice;
pub use closed::emergency;
pub use ending::{DialResult, dial_result, recording, status, transcription, voicemail};
pub use language::language;
pub use pin::pin;
pub use ring::{accept, whisper};

use caller::*;
use choices::ring_on;
use ring::*;

use crate::state::{CallState, Outcome, Phase};
use crate::twiml::{Gather, Input, RejectReason, Response, Say, Verb};

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
    let mut state = CallState::new(req.call_sid, req.from, req.to, now);
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
    let known = verdict(t, req.from);
    if let Some(Verdict::Rejected { withheld }) = known {
        state.event(
            now,
            if withheld {
                format!("caller {} withholds their number: the hotline takes only the callers its rules name", req.from)
            } else {
                format!("caller {} is not on the allowlist", req.from)
            },
        );
        state.end(Outcome::Blocked, now);
        let reject = t.policy.callers.as_ref().map(|c| c.reject_message.as_str());
        return (
            state,
            Response::new()
                .push(say(t, reject.unwrap_or_default()))
                .hangup(),
        );
    }
    if let Some(choice) = &t.policy.language_choice {
        state.phase = Phase::Language;
        return (state, language::prompt(t, choice, urls));
    }
    admitted(t, state, known, now, urls)
}

/// What the policy's caller rules make of caller `from`; `None` without rules.
fn verdict<'t>(t: &'t RoutingTable, from: &str) -> Option<Verdict<'t>> {
    t.policy.callers.as_ref().map(|c| c.judge(from))
}

/// A caller past the blocklist, the mode and the allowlist (and the language choice), whom
/// the rules judged `known`: asked the PIN, or closed, or greeted and on to the menu or the
/// chain.
fn admitted(
    t: &RoutingTable,
    mut state: CallState,
    known: Option<Verdict<'_>>,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    let named = matches!(known, Some(Verdict::Rule { .. }));
    if let Some(p) = &t.policy.pin
        && !state.pin_passed
        && (p.ask_known_callers || !named)
    {
        state.phase = Phase::Pin { attempt: 0 };
        return (state, pin::prompt(t, p, 0, urls));
    }
    if let Some(hours) = &t.policy.opening_hours
        && t.policy.voicemail_only.is_none()
        && let Some(why) = hours.closed_at(now)
    {
        return closed::answer(t, state, hours, why, now, urls);
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
    if let Some(Verdict::Rule { rule, matched }) = known {
        let (state, more) = known_caller(t, state, rule, matched, now, urls);
        return (state, append(r, more));
    }
    let (state, more) = usual_entry(t, state, now, urls);
    (state, append(r, more))
}

/// A caller a rule names: straight to its chain or menu option, or the usual entry.
fn known_caller(
    t: &RoutingTable,
    mut state: CallState,
    rule: &CallerRule,
    matched: &str,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    let star = if rule.exact.iter().any(|n| n == matched) {
        ""
    } else {
        "*"
    };
    let who = format!(
        "known caller {} (rule {}, {matched}{star})",
        state.from, rule.name
    );
    if let Some(route) = t.rule_route(&rule.name) {
        // The rule's own alerts, over its menu option's: fixed here, whatever is pressed next.
        state.alert_route = (!route.targets.is_empty()).then_some(route);
        state.alert_rule = Some(rule.name.clone());
        state.routed_at = Some(now);
    }
    match &rule.to {
        RuleTarget::Chain(chain) => {
            state.event(now, format!("{who}: chain {chain}"));
            state.chain = Some(chain.clone());
            after_choice(t, state, now, urls)
        }
        RuleTarget::Option(digit) => match t.policy.entry.option(digit) {
            Some(o) => {
                state.event(now, format!("{who}: menu option {} ({})", o.digit, o.name));
                choose(t, state, o, now, urls)
            }
            None => {
                state.event(
                    now,
                    format!("{who}: menu option {digit} is missing; the usual entry"),
                );
                usual_entry(t, state, now, urls)
            }
        },
        RuleTarget::Usual => {
            state.event(now, format!("{who}: admitted"));
            usual_entry(t, state, now, urls)
        }
    }
}

/// The menu, or the chain, as for any caller.
fn usual_entry(
    t: &RoutingTable,
    mut state: CallState,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    match &t.policy.entry {
        Entry::Menu(_) => {
            state.phase = Phase::Menu { attempt: 0 };
            state.route_pending = t.has_option_routes() && state.alert_rule.is_none();
            menu_prompt(t, state, urls)
        }
        Entry::Chain(chain) => {
            state.chain = Some(chain.clone());
            after_choice(t, state, now, urls)
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
        let line = t.policy.speech.say(
            Phrase::MenuOption,
            &[("option", &o.name), ("digit", &o.digit)],
        );
        prompts.push(say(t, &line));
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
            let again = t.policy.speech.texts().get(if digits.is_empty() {
                Phrase::MenuNoInput
            } else {
                Phrase::MenuNotAnOption
            });
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
    state.event(
        now,
        format!("menu: chose {} ({})", option.digit, option.name),
    );
    choose(t, state, option, now, urls)
}

/// Goes where menu option `option` goes: its chain, with its alerts.
fn choose(
    t: &RoutingTable,
    mut state: CallState,
    option: &switchboard_routing::table::MenuOption,
    now: Timestamp,
    urls: &Urls,
) -> (CallState, Response) {
    state.menu_choice = Some(format!("{} {}", option.digit, option.name));
    if (state.route_pending || option.alerts.is_some()) && state.alert_rule.is_none() {
        // The option's own targets (or the policy's): the alert is raised from here.
        let route = t.option_route(&option.digit);
        state.alert_route = (!route.targets.is_empty()).then_some(route);
        state.route_pending = false;
        state.routed_at = Some(now);
    }
    state.chain = Some(option.chain.clone());
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
