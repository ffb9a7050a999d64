#![forbid(unsafe_code)]
//! Switchboard's Kubernetes API: group `switchboard.dev`, version `v1alpha1`.
//!
//! ```text
//!   PhoneNumber --policyRef--> IncomingCallPolicy --chainRef / menu.options[].chainRef--> EscalationChain
//!        |                                                                                   |
//!   credentialsSecretRef --> Secret (Twilio)                       targets[].onCall / team / person
//!                                                                                             v
//!                                                                                          Schedule
//!                                                                          ScheduleOverride --scheduleRef--^
//! ```
//!
//! These are the types users write. The operator compiles them into the routing tables of
//! `switchboard-routing`; nothing here is read on the call path.

pub mod alerts;
pub mod chain;
pub mod choices;
pub mod common;
pub mod hours;
pub mod lists;
pub mod person;
pub mod phone_number;
pub mod policy;
pub mod schedule;
pub mod schedule_override;
pub mod speech;

pub use chain::{EscalationChain, EscalationChainSpec, EscalationChainStatus};
pub use common::{CommonStatus, LocalRef, SecretKeyRef, SecretRef, condition};
pub use lists::{CallerList, CallerListSpec, HolidayCalendar, HolidayCalendarSpec};
pub use person::{ContactSpec, Person, PersonSpec};
pub use phone_number::{PhoneNumber, PhoneNumberSpec, PhoneNumberStatus};
pub use policy::{IncomingCallPolicy, IncomingCallPolicySpec, IncomingCallPolicyStatus};
pub use schedule::{Schedule, ScheduleSpec, ScheduleStatus};
pub use schedule_override::{ScheduleOverride, ScheduleOverrideSpec, ScheduleOverrideStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The API group of every Switchboard kind.
pub const GROUP: &str = "switchboard.dev";
/// The API version of every Switchboard kind.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as written in manifests.
pub const API_VERSION: &str = "switchboard.dev/v1alpha1";

/// What a free-text field of a spec may hold: anything but the control characters XML 1.0
/// cannot carry (tab, line feed and carriage return are fine).
pub const TEXT_PATTERN: &str = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F]*$";

/// The CustomResourceDefinitions, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    [
        IncomingCallPolicy::crd(),
        EscalationChain::crd(),
        Schedule::crd(),
        PhoneNumber::crd(),
        ScheduleOverride::crd(),
        Person::crd(),
        HolidayCalendar::crd(),
        CallerList::crd(),
    ]
    .into_iter()
    .map(for_the_api_server)
    .collect()
}

/// The CRD as the API server and `kubectl apply` want it, from what kube-derive generates:
///
/// - Every integer `format` one the API server knows. schemars names Rust's unsigned types
///   (`uint32`), which the API server does not recognise and warns about on every apply
///   (`unrecognized format "uint32"`). An unsigned 32-bit value fits `int64`, and `minimum: 0`
///   (which schemars writes beside it) keeps it unsigned.
/// - No `default` inside list items. The API server fills defaults into the stored object, and
///   a client-side `kubectl apply` of a custom resource is a JSON merge patch, which replaces a
///   list whole: an item whose defaulted field the manifest leaves out then differs from the
///   live item, so every re-apply reports the object `configured` although nothing changed
///   (and a GitOps diff never settles). The operator applies the same defaults when it reads
///   the object (serde's), so nothing is lost; defaults outside lists stay in the schema.
/// - Every free-text string of a spec (one with no `pattern`, `enum` or `format` of its own)
///   refuses control characters other than tab, line feed and carriage return
///   ([`TEXT_PATTERN`]): a greeting or a name is spoken in TwiML, and XML 1.0 cannot carry
///   them (a NUL in a greeting made every call's TwiML invalid).
fn for_the_api_server(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(v: &mut serde_json::Value, in_list: bool, in_schema: bool, in_status: bool) {
        match v {
            serde_json::Value::Object(map) => {
                if in_schema
                    && !in_status
                    && map.get("type").and_then(|t| t.as_str()) == Some("string")
                    && !["pattern", "enum", "format"]
                        .iter()
                        .any(|k| map.contains_key(*k))
                {
                    map.insert("pattern".into(), TEXT_PATTERN.into());
                }
                if let Some(serde_json::Value::String(f)) = map.get_mut("format")
                    && f.starts_with("uint")
                {
                    *f = "int64".into();
                }
                if in_list && map.get("default").is_some_and(|d| !d.is_object()) {
                    map.remove("default");
                }
                for (key, child) in map.iter_mut() {
                    walk(
                        child,
                        in_list || key == "items",
                        in_schema || key == "openAPIV3Schema",
                        // The status is the operator's to write, not a user's to check.
                        in_status || (in_schema && key == "status"),
                    );
                }
            }
            serde_json::Value::Array(items) => items
                .iter_mut()
                .for_each(|i| walk(i, in_list, in_schema, in_status)),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(&crd).expect("a CRD always serializes");
    walk(&mut value, false, false, false);
    serde_json::from_value(value).expect("the CRD still deserializes")
}

/// The CRDs as the multi-document YAML committed in `crds/switchboard.dev.yaml`.
pub fn crds_yaml() -> String {
    let mut out = String::from(
        "# Generated by `switchboard crds` from the types in crds/src. Do not edit by hand:\n\
         # change the Rust types and run `cargo run -p switchboard -- crds > crds/switchboard.dev.yaml`.\n",
    );
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_norway::to_string(&crd).expect("a CRD always serializes"));
    }
    out
}
