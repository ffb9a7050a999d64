//! Which text-to-speech voice can speak which language, and how long one `<Say>` may be.
//!
//! ```text
//!   policy speech.voice + speech.language ──► validate: the voice speaks the language
//!   whisper in a responder's language ──► voice_for(): the policy's voice if it speaks it,
//!                                          else the phrase catalogue's voice of that language
//! ```
//!
//! NB (Twilio, TwiML `<Say>`): "Using an invalid combination of voice and language may result
//! in error and `<Say>` instruction failure" (error 13511, "Say: Invalid voice value"), so a
//! responder with their own `language` must not hear the policy's voice when it cannot speak
//! that language. Twilio's Amazon Polly voices each speak one language (the table below, from
//! Amazon Polly's "Available voices" and Twilio's "Text-to-Speech" pages); a Google voice names
//! its language in its own name (`Google.de-DE-Neural2-B`). A voice this table does not know
//! (Twilio's basic `man`/`woman`, a voice added since) is used only for the policy's own
//! language, which its author chose it for.
//! <https://www.twilio.com/docs/voice/twiml/say>,
//! <https://www.twilio.com/docs/voice/twiml/say/text-speech>,
//! <https://docs.aws.amazon.com/polly/latest/dg/available-voices.html>

/// The longest text one `<Say>` is given. NB (Twilio error 13521, "Say: Invalid text length"):
/// Amazon Polly voices take at most 3,000 characters in one `<Say>`; longer texts are split.
/// <https://www.twilio.com/docs/api/errors/13521>
pub const MAX_SAY_CHARS: usize = 3000;

/// Amazon Polly voices (as Twilio names them, without `Polly.`) and the language each speaks.
const POLLY: &[(&str, &str)] = &[
    ("Zeina", "arb"),
    ("Hala", "ar-AE"),
    ("Zayd", "ar-AE"),
    ("Lisa", "nl-BE"),
    ("Arlet", "ca-ES"),
    ("Jitka", "cs-CZ"),
    ("Hiujin", "yue-CN"),
    ("Zhiyu", "cmn-CN"),
    ("Naja", "da-DK"),
    ("Mads", "da-DK"),
    ("Sofie", "da-DK"),
    ("Laura", "nl-NL"),
    ("Lotte", "nl-NL"),
    ("Ruben", "nl-NL"),
    ("Nicole", "en-AU"),
    ("Olivia", "en-AU"),
    ("Russell", "en-AU"),
    ("Amy", "en-GB"),
    ("Emma", "en-GB"),
    ("Brian", "en-GB"),
    ("Arthur", "en-GB"),
    ("Aditi", "en-IN"),
    ("Raveena", "en-IN"),
    ("Kajal", "en-IN"),
    ("Niamh", "en-IE"),
    ("Aria", "en-NZ"),
    ("Jasmine", "en-SG"),
    ("Ayanda", "en-ZA"),
    ("Danielle", "en-US"),
    ("Gregory", "en-US"),
    ("Ivy", "en-US"),
    ("Joanna", "en-US"),
    ("Kendra", "en-US"),
    ("Kimberly", "en-US"),
    ("Salli", "en-US"),
    ("Joey", "en-US"),
    ("Justin", "en-US"),
    ("Kevin", "en-US"),
    ("Matthew", "en-US"),
    ("Ruth", "en-US"),
    ("Stephen", "en-US"),
    ("Patrick", "en-US"),
    ("Geraint", "en-GB-WLS"),
    ("Suvi", "fi-FI"),
    ("Celine", "fr-FR"),
    ("Céline", "fr-FR"),
    ("Lea", "fr-FR"),
    ("Léa", "fr-FR"),
    ("Mathieu", "fr-FR"),
    ("Remi", "fr-FR"),
    ("Rémi", "fr-FR"),
    ("Isabelle", "fr-BE"),
    ("Chantal", "fr-CA"),
    ("Gabrielle", "fr-CA"),
    ("Liam", "fr-CA"),
    ("Marlene", "de-DE"),
    ("Vicki", "de-DE"),
    ("Hans", "de-DE"),
    ("Daniel", "de-DE"),
    ("Hannah", "de-AT"),
    ("Sabrina", "de-CH"),
    ("Kajal", "hi-IN"),
    ("Dora", "is-IS"),
    ("Karl", "is-IS"),
    ("Carla", "it-IT"),
    ("Bianca", "it-IT"),
    ("Giorgio", "it-IT"),
    ("Adriano", "it-IT"),
    ("Mizuki", "ja-JP"),
    ("Takumi", "ja-JP"),
    ("Kazuha", "ja-JP"),
    ("Tomoko", "ja-JP"),
    ("Seoyeon", "ko-KR"),
    ("Jihye", "ko-KR"),
    ("Liv", "nb-NO"),
    ("Ida", "nb-NO"),
    ("Ewa", "pl-PL"),
    ("Maja", "pl-PL"),
    ("Jacek", "pl-PL"),
    ("Jan", "pl-PL"),
    ("Ola", "pl-PL"),
    ("Camila", "pt-BR"),
    ("Vitoria", "pt-BR"),
    ("Vitória", "pt-BR"),
    ("Ricardo", "pt-BR"),
    ("Thiago", "pt-BR"),
    ("Ines", "pt-PT"),
    ("Inês", "pt-PT"),
    ("Cristiano", "pt-PT"),
    ("Carmen", "ro-RO"),
    ("Tatyana", "ru-RU"),
    ("Maxim", "ru-RU"),
    ("Conchita", "es-ES"),
    ("Lucia", "es-ES"),
    ("Enrique", "es-ES"),
    ("Sergio", "es-ES"),
    ("Mia", "es-MX"),
    ("Andres", "es-MX"),
    ("Lupe", "es-US"),
    ("Penelope", "es-US"),
    ("Miguel", "es-US"),
    ("Pedro", "es-US"),
    ("Astrid", "sv-SE"),
    ("Elin", "sv-SE"),
    ("Filiz", "tr-TR"),
    ("Burcu", "tr-TR"),
    ("Gwyneth", "cy-GB"),
];

