//! A problem with a manifest: where it is (file, object, field) and what to do about it.
//!
//! The same type carries schema errors, CEL rule failures and compile errors, so that
//! `switchboard validate`, status conditions and logs all say the same thing the same way.

use std::fmt;
use std::path::PathBuf;

/// Which object a problem is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId {
    /// `PhoneNumber`, `IncomingCallPolicy`, `EscalationChain` or `Schedule`.
    pub kind: String,
    /// Namespace (`default` when the manifest names none).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectId {
    /// An id from its parts.
    pub fn new(kind: &str, namespace: &str, name: &str) -> ObjectId {
        ObjectId {
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// Where a manifest came from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    /// The file.
    pub file: PathBuf,
    /// Which YAML document in the file (0-based).
    pub document: usize,
}

/// One thing wrong, with enough context to fix it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The file, when the object came from one.
    pub origin: Option<Origin>,
    /// The object, when known.
    pub object: Option<ObjectId>,
    /// The field path, such as `spec.layers[0].members[1]`; empty for the whole object.
    pub field: String,
    /// What is wrong and what to do.
    pub message: String,
    /// When this problem is only a consequence of another object's own problems (a chain
    /// naming a Schedule that failed its checks): that object. Such problems are listed after
    /// the root causes.
    pub cause: Option<ObjectId>,
}

impl Problem {
    /// A problem about a field of an object.
    pub fn field(
        object: &ObjectId,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            origin: None,
            object: Some(object.clone()),
            field: field.into(),
            message: message.into(),
            cause: None,
        }
    }

    /// A problem of a file (unreadable YAML, no kind), before any object is known.
    pub fn file(origin: Option<Origin>, message: impl Into<String>) -> Problem {
        Problem {
            origin,
            object: None,
            field: String::new(),
            message: message.into(),
            cause: None,
        }
    }

    /// `object`'s `field` names `named` (a `kind` object of `object`'s namespace), which exists
    /// but has problems of its own: a consequence, listed after them.
    pub fn invalid_reference(
        object: &ObjectId,
        field: impl Into<String>,
        kind: &str,
        named: &str,
    ) -> Problem {
        let mut p = Problem::field(
            object,
            field,
            format!(
                "{kind} {named:?} has problems of its own (listed before this): fix them first"
            ),
        );
        p.cause = Some(ObjectId::new(kind, &object.namespace, named));
        p
    }

    /// `object`'s `field` names a `kind` object that is not among the manifests; `known` are the
    /// names of that kind in the namespace, for a did-you-mean.
    pub fn missing_reference<'a>(
        object: &ObjectId,
        field: impl Into<String>,
        kind: &str,
        named: &str,
        known: impl IntoIterator<Item = &'a str>,
    ) -> Problem {
        let hint = did_you_mean(named, known);
        Problem::field(
            object,
            field,
            format!(
                "no {kind} named {named:?} in namespace {}: create it or fix the name{hint}",
                object.namespace
            ),
        )
    }

    /// Sets where the object came from.
    pub fn at(mut self, origin: Option<&Origin>) -> Problem {
        if self.origin.is_none() {
            self.origin = origin.cloned();
        }
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(o) = &self.origin {
            write!(f, "{}", o.file.display())?;
            if o.document > 0 {
                write!(f, " (document {})", o.document + 1)?;
            }
            write!(f, ": ")?;
        }
        if let Some(obj) = &self.object {
            write!(f, "{obj}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{}", self.message)
    }
}

/// ` Did you mean "x"?` for the candidate closest to `word`, or nothing when none is close.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates)
        .map(|c| format!(" (did you mean {c:?}?)"))
        .unwrap_or_default()
}

/// The candidate most like `word`, when one is like it at all (Jaro-Winkler above 0.8, or the
/// same but for case).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| {
            let score = if c.eq_ignore_ascii_case(word) {
                1.0
            } else {
                strsim::jaro_winkler(&c.to_lowercase(), &word.to_lowercase())
            };
            (score, c)
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Where a kind stands in the order objects depend on each other: what is named comes before
/// what names it, so a root cause is read before its consequences.
fn dependency_rank(kind: Option<&str>) -> u8 {
    match kind {
        None => 0, // a file that cannot be read at all
        Some("Secret") => 1,
        Some("Person" | "HolidayCalendar" | "CallerList") => 2,
        Some("Schedule") => 3,
        Some("ScheduleOverride") => 4,
        Some("EscalationChain") => 5,
        Some("IncomingCallPolicy") => 6,
        Some("PhoneNumber") => 7,
        Some(_) => 8,
    }
}

/// Puts problems in the order to read and fix them: root causes first, objects that others
/// depend on before those that depend on them, then by file, object and field; the problems
/// that are only consequences of another object's ("has problems of its own") last.
pub fn order(problems: &mut [Problem]) {
    problems.sort_by(|a, b| {
        let key = |p: &Problem| {
            (
                p.cause.is_some(),
                dependency_rank(p.object.as_ref().map(|o| o.kind.as_str())),
            )
        };
        key(a).cmp(&key(b)).then_with(|| a.cmp(b))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_offers_the_closest_name_or_nothing() {
        let names = ["platform-primary", "dba-oncall", "sre"];
        assert_eq!(closest("platfrom-primary", names), Some("platform-primary"));
        assert_eq!(closest("SRE", names), Some("sre"));
        assert_eq!(closest("payments", names), None);
        assert_eq!(did_you_mean("payments", names), "");
    }

    #[test]
    fn root_causes_come_first_in_dependency_order() {
        let schedule = ObjectId::new("Schedule", "ns", "sre");
        let chain = ObjectId::new("EscalationChain", "ns", "main");
        let late_file = Origin {
            file: "z.yaml".into(),
            document: 0,
        };
        let mut ps = vec![
            Problem::invalid_reference(&chain, "spec.steps[0]", "Schedule", "sre"),
            Problem::field(&chain, "spec.steps[1]", "bad"),
            Problem::field(&schedule, "spec.timeZone", "bad").at(Some(&late_file)),
        ];
        order(&mut ps);
        let fields: Vec<&str> = ps.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["spec.timeZone", "spec.steps[1]", "spec.steps[0]"]);
    }
}
