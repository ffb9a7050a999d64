//! A policy's `callerChoices` -> the table's: the keys, and the prompt with and without the
//! call-back choice.

use switchboard_crds::policy::IncomingCallPolicySpec;
use switchboard_routing::table;

use crate::problem::{ObjectId, Problem};

/// The start of the default prompt.
pub const DEFAULT_STILL_TRYING: &str = "We are still trying to reach someone.";

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
    let prompt = |callback: bool| {
        let mut p = DEFAULT_STILL_TRYING.to_string();
        if let Some(d) = &c.voicemail_digit {
            p.push_str(&format!(" To leave a message, press {d}."));
        }
        if let Some(d) = c.callback_digit.as_ref().filter(|_| callback) {
            p.push_str(&format!(" To be called back, press {d}."));
        }
        p.push_str(" Otherwise, please stay on the line.");
        p
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
