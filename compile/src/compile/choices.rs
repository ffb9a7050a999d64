//! A policy's `callerChoices` -> the table's: the keys, and the prompt with and without the
//! call-back choice.

use switchboard_crds::policy::IncomingCallPolicySpec;
use switchboard_routing::phrases::Phrase;
use switchboard_routing::table;

use crate::problem::{ObjectId, Problem};

/// The compiled choices; `None` with a problem added when they cannot work.
pub(super) fn compile_choices(
    spec: &IncomingCallPolicySpec,
    id: &ObjectId,
    problems: &mut Vec<Problem>,
) -> Option<table::CallerChoices> {
    let c = spec.caller_choices.as_ref()?;
    let field = |f: &str| format!("spec.callerChoices.{f}");
    if c.voicemail_digit.is_some() && !spec.voicemail.enabled {
        problems.push(Problem::field(
            id,
            field("voicemailDigit"),
            "leaves a voicemail, but spec.voicemail is disabled: enable it, or remove voicemailDigit",
        ));
    }
    if c.voicemail_digit.is_none() && c.callback_digit.is_none() {
        problems.push(Problem::field(
            id,
            "spec.callerChoices",
            "set voicemailDigit, callbackDigit or both: the keys the caller may press",
        ));
    }
    if let (Some(v), Some(b)) = (&c.voicemail_digit, &c.callback_digit)
        && v == b
    {
        problems.push(Problem::field(
            id,
            field("callbackDigit"),
            format!("{b} is also voicemailDigit: give each choice its own key"),
        ));
    }
    let texts = super::speech::texts(spec);
    let prompt = |callback: bool| {
        let mut p = vec![texts.get(Phrase::StillTrying).to_string()];
        if let Some(d) = &c.voicemail_digit {
            p.push(texts.say(Phrase::LeaveMessageKey, &[("digit", d)]));
        }
        if let Some(d) = c.callback_digit.as_ref().filter(|_| callback) {
            p.push(texts.say(Phrase::CallbackKey, &[("digit", d)]));
        }
        p.push(texts.get(Phrase::StayOnLine).to_string());
        texts.join(&p)
    };
    Some(table::CallerChoices {
        prompt: c.prompt.clone().unwrap_or_else(|| prompt(true)),
        prompt_without_callback: c
            .voicemail_digit
            .as_ref()
            .map(|_| c.prompt.clone().unwrap_or_else(|| prompt(false))),
        voicemail_digit: c.voicemail_digit.clone(),
        callback_digit: c.callback_digit.clone(),
        timeout_seconds: c.timeout_seconds,
    })
}

/// The compiled caller rules; problems name the rule's field and the fix.
pub(super) fn compile_callers(
    spec: &IncomingCallPolicySpec,
    id: &ObjectId,
    chains: &std::collections::BTreeSet<String>,
    invalid: &std::collections::BTreeSet<String>,
    problems: &mut Vec<Problem>,
) -> Option<switchboard_routing::callers::Callers> {
    use switchboard_routing::callers::{CallerRule, Callers, RuleTarget};
    let c = spec.callers.as_ref()?;
    super::report_repeated_names(
        id,
        c.rules.iter().map(|r| r.name.as_str()),
        |i| format!("spec.callers.rules[{i}].name"),
        |name| format!("{name:?} is used by two caller rules: names must be unique"),
        problems,
    );
    let digits: Vec<&str> = match &spec.menu {
        Some(m) => m.options.iter().map(|o| o.digit.as_str()).collect(),
        None => vec![],
    };
    let mut seen: std::collections::BTreeMap<&str, &str> = Default::default();
    let mut rules = Vec::new();
    for (i, r) in c.rules.iter().enumerate() {
        let field = |f: &str| format!("spec.callers.rules[{i}].{f}");
        for (j, n) in r.numbers.iter().enumerate() {
            if let Some(first) = seen.insert(n.as_str(), r.name.as_str()) {
                problems.push(Problem::field(
                    id,
                    field(&format!("numbers[{j}]")),
                    format!(
                        "{n} is already in caller rule {first:?}: list each number in one rule"
                    ),
                ));
            }
        }
        let to = match (&r.chain_ref, &r.menu_digit) {
            (Some(chain), None) => {
                super::policy::check_chain_ref(
                    id,
                    chains,
                    invalid,
                    &chain.name,
                    field("chainRef.name"),
                    problems,
                );
                RuleTarget::Chain(chain.name.clone())
            }
            (None, Some(d)) => {
                if !digits.contains(&d.as_str()) {
                    problems.push(Problem::field(
                        id,
                        field("menuDigit"),
                        if digits.is_empty() {
                            format!("{d} names a menu option, but the policy has no spec.menu: use chainRef")
                        } else {
                            format!("{d} is not the digit of any menu option: use one of {}", digits.join(", "))
                        },
                    ));
                }
                RuleTarget::Option(d.clone())
            }
            (None, None) => RuleTarget::Usual,
            (Some(_), Some(_)) => {
                problems.push(Problem::field(
                    id,
                    field("chainRef"),
                    "set at most one of chainRef and menuDigit: where these callers go",
                ));
                continue;
            }
        };
        let list = switchboard_routing::table::Blocklist::from_entries(
            r.numbers.iter().map(String::as_str),
        );
        rules.push(CallerRule {
            name: r.name.clone(),
            exact: list.exact,
            prefixes: list.prefixes,
            to,
            alerts: r.alerts.as_ref().map(super::targets::option_alerts),
        });
    }
    Some(Callers {
        rules,
        allowlist_only: c.allowlist_only,
        reject_message: c.reject_message.clone().unwrap_or_else(|| {
            super::speech::texts(spec)
                .get(Phrase::AllowlistReject)
                .into()
        }),
    })
}

/// The PIN check, its digest left for `pins::seal_pins` (which reads the PIN).
pub(super) fn compile_pin(spec: &IncomingCallPolicySpec) -> Option<switchboard_routing::pin::Pin> {
    let p = spec.pin.as_ref()?;
    Some(switchboard_routing::pin::Pin {
        secret: table::SecretKey {
            name: p.secret_ref.name.clone(),
            key: p.secret_ref.key.clone(),
        },
        digest: String::new(),
        attempts: p.attempts,
        ask_known_callers: p.ask_known_callers,
        timeout_seconds: p.timeout_seconds,
    })
}
