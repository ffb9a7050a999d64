//! A policy's language: the catalogue's phrases with the policy's overrides, and the other
//! languages a caller may choose.

use std::collections::BTreeMap;
use std::sync::Arc;

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

/// The table in each language a caller may choose, by language tag.
pub(super) type Translated = Vec<(String, Arc<RoutingTable>)>;

impl RoutingTable {
    /// The table as a caller who chose `language` hears it: this table with the policy
    /// translated, built once per table revision; `None` when `language` is `None` or not
    /// offered (a table changed since), which is this table as it is.
    pub fn in_language(&self, language: Option<&str>) -> Option<Arc<RoutingTable>> {
        let language = language?;
        self.policy.language_choice.as_ref()?;
        let build = || -> Translated {
            let choice = self
                .policy
                .language_choice
                .iter()
                .flat_map(|c| &c.languages);
            choice
                .map(|t| {
                    let mut table = self.clone();
                    table.policy = (*t.policy).clone();
                    (t.policy.speech.language.clone(), Arc::new(table))
                })
                .collect()
        };
        let find = |all: &Translated| {
            all.iter()
                .find(|(l, _)| l == language)
                .map(|(_, t)| t.clone())
        };
        let (revision, translated) = self
            .route_memo
            .1
            .get_or_init(|| (self.revision.clone(), build()));
        if *revision == self.revision {
            find(translated)
        } else {
            // Changed and sealed again after the memo was filled: build it afresh.
            find(&build())
        }
    }
}
