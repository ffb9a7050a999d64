//! The language a hotline speaks: built-in phrases overridden by key, and a choice of
//! languages offered to the caller first.

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::policy::{Greeting, Messages};

/// Let the caller choose the language first: "For English, press 1. Für Deutsch drücken Sie
/// die 2." Each language says its own line in its own voice; a caller who presses nothing
/// goes on in `spec.language`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = Rule::new("self.languages.all(l, l.digit != self.digit)").message("each languageChoice.languages[].digit must differ from languageChoice.digit (the key of spec.language)").field_path(".languages"))]
#[x_kube(validation = Rule::new("self.languages.all(l, self.languages.exists_one(m, m.digit == l.digit))").message("each languageChoice.languages[].digit may be used only once").field_path(".languages"))]
#[serde(rename_all = "camelCase")]
pub struct LanguageChoice {
    /// The key of the policy's own language (`spec.language`).
    #[serde(default = "default_digit")]
    #[schemars(regex(pattern = r"^[0-9]$"), length(max = 1))]
    pub digit: String,
    /// The other languages offered, in reading order.
    #[schemars(length(min = 1, max = 8))]
    pub languages: Vec<OtherLanguage>,
    /// Seconds to wait for a key (Twilio `<Gather timeout>`).
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 1, max = 15))]
    pub timeout_seconds: u32,
}

/// A language the caller may choose, with this policy's own texts in it. A text left out is
/// the phrase catalogue's in this language; the policy's own texts in `spec.language` (its
/// greeting, messages, menu prompt) are never said to a caller who chose another language.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtherLanguage {
    /// The language, such as `de-DE` (one the phrase catalogue has).
    #[schemars(regex(pattern = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"), length(max = 35))]
    pub language: String,
    /// The key that chooses it.
    #[schemars(regex(pattern = r"^[0-9]$"), length(max = 1))]
    pub digit: String,
    /// Its voice. Default: the catalogue's voice of the language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub voice: Option<String>,
    /// The greeting in this language. Default: the policy's greeting when it is an audio file,
    /// else none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<Greeting>,
    /// `spec.messages` in this language.
    #[serde(default)]
    pub messages: Messages,
    /// The menu's prompt in this language. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub menu_prompt: Option<String>,
    /// The menu options' names in this language, by digit (`"1": Zahlungen`). Default: the
    /// option's `name`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "option_names_schema")]
    pub option_names: BTreeMap<String, String>,
    /// Built-in phrases in this language, by key, as `spec.phrases`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "phrases_schema")]
    pub phrases: BTreeMap<String, String>,
}

fn default_digit() -> String {
    "1".to_string()
}

fn default_timeout() -> u32 {
    5
}

/// `spec.phrases`: at most one text of each built-in phrase, each of at most 1,000 characters.
pub(crate) fn phrases_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": 40,
        "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 1000},
    })
}

/// `optionNames`: a name for each of at most 10 menu digits.
fn option_names_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": 10,
        "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 100},
    })
}
