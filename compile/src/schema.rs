//! Checks a manifest as the API server would before it stores it: the CRD's OpenAPI schema
//! (types, patterns, enums, bounds, required fields), unknown fields (which `kubectl apply`
//! rejects under its default strict field validation), and the CRD's CEL rules
//! (`x-kubernetes-validations`, evaluated with kube-cel).
//!
//! The schemas are the ones generated from `switchboard-crds`, the same that are installed in
//! the cluster, so this check and the API server cannot disagree about the schema.

use serde_json::Value;

use crate::problem::{ObjectId, Problem};

/// Checks manifests of Switchboard kinds against their CRD schema.
pub struct SchemaChecker {
    kinds: Vec<KindSchema>,
    cel: kube_cel::Validator,
}

impl std::fmt::Debug for SchemaChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaChecker").finish_non_exhaustive()
    }
}

struct KindSchema {
    kind: String,
    schema: Value,
    /// `schema` plus the root fields every object has (apiVersion, kind, metadata), for the
    /// unknown-field walk.
    with_implicit_root: Value,
    validator: jsonschema::Validator,
    rules: kube_cel::CompiledSchema,
}

impl Default for SchemaChecker {
    fn default() -> Self {
        Self::new()
    }
}

impl SchemaChecker {
    /// A checker for the four kinds of this build.
    pub fn new() -> SchemaChecker {
        let kinds = switchboard_crds::crds()
            .into_iter()
            .map(|crd| {
                let version = &crd.spec.versions[0];
                let schema = serde_json::to_value(
                    version
                        .schema
                        .as_ref()
                        .and_then(|s| s.open_api_v3_schema.as_ref())
                        .expect("every generated CRD has a schema"),
                )
                .expect("a schema always serializes");
                let mut with_implicit_root = schema.clone();
                if let Some(props) = with_implicit_root
                    .get_mut("properties")
                    .and_then(Value::as_object_mut)
                {
                    for implicit in ["apiVersion", "kind", "metadata"] {
                        props.insert(implicit.into(), serde_json::json!({}));
                    }
                }
                KindSchema {
                    kind: crd.spec.names.kind.clone(),
                    with_implicit_root,
                    validator: jsonschema::validator_for(&schema)
                        .expect("the generated schema is valid JSON Schema"),
                    rules: kube_cel::compile_schema(&schema),
                    schema,
                }
            })
            .collect();
        SchemaChecker {
            kinds,
            cel: kube_cel::Validator::new(),
        }
    }

    /// Every problem of one manifest of kind `kind`; empty when the API server would accept it.
    pub fn check(&self, kind: &str, id: &ObjectId, value: &Value) -> Vec<Problem> {
        let Some(ks) = self.kinds.iter().find(|k| k.kind == kind) else {
            let known: Vec<&str> = self.kinds.iter().map(|k| k.kind.as_str()).collect();
            return vec![Problem::field(
                id,
                "kind",
                format!(
                    "unknown kind {kind:?}; switchboard.dev/v1alpha1 has {}",
                    known.join(", ")
                ),
            )];
        };
        let mut problems = check_metadata(id, value);
        let mut not_allowed = NotAllowed::default();
        for error in ks.validator.iter_errors(value) {
            let path = dotted_path(error.instance_path().as_str());
            if let jsonschema::error::ValidationErrorKind::Enum { options } = error.kind() {
                not_allowed.add(path, error.instance(), options);
                continue;
            }
            let mut message = error.masked().to_string();
            if message.contains(switchboard_crds::TEXT_PATTERN) {
                // The CRDs' free-text pattern: say what it means.
                message = "contains a control character (such as NUL, ESC or a form feed), which the TwiML it is spoken in cannot carry: remove it".into();
            }
            if let Some(hint) = description_at(&ks.schema, &path) {
                message = format!("{message}. Expected: {hint}");
            }
            problems.push(Problem::field(id, path, message));
        }
        not_allowed.report(id, &mut problems);
        unknown_fields(id, value, &ks.with_implicit_root, "", &mut problems);
        if problems.is_empty()
            && let Err(errors) = self.cel.validate_compiled(&ks.rules, value, None)
        {
            for e in errors.into_vec() {
                problems.push(Problem::field(
                    id,
                    e.field_path.trim_start_matches('.'),
                    e.message,
                ));
            }
        }
        problems
    }
}

