//! Every phrase Switchboard says on its own, in eight languages, each with a voice that speaks
//! it.
//!
//! ```text
//!   policy language (de-AT) ──► language("de-AT") ──► German texts, voice Polly.Hannah
//!   spec.phrases.{key}       ──► overrides one text of the policy's language
//!   responder language       ──► the whisper from that language's texts
//! ```
//!
//! A language is found by its primary subtag (`de` of `de-AT`), so every region of a catalogued
//! language has its texts; its voice is the one paired with that exact tag, else the first
//! Amazon Polly voice of that tag ([`crate::voice`]), else none.
//!
//! NB (Twilio, TwiML `<Say>`): without a `voice` Twilio speaks with `man`, whose languages are
//! a few (English, Spanish, French, German); "using an invalid combination of voice and
//! language may result in error and `<Say>` instruction failure". So a catalogued language is
//! always spoken with a voice that speaks it, unless the policy names its own.
//! <https://www.twilio.com/docs/voice/twiml/say>

mod catalogue;

use std::borrow::Cow;
use std::collections::BTreeMap;

/// One built-in phrase. `{name}` in a text is filled in when it is said
/// ([`Phrase::placeholders`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phrase {
    /// Nobody accepted after every step.
    NoAnswer,
    /// Nobody to ring at all.
    NoOneOnCall,
    /// Before the voicemail beep.
    VoicemailGreeting,
    /// Before hanging up.
    Goodbye,
    /// Before a recorded conversation.
    RecordingAnnouncement,
    /// The question before the spoken description.
    DescribeProblem,
    /// The reply to a routed text.
    SmsReply,
    /// One menu option: `{option}`, `{digit}`.
    MenuOption,
    /// The menu heard no key.
    MenuNoInput,
    /// The menu heard a key that is no option.
    MenuNotAnOption,
    /// Between rings, before the caller's keys.
    StillTrying,
    /// The voicemail key between rings: `{digit}`.
    LeaveMessageKey,
    /// The call-back key between rings: `{digit}`.
    CallbackKey,
    /// After the keys between rings.
    StayOnLine,
    /// A call-back was requested: `{number}`.
    CallbackConfirmed,
    /// The hotline is closed.
    Closed,
    /// The emergency key while closed: `{digit}`.
    Emergency,
    /// An allowlist-only hotline refuses a stranger.
    AllowlistReject,
    /// The key of this language in a language choice: `{digit}`.
    LanguageOption,
    /// Asks for the PIN.
    PinPrompt,
    /// A wrong PIN, before asking again.
    PinWrong,
    /// Too many wrong PINs.
    PinLocked,
    /// The whisper's first sentence: `{hotline}`, `{caller}`.
    Whisper,
    /// The hotline's name when the policy gives none: `{name}`.
    HotlineName,
    /// Who calls, when the number is withheld.
    WithheldNumber,
    /// The caller's menu choice, in the whisper: `{option}`.
    WhisperChoice,
    /// The call came in while the hotline was closed, in the whisper.
    WhisperClosed,
    /// The caller's description, in the whisper: `{description}`.
    WhisperDescription,
    /// The acceptance prompt: `{accept}`, `{decline}`.
    AcceptPrompt,
    /// The acceptance prompt without a decline key: `{accept}`.
    AcceptOnlyPrompt,
    /// The responder pressed nothing, or a wrong key.
    NotAccepted,
    /// The caller hung up before the responder accepted.
    CallerHungUp,
    /// The responder declined.
    PassingOn,
}

impl Phrase {
    /// Every phrase, in the catalogue's order.
    pub const ALL: [Phrase; 33] = [
        Phrase::NoAnswer,
        Phrase::NoOneOnCall,
        Phrase::VoicemailGreeting,
        Phrase::Goodbye,
        Phrase::RecordingAnnouncement,
        Phrase::DescribeProblem,
        Phrase::SmsReply,
        Phrase::MenuOption,
        Phrase::MenuNoInput,
        Phrase::MenuNotAnOption,
        Phrase::StillTrying,
        Phrase::LeaveMessageKey,
        Phrase::CallbackKey,
        Phrase::StayOnLine,
        Phrase::CallbackConfirmed,
        Phrase::Closed,
        Phrase::Emergency,
        Phrase::AllowlistReject,
        Phrase::LanguageOption,
        Phrase::PinPrompt,
        Phrase::PinWrong,
        Phrase::PinLocked,
        Phrase::Whisper,
        Phrase::HotlineName,
        Phrase::WithheldNumber,
        Phrase::WhisperChoice,
        Phrase::WhisperClosed,
        Phrase::WhisperDescription,
        Phrase::AcceptPrompt,
        Phrase::AcceptOnlyPrompt,
        Phrase::NotAccepted,
        Phrase::CallerHungUp,
        Phrase::PassingOn,
    ];

    /// Its column in the catalogue: `ALL` lists the phrases in declaration order (a test
    /// checks it).
    fn index(self) -> usize {
        self as usize
    }

