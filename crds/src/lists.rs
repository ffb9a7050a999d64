//! Objects several policies of a namespace share: `HolidayCalendar` (dated holidays for
//! `openingHours.calendarRefs`) and `CallerList` (numbers for `callers.rules[].listRefs`).
//!
//! Each policy that names one merges it into its own: a calendar's holidays beside the
//! policy's `openingHours.holidays` (the policy's own entry wins on a date both list), a list's
//! numbers beside the rule's `numbers`. Editing the shared object republishes every hotline
//! whose policy names it.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::hours::Holiday;

/// Dated holidays several hotlines share, such as a country's public holidays or a company's
/// office closures. A policy names it in `openingHours.calendarRefs`; its dates are whole days
/// in that policy's `openingHours.timeZone`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "switchboard.dev",
    version = "v1alpha1",
    kind = "HolidayCalendar",
    doc = "Dated holidays several IncomingCallPolicies of the namespace share (openingHours.calendarRefs): each a whole day closed in the policy's time zone.",
    namespaced,
    shortname = "hcal",
    category = "switchboard",
    printcolumn = r#"{"name":"First","type":"string","jsonPath":".spec.holidays[0].name"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct HolidayCalendarSpec {
    /// The days, each `YYYY-MM-DD` with a name (`2026-12-25`, `Christmas Day`).
    #[schemars(length(min = 1, max = 400))]
    pub holidays: Vec<Holiday>,
}

/// Caller numbers several rules share, such as a partner's offices or the staff's mobiles. A
/// policy names it in `callers.rules[].listRefs`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "switchboard.dev",
    version = "v1alpha1",
    kind = "CallerList",
    doc = "Caller numbers several caller rules of the namespace share (callers.rules[].listRefs): exact E.164 numbers or prefixes ending in *.",
    namespaced,
    shortname = "clist",
    category = "switchboard",
    printcolumn = r#"{"name":"First","type":"string","jsonPath":".spec.numbers[0]"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CallerListSpec {
    /// Exact E.164 numbers (`+14155550123`) or prefixes ending in `*` (`+4420*`).
    #[schemars(length(min = 1, max = 5000))]
    #[schemars(inner(regex(pattern = r"^\+[0-9]{1,15}\*?$"), length(max = 17)))]
    pub numbers: Vec<String>,
}
