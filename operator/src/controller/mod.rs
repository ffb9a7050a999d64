//! The controllers: kube-runtime `Controller`s that reconcile the four kinds.
//!
//! ```text
//!   PhoneNumber (phone_number.rs): dereference (stores, Secret) -> validate + build (compile,
//!       pure) -> apply (Twilio, Redis) -> status + events; finalizer: unpublish, release/detach
//!   Schedule (schedule.rs): who is on call now, the next handoff; requeued at that handoff
//!   live.rs: the tables published, written again within seconds when Redis loses them
//!   watches: Schedule / EscalationChain / IncomingCallPolicy / Secret changes map through the
//!   reflector stores (deps.rs) to the PhoneNumbers that use them
//! ```

pub mod coverage;
pub mod deps;
pub mod live;
pub mod phone_number;
pub mod schedule;
pub mod schedule_override;
pub mod status;
pub mod validity;

use std::sync::Arc;

use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::Store;
use switchboard_crds::{
    CallerList, EscalationChain, HolidayCalendar, IncomingCallPolicy, Person, PhoneNumber,
    Schedule, ScheduleOverride,
};

use crate::metrics::Metrics;
use crate::twilio::TwilioError;

/// Everything a reconcile reads besides its object.
pub struct Context {
    /// The API server.
    pub client: kube::Client,
    /// Redis, where routing tables are published.
    pub redis: switchboard_routing::connect::Conn,
    /// The webhook server's public URL (what Twilio numbers point at).
    pub public_url: String,
    /// Overrides Twilio's API URL (a proxy, or a fake in tests).
    pub twilio_api_url: Option<String>,
    /// Publishes Kubernetes events.
    pub recorder: Recorder,
    /// What the controllers watch, for dereferencing and dependency mapping.
    pub stores: Stores,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The tables published, written again when Redis loses them ([`live::guard`]).
    pub live: Arc<live::LiveTables>,
    /// How often a Ready PhoneNumber is checked again ([`phone_number::RESYNC`] by default).
    pub resync: std::time::Duration,
    /// The credentials each PhoneNumber was last reconciled with, for a cleanup whose Secret
    /// is already gone.
    pub kept: phone_number::KeptCredentials,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

/// Reflector stores of the kinds a PhoneNumber depends on.
#[derive(Clone)]
#[allow(missing_debug_implementations)] // reflector stores do not implement Debug
pub struct Stores {
    /// PhoneNumbers.
    pub numbers: Store<PhoneNumber>,
    /// Policies.
    pub policies: Store<IncomingCallPolicy>,
    /// Chains.
    pub chains: Store<EscalationChain>,
    /// Schedules.
    pub schedules: Store<Schedule>,
    /// ScheduleOverrides.
    pub overrides: Store<ScheduleOverride>,
    /// People (the directory).
    pub people: Store<Person>,
    /// HolidayCalendars (policies' `openingHours.calendarRefs`).
    pub calendars: Store<HolidayCalendar>,
    /// CallerLists (caller rules' `listRefs`).
    pub caller_lists: Store<CallerList>,
}

/// The pod this process runs in: `POD_NAME` from the downward API, or the `HOSTNAME`
/// Kubernetes gives every pod. Names the Lease holder and the events' reporting instance.
pub fn pod_name() -> Option<String> {
    std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
}

/// The reporter of the operator's events.
pub fn reporter() -> Reporter {
    Reporter {
        controller: "switchboard-operator".into(),
        instance: pod_name(),
    }
}

/// A reconcile failure that is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// Redis failed.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Writing a routing table failed (`RouteStore`: Redis, as the store words it).
    #[error("Redis: {0}")]
    Store(String),
    /// Twilio failed in a way worth retrying.
    #[error("{0}")]
    Twilio(#[from] TwilioError),
    /// The finalizer machinery failed.
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// The reconcile panicked (a bug): caught, logged and retried with backoff, so that one
    /// object never stops the controller, nor every other hotline with it.
    #[error("the reconcile panicked (a bug, please report it): {0}")]
    Panicked(String),
}

/// Runs a reconcile, turning a panic into [`Error::Panicked`]. NB (kube-runtime): a panic in a
/// reconcile is re-raised where the controller's stream is polled, which ended the operator
/// process (found on a real API server); caught here, the object is retried with backoff and
/// the other objects go on.
pub async fn guarded<T>(
    reconcile: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(reconcile).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            tracing::error!(panic = %what, "a reconcile panicked; retrying it with backoff");
            Err(Error::Panicked(what))
        }
    }
}

impl Error {
    /// A short label for metrics.
    pub fn metric_label(&self) -> String {
        match self {
            Error::Kube(_) => "kube".into(),
            Error::Redis(_) | Error::Store(_) => "redis".into(),
            Error::Twilio(e) => format!("twilio-{}", e.metric_label()),
            Error::Finalizer(_) => "finalizer".into(),
            Error::Panicked(_) => "panic".into(),
        }
    }
}

/// Writes `status` as the whole status of `obj` by server-side apply under the operator's
/// field manager (forced: the operator alone writes status). The one status write of every
/// controller.
pub(crate) async fn apply_status<K>(
    ctx: &Context,
    obj: &K,
    status: &impl serde::Serialize,
) -> Result<(), Error>
where
    K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    use kube::ResourceExt;
    use kube::api::{Api, Patch, PatchParams};
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(phone_number::MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod guard_tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_reconcile_is_an_error_not_the_end_of_the_operator() {
        let r: Result<(), Error> = guarded(async { panic!("no entry found for key") }).await;
        match r {
            Err(Error::Panicked(what)) => assert_eq!(what, "no entry found for key"),
            other => panic!("{other:?}"),
        }
        assert_eq!(Error::Panicked("x".into()).metric_label(), "panic");
        let ok: Result<u8, Error> = guarded(async { Ok(7) }).await;
        assert_eq!(ok.unwrap(), 7);
        let n = 3;
        let formatted: Result<(), Error> =
            guarded(async move { panic!("index {n} out of range") }).await;
        assert!(matches!(formatted, Err(Error::Panicked(w)) if w == "index 3 out of range"));
    }
}