    /// Its key in `spec.phrases`, such as `menuNotAnOption`.
    pub fn key(self) -> &'static str {
        catalogue::KEYS[self.index()]
    }

    /// The phrase of key `key`.
    pub fn from_key(key: &str) -> Option<Phrase> {
        catalogue::KEYS
            .iter()
            .position(|k| *k == key)
            .map(|i| Phrase::ALL[i])
    }

    /// The placeholders its texts may use.
    pub fn placeholders(self) -> &'static [&'static str] {
        match self {
            Phrase::MenuOption => &["option", "digit"],
            Phrase::LeaveMessageKey
            | Phrase::CallbackKey
            | Phrase::Emergency
            | Phrase::LanguageOption => &["digit"],
            Phrase::CallbackConfirmed => &["number"],
            Phrase::Whisper => &["hotline", "caller"],
            Phrase::HotlineName => &["name"],
            Phrase::WhisperChoice => &["option"],
            Phrase::WhisperDescription => &["description"],
            Phrase::AcceptPrompt => &["accept", "decline"],
            Phrase::AcceptOnlyPrompt => &["accept"],
            _ => &[],
        }
    }
}

/// One language of the catalogue.
#[derive(Debug)]
pub struct Language {
    /// Its primary subtag, such as `de`.
    pub code: &'static str,
    /// Its name, in itself.
    pub name: &'static str,
    /// The tag used when a policy names only the code (`de` is said as `de-DE`).
    pub tag: &'static str,
    /// Voices paired with regional tags, the first for `tag`.
    voices: &'static [(&'static str, &'static str)],
    texts: [&'static str; 33],
}

impl Language {
    /// The text of `phrase`, placeholders unfilled.
    pub fn text(&self, phrase: Phrase) -> &'static str {
        self.texts[phrase.index()]
    }

    /// The voice paired with language tag `tag` of this language: the catalogue's own choice
    /// for the tag, else the first Amazon Polly voice of exactly that tag, else none.
    pub fn voice(&self, tag: &str) -> Option<String> {
        let tag = if tag.eq_ignore_ascii_case(self.code) {
            self.tag
        } else {
            tag
        };
        self.voices
            .iter()
            .find(|(t, _)| t.eq_ignore_ascii_case(tag))
            .map(|(_, v)| v.to_string())
            .or_else(|| crate::voice::polly_voices_for(tag).into_iter().next())
    }
}

/// The catalogued language of tag `tag` (by its primary subtag), if any.
pub fn language(tag: &str) -> Option<&'static Language> {
    let code = tag.split('-').next().unwrap_or(tag);
    catalogue::LANGUAGES
        .iter()
        .find(|l| l.code.eq_ignore_ascii_case(code))
}

/// Whether two language tags name one language (`de-AT` and `de-DE` do).
pub fn same_language(a: &str, b: &str) -> bool {
    let primary = |t: &str| t.split('-').next().unwrap_or(t).to_ascii_lowercase();
    primary(a) == primary(b)
}

/// English: the texts used when a language is not catalogued (which `validate` refuses).
fn english() -> &'static Language {
    &catalogue::LANGUAGES[0]
}

/// The primary subtags of the catalogued languages, for an error's advice.
pub fn codes() -> Vec<&'static str> {
    catalogue::LANGUAGES.iter().map(|l| l.code).collect()
}

/// The voice for `tag` when the policy names none: the catalogue's pairing.
pub fn voice(tag: &str) -> Option<String> {
    language(tag).and_then(|l| l.voice(tag))
}

/// `template` with each `{name}` of `args` replaced by its value.
pub fn fill<'a>(template: &'a str, args: &[(&str, &str)]) -> Cow<'a, str> {
    if !template.contains('{') {
        return Cow::Borrowed(template);
    }
    let mut out = template.to_string();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    Cow::Owned(out)
}

/// The placeholders of `template` that `phrase` does not fill, for validation.
pub fn unknown_placeholders(phrase: Phrase, template: &str) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        if !phrase.placeholders().contains(&name) {
            unknown.push(name.to_string());
        }
        rest = &rest[open + close + 1..];
    }
    unknown
}

/// A language's texts with a policy's overrides (`spec.phrases`, keyed by [`Phrase::key`]).
#[derive(Clone, Copy, Debug)]
pub struct Texts<'a> {
    language: &'static Language,
    overrides: Option<&'a BTreeMap<String, String>>,
}

impl<'a> Texts<'a> {
    /// The texts of `tag`'s language, with `overrides` when given.
    pub fn new(tag: &str, overrides: Option<&'a BTreeMap<String, String>>) -> Texts<'a> {
        Texts {
            language: language(tag).unwrap_or_else(english),
            overrides,
        }
    }

    /// The text of `phrase`: the override, else the catalogue's.
    pub fn get(&self, phrase: Phrase) -> &'a str {
        self.overrides
            .and_then(|o| o.get(phrase.key()))
            .map(String::as_str)
            .unwrap_or_else(|| self.language.text(phrase))
    }

    /// Sentences said one after the other: with a space, or none in Japanese (which writes
    /// none between sentences).
    pub fn join(&self, sentences: &[String]) -> String {
        sentences.join(if self.language.code == "ja" { "" } else { " " })
    }

    /// The text of `phrase` with its placeholders filled.
    pub fn say(&self, phrase: Phrase, args: &[(&str, &str)]) -> String {
        fill(self.get(phrase), args).into_owned()
    }
}

#[cfg(test)]
mod tests;