/// Values outside an enum, gathered per list: `days: [Mon, Tue]` is one problem naming both.
#[derive(Default)]
struct NotAllowed {
    /// By field (the list, for a list's items): the values, and what is allowed there.
    fields: std::collections::BTreeMap<String, (Vec<String>, Vec<String>)>,
}

impl NotAllowed {
    fn add(&mut self, path: String, value: &Value, options: &Value) {
        // `spec.days[1]` -> `spec.days`: the items of one list are reported together.
        let field = match path.strip_suffix(']').and_then(|p| p.rsplit_once('[')) {
            Some((list, index)) if index.bytes().all(|b| b.is_ascii_digit()) => list.to_string(),
            _ => path,
        };
        let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
        let allowed = options.as_array().into_iter().flatten().map(text).collect();
        let entry = self.fields.entry(field).or_insert((Vec::new(), allowed));
        entry.0.push(text(value));
    }

    fn report(self, id: &ObjectId, problems: &mut Vec<Problem>) {
        for (field, (values, allowed)) in self.fields {
            let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
            let verb = if values.len() == 1 { "is" } else { "are" };
            let hints: Vec<String> = values
                .iter()
                .filter_map(|v| {
                    crate::problem::closest(v, allowed.iter().map(String::as_str))
                        .map(|c| format!("{c:?} for {v:?}"))
                })
                .collect();
            let hint = if hints.is_empty() {
                String::new()
            } else {
                format!(" (did you mean {}?)", hints.join(", "))
            };
            problems.push(Problem::field(
                id,
                field,
                format!(
                    "{} {verb} not allowed here: use one of {}{hint}",
                    quoted.join(", "),
                    allowed.join(", ")
                ),
            ));
        }
    }
}

fn check_metadata(id: &ObjectId, value: &Value) -> Vec<Problem> {
    let name = value.pointer("/metadata/name").and_then(Value::as_str);
    let valid = |n: &str| {
        !n.is_empty()
            && n.len() <= 253
            && n.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    };
    match name {
        None => vec![Problem::field(
            id,
            "metadata.name",
            "every object needs a name",
        )],
        Some(n) if !valid(n) => vec![Problem::field(
            id,
            "metadata.name",
            format!(
                "{n:?} is not a valid name: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
            ),
        )],
        Some(_) => vec![],
    }
}

/// `/spec/layers/0/members` -> `spec.layers[0].members`.
fn dotted_path(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.chars().all(|c| c.is_ascii_digit()) && !seg.is_empty() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

/// The first sentence of the schema description of the field at a dotted path.
fn description_at(schema: &Value, path: &str) -> Option<String> {
    let mut node = schema;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, indexed) = match part.find('[') {
            Some(i) => (&part[..i], true),
            None => (part, false),
        };
        node = node.get("properties")?.get(name)?;
        if indexed {
            node = node.get("items")?;
        }
    }
    let text = node.get("description")?.as_str()?.replace('\n', " ");
    let first = match text.find(". ") {
        Some(i) => &text[..=i],
        None => text.as_str(),
    };
    Some(first.trim().to_string())
}

fn unknown_fields(
    id: &ObjectId,
    value: &Value,
    schema: &Value,
    path: &str,
    out: &mut Vec<Problem>,
) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match value {
        Value::Object(map) => {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                return; // free-form (metadata is checked by the API server itself)
            };
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match props.get(key) {
                    Some(child_schema) => unknown_fields(id, child, child_schema, &child_path, out),
                    None => {
                        let suggestion =
                            crate::problem::closest(key, props.keys().map(String::as_str))
                                .map(|k| format!(" Did you mean {k:?}?"))
                                .unwrap_or_default();
                        let mut known: Vec<&str> = props.keys().map(String::as_str).collect();
                        known.sort();
                        out.push(Problem::field(
                            id,
                            child_path,
                            format!(
                                "unknown field {key:?}: kubectl rejects it and the API server would drop it.{suggestion} Known fields here: {}",
                                known.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    unknown_fields(id, item, item_schema, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_pointers_become_the_field_paths_kubectl_prints() {
        assert_eq!(
            dotted_path("/spec/layers/0/members/12"),
            "spec.layers[0].members[12]"
        );
        assert_eq!(dotted_path(""), "");
    }
}
