//! The leader's controllers: the reflector stores every reconcile reads, start-up garbage
//! collection, and the four controllers with the watches that map a change to the objects it
//! affects.
//!
//! ```text
//!   stores (policies, chains, schedules) listed ─► GC ─► context ─► live-table guard
//!   PhoneNumber ◄── policy, chain, schedule, override, person, calendar, caller list,
//!                   peer number, Secret (metadata)
//!   IncomingCallPolicy ◄── chain, schedule, person, calendar, caller list, PhoneNumber
//!   EscalationChain ◄── schedule, person      Schedule ◄── override, person
//!   ScheduleOverride ◄── schedule
//! ```

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Controller;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use switchboard_crds::{
    CallerList, EscalationChain, HolidayCalendar, IncomingCallPolicy, Person, PhoneNumber,
    Schedule, ScheduleOverride,
};
use tracing::{info, warn};

use super::{Config, collect_garbage, listed, scoped, shutdown_signal, wait_until_listed};
use crate::controller::{self, Context, Stores, deps, phone_number};
use crate::metrics::Metrics;

/// Starts what the leader runs; `None` when the process was told to stop while the stores
/// listed. The future ends when every controller stopped (SIGTERM).
pub(super) async fn start(
    config: &Config,
    client: &Client,
    redis: switchboard_routing::connect::Conn,
    metrics: Arc<Metrics>,
    resync: std::time::Duration,
) -> anyhow::Result<Option<impl Future<Output = ()> + use<>>> {
    let ns = config.watch_namespace.as_deref();
    let numbers: Api<PhoneNumber> = scoped(client, ns);
    let existing = numbers.list(&ListParams::default()).await?.items;
    match collect_garbage(&existing, &mut redis.clone()).await {
        Ok(removed) if !removed.is_empty() => {
            info!(?removed, "removed routing tables no PhoneNumber owns")
        }
        Ok(_) => {}
        Err(e) => {
            warn!(error = %e, "start-up garbage collection failed; it runs again at the next start")
        }
    }
    let wc = watcher::Config::default();
    let policy_store = reflect::<IncomingCallPolicy>(client, ns, &wc);
    let chain_store = reflect::<EscalationChain>(client, ns, &wc);
    let schedule_store = reflect::<Schedule>(client, ns, &wc);
    let override_store = reflect::<ScheduleOverride>(client, ns, &wc);
    let people_store = reflect::<Person>(client, ns, &wc);
    let calendar_store = reflect::<HolidayCalendar>(client, ns, &wc);
    let list_store = reflect::<CallerList>(client, ns, &wc);
    // Not one reconcile before every store a reconcile reads has listed: an object missing
    // from a store that has not listed yet is unknown, not deleted, and a PhoneNumber
    // reconciled then would be compiled without its policy (kube-runtime's controllers wait
    // for their own store, not for these).
    let all_listed = async {
        wait_until_listed(&policy_store, &chain_store, &schedule_store).await?;
        listed(&override_store).await?;
        listed(&calendar_store).await?;
        listed(&list_store).await?;
        listed(&people_store).await
    };
    tokio::select! {
        r = all_listed => r?,
        () = shutdown_signal() => return Ok(None),
    }
    let controller = Controller::new(numbers, wc.clone());
    let stores = Stores {
        numbers: controller.store(),
        policies: policy_store,
        chains: chain_store,
        schedules: schedule_store,
        overrides: override_store,
        people: people_store,
        calendars: calendar_store,
        caller_lists: list_store,
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        redis,
        public_url: config.common.public_url.clone(),
        twilio_api_url: config.twilio_api_url.clone(),
        recorder: Recorder::new(client.clone(), controller::reporter()),
        stores: stores.clone(),
        metrics,
        live: Default::default(),
        resync,
        kept: Default::default(),
    });
    // While leading: tables Redis lost are written again within seconds.
    let guard = tokio::spawn(controller::live::guard(ctx.clone()));
    let numbers_ctl = phone_numbers(controller, config, client, &stores, &wc, ctx.clone());
    let policies_ctl = policies(client, ns, &stores, &wc, ctx.clone());
    let chains_ctl = chains(client, ns, &stores, &wc, ctx.clone());
    let overrides_ctl = schedule_overrides(client, ns, &stores, &wc, ctx.clone());
    let s = stores.clone();
    let schedules_ctl = Controller::new(scoped::<Schedule>(client, ns), wc.clone())
        // Who is on call (the status) changes with the overrides of the schedule.
        .watches(scoped::<ScheduleOverride>(client, ns), wc.clone(), |o| {
            Some(deps::schedule_of_override(&o))
        })
        // A Schedule naming a Person that is created or deleted becomes valid or not.
        .watches(scoped::<Person>(client, ns), wc, move |p| {
            schedules_naming(&p, &s)
        })
        .graceful_shutdown_on(shutdown_signal())
        .run(
            |o, c| controller::guarded(controller::schedule::reconcile(o, c)),
            controller::schedule::error_policy,
            ctx,
        )
        .for_each(|_| async {});
    Ok(Some(async move {
        tokio::join!(
            numbers_ctl,
            schedules_ctl,
            policies_ctl,
            chains_ctl,
            overrides_ctl
        );
        guard.abort();
    }))
}

