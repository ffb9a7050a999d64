//! IncomingCallPolicy (CRD) -> compiled policy: fills in every default and checks chain names.

use std::collections::BTreeSet;

use switchboard_crds::policy::{self as api, CallerId, Mode};
use switchboard_routing::phrases::Phrase;
use switchboard_routing::{table, voice};

use crate::problem::{ObjectId, Problem};

/// Compiles one policy. `chains` are the names of valid chains in its namespace; `invalid`
/// the names of chains that exist but have problems.
pub fn compile_policy(
    p: &switchboard_crds::IncomingCallPolicy,
    id: &ObjectId,
    chains: &BTreeSet<String>,
    invalid: &BTreeSet<String>,
) -> Result<table::Policy, Vec<Problem>> {
    compile_spec(&p.spec, id, chains, invalid)
}

/// Compiles one policy's spec (also each language it offers, translated).
fn compile_spec(
    spec: &switchboard_crds::policy::IncomingCallPolicySpec,
    id: &ObjectId,
    chains: &BTreeSet<String>,
    invalid: &BTreeSet<String>,
) -> Result<table::Policy, Vec<Problem>> {
    let mut problems = Vec::new();
    let entry = check_entry(spec, id, chains, invalid, &mut problems);
    let Some(mode) = check_mode(spec, id, &mut problems) else {
        return Err(problems);
    };
    let greeting = check_greeting(spec, id, &mut problems);
    check_voice(spec, id, &mut problems);
    super::speech::check_speech(spec, id, &mut problems);
    super::targets::check_notifications(spec, id, &mut problems);
    let hours = spec
        .opening_hours
        .as_ref()
        .and_then(|h| super::hours::compile_hours(spec, h, id, chains, invalid, &mut problems));
    let choices = super::choices::compile_choices(spec, id, &mut problems);
    let callers = super::choices::compile_callers(spec, id, chains, invalid, &mut problems);
    // A translation is compiled only when the policy itself is valid: its own problems would
    // otherwise be reported once more for each language.
    let languages = if problems.is_empty() {
        super::speech::compile_language_choice(spec, id, &mut problems, |s| {
            compile_spec(s, id, chains, invalid)
        })
    } else {
        None
    };
    let Some(entry) = entry.filter(|_| problems.is_empty()) else {
        return Err(problems);
    };
    let mut policy = build(spec, id, mode, greeting, entry);
    policy.opening_hours = hours;
    policy.caller_choices = choices;
    policy.callers = callers;
    policy.language_choice = languages;
    policy.pin = super::choices::compile_pin(spec);
    policy.voicemail_only = (spec.mode == Mode::VoicemailOnly).then(|| table::VoicemailOnly {
        message: spec.mode_message.clone(),
    });
    Ok(policy)
}

