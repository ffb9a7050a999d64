//! The status sink: conditions carried over or written, the status patch.

//! every few minutes, which is when console edits to its webhooks are found and undone.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use switchboard_crds::{PhoneNumber, PhoneNumberStatus};

use super::super::status::{Check, conditions};
use super::super::{Context, Error};

/// The previous condition of `type_`, carried over unchanged (a step that did not run this time
/// says nothing new about it), or `otherwise`.
pub(super) fn carried_over(
    status: &PhoneNumberStatus,
    type_: &'static str,
    otherwise: Check,
) -> Check {
    status
        .common
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| Check {
            type_,
            ok: c.status == "True",
            reason: c.reason.clone(),
            message: c.message.clone(),
        })
        .unwrap_or(otherwise)
}

/// Whether the previous status already said `reason` for `type_` (so an event is not repeated).
pub(super) fn said(status: &PhoneNumberStatus, type_: &str, reason: &str) -> bool {
    status
        .common
        .conditions
        .iter()
        .any(|c| c.type_ == type_ && c.reason == reason)
}

/// Sets the conditions for `checks` and the observed generation on `next`, and writes it when
/// it differs from `status`.
pub(super) async fn write_status(
    ctx: &Context,
    pn: &PhoneNumber,
    mut next: PhoneNumberStatus,
    checks: &[Check],
    status: &PhoneNumberStatus,
) -> Result<(), Error> {
    let now = Time(jiff::Timestamp::now());
    next.common.observed_generation = pn.meta().generation;
    next.common.conditions = conditions(
        checks,
        pn.meta().generation,
        &now,
        &status.common.conditions,
    );
    if next != *status {
        patch_status(ctx, pn, &next).await?;
    }
    Ok(())
}

pub(super) async fn patch_status(
    ctx: &Context,
    pn: &PhoneNumber,
    status: &PhoneNumberStatus,
) -> Result<(), Error> {
    crate::controller::apply_status(ctx, pn, status).await
}