/// The Schedules that name person `p` (by the stores' state).
fn schedules_naming(p: &Person, s: &Stores) -> Vec<ObjectRef<Schedule>> {
    deps::schedules_naming(
        &p.namespace().unwrap_or_default(),
        &p.name_any(),
        &s.schedules.state(),
        &s.overrides.state(),
        &s.chains.state(),
    )
}

/// The chains that use a Schedule naming person `p`.
fn chains_of_person(p: &Person, s: &Stores) -> Vec<ObjectRef<EscalationChain>> {
    let ns = p.namespace().unwrap_or_default();
    let direct = deps::chains_naming(&ns, &p.name_any(), &s.chains.state());
    schedules_naming(p, s)
        .into_iter()
        .flat_map(|sc| deps::chains_of_schedule(&ns, &sc.name, &s.chains.state()))
        .chain(direct)
        .collect()
}

/// The reflector store of one kind the reconciles read (a PhoneNumber's own store is its
/// controller's).
fn reflect<K>(client: &Client, ns: Option<&str>, wc: &watcher::Config) -> reflector::Store<K>
where
    K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let api: Api<K> = scoped(client, ns);
    tokio::spawn(
        reflector::reflector(writer, watcher(api, wc.clone()))
            .default_backoff()
            .touched_objects()
            .for_each(|_| async {}),
    );
    store
}

/// The ScheduleOverride controller (status, and deleting ended ones), re-run when the Schedule
/// an override names changes.
fn schedule_overrides(
    client: &Client,
    ns: Option<&str>,
    stores: &Stores,
    wc: &watcher::Config,
    ctx: Arc<Context>,
) -> impl Future<Output = ()> + use<> {
    let s = stores.clone();
    Controller::new(scoped::<ScheduleOverride>(client, ns), wc.clone())
        .watches(
            scoped::<Schedule>(client, ns),
            wc.clone(),
            move |sc: Schedule| {
                deps::overrides_of_schedule(
                    &sc.namespace().unwrap_or_default(),
                    &sc.name_any(),
                    &s.overrides.state(),
                )
            },
        )
        .graceful_shutdown_on(shutdown_signal())
        .run(
            |o, c| controller::guarded(controller::schedule_override::reconcile(o, c)),
            controller::schedule_override::error_policy,
            ctx,
        )
        .for_each(|_| async {})
}

