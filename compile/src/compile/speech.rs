//! A policy's language -> the table's speech: the language is catalogued, overrides name
//! known phrases and placeholders, and each language offered to the caller is the whole
//! policy compiled again in that language.

use std::collections::{BTreeMap, BTreeSet};

use switchboard_crds::policy::{Greeting, IncomingCallPolicySpec, OtherLanguage};
use switchboard_routing::phrases::{self, Phrase, Texts};
use switchboard_routing::{table, voice};

use crate::problem::{ObjectId, Problem};

/// The texts a policy's defaults come from: the catalogue's in its language, with its
/// overrides.
pub(super) fn texts(spec: &IncomingCallPolicySpec) -> Texts<'_> {
    Texts::new(&spec.language, Some(&spec.phrases))
}

/// The table's speech: the policy's voice, else the catalogue's voice of its language.
pub(super) fn speech(spec: &IncomingCallPolicySpec) -> table::Speech {
    table::Speech {
        language: spec.language.clone(),
        voice: spec
            .voice
            .clone()
            .or_else(|| phrases::voice(&spec.language)),
        phrases: spec.phrases.clone(),
    }
}

/// Reports a language the catalogue does not have.
pub(crate) fn check_language(
    id: &ObjectId,
    field: &str,
    language: &str,
    problems: &mut Vec<Problem>,
) {
    if phrases::language(language).is_none() {
        problems.push(Problem::field(
            id,
            field,
            format!(
                "{language} is not a language of the phrase catalogue, which has {} (any region, such as de-AT or pt-PT): choose one of them",
                phrases::codes().join(", ")
            ),
        ));
    }
}

/// Reports overrides of unknown phrases, and placeholders a phrase does not fill.
pub(super) fn check_phrases(
    id: &ObjectId,
    prefix: &str,
    overrides: &BTreeMap<String, String>,
    problems: &mut Vec<Problem>,
) {
    for (key, text) in overrides {
        let field = format!("{prefix}.{key}");
        let Some(phrase) = Phrase::from_key(key) else {
            let keys: Vec<&str> = Phrase::ALL.iter().map(|p| p.key()).collect();
            problems.push(Problem::field(
                id,
                field,
                format!(
                    "{key} is not a built-in phrase: use one of {} (docs/phrases.md)",
                    keys.join(", ")
                ),
            ));
            continue;
        };
        let unknown = phrases::unknown_placeholders(phrase, text);
        if !unknown.is_empty() {
            let known = phrase.placeholders();
            problems.push(Problem::field(
                id,
                field,
                format!(
                    "{{{}}} is not a placeholder of {key}: {}",
                    unknown.join("}, {"),
                    if known.is_empty() {
                        "it has none; write the text without braces".to_string()
                    } else {
                        format!("use {{{}}}", known.join("}, {"))
                    }
                ),
            ));
        }
    }
}

/// The policy's language, voice and overrides are usable.
pub(super) fn check_speech(
    spec: &IncomingCallPolicySpec,
    id: &ObjectId,
    problems: &mut Vec<Problem>,
) {
    check_language(id, "spec.language", &spec.language, problems);
    check_phrases(id, "spec.phrases", &spec.phrases, problems);
}