/// The engine suffixes Twilio accepts after a Polly voice's name (`Polly.Joanna-Neural`).
const POLLY_ENGINES: &[&str] = &["-Neural", "-Generative", "-LongForm"];

/// Whether two language tags name the same language and region (`en-us` is `en-US`).
fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The languages `voice` speaks, or `None` when this table does not know the voice.
pub fn languages(voice: &str) -> Option<Vec<&'static str>> {
    if let Some(name) = voice.strip_prefix("Polly.") {
        let name = POLLY_ENGINES
            .iter()
            .find_map(|e| name.strip_suffix(e))
            .unwrap_or(name);
        let langs: Vec<&str> = POLLY
            .iter()
            .filter(|(v, _)| *v == name)
            .map(|(_, l)| *l)
            .collect();
        return (!langs.is_empty()).then_some(langs);
    }
    None
}

/// Whether `voice` can speak `language`: `Some(true)` or `Some(false)` when the voice is
/// known (a Polly voice of the table, or a Google voice, whose name carries its language),
/// `None` when it is not.
pub fn speaks(voice: &str, language: &str) -> Option<bool> {
    if let Some(rest) = voice.strip_prefix("Google.") {
        // `Google.<language>-<Standard|Wavenet|Neural2|Chirp3-HD...>-<X>`: the language is
        // every part before the voice type.
        let parts: Vec<&str> = rest.split('-').collect();
        let kind = parts.iter().position(|p| {
            p.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && p.len() > 3
        })?;
        let lang = parts[..kind].join("-");
        return Some(same(&lang, language));
    }
    languages(voice).map(|ls| ls.iter().any(|l| same(l, language)))
}

