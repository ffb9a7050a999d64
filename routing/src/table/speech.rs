//! A policy's language: the catalogue's phrases with the policy's overrides, and the other
//! languages a caller may choose.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Policy, RoutingTable};
use crate::phrases::{Phrase, Texts};

/// Language and voice for `<Say>`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Speech {
    /// BCP 47 language tag.
    pub language: String,
    /// Twilio voice name; `None` for Twilio's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// The policy's own texts of built-in phrases, by [`Phrase::key`]; the rest are the
    /// catalogue's in `language`. Optional: a table of the previous release has none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phrases: BTreeMap<String, String>,
}

impl Speech {
    /// The texts the caller hears.
    pub fn texts(&self) -> Texts<'_> {
        Texts::new(&self.language, Some(&self.phrases))
    }

    /// The text of `phrase` with `args` filled in.
    pub fn say(&self, phrase: Phrase, args: &[(&str, &str)]) -> String {
        self.texts().say(phrase, args)
    }
}

/// The languages a caller may choose first.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LanguageChoice {
    /// The key of the policy's own language.
    pub digit: String,
    /// Seconds to wait for a key.
    pub timeout_seconds: u32,
    /// The other languages, in reading order.
    pub languages: Vec<Translation>,
}

/// The policy as said in another language.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Translation {
    /// The key that chooses it.
    pub digit: String,
    /// The whole policy in that language (its `language_choice` is `None`).
    pub policy: Box<Policy>,
}

impl RoutingTable {
    /// The table as a caller who chose `language` hears it: the same table with the policy
    /// translated, or this one when `language` is `None` or not offered (a table changed
    /// since). Clones the table for a translated call.
    pub fn in_language(&self, language: Option<&str>) -> Cow<'_, RoutingTable> {
        let translated = language.and_then(|l| {
            let choice = self.policy.language_choice.as_ref()?;
            choice
                .languages
                .iter()
                .find(|t| t.policy.speech.language == l)
        });
        match translated {
            Some(t) => {
                let mut table = self.clone();
                table.policy = (*t.policy).clone();
                Cow::Owned(table)
            }
            None => Cow::Borrowed(self),
        }
    }
}
