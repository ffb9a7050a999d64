//! Who is calling: rules on the caller's number that send a known caller straight to a chain
//! or a menu option, and the allowlist-only mode that turns everyone else away.
//!
//! ```text
//!   From ─► withheld? (anonymous, a Twilio placeholder) ─► allowlist only: rejected
//!        ─► the most specific rule: an exact number, else the longest prefix ─► its chain/option
//!        ─► no rule: allowlist only: rejected; otherwise the menu or chain as usual
//! ```
//!
//! Pure: one pass over the policy's numbers per call, from the table the server already holds.

use serde::{Deserialize, Serialize};

/// The policy's rules on who is calling.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Callers {
    /// The rules, in the policy's order (the order breaks no tie: specificity does).
    pub rules: Vec<CallerRule>,
    /// Only callers a rule names are taken; everyone else hears `reject_message`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allowlist_only: bool,
    /// What a caller turned away hears.
    pub reject_message: String,
}

/// Callers sent somewhere of their own.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CallerRule {
    /// The rule's name, for transcripts and the call log.
    pub name: String,
    /// Exact E.164 numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exact: Vec<String>,
    /// Number prefixes (without the `*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    /// Where the caller goes.
    pub to: RuleTarget,
    /// Where these callers' alerts go; `None`: where their menu option's (or the policy's) go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<crate::table::OptionAlerts>,
}

/// Where a known caller goes, skipping the menu.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum RuleTarget {
    /// Ring this chain.
    Chain(String),
    /// As if the caller had pressed this menu digit.
    Option(String),
    /// The menu or chain as usual (only admitted, in allowlist-only mode).
    Usual,
}

/// What the rules make of a caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// No rule names them: the usual entry.
    Unmatched,
    /// This rule names them (`matched` is the number or prefix that did).
    Rule {
        /// The rule.
        rule: &'a CallerRule,
        /// The exact number or the prefix (with its `*`) that matched.
        matched: &'a str,
    },
    /// Turned away: allowlist only, and no rule names them (or their number is withheld).
    Rejected {
        /// Whether their number was withheld.
        withheld: bool,
    },
}

impl Callers {
    /// The verdict on caller `from`: an exact number beats any prefix, a longer prefix a
    /// shorter one, and between equals the first rule wins. A withheld caller matches no rule.
    pub fn judge(&self, from: &str) -> Verdict<'_> {
        if !crate::is_known_caller(from) {
            return if self.allowlist_only {
                Verdict::Rejected { withheld: true }
            } else {
                Verdict::Unmatched
            };
        }
        let mut best: Option<(&CallerRule, &str, usize)> = None;
        for rule in &self.rules {
            if let Some(n) = rule.exact.iter().find(|n| n.as_str() == from) {
                // Exact beats every prefix (a prefix is at most the number's length).
                let len = usize::MAX;
                if best.is_none_or(|(_, _, l)| len > l) {
                    best = Some((rule, n.as_str(), len));
                }
            }
            for p in &rule.prefixes {
                if from.starts_with(p.as_str()) && best.is_none_or(|(_, _, l)| p.len() > l) {
                    best = Some((rule, p.as_str(), p.len()));
                }
            }
        }
        match best {
            Some((rule, matched, _)) => Verdict::Rule { rule, matched },
            None if self.allowlist_only => Verdict::Rejected { withheld: false },
            None => Verdict::Unmatched,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, exact: &[&str], prefixes: &[&str]) -> CallerRule {
        CallerRule {
            name: name.into(),
            exact: exact.iter().map(|s| s.to_string()).collect(),
            prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
            to: RuleTarget::Chain(name.into()),
            alerts: None,
        }
    }

    fn callers(allowlist_only: bool) -> Callers {
        Callers {
            rules: vec![
                rule("uk", &[], &["+44"]),
                rule("london", &[], &["+4420"]),
                rule("ceo", &["+442071234567"], &[]),
                rule("uk-again", &[], &["+44"]),
            ],
            allowlist_only,
            reject_message: "Sorry.".into(),
        }
    }

    fn name(v: Verdict<'_>) -> Option<&str> {
        match v {
            Verdict::Rule { rule, .. } => Some(rule.name.as_str()),
            _ => None,
        }
    }

    #[test]
    fn an_exact_number_beats_a_prefix_and_a_longer_prefix_a_shorter_one() {
        let c = callers(false);
        assert_eq!(name(c.judge("+442071234567")), Some("ceo"));
        assert_eq!(
            name(c.judge("+442079999999")),
            Some("london"),
            "+4420 is longer than +44"
        );
        assert_eq!(
            name(c.judge("+441619999999")),
            Some("uk"),
            "the first of two equal prefixes"
        );
        assert_eq!(c.judge("+14155550123"), Verdict::Unmatched);
        assert_eq!(
            c.judge("+442079999999"),
            Verdict::Rule {
                rule: &c.rules[1],
                matched: "+4420"
            }
        );
    }

    #[test]
    fn allowlist_only_turns_away_strangers_and_withheld_callers_explicitly() {
        let c = callers(true);
        assert_eq!(name(c.judge("+441619999999")), Some("uk"));
        assert_eq!(
            c.judge("+14155550123"),
            Verdict::Rejected { withheld: false }
        );
        for withheld in ["anonymous", "+266696687", "client:alice", ""] {
            assert_eq!(
                c.judge(withheld),
                Verdict::Rejected { withheld: true },
                "{withheld}"
            );
        }
        // Without allowlist-only, a withheld caller is simply not a known caller.
        assert_eq!(callers(false).judge("+266696687"), Verdict::Unmatched);
    }

    #[test]
    fn a_prefix_that_is_the_whole_number_still_matches() {
        let c = Callers {
            rules: vec![rule("one", &[], &["+14155550123"])],
            allowlist_only: false,
            reject_message: String::new(),
        };
        assert_eq!(name(c.judge("+14155550123")), Some("one"));
        assert_eq!(c.judge("+1415555012"), Verdict::Unmatched);
    }
}