/// The other languages offered; each one the policy compiled again (`compile`) from the spec
/// as said in that language.
pub(super) fn compile_language_choice(
    spec: &IncomingCallPolicySpec,
    id: &ObjectId,
    problems: &mut Vec<Problem>,
    compile: impl Fn(&IncomingCallPolicySpec) -> Result<table::Policy, Vec<Problem>>,
) -> Option<table::LanguageChoice> {
    let choice = spec.language_choice.as_ref()?;
    let mut digits = BTreeSet::from([choice.digit.as_str()]);
    let mut languages = Vec::new();
    for (i, other) in choice.languages.iter().enumerate() {
        let field = |f: &str| format!("spec.languageChoice.languages[{i}].{f}");
        let before = problems.len();
        if !digits.insert(other.digit.as_str()) {
            problems.push(Problem::field(
                id,
                field("digit"),
                format!(
                    "{} is already the key of another language: give each language its own key",
                    other.digit
                ),
            ));
        }
        check_language(id, &field("language"), &other.language, problems);
        let repeated = other.language.eq_ignore_ascii_case(&spec.language)
            || choice.languages[..i]
                .iter()
                .any(|o| o.language.eq_ignore_ascii_case(&other.language));
        if repeated {
            problems.push(Problem::field(
                id,
                field("language"),
                format!(
                    "{} is offered twice (spec.language is offered with languageChoice.digit): offer each language once",
                    other.language
                ),
            ));
        }
        check_phrases(id, &field("phrases"), &other.phrases, problems);
        if let Some(v) = &other.voice
            && voice::speaks(v, &other.language) == Some(false)
        {
            problems.push(Problem::field(
                id,
                field("voice"),
                format!(
                    "{v} cannot speak {}: use one of {}, or leave voice out for the catalogue's",
                    other.language,
                    voice::polly_voices_for(&other.language).join(", ")
                ),
            ));
        }
        let options: Vec<&str> = spec
            .menu
            .iter()
            .flat_map(|m| m.options.iter().map(|o| o.digit.as_str()))
            .collect();
        for digit in other.option_names.keys() {
            if !options.contains(&digit.as_str()) {
                problems.push(Problem::field(
                    id,
                    format!("{}.{digit}", field("optionNames")),
                    format!(
                        "{digit} is not the digit of a menu option: use one of {}",
                        options.join(", ")
                    ),
                ));
            }
        }
        if problems.len() > before {
            // Said already, on this language's own fields.
            continue;
        }
        match compile(&translated(spec, other)) {
            Ok(policy) => languages.push(table::Translation {
                digit: other.digit.clone(),
                policy: Box::new(policy),
            }),
            // What only the translation has wrong (its greeting, say); a problem the policy
            // itself has is reported once, on the policy's own field.
            Err(ps) => problems.extend(ps.into_iter().map(|p| {
                let field = format!("spec.languageChoice.languages[{i}] ({})", p.field);
                Problem::field(id, field, p.message)
            })),
        }
    }
    Some(table::LanguageChoice {
        digit: choice.digit.clone(),
        timeout_seconds: choice.timeout_seconds,
        languages,
    })
}

/// The spec as said in `other`'s language: its texts from `other`, every other text of the
/// policy's own the catalogue's in that language (the acceptance prompt is the responders'
/// and stays).
fn translated(spec: &IncomingCallPolicySpec, other: &OtherLanguage) -> IncomingCallPolicySpec {
    let mut s = spec.clone();
    s.language_choice = None;
    s.language = other.language.clone();
    s.voice = other.voice.clone();
    s.phrases = other.phrases.clone();
    s.messages = other.messages.clone();
    s.greeting = other.greeting.clone().or_else(|| {
        spec.greeting
            .clone()
            .filter(|g: &Greeting| g.audio_url.is_some())
    });
    s.mode_message = None;
    if let Some(m) = &mut s.menu {
        m.prompt = other.menu_prompt.clone();
        for o in &mut m.options {
            if let Some(name) = other.option_names.get(&o.digit) {
                o.name = name.clone();
            }
        }
    }
    if let Some(w) = s.opening_hours.as_mut().map(|h| &mut h.when_closed) {
        w.message = None;
        w.emergency_prompt = None;
    }
    if let Some(c) = &mut s.caller_choices {
        c.prompt = None;
    }
    if let Some(c) = &mut s.callers {
        c.reject_message = None;
    }
    if let Some(d) = &mut s.describe_problem {
        d.prompt = None;
    }
    s.recording.announcement = None;
    s.sms.reply = None;
    s
}
