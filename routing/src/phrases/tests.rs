use super::*;

#[test]
fn every_language_has_every_phrase_with_exactly_its_placeholders() {
    assert!(codes().len() >= 8);
    for lang in catalogue::LANGUAGES.iter() {
        for p in Phrase::ALL {
            let text = lang.text(p);
            assert!(!text.trim().is_empty(), "{} {}", lang.code, p.key());
            assert!(
                unknown_placeholders(p, text).is_empty(),
                "{} {}: {text}",
                lang.code,
                p.key()
            );
            for name in p.placeholders() {
                assert!(
                    text.contains(&format!("{{{name}}}")),
                    "{} {} lacks {{{name}}}: {text}",
                    lang.code,
                    p.key()
                );
            }
        }
        // The language's own voice speaks its default tag.
        let voice = lang.voice(lang.tag).expect("a voice for the default tag");
        assert_eq!(
            crate::voice::speaks(&voice, lang.tag),
            Some(true),
            "{voice}"
        );
    }
}

#[test]
fn keys_round_trip_and_are_unique() {
    for (i, p) in Phrase::ALL.into_iter().enumerate() {
        assert_eq!(p.index(), i, "ALL is in declaration order");
        assert_eq!(Phrase::from_key(p.key()), Some(p));
    }
    let mut keys = catalogue::KEYS.to_vec();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), Phrase::ALL.len());
    assert_eq!(Phrase::from_key("nonsense"), None);
}

#[test]
fn a_region_of_a_catalogued_language_has_its_texts_and_a_voice_of_that_region() {
    assert_eq!(language("de-AT").map(|l| l.code), Some("de"));
    assert_eq!(voice("de-AT").as_deref(), Some("Polly.Hannah"));
    assert_eq!(voice("de-DE").as_deref(), Some("Polly.Vicki"));
    assert_eq!(voice("de").as_deref(), Some("Polly.Vicki"));
    assert_eq!(voice("en-NZ").as_deref(), Some("Polly.Aria"));
    // A region no Polly voice speaks: no voice rather than one that cannot speak it.
    assert_eq!(voice("de-LU"), None);
    assert!(language("sv-SE").is_none());
    assert_eq!(Texts::new("sv-SE", None).get(Phrase::Goodbye), "Goodbye.");
    assert_eq!(Texts::new("FR-ca", None).get(Phrase::Goodbye), "Au revoir.");
}

#[test]
fn overrides_win_and_placeholders_are_filled() {
    let mut o = BTreeMap::new();
    o.insert("menuNotAnOption".to_string(), "Nope.".to_string());
    let t = Texts::new("de-DE", Some(&o));
    assert_eq!(t.get(Phrase::MenuNotAnOption), "Nope.");
    assert_eq!(
        t.say(
            Phrase::MenuOption,
            &[("option", "Zahlungen"), ("digit", "1")]
        ),
        "Für Zahlungen drücken Sie die 1."
    );
    assert_eq!(
        unknown_placeholders(Phrase::MenuOption, "For {option} press {key} {digit}"),
        ["key"]
    );
    assert_eq!(fill("no braces", &[("x", "y")]), "no braces");
}

/// docs/phrases.md is the catalogue, rendered (`SWITCHBOARD_UPDATE_DOCS=1` rewrites
/// it).
#[test]
fn the_phrase_reference_is_the_catalogue() {
    let mut md = String::from(
        "# Built-in phrases\n\n<!-- Generated from routing/src/phrases/catalogue.rs by the test \
         `the_phrase_reference_is_the_catalogue`; SWITCHBOARD_UPDATE_DOCS=1 rewrites it. -->\n\n\
         Every phrase Switchboard says on its own, by its key in `spec.phrases` (and \
         `spec.languageChoice.languages[].phrases`), with the placeholders its text may use. \
         A policy's `language` (and a responder's) chooses the row by its primary subtag: \
         `de-AT` speaks the German texts, with the voice paired with `de-AT`.\n\n",
    );
    md.push_str(
        "| Language | Code | Default tag | Voice of the default tag |\n|---|---|---|---|\n",
    );
    for l in catalogue::LANGUAGES.iter() {
        let v = l.voice(l.tag).unwrap_or_default();
        md.push_str(&format!(
            "| {} | `{}` | `{}` | `{v}` |\n",
            l.name, l.code, l.tag
        ));
    }
    for p in Phrase::ALL {
        let ph: Vec<String> = p
            .placeholders()
            .iter()
            .map(|n| format!("`{{{n}}}`"))
            .collect();
        md.push_str(&format!("\n## `{}`\n\n", p.key()));
        if !ph.is_empty() {
            md.push_str(&format!("Placeholders: {}.\n\n", ph.join(", ")));
        }
        md.push_str("| Code | Text |\n|---|---|\n");
        for l in catalogue::LANGUAGES.iter() {
            md.push_str(&format!("| `{}` | {} |\n", l.code, l.text(p)));
        }
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/phrases.md");
    if std::env::var_os("SWITCHBOARD_UPDATE_DOCS").is_some() {
        std::fs::write(path, &md).expect("write the phrase reference");
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == md,
        "docs/phrases.md is not the catalogue: run SWITCHBOARD_UPDATE_DOCS=1 cargo test -p switchboard-routing phrases"
    );
}
