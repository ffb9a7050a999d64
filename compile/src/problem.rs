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
        }
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