/// The policy's entry: one chain, or a menu whose options each name a chain and a digit of
/// their own; `None` with the problems when neither or both are set.
fn check_entry(
    spec: &switchboard_crds::policy::IncomingCallPolicySpec,
    id: &ObjectId,
    chains: &BTreeSet<String>,
    invalid: &BTreeSet<String>,
    problems: &mut Vec<Problem>,
) -> Option<table::Entry> {
    let chain_ref = |problems: &mut Vec<Problem>, name: &str, field: String| {
        check_chain_ref(id, chains, invalid, name, field, problems)
    };
    match (&spec.chain_ref, &spec.menu) {
        (Some(c), None) => {
            chain_ref(problems, &c.name, "spec.chainRef.name".into());
            Some(table::Entry::Chain(c.name.clone()))
        }
        (None, Some(menu)) => {
            let mut seen = BTreeSet::new();
            for (i, o) in menu.options.iter().enumerate() {
                chain_ref(
                    problems,
                    &o.chain_ref.name,
                    format!("spec.menu.options[{i}].chainRef.name"),
                );
                if !seen.insert(o.digit.as_str()) {
                    problems.push(Problem::field(
                        id,
                        format!("spec.menu.options[{i}].digit"),
                        format!(
                            "digit {} is used by two options: give each option its own digit",
                            o.digit
                        ),
                    ));
                }
            }
            if let Some(d) = &menu.default_digit
                && !seen.contains(d.as_str())
            {
                problems.push(Problem::field(
                    id,
                    "spec.menu.defaultDigit",
                    format!(
                        "{d} is not the digit of any option: use one of {}",
                        seen.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            Some(compile_menu(menu))
        }
        // A voicemail-only hotline rings nobody: it needs no chain.
        (None, None) if spec.mode == Mode::VoicemailOnly => {
            Some(table::Entry::Chain(String::new()))
        }
        _ => {
            problems.push(Problem::field(id, "spec", "set exactly one of spec.chainRef (ring one escalation chain) or spec.menu (let the caller choose); a VoicemailOnly policy may have neither"));
            None
        }
    }
}

/// Reports a chain reference that names no chain, or an invalid one.
pub(super) fn check_chain_ref(
    id: &ObjectId,
    chains: &BTreeSet<String>,
    invalid: &BTreeSet<String>,
    name: &str,
    field: String,
    problems: &mut Vec<Problem>,
) {
    if invalid.contains(name) {
        problems.push(Problem::invalid_reference(
            id,
            field,
            "EscalationChain",
            name,
        ));
    } else if !chains.contains(name) {
        let known = chains.iter().chain(invalid).map(String::as_str);
        problems.push(Problem::missing_reference(
            id,
            field,
            "EscalationChain",
            name,
            known,
        ));
    }
}

/// The policy's mode; `None` when a Disabled or Maintenance policy has no message.
fn check_mode(
    spec: &switchboard_crds::policy::IncomingCallPolicySpec,
    id: &ObjectId,
    problems: &mut Vec<Problem>,
) -> Option<table::Mode> {
    Some(match spec.mode {
        Mode::Active => table::Mode::Active,
        // Compiled as an active policy with `voicemail_only` set: a webhook server of the
        // previous release then still reads the table (and rings the chain, as before).
        Mode::VoicemailOnly => {
            if !spec.voicemail.enabled {
                problems.push(Problem::field(
                    id,
                    "spec.voicemail.enabled",
                    "a VoicemailOnly policy takes every call as a voicemail: remove voicemail.enabled: false, or set spec.mode to Active",
                ));
            }
            table::Mode::Active
        }
        Mode::Disabled | Mode::Maintenance => {
            let Some(message) = spec.mode_message.clone() else {
                problems.push(Problem::field(
                    id,
                    "spec.modeMessage",
                    "required when spec.mode is Disabled or Maintenance: it is what callers hear",
                ));
                return None;
            };
            if spec.mode == Mode::Disabled {
                table::Mode::Disabled { message }
            } else {
                table::Mode::Maintenance { message }
            }
        }
    })
}

/// The greeting: spoken text or an audio URL, not both.
fn check_greeting(
    spec: &switchboard_crds::policy::IncomingCallPolicySpec,
    id: &ObjectId,
    problems: &mut Vec<Problem>,
) -> Option<table::Greeting> {
    match &spec.greeting {
        None => None,
        Some(api::Greeting {
            text: Some(t),
            audio_url: None,
        }) => Some(table::Greeting::Say(t.clone())),
        Some(api::Greeting {
            text: None,
            audio_url: Some(u),
        }) => Some(table::Greeting::Play(u.clone())),
        Some(_) => {
            problems.push(Problem::field(
                id,
                "spec.greeting",
                "set exactly one of greeting.text or greeting.audioUrl",
            ));
            None
        }
    }
}

/// The voice can speak the policy's language.
fn check_voice(
    spec: &switchboard_crds::policy::IncomingCallPolicySpec,
    id: &ObjectId,
    problems: &mut Vec<Problem>,
) {
    // NB (Twilio, `<Say>`): a voice that cannot speak the language may fail every `<Say>` of
    // the call; see `switchboard_routing::voice`.
    if let Some(v) = &spec.voice
        && voice::speaks(v, &spec.language) == Some(false)
    {
        let others = voice::polly_voices_for(&spec.language);
        let advice = if others.is_empty() {
            format!(
                "use a Google voice named for {}, or leave voice out for the phrase catalogue's voice of the language",
                spec.language
            )
        } else {
            format!(
                "for {} use one of {}, or leave voice out for the catalogue's",
                spec.language,
                others.join(", ")
            )
        };
        problems.push(Problem::field(
            id,
            "spec.voice",
            format!(
                "{v} cannot speak {}{}: Twilio may fail every <Say> of the call; {advice}",
                spec.language,
                voice::languages(v)
                    .map(|ls| format!(" (it speaks {})", ls.join(", ")))
                    .unwrap_or_default()
            ),
        ));
    }
}

/// The compiled policy, once every check passed.
fn build(
    spec: &switchboard_crds::policy::IncomingCallPolicySpec,
    id: &ObjectId,
    mode: table::Mode,
    greeting: Option<table::Greeting>,
    entry: table::Entry,
) -> table::Policy {
    let m = &spec.messages;
    let texts = super::speech::texts(spec);
    let text = |p: Phrase| texts.get(p).to_string();
    table::Policy {
        name: id.name.clone(),
        hotline_name: spec.hotline_name.clone(),
        mode,
        speech: super::speech::speech(spec),
        greeting,
        messages: table::Messages {
            no_answer: m
                .no_answer
                .clone()
                .unwrap_or_else(|| text(Phrase::NoAnswer)),
            no_one_on_call: m
                .no_one_on_call
                .clone()
                .unwrap_or_else(|| text(Phrase::NoOneOnCall)),
            voicemail_greeting: m
                .voicemail_greeting
                .clone()
                .unwrap_or_else(|| text(Phrase::VoicemailGreeting)),
            goodbye: m.goodbye.clone().unwrap_or_else(|| text(Phrase::Goodbye)),
        },
        entry,
        blocklist: table::Blocklist::from_entries(spec.blocklist.iter().map(String::as_str)),
        caller_id: match spec.caller_id {
            CallerId::Hotline => table::CallerId::Hotline,
            CallerId::Caller => table::CallerId::Caller,
        },
        acceptance: spec.acceptance.enabled.then(|| {
            let a = &spec.acceptance;
            // `2` unless it is the accept key (a policy written before the decline key).
            let decline = a
                .decline_digit
                .clone()
                .or_else(|| (a.digit != "2").then(|| "2".to_string()))
                .filter(|d| *d != a.digit);
            table::Acceptance {
                prompt: a.prompt.clone().unwrap_or_else(|| match &decline {
                    Some(d) => texts.say(
                        Phrase::AcceptPrompt,
                        &[("accept", &a.digit), ("decline", d)],
                    ),
                    None => texts.say(Phrase::AcceptOnlyPrompt, &[("accept", &a.digit)]),
                }),
                digit: a.digit.clone(),
                timeout_seconds: a.timeout_seconds,
                decline_digit: decline,
            }
        }),
        voicemail: spec.voicemail.enabled.then_some(table::Voicemail {
            max_length_seconds: spec.voicemail.max_length_seconds,
            transcribe: spec.voicemail.transcribe,
        }),
        max_call_duration_seconds: spec.max_call_duration_seconds,
        recording_announcement: spec.recording.enabled.then(|| {
            spec.recording
                .announcement
                .clone()
                .unwrap_or_else(|| text(Phrase::RecordingAnnouncement))
        }),
        describe_problem: spec
            .describe_problem
            .as_ref()
            .map(|d| table::DescribeProblem {
                prompt: d
                    .prompt
                    .clone()
                    .unwrap_or_else(|| text(Phrase::DescribeProblem)),
                timeout_seconds: d.timeout_seconds,
            }),
        sms_reply: spec.sms.enabled.then(|| {
            spec.sms
                .reply
                .clone()
                .unwrap_or_else(|| text(Phrase::SmsReply))
        }),
        notifications: spec
            .notifications
            .iter()
            .map(super::targets::target)
            .collect(),
        alerting: table::Alerting {
            trigger_delay_seconds: spec.alerting.trigger_delay_seconds,
            resolve_unanswered: spec.alerting.resolve_unanswered,
            // Critical stays unwritten: the table of a policy without severities is unchanged.
            severity: Some(super::targets::severity(spec.alerting.severity))
                .filter(|s| *s != table::Severity::Critical),
        },
        opening_hours: None,
        voicemail_only: None,
        caller_choices: None,
        callers: None,
        language_choice: None,
        pin: None,
    }
}

fn compile_menu(menu: &api::Menu) -> table::Entry {
    // A one-option menu is no choice at all: ring its chain unless the policy asks otherwise.
    if menu.options.len() == 1 && !menu.always_ask {
        return table::Entry::Chain(menu.options[0].chain_ref.name.clone());
    }
    table::Entry::Menu(table::Menu {
        prompt: menu.prompt.clone(),
        options: menu
            .options
            .iter()
            .map(|o| table::MenuOption {
                digit: o.digit.clone(),
                name: o.name.clone(),
                chain: o.chain_ref.name.clone(),
                alerts: o.alerts.as_ref().map(super::targets::option_alerts),
            })
            .collect(),
        default_digit: menu.default_digit.clone(),
        retries: menu.retries,
        timeout_seconds: menu.timeout_seconds,
    })
}

/// The chains a compiled policy rings: its entry's, and the one it rings while closed.
pub fn chains_of(policy: &table::Policy) -> Vec<&str> {
    let mut chains = match &policy.entry {
        table::Entry::Chain(c) if c.is_empty() => vec![],
        table::Entry::Chain(c) => vec![c.as_str()],
        table::Entry::Menu(m) => m.options.iter().map(|o| o.chain.as_str()).collect(),
    };
    if let Some(c) = policy
        .opening_hours
        .as_ref()
        .and_then(|h| h.when_closed.action.chain())
    {
        chains.push(c);
    }
    chains
}
