//! Reconciling a PhoneNumber, as a pipeline of named steps (the steps themselves are
//! `switchboard_apply::pipeline`'s, shared with the folder operator; this file is the
//! API server as their source and status and events as their sink):
//!
//! ```text
//!   dereference  (I/O)  the Secret; the policy, chains and schedules from the reflector stores
//!   validate+build (pure) compile -> pipeline::build: the table, or the problem naming the fix
//!   apply        (I/O)  pipeline::twilio: the number exists and points at the webhook server
//!                       pipeline::publish: the table is current (the last valid one stays)
//!   update_status(I/O)  conditions, number, sid, purchase records; events for what changed
//!   cleanup      (I/O)  finalizer: unpublish the table, pipeline::let_go (release or detach)
//! ```
//!
//! Invalid objects wait for a change (the watches re-run them when anything they use
//! changes); Twilio and Redis failures are retried with backoff; a Ready number is resynced
//! every few minutes, which is when console edits to its webhooks are found and undone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType};
use kube::runtime::finalizer::{Event, finalizer};
use kube::{Resource, ResourceExt};
use switchboard_crds::{PhoneNumber, PhoneNumberStatus};
use tracing::warn;

mod apply;
mod cleanup;
mod sink;

use apply::apply;
use cleanup::cleanup;

use super::{Context, Error};
use crate::metrics::{FailureLabels, KindLabels};
use crate::twilio::Client;
use crate::twilio::client::Credentials;
use crate::twilio::number::Known;

/// The finalizer that makes deletion unpublish the table and let the number go.
pub const FINALIZER: &str = "switchboard.dev/cleanup";
/// The field manager of the operator's server-side apply patches.
pub const MANAGER: &str = "switchboard-operator";
/// How often a Ready number is checked again by default (Twilio drift; schedule handoffs reach
/// Redis through the watches, not through this): `Context::resync`, `--resync-seconds`.
pub const RESYNC: Duration = Duration::from_secs(300);

/// The Twilio credentials each PhoneNumber was last reconciled with, kept in memory (never
/// written anywhere) so that its cleanup can still release or detach the number when the
/// Secret went first: deleting a namespace deletes its Secrets and PhoneNumbers together, and a
/// Secret has no finalizer to wait for the PhoneNumbers' cleanup.
///
/// It also remembers which deleted PhoneNumbers (by uid) were cleaned up already: a second
/// cleanup pass that starts before the finalizer's removal has reached the store (a watch
/// event of the Secret the namespace deletion removes) must not report a number it released
/// a moment ago as left behind (seen on a real cluster).
#[derive(Default)]
pub struct KeptCredentials(
    std::sync::Mutex<std::collections::HashMap<(String, String), Credentials>>,
    std::sync::Mutex<std::collections::HashSet<String>>,
);

impl std::fmt::Debug for KeptCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeptCredentials(..)")
    }
}

impl KeptCredentials {
    fn key(pn: &PhoneNumber) -> (String, String) {
        (pn.namespace().unwrap_or_default(), pn.name_any())
    }

    fn keep(&self, pn: &PhoneNumber, c: &Credentials) {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.insert(Self::key(pn), c.clone());
    }

    fn get(&self, pn: &PhoneNumber) -> Option<Credentials> {
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(&Self::key(pn)).cloned()
    }

    fn forget(&self, pn: &PhoneNumber) {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.remove(&Self::key(pn));
    }

    /// Forgets `pn`'s credentials and remembers that its cleanup is done.
    fn cleaned_up(&self, pn: &PhoneNumber) {
        self.forget(pn);
        if let Some(uid) = &pn.metadata.uid {
            let mut done = self.1.lock().unwrap_or_else(|e| e.into_inner());
            done.insert(uid.clone());
        }
    }

    /// Whether this deleted object (its uid) was cleaned up already.
    fn is_cleaned_up(&self, pn: &PhoneNumber) -> bool {
        let done = self.1.lock().unwrap_or_else(|e| e.into_inner());
        pn.metadata.uid.as_ref().is_some_and(|u| done.contains(u))
    }
}

/// A client of the Twilio API the PhoneNumber names (`spec.twilio` region and edge), or of
/// the configured override.
fn twilio_client(ctx: &Context, pn: &PhoneNumber, creds: Credentials) -> Result<Client, Error> {
    Ok(Client::for_number(
        ctx.twilio_api_url.as_deref(),
        pn.spec.twilio.as_ref(),
        creds,
    )?)
}

/// What the status records of the Twilio number.
fn known(status: &PhoneNumberStatus) -> Known {
    Known {
        sid: status.sid.clone(),
        purchased: status.purchased,
        purchase_intent: status.purchase_intent.clone(),
    }
}

/// Runs the pipeline for one PhoneNumber.
pub async fn reconcile(pn: Arc<PhoneNumber>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let kind = KindLabels {
        kind: "PhoneNumber".into(),
    };
    ctx.metrics.reconciles.get_or_create(&kind).inc();
    let ns = pn.namespace().unwrap_or_default();
    let api: Api<PhoneNumber> = Api::namespaced(ctx.client.clone(), &ns);
    let result = finalizer(&api, FINALIZER, pn, |event| async {
        match event {
            Event::Apply(pn) => apply(&pn, &ctx).await,
            Event::Cleanup(pn) => cleanup(&pn, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(other.to_string()),
    });
    ctx.metrics
        .duration
        .get_or_create(&kind)
        .observe(started.elapsed().as_secs_f64());
    result
}

/// Backoff for failures that are worth retrying; counted by reason.
pub fn error_policy(pn: Arc<PhoneNumber>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(phone_number = %pn.name_any(), namespace = pn.namespace().unwrap_or_default(), error = %error, "reconcile failed; retrying");
    ctx.metrics
        .failures
        .get_or_create(&FailureLabels {
            kind: "PhoneNumber".into(),
            reason: error.metric_label(),
        })
        .inc();
    Action::requeue(Duration::from_secs(15))
}

async fn event(ctx: &Context, pn: &PhoneNumber, type_: EventType, reason: &str, note: String) {
    let ev = KubeEvent {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &pn.object_ref(&())).await {
        warn!(error = %e, "cannot publish an event");
    }
}
