//! The finalizer: a deleted PhoneNumber's table unpublished and its number let go
//! (`pipeline::let_go`), or left behind said loudly.

//! every few minutes, which is when console edits to its webhooks are found and undone.

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use switchboard_crds::PhoneNumber;
use tracing::{error, info};

use super::super::{Context, Error, deps};
use crate::pipeline::{self};

use super::*;

/// Says loudly, per number, that a deleted PhoneNumber's number was left as it was in Twilio:
/// an error log naming it, a counter, and an event where one can still be written (not in a
/// namespace being deleted).
pub(super) async fn left_behind(
    ctx: &Context,
    pn: &PhoneNumber,
    number: Option<&str>,
    why: String,
) {
    let status = pn.status.clone().unwrap_or_default();
    ctx.metrics.numbers_left_behind.inc();
    error!(
        phone_number = %pn.name_any(),
        namespace = pn.namespace().unwrap_or_default(),
        number = number.unwrap_or("(not known)"),
        sid = status.sid.as_deref().unwrap_or("(not known)"),
        purchased = status.purchased,
        "deleted PhoneNumber: its Twilio number was neither released nor pointed away from Switchboard: {why}; check it in the Twilio console"
    );
    event(
        ctx,
        pn,
        EventType::Warning,
        "CleanupIncomplete",
        format!("{why}; the number was not released or detached: check it in the Twilio console"),
    )
    .await;
}

pub(super) async fn cleanup(pn: &PhoneNumber, ctx: &Context) -> Result<Action, Error> {
    let ns = pn.namespace().unwrap_or_default();
    if ctx.kept.is_cleaned_up(pn) {
        return Ok(Action::await_change());
    }
    let status = pn.status.clone().unwrap_or_default();
    let number = deps::claimed_number(pn).map(str::to_string);
    // A duplicate never acted on the number: its deletion leaves the owner's number alone.
    if let Some(owner) = deps::other_owner(pn, &ctx.stores.numbers.state()) {
        info!(phone_number = %pn.name_any(), namespace = ns, owner = %owner.name_any(), "deleted a duplicate PhoneNumber; its number stays its owner's");
        ctx.kept.forget(pn);
        return Ok(Action::await_change());
    }
    if let Some(number) = &number {
        let mut conn = ctx.redis.clone();
        ctx.live.unpublish(&mut conn, number).await?;
        info!(phone_number = %pn.name_any(), number, "routing table removed");
    }
    // A deleted namespace takes the Secret with it, and with the chart's
    // operator.secretNamespaces also the Role that let the operator read it: gone (404) and
    // no longer readable (403) both fall back to the credentials kept from the last reconcile
    // (a 403 retried for ever would hold the namespace in Terminating; seen on a real cluster).
    let creds = match super::apply::credentials(pn, ctx, &ns).await? {
        Ok(c) => Ok(c),
        Err(m) => match ctx.kept.get(pn) {
            Some(c) => {
                info!(phone_number = %pn.name_any(), namespace = ns, reason = %m, "the credentials Secret cannot be read: cleaning up with the credentials this PhoneNumber was last reconciled with");
                Ok(c)
            }
            None => Err(format!(
                "{m} (a namespace being deleted takes its Secrets, and the Role that let the operator read them, with it; this operator had not kept the credentials since it started)"
            )),
        },
    };
    match creds {
        Ok(c) => {
            let client = twilio_client(ctx, pn, c)?;
            let known = known(&status);
            match pipeline::let_go(
                &client,
                number.as_deref(),
                &known,
                pn.spec.release_on_delete,
                &ctx.public_url,
                &ctx.metrics,
            )
            .await
            {
                Ok(done) => {
                    let note = pipeline::let_go_note(done);
                    info!(phone_number = %pn.name_any(), namespace = ns, number = number.as_deref().unwrap_or(""), "{note}");
                    event(ctx, pn, EventType::Normal, "Cleanup", note.into()).await;
                }
                Err(e) if e.is_transient() => return Err(Error::Twilio(e)),
                Err(e) => {
                    // A number already gone, or credentials Twilio refuses, must not block
                    // the deletion for ever: it is said loudly instead.
                    left_behind(ctx, pn, number.as_deref(), format!("Twilio: {e}")).await;
                }
            }
        }
        Err(m) => left_behind(ctx, pn, number.as_deref(), m).await,
    }
    ctx.kept.cleaned_up(pn);
    Ok(Action::await_change())
}
