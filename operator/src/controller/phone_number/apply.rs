//! The reconcile of a PhoneNumber that exists: dereference, validate and build, the Twilio
//! and Redis steps, in that order; a duplicate or a missing policy stops it early.

//! every few minutes, which is when console edits to its webhooks are found and undone.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use switchboard_crds::condition::{REFERENCES_RESOLVED, ROUTES_PUBLISHED, TWILIO_CONFIGURED};
use switchboard_crds::{PhoneNumber, PhoneNumberStatus};
use tracing::{info, warn};

use super::super::status::Check;
use super::super::{Context, Error, deps};
use crate::compile::{AccountSids, Compiled, compile};
use crate::pipeline::{self, PublishStep, TwilioFailed};
use crate::twilio::client::Credentials;
use crate::twilio::number::{Ensured, NumberError, purchase_marker, settings_for};

use super::sink::*;
use super::*;

pub(super) async fn apply(pn: &PhoneNumber, ctx: &Context) -> Result<Action, Error> {
    let ns = pn.namespace().unwrap_or_default();
    let status = pn.status.clone().unwrap_or_default();
    let mut next = status.clone();
    let mut checks = Vec::new();

    // dereference
    let creds = credentials(pn, ctx, &ns).await?;
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
    let mut objects = deps::closure(
        pn,
        &ctx.stores.policies.state(),
        &ctx.stores.chains.state(),
        &ctx.stores.schedules.state(),
    );
    deps::add_overrides(&mut objects, &ctx.stores.overrides.state());
    deps::add_people(&mut objects, &ctx.stores.people.state());
    deps::add_lists(
        &mut objects,
        &ctx.stores.calendars.state(),
        &ctx.stores.caller_lists.state(),
    );

    // validate + build
    let (mut compiled, mut problem) = validate(pn, &objects, &creds, &ns);
    if problem.is_none() && compiled.tables.iter().any(|t| t.policy.pin.is_some()) {
        problem = seal_pins(pn, ctx, &ns, &creds, &mut compiled).await?;
    }
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

    // apply: Twilio, then Redis
    let mut number = deps::claimed_number(pn).map(str::to_string);
    let mut transient = match apply_twilio(
        pn,
        ctx,
        &creds,
        &status,
        &mut next,
        &mut checks,
        &mut number,
    )
    .await?
    {
        Twilio::Requeue(action) => return Ok(action),
        Twilio::Done { transient } => transient,
    };
    apply_redis(
        pn,
        ctx,
        &compiled,
        &problem,
        &number,
        &status,
        &mut next,
        &mut checks,
        &mut transient,
    )
    .await;

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

/// The dereference step's I/O: the credentials Secret of `pn`, or what keeps it from being
/// read, as the message the condition says (a missing key, a Secret the operator may not read).
pub(super) async fn credentials(
    pn: &PhoneNumber,
    ctx: &Context,
    ns: &str,
) -> Result<Result<Credentials, String>, Error> {
    let secret_name = &pn.spec.credentials_secret_ref.name;
    Ok(
        match Api::<Secret>::namespaced(ctx.client.clone(), ns)
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
        },
    )
}

/// The validate step (pure): what `objects` compile to with `creds`' account, and the first
/// problem, naming the object it is in when that is not `pn` itself.
pub(super) fn validate(
    pn: &PhoneNumber,
    objects: &crate::Objects,
    creds: &Result<Credentials, String>,
    ns: &str,
) -> (Compiled, Option<String>) {
    let secret_name = &pn.spec.credentials_secret_ref.name;
    let mut sids = AccountSids::new();
    if let Ok(c) = &creds {
        sids.insert((ns.to_string(), secret_name.clone()), c.account_sid.clone());
    }
    let compiled = compile(objects, &sids);
    let problem = first_problem(pn, &compiled);
    (compiled, problem)
}

/// The first problem of `compiled`, naming the object it is in when that is not `pn` itself.
fn first_problem(pn: &PhoneNumber, compiled: &Compiled) -> Option<String> {
    let name = pn.name_any();
    compiled.problems.first().map(|p| {
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
    })
}

