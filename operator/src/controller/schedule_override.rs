//! Reconciling a ScheduleOverride: say whether it is valid and when it applies (`Pending`,
//! `Active`, `Ended`, `Invalid`), requeued at its start and end, and delete it once ended when
//! `switchboard override` created it (label [`DELETE_AFTER_END_LABEL`]).
//!
//! Routing does not wait for this: the override reaches the routing tables through the
//! PhoneNumber controller's watch on ScheduleOverrides, and the webhook server evaluates it
//! inside each call.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType};
use kube::{Resource, ResourceExt};
use switchboard_crds::condition::REFERENCES_RESOLVED;
use switchboard_crds::schedule_override::DELETE_AFTER_END_LABEL;
use switchboard_crds::{Person, Schedule, ScheduleOverride, ScheduleOverrideStatus};
use tracing::warn;

use super::status::{Check, conditions};
use super::{Context, Error};
use crate::compile::schedule::{add_override_objects, compile_schedule};
use crate::metrics::{FailureLabels, KindLabels};
use crate::problem::{ObjectId, Problem};

/// What to do with an override at an instant.
#[derive(Debug, PartialEq)]
pub struct Desired {
    /// Its status.
    pub status: ScheduleOverrideStatus,
    /// When its state changes next (its start or end).
    pub wait: Option<Duration>,
    /// It has ended and asked to be deleted then.
    pub delete: bool,
}

fn id_of<K: Resource<DynamicType = ()>>(o: &K) -> ObjectId {
    ObjectId::new(
        &K::kind(&()),
        &o.namespace().unwrap_or_default(),
        &o.name_any(),
    )
}

/// The status of `o` at `now` given the Schedules of the cluster.
pub fn desired(
    o: &ScheduleOverride,
    schedules: &[Arc<Schedule>],
    people: &[Arc<Person>],
    now: jiff::Timestamp,
    previous: &ScheduleOverrideStatus,
) -> Desired {
    let id = id_of(o);
    let ns = o.namespace().unwrap_or_default();
    let directory = super::deps::directory(&ns, people);
    let name = &o.spec.schedule_ref.name;
    let in_ns: Vec<&Arc<Schedule>> = schedules
        .iter()
        .filter(|s| s.namespace().as_deref() == Some(ns.as_str()))
        .collect();
    let invalid = |p: Problem| {
        (
            Check::failed(
                REFERENCES_RESOLVED,
                "InvalidOverride",
                format!("{}: {}", p.field, p.message),
            ),
            "Invalid",
            None,
        )
    };
    let (check, state, wait) = match in_ns.iter().find(|s| s.name_any() == *name) {
        None => invalid(Problem::missing_reference(
            &id,
            "spec.scheduleRef.name",
            "Schedule",
            name,
            in_ns
                .iter()
                .map(|s| s.metadata.name.as_deref().unwrap_or_default()),
        )),
        Some(s) => match compile_schedule(s, &id_of(&***s), &directory, &[]) {
            Err(_) => invalid(Problem::invalid_reference(
                &id,
                "spec.scheduleRef.name",
                "Schedule",
                name,
            )),
            Ok(mut compiled) => {
                compiled.overrides.clear();
                let mut problems = Vec::new();
                add_override_objects(&mut compiled, [(&id, o)], &directory, &mut problems);
                match (problems.into_iter().next(), compiled.overrides.first()) {
                    (Some(p), _) => invalid(p),
                    (None, None) => invalid(Problem::field(&id, "spec", "cannot be read")),
                    (None, Some(window)) => {
                        let until = |t: jiff::Timestamp| {
                            Some(Duration::from_secs(
                                t.duration_since(now).as_secs().max(1) as u64
                            ))
                        };
                        let (state, wait) = if now < window.start {
                            ("Pending", until(window.start))
                        } else if now < window.end {
                            ("Active", until(window.end))
                        } else {
                            ("Ended", None)
                        };
                        let message = format!(
                            "{} is on call on Schedule {name} from {} to {}",
                            o.spec.person, window.start, window.end
                        );
                        (Check::ok(REFERENCES_RESOLVED, state, message), state, wait)
                    }
                }
            }
        },
    };
    let t = Time(now);
    let generation = o.meta().generation;
    let status = ScheduleOverrideStatus {
        common: switchboard_crds::CommonStatus {
            observed_generation: generation,
            conditions: conditions(&[check], generation, &t, &previous.common.conditions),
        },
        state: Some(state.to_string()),
    };
    let delete = state == "Ended"
        && o.labels().get(DELETE_AFTER_END_LABEL).map(String::as_str) == Some("true");
    Desired {
        status,
        wait,
        delete,
    }
}

/// Runs the ScheduleOverride reconcile.
pub async fn reconcile(o: Arc<ScheduleOverride>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics
        .reconciles
        .get_or_create(&KindLabels {
            kind: "ScheduleOverride".into(),
        })
        .inc();
    let previous = o.status.clone().unwrap_or_default();
    let d = desired(
        &o,
        &ctx.stores.schedules.state(),
        &ctx.stores.people.state(),
        jiff::Timestamp::now(),
        &previous,
    );
    if d.delete {
        let api: Api<ScheduleOverride> =
            Api::namespaced(ctx.client.clone(), &o.namespace().unwrap_or_default());
        api.delete(&o.name_any(), &DeleteParams::default()).await?;
        // The event goes on the Schedule, which outlives the override.
        let schedule = ctx
            .stores
            .schedules
            .get(&super::deps::schedule_of_override(&o));
        let schedule_ref = match &schedule {
            Some(s) => s.object_ref(&()),
            None => o.object_ref(&()),
        };
        let ev = KubeEvent {
            type_: EventType::Normal,
            reason: "OverrideEnded".into(),
            note: Some(format!(
                "ScheduleOverride {} ({} on call until {}) ended and was deleted",
                o.name_any(),
                o.spec.person,
                o.spec.end
            )),
            action: "Cleanup".into(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&ev, &schedule_ref).await {
            warn!(error = %e, "cannot publish an event");
        }
        return Ok(Action::await_change());
    }
    if d.status != previous {
        super::apply_status(&ctx, &*o, &d.status).await?;
    }
    Ok(match d.wait {
        // At its start or end (capped, so a clock jump is caught within the hour).
        Some(w) => Action::requeue(w.min(Duration::from_secs(3600))),
        None => Action::await_change(),
    })
}

/// Backoff for ScheduleOverride reconciles.
pub fn error_policy(_o: Arc<ScheduleOverride>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .failures
        .get_or_create(&FailureLabels {
            kind: "ScheduleOverride".into(),
            reason: error.metric_label(),
        })
        .inc();
    Action::requeue(Duration::from_secs(15))
}