/// The PhoneNumber controller, with the watches of everything a number's table is made of.
fn phone_numbers(
    controller: Controller<PhoneNumber>,
    config: &Config,
    client: &Client,
    stores: &Stores,
    wc: &watcher::Config,
    ctx: Arc<Context>,
) -> impl Future<Output = ()> + use<> {
    let ns = config.watch_namespace.as_deref();
    let (s1, s2, s3) = (stores.clone(), stores.clone(), stores.clone());
    let mut numbers_ctl = controller
        .watches(
            scoped::<IncomingCallPolicy>(client, ns),
            wc.clone(),
            move |p| {
                deps::policy_users(
                    &p.namespace().unwrap_or_default(),
                    &p.name_any(),
                    &s1.numbers.state(),
                )
            },
        )
        .watches(
            scoped::<EscalationChain>(client, ns),
            wc.clone(),
            move |c| {
                deps::chain_users(
                    &c.namespace().unwrap_or_default(),
                    &c.name_any(),
                    &s2.numbers.state(),
                    &s2.policies.state(),
                )
            },
        )
        .watches(scoped::<Schedule>(client, ns), wc.clone(), move |s| {
            deps::schedule_users(
                &s.namespace().unwrap_or_default(),
                &s.name_any(),
                &s3.numbers.state(),
                &s3.policies.state(),
                &s3.chains.state(),
            )
        })
        .watches(scoped::<ScheduleOverride>(client, ns), wc.clone(), {
            let s = stores.clone();
            move |o: ScheduleOverride| {
                deps::schedule_users(
                    &o.namespace().unwrap_or_default(),
                    &o.spec.schedule_ref.name,
                    &s.numbers.state(),
                    &s.policies.state(),
                    &s.chains.state(),
                )
            }
        })
        .watches(scoped::<Person>(client, ns), wc.clone(), {
            let s = stores.clone();
            move |p: Person| {
                let ns = p.namespace().unwrap_or_default();
                let mut users = Vec::new();
                for c in deps::chains_naming(&ns, &p.name_any(), &s.chains.state()) {
                    users.extend(deps::chain_users(
                        &ns,
                        &c.name,
                        &s.numbers.state(),
                        &s.policies.state(),
                    ));
                }
                for sched in schedules_naming(&p, &s) {
                    users.extend(deps::schedule_users(
                        &ns,
                        &sched.name,
                        &s.numbers.state(),
                        &s.policies.state(),
                        &s.chains.state(),
                    ));
                }
                users
            }
        })
        // A shared calendar or caller list: the numbers of the policies that name it.
        .watches(scoped::<HolidayCalendar>(client, ns), wc.clone(), {
            let s = stores.clone();
            move |c: HolidayCalendar| {
                let ns = c.namespace().unwrap_or_default();
                let (n, p) = (s.numbers.state(), s.policies.state());
                deps::list_users(&ns, &c.name_any(), true, &n, &p)
            }
        })
        .watches(scoped::<CallerList>(client, ns), wc.clone(), {
            let s = stores.clone();
            move |l: CallerList| {
                let ns = l.namespace().unwrap_or_default();
                let (n, p) = (s.numbers.state(), s.policies.state());
                deps::list_users(&ns, &l.name_any(), false, &n, &p)
            }
        })
        // The other claimants of a number: a duplicate takes over when its owner goes.
        .watches(scoped::<PhoneNumber>(client, ns), wc.clone(), {
            let s = stores.clone();
            move |pn: PhoneNumber| deps::number_peers(&pn, &s.numbers.state())
        });
    // Secrets by metadata only: a rotated token changes the Secret's resourceVersion, which is
    // all the mapping needs, and no Secret's data is streamed into the operator. One watch per
    // namespace the operator may read Secrets in, when it is limited to some.
    let secret_apis: Vec<Api<PartialObjectMeta<Secret>>> = if config.secret_namespaces.is_empty() {
        vec![scoped(client, ns)]
    } else {
        config
            .secret_namespaces
            .iter()
            .map(|n| Api::namespaced(client.clone(), n.trim()))
            .collect()
    };
    for secrets in secret_apis {
        numbers_ctl = numbers_ctl.watches(secrets, watcher::Config::default(), {
            let s = stores.clone();
            move |secret: PartialObjectMeta<Secret>| -> Vec<ObjectRef<PhoneNumber>> {
                deps::secret_users(
                    &secret.namespace().unwrap_or_default(),
                    &secret.name_any(),
                    &s.numbers.state(),
                    &s.policies.state(),
                )
            }
        });
    }
    numbers_ctl
        .graceful_shutdown_on(shutdown_signal())
        .run(
            |o, c| controller::guarded(phone_number::reconcile(o, c)),
            phone_number::error_policy,
            ctx,
        )
        .for_each(|r| async move {
            if let Err(e) = r {
                warn!(error = %e, "PhoneNumber controller");
            }
        })
}

