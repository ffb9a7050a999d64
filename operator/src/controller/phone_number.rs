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

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType};
use kube::runtime::finalizer::{Event, finalizer};
use kube::{Resource, ResourceExt};
use serde_json::json;
use switchboard_crds::condition::{REFERENCES_RESOLVED, ROUTES_PUBLISHED, TWILIO_CONFIGURED};
use switchboard_crds::{PhoneNumber, PhoneNumberStatus};
use tracing::{error, info, warn};

use super::status::{Check, conditions};
use super::{Context, Error, deps};
use crate::compile::{AccountSids, compile};
use crate::metrics::{FailureLabels, KindLabels};
use crate::pipeline::{self, PublishStep, TwilioFailed};
use crate::twilio::Client;
use crate::twilio::client::Credentials;
use crate::twilio::number::{Ensured, Known, NumberError, purchase_marker, settings_for};

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
#[derive(Default)]
pub struct KeptCredentials(
    std::sync::Mutex<std::collections::HashMap<(String, String), Credentials>>,
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

async fn apply(pn: &PhoneNumber, ctx: &Context) -> Result<Action, Error> {
    let ns = pn.namespace().unwrap_or_default();
    let name = pn.name_any();
    let status = pn.status.clone().unwrap_or_default();
    let mut next = status.clone();
    let mut checks = Vec::new();

    // dereference
    let secret_name = &pn.spec.credentials_secret_ref.name;
    let creds = match Api::<Secret>::namespaced(ctx.client.clone(), &ns)
        .get_opt(secret_name)
        .await
    {
        Ok(secret) => Credentials::from_secret(secret.as_ref(), secret_name),
        // The operator may be limited to reading Secrets in some namespaces
        // (`--secret-namespaces`, the chart's `operator.secretNamespaces`).
        Err(kube::Error::Api(e)) if e.code == 403 => Err(format!(
            "the operator may not read Secrets in namespace {ns}: add {ns} to the chart's operator.secretNamespaces"
        )),
        Err(e) => return Err(e.into()),
    };
    if let Ok(c) = &creds {
        ctx.kept.keep(pn, c);
    }
    // The number is known from the spec before Twilio answers (the NUMBER column).
    if let Some(n) = &pn.spec.number {
        next.number = Some(n.clone());
    }
    // One PhoneNumber per number across the cluster: a later duplicate touches nothing.
    if let Some(owner) = deps::other_owner(pn, &ctx.stores.numbers.state()) {
        return duplicate(pn, ctx, owner, next, &status).await;
    }
    let objects = deps::closure(
        pn,
        &ctx.stores.policies.state(),
        &ctx.stores.chains.state(),
        &ctx.stores.schedules.state(),
    );

    // validate + build
    let mut sids = AccountSids::new();
    if let Ok(c) = &creds {
        sids.insert((ns.clone(), secret_name.clone()), c.account_sid.clone());
    }
    let compiled = compile(&objects, &sids);
    let problem = compiled.problems.first().map(|p| {
        let whose = p
            .object
            .as_ref()
            .filter(|o| o.kind != "PhoneNumber" || o.name != name)
            .map(|o| format!("{} {}/{}: ", o.kind, o.namespace, o.name))
            .unwrap_or_default();
        let field = if p.field.is_empty() {
            String::new()
        } else {
            format!("{}: ", p.field)
        };
        format!("{whose}{field}{}", p.message)
    });
    checks.push(match (&creds, &problem) {
        (Err(m), _) => Check::failed(REFERENCES_RESOLVED, "CredentialsMissing", m.clone()),
        (_, Some(m)) => Check::failed(REFERENCES_RESOLVED, "InvalidReferences", m.clone()),
        _ => Check::ok(
            REFERENCES_RESOLVED,
            "Resolved",
            format!(
                "policy {} and everything it uses are valid",
                pn.spec.policy_ref.name
            ),
        ),
    });

    // No such policy (not created yet, as when `kubectl apply -f` creates the PhoneNumber
    // first, or deleted): nothing is undone. The last valid table stays live, as for an
    // invalid policy, and Twilio is left as it is; deleting the PhoneNumber is what takes a
    // number out of service.
    if objects.policies.is_empty() {
        checks.retain(|c| c.type_ != REFERENCES_RESOLVED);
        return policy_missing(pn, ctx, checks, next, &status).await;
    }

    // apply: Twilio
    let mut transient: Option<Error> = None;
    let settings = settings_for(&ctx.public_url);
    let mut number = deps::claimed_number(pn).map(str::to_string);
    match &creds {
        Err(_) => checks.push(Check::failed(
            TWILIO_CONFIGURED,
            "CredentialsMissing",
            "waiting for the Twilio credentials (see ReferencesResolved)",
        )),
        Ok(c) => {
            let client = twilio_client(ctx, pn, c.clone())?;
            let uid = pn.uid().unwrap_or_default();
            let marker = purchase_marker(&ns, &name, &uid);
            let known = known(&status);
            match pipeline::twilio(&client, pn, &known, &marker, &ctx.public_url, &ctx.metrics)
                .await
            {
                Ok(Ensured::RecordIntent(intent)) => {
                    // Written before anything is bought; the status change triggers the next pass.
                    next.purchase_intent = Some(intent.clone());
                    patch_status(ctx, pn, &next).await?;
                    info!(phone_number = %name, intent, "recorded the purchase intent");
                    return Ok(Action::requeue(Duration::from_secs(1)));
                }
                Ok(Ensured::Ready {
                    number: n,
                    purchased,
                    bought,
                    changed,
                }) => {
                    if bought {
                        event(
                            ctx,
                            pn,
                            EventType::Normal,
                            "NumberPurchased",
                            format!("bought {} for spec.purchase", n.phone_number),
                        )
                        .await;
                    } else if !changed.is_empty() && status.sid.is_some() {
                        event(ctx, pn, EventType::Warning, "DriftCorrected", format!("{} of {} had been changed outside Switchboard; set back to the webhook server", changed.join(", "), n.phone_number)).await;
                    } else if !changed.is_empty() {
                        event(
                            ctx,
                            pn,
                            EventType::Normal,
                            "TwilioConfigured",
                            format!(
                                "{} now sends calls and texts to {}",
                                n.phone_number, ctx.public_url
                            ),
                        )
                        .await;
                    }
                    next.sid = Some(n.sid.clone());
                    next.number = Some(n.phone_number.clone());
                    next.purchased = purchased;
                    number = Some(n.phone_number.clone());
                    checks.push(Check::ok(
                        TWILIO_CONFIGURED,
                        "Configured",
                        format!(
                            "{} ({}) points at {}",
                            n.phone_number, n.sid, settings.voice_url
                        ),
                    ));
                }
                Err(TwilioFailed { reason, error }) => {
                    checks.push(Check::failed(TWILIO_CONFIGURED, reason, error.to_string()));
                    if error.is_transient()
                        && let NumberError::Twilio(t) = error
                    {
                        transient = Some(Error::Twilio(t));
                    }
                }
            }
        }
    }

    // apply: Redis
    if problem.is_some()
        && let (Some(n), Some(r)) = (&number, &status.published_revision)
    {
        // Invalid: the last valid table stays live; remember it even when an earlier operator
        // process published it, so that it comes back if Redis loses it (live.rs).
        let mut conn = ctx.redis.clone();
        ctx.live.adopt(&mut conn, pn.object_ref(&()), n, r).await;
    }
    let built = pipeline::build(&compiled, (&ns, &name), problem.clone());
    if let (Some(t), Some(_), None) = (built.table, &number, &built.problem) {
        // Remembered first: a check for lost tables (live.rs) then never writes an older one.
        ctx.live.remember(pn.object_ref(&()), t).await;
    }
    let mut conn = ctx.redis.clone();
    match pipeline::publish(&mut conn, &built, number.is_some(), &ctx.metrics).await {
        PublishStep::Live {
            revision,
            number,
            written,
        } => {
            if written {
                event(ctx, pn, EventType::Normal, "RoutesPublished", format!("routing table {revision} of {number} is live")).await;
            }
            checks.push(Check::ok(ROUTES_PUBLISHED, "Published", format!("routing table {revision} is live in Redis")));
            next.published_revision = Some(revision);
        }
        PublishStep::Unavailable(e) => {
            checks.push(Check::failed(ROUTES_PUBLISHED, "RedisUnavailable", format!("cannot write to Redis: {e}; retrying")));
            transient.get_or_insert(Error::Store(e));
        }
        PublishStep::AwaitingNumber => checks.push(Check::failed(ROUTES_PUBLISHED, "AwaitingNumber", "the number is not known yet (see TwilioConfigured)")),
        PublishStep::Invalid(_) => checks.push(Check::failed(
            ROUTES_PUBLISHED,
            "InvalidReferences",
            match &status.published_revision {
                Some(r) => format!("not updated: fix what ReferencesResolved names; the last valid table ({r}) stays live"),
                None => "nothing published: fix what ReferencesResolved names".into(),
            },
        )),
    }

    // update status
    write_status(ctx, pn, next, &checks, &status).await?;
    if let Some(e) = transient {
        return Err(e);
    }
    if checks.iter().all(|c| c.ok) {
        Ok(Action::requeue(ctx.resync))
    } else if problem.is_some() || creds.is_err() {
        // Invalid: the watches bring it back when the objects it names change.
        Ok(Action::await_change())
    } else {
        Ok(Action::requeue(ctx.resync))
    }
}

/// The previous condition of `type_`, carried over unchanged (a step that did not run this time
/// says nothing new about it), or `otherwise`.
fn carried_over(status: &PhoneNumberStatus, type_: &'static str, otherwise: Check) -> Check {
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
fn said(status: &PhoneNumberStatus, type_: &str, reason: &str) -> bool {
    status
        .common
        .conditions
        .iter()
        .any(|c| c.type_ == type_ && c.reason == reason)
}

/// The number's policy is not in the cluster: say so, and change nothing else.
async fn policy_missing(
    pn: &PhoneNumber,
    ctx: &Context,
    mut checks: Vec<Check>,
    next: PhoneNumberStatus,
    status: &PhoneNumberStatus,
) -> Result<Action, Error> {
    let policy = &pn.spec.policy_ref.name;
    let ns = pn.namespace().unwrap_or_default();
    checks.push(Check::failed(
        REFERENCES_RESOLVED,
        "PolicyNotFound",
        format!("spec.policyRef: no IncomingCallPolicy {policy} in namespace {ns}: create it, or point spec.policyRef at an existing one"),
    ));
    let number = deps::claimed_number(pn).map(str::to_string);
    checks.push(match (&number, &status.published_revision) {
        (Some(n), Some(r)) => {
            // Remembered as live, so that it comes back if Redis loses it (live.rs).
            let mut conn = ctx.redis.clone();
            ctx.live.adopt(&mut conn, pn.object_ref(&()), n, r).await;
            Check::failed(ROUTES_PUBLISHED, "PolicyNotFound", format!("the last valid table ({r}) stays live while spec.policyRef names no policy; delete this PhoneNumber to take {n} out of service"))
        }
        _ => Check::failed(
            ROUTES_PUBLISHED,
            "PolicyNotFound",
            "nothing published: spec.policyRef names no policy yet",
        ),
    });
    checks.push(carried_over(
        status,
        TWILIO_CONFIGURED,
        Check::failed(
            TWILIO_CONFIGURED,
            "PolicyNotFound",
            "not configured in Twilio until spec.policyRef names an existing policy",
        ),
    ));
    if !said(status, REFERENCES_RESOLVED, "PolicyNotFound") {
        event(ctx, pn, EventType::Warning, "PolicyNotFound", format!("IncomingCallPolicy {policy} does not exist; nothing changed in Twilio or Redis until it does")).await;
    }
    write_status(ctx, pn, next, &checks, status).await?;
    Ok(Action::await_change())
}

/// Another PhoneNumber owns this one's number: say which, and touch nothing.
async fn duplicate(
    pn: &PhoneNumber,
    ctx: &Context,
    owner: &PhoneNumber,
    next: PhoneNumberStatus,
    status: &PhoneNumberStatus,
) -> Result<Action, Error> {
    let number = deps::claimed_number(pn).unwrap_or_default();
    let owner = format!(
        "{}/{}",
        owner.namespace().unwrap_or_default(),
        owner.name_any()
    );
    let message = format!(
        "spec.number: {number} already belongs to PhoneNumber {owner}, created earlier; a number has one PhoneNumber: delete this one or give it another number"
    );
    let ignored =
        "ignored while its number belongs to another PhoneNumber (see ReferencesResolved)";
    let checks = [
        Check::failed(REFERENCES_RESOLVED, "DuplicateNumber", message.clone()),
        Check::failed(TWILIO_CONFIGURED, "DuplicateNumber", ignored),
        Check::failed(ROUTES_PUBLISHED, "DuplicateNumber", ignored),
    ];
    if !said(status, REFERENCES_RESOLVED, "DuplicateNumber") {
        warn!(phone_number = %pn.name_any(), namespace = pn.namespace().unwrap_or_default(), number, owner, "duplicate PhoneNumber: ignored");
        event(ctx, pn, EventType::Warning, "DuplicateNumber", message).await;
    }
    // Its own purchase records are kept; what it never did is not claimed.
    let next = PhoneNumberStatus {
        published_revision: None,
        ..next
    };
    write_status(ctx, pn, next, &checks, status).await?;
    Ok(Action::await_change())
}

/// Sets the conditions for `checks` and the observed generation on `next`, and writes it when
/// it differs from `status`.
async fn write_status(
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

async fn patch_status(
    ctx: &Context,
    pn: &PhoneNumber,
    status: &PhoneNumberStatus,
) -> Result<(), Error> {
    let api: Api<PhoneNumber> =
        Api::namespaced(ctx.client.clone(), &pn.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "PhoneNumber",
        "status": status,
    });
    api.patch_status(
        &pn.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// Says loudly, per number, that a deleted PhoneNumber's number was left as it was in Twilio:
/// an error log naming it, a counter, and an event where one can still be written (not in a
/// namespace being deleted).
async fn left_behind(ctx: &Context, pn: &PhoneNumber, number: Option<&str>, why: String) {
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

async fn cleanup(pn: &PhoneNumber, ctx: &Context) -> Result<Action, Error> {
    let ns = pn.namespace().unwrap_or_default();
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
    let secret_name = &pn.spec.credentials_secret_ref.name;
    let secret = Api::<Secret>::namespaced(ctx.client.clone(), &ns)
        .get_opt(secret_name)
        .await?;
    let creds = match Credentials::from_secret(secret.as_ref(), secret_name) {
        Ok(c) => Ok(c),
        Err(m) => match ctx.kept.get(pn) {
            Some(c) => {
                info!(phone_number = %pn.name_any(), namespace = ns, "the credentials Secret is gone: cleaning up with the credentials this PhoneNumber was last reconciled with");
                Ok(c)
            }
            None => Err(m),
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
    ctx.kept.forget(pn);
    Ok(Action::await_change())
}
