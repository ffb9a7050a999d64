//! The CRDs as the API server judges them when they are applied.
//!
//! The API server estimates the worst-case cost of every `x-kubernetes-validations` rule from
//! the bounds of the strings and lists it touches, and rejects a CRD whose rule could exceed
//! the per-rule budget ("estimated rule cost exceeds budget"); a string without `maxLength` is
//! assumed as long as a whole request. So, as the Kubernetes API conventions ask, every string
//! has a `maxLength` (or an `enum`, or a format the API server parses, such as `date-time`),
//! every list a `maxItems` and every map a `maxProperties`. Each rule's cost is also estimated
//! with kube-cel's estimator (coarse: it multiplies list bounds and ignores string lengths,
//! which is why the bounds themselves are asserted as well), and every `format` is one the API
//! server recognises, since any other is warned about on every apply.
//!
//! These checks are static stand-ins; the CRDs were also applied to a real API server (v1.36)
//! during development, where the budget is the API server's own.

use serde_json::Value;

fn schemas() -> Vec<(String, Value)> {
    switchboard_crds::crds()
        .into_iter()
        .map(|crd| {
            let kind = crd.spec.names.kind.clone();
            let schema = crd.spec.versions[0]
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .expect("every CRD has a schema");
            (kind, serde_json::to_value(schema).unwrap())
        })
        .collect()
}

/// Calls `visit(path, node)` for every schema node below `node`.
fn walk(path: &str, node: &Value, visit: &mut dyn FnMut(&str, &Value)) {
    visit(path, node);
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            walk(&format!("{path}.{name}"), child, visit);
        }
    }
    if let Some(items) = node.get("items") {
        walk(&format!("{path}[]"), items, visit);
    }
    if let Some(values) = node.get("additionalProperties").filter(|v| v.is_object()) {
        walk(&format!("{path}{{}}"), values, visit);
    }
}

#[test]
fn every_string_list_and_map_in_the_crds_is_bounded() {
    let mut unbounded = Vec::new();
    for (kind, schema) in schemas() {
        walk(&kind, &schema, &mut |path, node| {
            let has = |k: &str| node.get(k).is_some();
            let format = node.get("format").and_then(Value::as_str);
            match node.get("type").and_then(Value::as_str) {
                Some("string")
                    if !has("maxLength") && !has("enum") && format != Some("date-time") =>
                {
                    unbounded.push(format!("{path}: a string without maxLength"))
                }
                Some("array") if !has("maxItems") => {
                    unbounded.push(format!("{path}: a list without maxItems"))
                }
                Some("object") if has("additionalProperties") && !has("maxProperties") => {
                    unbounded.push(format!("{path}: a map without maxProperties"))
                }
                _ => {}
            }
        });
    }
    assert!(
        unbounded.is_empty(),
        "add #[schemars(length(max = ...))] to each of these in crds/src:\n{}",
        unbounded.join("\n")
    );
}

#[test]
fn every_format_in_the_crds_is_one_the_api_server_recognises() {
    // The formats the API server validates (k8s.io/kube-openapi's strfmt registry and the
    // integer formats of the structural schema); anything else is warned about on each apply.
    const KNOWN: &[&str] = &[
        "int32",
        "int64",
        "float",
        "double",
        "byte",
        "date",
        "date-time",
    ];
    let mut unknown = Vec::new();
    for (kind, schema) in schemas() {
        walk(&kind, &schema, &mut |path, node| {
            if let Some(f) = node.get("format").and_then(Value::as_str)
                && !KNOWN.contains(&f)
            {
                unknown.push(format!("{path}: format {f:?}"));
            }
        });
    }
    assert!(unknown.is_empty(), "{}", unknown.join("\n"));
}

/// The most a rule's estimated cost may be for the API server to accept the CRD
/// (`StaticEstimatedCostLimit` in k8s.io/apiextensions-apiserver's validation).
const STATIC_ESTIMATED_COST_LIMIT: u64 = 10_000_000;

#[test]
fn every_validation_rule_fits_the_cost_budget_by_kube_cels_estimate() {
    let mut rules = 0;
    let mut warnings = Vec::new();
    for (kind, schema) in schemas() {
        walk(&kind, &schema, &mut |path, node| {
            let Some(list) = node
                .get("x-kubernetes-validations")
                .and_then(Value::as_array)
            else {
                return;
            };
            let compiled = kube_cel::compile_schema(node);
            for rule in list
                .iter()
                .filter_map(|r| r.get("rule").and_then(Value::as_str))
            {
                rules += 1;
                for w in kube_cel::estimate_rule_cost(rule, &compiled) {
                    // kube-cel warns above the runtime per-call limit (1,000,000); the limit the
                    // API server applies to a rule's static estimate when the CRD is written is
                    // ten times that (apiextensions' StaticEstimatedCostLimit).
                    let estimate = w
                        .message
                        .strip_prefix("estimated cost ")
                        .and_then(|m| m.split(' ').next())
                        .and_then(|n| n.parse::<u64>().ok());
                    match (&w.kind, estimate) {
                        (kube_cel::WarningKind::CostExceeded, Some(n))
                            if n <= STATIC_ESTIMATED_COST_LIMIT => {}
                        _ => warnings.push(format!("{path}: {rule}: {:?}: {}", w.kind, w.message)),
                    }
                }
            }
        });
    }
    // The count keeps this test honest: a walk that found no rule would pass on nothing.
    assert!(rules >= 16, "found only {rules} rules");
    assert!(warnings.is_empty(), "{}", warnings.join("\n"));
}
