//! Reconciling a Schedule: validate it, and show who is on call now and the next handoff.
//! The reconcile is requeued at that handoff, so `kubectl get schedules` stays current.
//!
//! Routing does not wait for this: the webhook server evaluates the schedule inside each call,
//! so a handoff needs no Redis write. A change to a Schedule object reaches Redis through the
//! PhoneNumber controller's watch on Schedules.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use switchboard_crds::condition::REFERENCES_RESOLVED;
use switchboard_crds::schedule::HandoffStatus;
use switchboard_crds::{Person, Schedule, ScheduleOverride, ScheduleStatus};

use super::status::{Check, conditions};
use super::{Context, Error};
use crate::compile::schedule::{add_override_objects, compile_schedule};
use crate::metrics::{FailureLabels, KindLabels};
use crate::problem::ObjectId;

/// The status of `s` at `now`, and how long until it changes (the next handoff).
pub fn desired_status(
    s: &Schedule,
    overrides: &[Arc<ScheduleOverride>],
    people: &[Arc<Person>],
    now: jiff::Timestamp,
    previous: &ScheduleStatus,
) -> (ScheduleStatus, Option<Duration>) {
    let id = ObjectId::new(
        "Schedule",
        &s.namespace().unwrap_or_default(),
        &s.name_any(),
    );
    let mut status = ScheduleStatus {
        common: previous.common.clone(),
        ..ScheduleStatus::default()
    };
    let mut wait = None;
    let mut coverage = None;
    let mine = overrides
        .iter()
        .filter(|o| o.namespace() == s.namespace() && o.spec.schedule_ref.name == s.name_any());
    let ids: Vec<(ObjectId, &ScheduleOverride)> = mine
        .map(|o| {
            let oid = ObjectId::new("ScheduleOverride", &id.namespace, &o.name_any());
            (oid, &**o)
        })
        .collect();
    let directory = super::deps::directory(&id.namespace, people);
    let compiled = compile_schedule(s, &id, &directory, &[]).map(|mut c| {
        // A wrong override is reported on itself (its own controller), not on the Schedule.
        let mine = ids.iter().map(|(i, o)| (i, *o));
        add_override_objects(&mut c, mine, &directory, &mut Vec::new());
        c
    });
    let check = match compiled {
        Err(problems) => {
            let p = &problems[0];
            Check::failed(
                REFERENCES_RESOLVED,
                "InvalidSchedule",
                format!("{}: {}", p.field, p.message),
            )
        }
        Ok(compiled) => match compiled.on_call_at(now) {
            Err(e) => Check::failed(REFERENCES_RESOLVED, "InvalidSchedule", e.to_string()),
            Ok(who) => {
                status.on_call = who.person.clone();
                status.on_call_source = Some(who.source.label());
                if let Ok(next) = compiled.next_handoffs(now, 1)
                    && let Some(h) = next.first()
                {
                    status.next_handoff = Some(HandoffStatus {
                        at: in_zone(h.at, &compiled.time_zone),
                        to: h.to.person.clone(),
                    });
                    let secs = h.at.duration_since(now).as_secs().max(1) as u64;
                    wait = Some(Duration::from_secs(secs));
                }
                let gaps = super::coverage::schedule_gaps(&compiled, now);
                let (check, gap) =
                    super::coverage::covered(&gaps, &compiled.time_zone, "nobody is on call");
                status.next_gap = gap;
                coverage = Some(check);
                Check::ok(REFERENCES_RESOLVED, "Valid", "the schedule compiles")
            }
        },
    };
    let t = Time(now);
    status.common.observed_generation = s.meta().generation;
    status.common.conditions = conditions(
        &[check],
        s.meta().generation,
        &t,
        &previous.common.conditions,
    );
    // Advice beside Ready, not part of it.
    status.common.conditions.extend(coverage.map(|c| {
        super::status::condition(&c, s.meta().generation, &t, &previous.common.conditions)
    }));
    (status, wait)
}

/// Runs the Schedule reconcile.
pub async fn reconcile(s: Arc<Schedule>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics
        .reconciles
        .get_or_create(&KindLabels {
            kind: "Schedule".into(),
        })
        .inc();
    let previous = s.status.clone().unwrap_or_default();
    let overrides = ctx.stores.overrides.state();
    let (status, wait) = desired_status(
        &s,
        &overrides,
        &ctx.stores.people.state(),
        jiff::Timestamp::now(),
        &previous,
    );
    if status != previous {
        super::apply_status(&ctx, &*s, &status).await?;
    }
    Ok(match wait {
        // At the handoff (capped, so a clock jump is caught within the hour).
        Some(d) => Action::requeue(d.min(Duration::from_secs(3600))),
        None => Action::await_change(),
    })
}

/// Backoff for Schedule reconciles.
pub fn error_policy(_s: Arc<Schedule>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .failures
        .get_or_create(&FailureLabels {
            kind: "Schedule".into(),
            reason: error.metric_label(),
        })
        .inc();
    Action::requeue(Duration::from_secs(15))
}

/// `at` in RFC 3339 with the schedule's own offset (`2026-11-30T09:00:00-05:00`), as people of
/// that zone read it in `kubectl get schedules`; UTC when the zone is unknown.
pub(super) fn in_zone(at: jiff::Timestamp, time_zone: &str) -> String {
    match jiff::tz::TimeZone::get(time_zone) {
        Ok(tz) => at.to_zoned(tz).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        Err(_) => at.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::in_zone;

    #[test]
    fn the_next_handoff_reads_in_the_schedules_own_zone() {
        let at: jiff::Timestamp = "2026-11-30T14:00:00Z".parse().unwrap();
        assert_eq!(in_zone(at, "America/New_York"), "2026-11-30T09:00:00-05:00");
        assert_eq!(in_zone(at, "Europe/Berlin"), "2026-11-30T15:00:00+01:00");
        assert_eq!(in_zone(at, "Nowhere/Else"), "2026-11-30T14:00:00Z");
    }
}
