//! Reconciling IncomingCallPolicies and EscalationChains: they publish nothing themselves
//! (their PhoneNumbers do), so their reconcile compiles what they use and reports it in
//! `ReferencesResolved` and `Ready`, naming the field and the fix.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use switchboard_crds::condition::REFERENCES_RESOLVED;
use switchboard_crds::{
    CommonStatus, EscalationChain, EscalationChainStatus, IncomingCallPolicy,
    IncomingCallPolicyStatus,
};

use super::status::{Check, conditions};
use super::{Context, Error, deps};
use crate::compile::{AccountSids, compile};
use crate::manifests::Objects;
use crate::metrics::{FailureLabels, KindLabels};

/// The condition of an object compiled with what it uses.
pub fn check(objects: &Objects) -> Check {
    check_compiled(&compile(objects, &AccountSids::new()))
}

/// The condition of what an object and what it uses compiled to.
fn check_compiled(compiled: &crate::compile::Compiled) -> Check {
    match compiled.problems.first() {
        Some(p) => {
            let whose = p
                .object
                .as_ref()
                .map(|o| format!("{} {}: ", o.kind, o.name))
                .unwrap_or_default();
            Check::failed(
                REFERENCES_RESOLVED,
                "InvalidReferences",
                format!("{whose}{}: {}", p.field, p.message),
            )
        }
        None => Check::ok(
            REFERENCES_RESOLVED,
            "Resolved",
            "everything it names exists and is valid",
        ),
    }
}

fn common(check: &Check, generation: Option<i64>, previous: &CommonStatus) -> CommonStatus {
    let now = Time(jiff::Timestamp::now());
    CommonStatus {
        observed_generation: generation,
        conditions: conditions(
            std::slice::from_ref(check),
            generation,
            &now,
            &previous.conditions,
        ),
    }
}

fn count(ctx: &Context, kind: &str) {
    ctx.metrics
        .reconciles
        .get_or_create(&KindLabels { kind: kind.into() })
        .inc();
}

/// Reconciles a policy's status.
pub async fn reconcile_policy(
    p: Arc<IncomingCallPolicy>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    count(&ctx, "IncomingCallPolicy");
    let mut objects = deps::policy_closure(
        &p,
        &ctx.stores.chains.state(),
        &ctx.stores.schedules.state(),
    );
    deps::add_people(&mut objects, &ctx.stores.people.state());
    deps::add_lists(
        &mut objects,
        &ctx.stores.calendars.state(),
        &ctx.stores.caller_lists.state(),
    );
    let previous = p.status.clone().unwrap_or_default();
    let c = check(&objects);
    let status = IncomingCallPolicyStatus {
        common: common(&c, p.meta().generation, &previous.common),
        phone_numbers: deps::policy_users(
            &p.namespace().unwrap_or_default(),
            &p.name_any(),
            &ctx.stores.numbers.state(),
        )
        .len() as u32,
    };
    if status != previous {
        super::apply_status(&ctx, &*p, &status).await?;
    }
    Ok(Action::await_change())
}

/// Reconciles a chain's status.
pub async fn reconcile_chain(c: Arc<EscalationChain>, ctx: Arc<Context>) -> Result<Action, Error> {
    count(&ctx, "EscalationChain");
    let mut objects = deps::chain_closure(&c, &ctx.stores.schedules.state());
    deps::add_people(&mut objects, &ctx.stores.people.state());
    // Who can be rung (the Covered condition) includes the overrides in force.
    deps::add_overrides(&mut objects, &ctx.stores.overrides.state());
    let previous = c.status.clone().unwrap_or_default();
    let compiled = compile(&objects, &AccountSids::new());
    let chk = check_compiled(&compiled);
    let mut status = EscalationChainStatus {
        common: common(&chk, c.meta().generation, &previous.common),
        steps: c.spec.steps.len() as u32,
        next_gap: None,
    };
    // Whether the first step can ring someone over the next two weeks: advice beside Ready.
    let ns = c.namespace().unwrap_or_default();
    let now = jiff::Timestamp::now();
    let schedule = |name: &str| compiled.schedules.get(&(ns.clone(), name.to_string()));
    if let Some((gaps, zone)) = super::coverage::first_step_gaps(&c, schedule, now) {
        let what = "the first step has nobody to ring";
        let (covered, gap) = super::coverage::covered(&gaps, &zone, what);
        status.next_gap = gap;
        status.common.conditions.push(super::status::condition(
            &covered,
            c.meta().generation,
            &Time(now),
            &previous.common.conditions,
        ));
    }
    if status != previous {
        super::apply_status(&ctx, &*c, &status).await?;
    }
    // Coverage moves with the clock, not only with changes.
    Ok(Action::requeue(Duration::from_secs(3600)))
}

/// Backoff for these reconciles.
pub fn error_policy<K>(_o: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .failures
        .get_or_create(&FailureLabels {
            kind: std::any::type_name::<K>()
                .rsplit("::")
                .next()
                .unwrap_or("")
                .into(),
            reason: error.metric_label(),
        })
        .inc();
    Action::requeue(Duration::from_secs(15))
}