/// The IncomingCallPolicy controller (conditions only), re-run when what a policy uses changes.
fn policies(
    client: &Client,
    ns: Option<&str>,
    stores: &Stores,
    wc: &watcher::Config,
    ctx: Arc<Context>,
) -> impl Future<Output = ()> + use<> {
    let (s4, s5) = (stores.clone(), stores.clone());
    Controller::new(scoped::<IncomingCallPolicy>(client, ns), wc.clone())
        .watches(
            scoped::<EscalationChain>(client, ns),
            wc.clone(),
            move |c: EscalationChain| {
                deps::policies_of_chain(
                    &c.namespace().unwrap_or_default(),
                    &c.name_any(),
                    &s4.policies.state(),
                )
            },
        )
        .watches(
            scoped::<Schedule>(client, ns),
            wc.clone(),
            move |sc: Schedule| {
                let ns = sc.namespace().unwrap_or_default();
                deps::chains_of_schedule(&ns, &sc.name_any(), &s5.chains.state())
                    .into_iter()
                    .flat_map(|c| deps::policies_of_chain(&ns, &c.name, &s5.policies.state()))
                    .collect::<Vec<_>>()
            },
        )
        .watches(scoped::<Person>(client, ns), wc.clone(), {
            let s = stores.clone();
            move |p: Person| {
                let ns = p.namespace().unwrap_or_default();
                chains_of_person(&p, &s)
                    .into_iter()
                    .flat_map(|c| deps::policies_of_chain(&ns, &c.name, &s.policies.state()))
                    .collect::<Vec<_>>()
            }
        })
        .watches(scoped::<HolidayCalendar>(client, ns), wc.clone(), {
            let s = stores.clone();
            move |c: HolidayCalendar| {
                let ns = c.namespace().unwrap_or_default();
                deps::policies_naming_list(&ns, &c.name_any(), true, &s.policies.state())
            }
        })
        .watches(scoped::<CallerList>(client, ns), wc.clone(), {
            let s = stores.clone();
            move |l: CallerList| {
                let ns = l.namespace().unwrap_or_default();
                deps::policies_naming_list(&ns, &l.name_any(), false, &s.policies.state())
            }
        })
        .watches(
            scoped::<PhoneNumber>(client, ns),
            wc.clone(),
            |pn: PhoneNumber| {
                Some(
                    ObjectRef::new(&pn.spec.policy_ref.name)
                        .within(&pn.namespace().unwrap_or_default()),
                )
            },
        )
        .graceful_shutdown_on(shutdown_signal())
        .run(
            |o, c| controller::guarded(controller::validity::reconcile_policy(o, c)),
            controller::validity::error_policy,
            ctx,
        )
        .for_each(|_| async {})
}

/// The EscalationChain controller (conditions only), re-run when a schedule it uses changes.
fn chains(
    client: &Client,
    ns: Option<&str>,
    stores: &Stores,
    wc: &watcher::Config,
    ctx: Arc<Context>,
) -> impl Future<Output = ()> + use<> {
    let s6 = stores.clone();
    Controller::new(scoped::<EscalationChain>(client, ns), wc.clone())
        .watches(
            scoped::<Schedule>(client, ns),
            wc.clone(),
            move |sc: Schedule| {
                deps::chains_of_schedule(
                    &sc.namespace().unwrap_or_default(),
                    &sc.name_any(),
                    &s6.chains.state(),
                )
            },
        )
        .watches(scoped::<Person>(client, ns), wc.clone(), {
            let s = stores.clone();
            move |p: Person| chains_of_person(&p, &s)
        })
        .graceful_shutdown_on(shutdown_signal())
        .run(
            |o, c| controller::guarded(controller::validity::reconcile_chain(o, c)),
            controller::validity::error_policy,
            ctx,
        )
        .for_each(|_| async {})
}