/// The Polly voices that speak `language`, for an error's advice.
pub fn polly_voices_for(language: &str) -> Vec<String> {
    POLLY
        .iter()
        .filter(|(_, l)| same(l, language))
        .map(|(v, _)| format!("Polly.{v}"))
        .filter(|v| v.is_ascii())
        .collect()
}

/// The voice to say something in `language` with, given the policy's `voice` (chosen for the
/// policy's `policy_language`): the policy's voice when it speaks `language` (or is unknown
/// and `language` is the policy's own), else none, so that Twilio uses its default voice for
/// that language rather than fail the `<Say>`.
pub fn voice_for(voice: Option<&str>, policy_language: &str, language: &str) -> Option<String> {
    let v = voice?;
    match speaks(v, language) {
        Some(true) => Some(v.to_string()),
        Some(false) => None,
        None => same(policy_language, language).then(|| v.to_string()),
    }
}

/// `text` cut into pieces of at most [`MAX_SAY_CHARS`] characters, at a sentence or word
/// boundary where there is one. (A text of at most that many bytes is one piece: callers
/// test `text.len()` first and skip this.)
pub fn split_for_say(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.chars().count() > MAX_SAY_CHARS {
        let limit = rest
            .char_indices()
            .nth(MAX_SAY_CHARS)
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let head = &rest[..limit];
        let cut = head
            .rfind(". ")
            .map(|i| i + 1)
            .or_else(|| head.rfind(' '))
            .filter(|&i| i > 0)
            .unwrap_or(limit);
        out.push(rest[..cut].trim_end());
        rest = rest[cut..].trim_start();
    }
    out.push(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polly_and_google_voices_speak_their_own_language_only() {
        assert_eq!(speaks("Polly.Joanna", "en-US"), Some(true));
        assert_eq!(speaks("Polly.Joanna-Neural", "en-us"), Some(true));
        assert_eq!(speaks("Polly.Joanna", "de-DE"), Some(false));
        assert_eq!(speaks("Polly.Vicki", "de-DE"), Some(true));
        assert_eq!(speaks("Google.de-DE-Neural2-B", "de-DE"), Some(true));
        assert_eq!(speaks("Google.en-US-Standard-C", "de-DE"), Some(false));
        assert_eq!(speaks("Google.cmn-CN-Wavenet-A", "cmn-CN"), Some(true));
        assert_eq!(speaks("Google.en-US-Chirp3-HD-Aoede", "en-US"), Some(true));
        assert_eq!(speaks("man", "en-US"), None);
        assert_eq!(speaks("Polly.Nobody", "en-US"), None);
    }

    #[test]
    fn a_whisper_in_another_language_drops_a_voice_that_cannot_speak_it() {
        assert_eq!(
            voice_for(Some("Polly.Joanna"), "en-US", "en-US").as_deref(),
            Some("Polly.Joanna")
        );
        assert_eq!(voice_for(Some("Polly.Joanna"), "en-US", "de-DE"), None);
        assert_eq!(
            voice_for(Some("woman"), "en-US", "en-US").as_deref(),
            Some("woman")
        );
        assert_eq!(voice_for(Some("woman"), "en-US", "fr-FR"), None);
        assert_eq!(voice_for(None, "en-US", "fr-FR"), None);
        assert!(polly_voices_for("de-DE").contains(&"Polly.Vicki".to_string()));
    }

    #[test]
    fn long_texts_are_split_at_word_boundaries_under_the_limit() {
        let text = "word ".repeat(1500); // 7,500 characters
        let parts = split_for_say(text.trim());
        assert!(parts.len() >= 3);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_SAY_CHARS));
        assert!(
            parts
                .iter()
                .all(|p| !p.starts_with(' ') && !p.ends_with(' '))
        );
        assert_eq!(parts.join(" "), text.trim());
        assert_eq!(split_for_say("short"), ["short"]);
        let unbroken = "x".repeat(6001);
        let parts = split_for_say(&unbroken);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), unbroken);
    }
}