/// The PIN step's I/O: each PIN Secret the tables name, read, and the digests set with the
/// account's auth token (`switchboard_compile::pins`); the first problem, as `validate`'s.
async fn seal_pins(
    pn: &PhoneNumber,
    ctx: &Context,
    ns: &str,
    creds: &Result<Credentials, String>,
    compiled: &mut Compiled,
) -> Result<Option<String>, Error> {
    let names: std::collections::BTreeSet<String> = compiled
        .tables
        .iter()
        .filter_map(|t| t.policy.pin.as_ref().map(|p| p.secret.name.clone()))
        .collect();
    let api = Api::<Secret>::namespaced(ctx.client.clone(), ns);
    let mut secrets = std::collections::BTreeMap::new();
    for name in names {
        let read = match api.get_opt(&name).await {
            Ok(s) => Ok(s),
            Err(kube::Error::Api(e)) if e.code == 403 => Err(format!(
                "the operator may not read Secrets in namespace {ns}: add {ns} to the chart's operator.secretNamespaces"
            )),
            Err(e) => return Err(e.into()),
        };
        secrets.insert(name, read);
    }
    let numbers = ctx.stores.numbers.state();
    let token = creds.as_ref().ok().and_then(|c| c.auth_token.clone());
    switchboard_compile::pins::seal_pins(
        compiled,
        |ns, key| {
            let secret = secrets.get(&key.name).cloned().unwrap_or(Ok(None))?;
            let credentials = switchboard_compile::secrets::holds_credentials(
                numbers.iter().map(|n| n.as_ref()),
                ns,
                &key.name,
            );
            switchboard_compile::pins::pin_in(secret.as_ref(), ns, key, credentials)
        },
        |_| token.clone(),
    );
    Ok(first_problem(pn, compiled))
}

/// What the Twilio step left for the rest of a reconcile.
pub(super) enum Twilio {
    /// Stop here and come back (the purchase intent was recorded).
    Requeue(Action),
    /// Go on; a Twilio failure worth retrying, if any.
    Done { transient: Option<Error> },
}

/// The Twilio step (`pipeline::twilio`), said as the TwilioConfigured condition and events.
pub(super) async fn apply_twilio(
    pn: &PhoneNumber,
    ctx: &Context,
    creds: &Result<Credentials, String>,
    status: &PhoneNumberStatus,
    next: &mut PhoneNumberStatus,
    checks: &mut Vec<Check>,
    number: &mut Option<String>,
) -> Result<Twilio, Error> {
    let ns = pn.namespace().unwrap_or_default();
    let name = pn.name_any();
    let mut transient: Option<Error> = None;
    let settings = settings_for(&ctx.public_url);
    match creds {
        Err(_) => checks.push(Check::failed(
            TWILIO_CONFIGURED,
            "CredentialsMissing",
            "waiting for the Twilio credentials (see ReferencesResolved)",
        )),
        Ok(c) => {
            let client = twilio_client(ctx, pn, c.clone())?;
            let uid = pn.uid().unwrap_or_default();
            let marker = purchase_marker(&ns, &name, &uid);
            let known = known(status);
            match pipeline::twilio(&client, pn, &known, &marker, &ctx.public_url, &ctx.metrics)
                .await
            {
                Ok(Ensured::RecordIntent(intent)) => {
                    // Written before anything is bought; the status change triggers the next pass.
                    next.purchase_intent = Some(intent.clone());
                    patch_status(ctx, pn, next).await?;
                    info!(phone_number = %name, intent, "recorded the purchase intent");
                    return Ok(Twilio::Requeue(Action::requeue(Duration::from_secs(1))));
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
                    *number = Some(n.phone_number.clone());
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
    Ok(Twilio::Done { transient })
}

/// The build and publish steps (`pipeline::build`, `pipeline::publish`), said as the
/// RoutesPublished condition and events.
#[allow(clippy::too_many_arguments)] // the reconcile's state, passed down once
pub(super) async fn apply_redis(
    pn: &PhoneNumber,
    ctx: &Context,
    compiled: &Compiled,
    problem: &Option<String>,
    number: &Option<String>,
    status: &PhoneNumberStatus,
    next: &mut PhoneNumberStatus,
    checks: &mut Vec<Check>,
    transient: &mut Option<Error>,
) {
    let ns = pn.namespace().unwrap_or_default();
    let name = pn.name_any();
    if problem.is_some()
        && let (Some(n), Some(r)) = (number, &status.published_revision)
    {
        // Invalid: the last valid table stays live; remember it even when an earlier operator
        // process published it, so that it comes back if Redis loses it (live.rs).
        let mut conn = ctx.redis.clone();
        ctx.live.adopt(&mut conn, pn.object_ref(&()), n, r).await;
    }
    let built = pipeline::build(compiled, (&ns, &name), problem.clone());
    if let (Some(t), Some(_), None) = (built.table, number, &built.problem) {
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
}

/// The number's policy is not in the cluster: say so, and change nothing else.
pub(super) async fn policy_missing(
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
pub(super) async fn duplicate(
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
