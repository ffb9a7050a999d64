//! Running the operator: configuration, the CRD check, leader election, the controllers,
//! start-up garbage collection of routing tables, health and metrics endpoints.
//!
//! ```text
//!   start ─► CRDs installed? (clear error if not) ─► /healthz /readyz /metrics serve
//!         ─► alert dispatcher (every replica, notify/)
//!         ─► wait for the Lease ─► GC tables no PhoneNumber owns ─► controllers
//!   Lease lost or SIGTERM ─► controllers stop (graceful) ─► exit (a lost Lease exits non-zero,
//!   so Kubernetes restarts the pod as a standby)
//! ```

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use futures::FutureExt;
use kube::api::{Api, ListParams};
use kube::runtime::reflector::{self};
use kube::{Client, ResourceExt};
use switchboard_crds::{
    CallerList, EscalationChain, HolidayCalendar, IncomingCallPolicy, Person, PhoneNumber,
    Schedule, ScheduleOverride,
};
use tracing::{error, info, warn};

use crate::controller::{self};
use crate::kube_secrets::KubeSecrets;
use crate::metrics::Metrics;
use crate::notify::{self, Dispatcher, FolderSecrets};

mod config;
mod controllers;

pub use config::Config;

fn pod_namespace() -> String {
    std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "default".into())
}

/// Refuses to start, with the fix, when the CRDs are not installed. Lists in the watched
/// namespace only (`--watch-namespace`), so that it needs no more than the namespaced Role the
/// chart grants in that mode.
pub async fn check_crds(client: &Client, namespace: Option<&str>) -> anyhow::Result<()> {
    let api: Api<PhoneNumber> = scoped(client, namespace);
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => anyhow::bail!(
            "the switchboard.dev CRDs are not installed in this cluster: kubectl apply --server-side -f crds/switchboard.dev.yaml (or install the Helm chart)"
        ),
        Err(e) => Err(e).context("listing PhoneNumbers"),
    }?;
    // The newest kinds: CRDs applied from an older release lack them, and their watches
    // would never list (the controllers wait for them).
    newer_kind_listed(scoped::<ScheduleOverride>(client, namespace)).await?;
    newer_kind_listed(scoped::<Person>(client, namespace)).await?;
    newer_kind_listed(scoped::<HolidayCalendar>(client, namespace)).await?;
    newer_kind_listed(scoped::<CallerList>(client, namespace)).await
}

/// Lists one object of a kind added after the first release, naming the fix when its CRD is
/// missing.
async fn newer_kind_listed<K>(api: Api<K>) -> anyhow::Result<()>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let kind = K::kind(&());
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => anyhow::bail!(
            "the {kind} CRD is not installed: the switchboard.dev CRDs are older than this operator. Apply this release's: kubectl apply --server-side -f crds/switchboard.dev.yaml (helm upgrade does not update CRDs)"
        ),
        Err(e) => Err(e).context(format!("listing {kind} objects")),
    }
}

/// Removes tables whose number no PhoneNumber has any more (left by a deletion while the
/// operator was down).
pub async fn collect_garbage(
    numbers: &[PhoneNumber],
    redis: &mut (impl redis::aio::ConnectionLike + Send + Sync),
) -> anyhow::Result<Vec<String>> {
    let owned: BTreeSet<String> = numbers
        .iter()
        .filter_map(|n| controller::deps::claimed_number(n).map(str::to_string))
        .collect();
    let mut removed = Vec::new();
    for number in switchboard_routing::publish::published(redis).await? {
        if !owned.contains(&number) {
            switchboard_routing::publish::unpublish(redis, &number).await?;
            removed.push(number);
        }
    }
    Ok(removed)
}

async fn serve_health(listen: SocketAddr, metrics: Arc<Metrics>, leading: Arc<AtomicBool>) {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let leading = leading.clone();
                async move {
                    // A standby is ready too: it is healthy and waiting for the Lease.
                    if leading.load(Ordering::Relaxed) {
                        "leader\n"
                    } else {
                        "standby\n"
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move { m.encode() }
            }),
        );
    match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => {
            if let Err(e) = axum::serve(l, app).await {
                error!(error = %e, "health server stopped");
            }
        }
        Err(e) => error!(error = %e, %listen, "cannot bind the health and metrics address"),
    }
}

/// Runs the operator on a folder of manifests until SIGTERM (see `folder.rs`).
pub async fn run_folder(config: Config, dir: std::path::PathBuf) -> anyhow::Result<()> {
    let redis = switchboard_routing::connect::Conn::lazy(
        &config.common.redis_url,
        redis::aio::ConnectionManagerConfig::new(),
    )
    .context("the Redis URL is not valid")?;
    let metrics = Arc::new(Metrics::default());
    tokio::spawn(serve_health(
        config.metrics_listen,
        metrics.clone(),
        Arc::new(AtomicBool::new(true)),
    ));
    anyhow::ensure!(
        dir.is_dir(),
        "--manifests-dir {}: not a folder",
        dir.display()
    );
    info!(dir = %dir.display(), public_url = %config.common.public_url, "reading manifests from a folder");
    let settings = crate::folder::Settings {
        paths: vec![dir],
        recursive: config.manifests_recursive,
        public_url: config.common.public_url.clone(),
        twilio_api_url: config.twilio_api_url.clone(),
        twilio: true,
    };
    let secrets = FolderSecrets::new(config.twilio_api_url.clone());
    let dispatcher = Dispatcher::new(
        redis.clone(),
        secrets.clone(),
        config.notify_settings()?,
        metrics.clone(),
    );
    let dispatching = tokio::spawn(dispatcher.run(shutdown_signal()));
    crate::folder::watch(
        settings,
        redis,
        metrics,
        move |snapshot, _| secrets.set(snapshot),
        shutdown_signal(),
    )
    .await;
    let _ = dispatching.await;
    info!("stopped");
    Ok(())
}

/// Runs the operator until SIGTERM, or until the Lease is lost (an error).
pub async fn run(config: Config) -> anyhow::Result<()> {
    // The signal listener from the start (see shutdown_signal).
    let _ = shutdown_signal().now_or_never();
    if let Some(dir) = config.manifests_dir.clone() {
        return run_folder(config, dir).await;
    }
    let client = Client::try_default()
        .await
        .context("connecting to the Kubernetes API (in-cluster, or KUBECONFIG)")?;
    if config.refuse_if_phone_numbers {
        return refuse_if_phone_numbers(&client, &config).await;
    }
    let notify_settings = config.notify_settings()?;
    let resync = config.resync()?;
    check_crds(&client, config.watch_namespace.as_deref()).await?;
    let redis = switchboard_routing::connect::Conn::lazy(
        &config.common.redis_url,
        redis::aio::ConnectionManagerConfig::new(),
    )
    .context("the Redis URL is not valid")?;
    let metrics = Arc::new(Metrics::default());
    let leading = Arc::new(AtomicBool::new(false));
    tokio::spawn(serve_health(
        config.metrics_listen,
        metrics.clone(),
        leading.clone(),
    ));
    // Every replica sends alerts, leading or not: claims in Redis keep two from sending one.
    tokio::spawn(
        Dispatcher::new(
            redis.clone(),
            KubeSecrets::new(client.clone(), config.twilio_api_url.clone()),
            notify_settings,
            metrics.clone(),
        )
        .run(shutdown_signal()),
    );

    let lease_ns = config.lease_namespace.clone().unwrap_or_else(pod_namespace);
    let lease =
        kube_lease_manager::LeaseManagerBuilder::new(client.clone(), "switchboard-operator")
            .with_namespace(lease_ns.clone())
            .with_identity(identity())
            .build()
            .await
            .context("creating the leader-election Lease manager")?;
    let (mut is_leader, lease_task) = lease.watch().await;
    info!(lease_namespace = %lease_ns, "waiting for the leader-election Lease");
    while !*is_leader.borrow_and_update() {
        tokio::select! {
            changed = is_leader.changed() => { changed.context("lease manager stopped")?; }
            () = shutdown_signal() => return Ok(()),
        }
    }
    leading.store(true, Ordering::Relaxed);
    metrics.leader.set(1);
    info!("leading: starting the controllers");
    let Some(controllers) =
        controllers::start(&config, &client, redis, metrics.clone(), resync).await?
    else {
        return Ok(()); // stopped while the stores listed
    };

    tokio::select! {
        () = controllers => {
            info!("controllers stopped");
            metrics.leader.set(0);
            // Closing the channel makes the lease manager release the Lease, so that a standby
            // takes over at once instead of after the Lease expires.
            drop(is_leader);
            match tokio::time::timeout(std::time::Duration::from_secs(5), lease_task).await {
                Ok(Ok(Ok(_))) => info!("released the leader-election Lease"),
                _ => warn!("could not release the Lease; a standby takes over when it expires"),
            }
            Ok(())
        }
        () = async {
            loop {
                if is_leader.changed().await.is_err() || !*is_leader.borrow() {
                    break;
                }
            }
        } => {
            anyhow::bail!("lost the leader-election Lease; exiting so that another replica takes over")
        }
    }
}

/// `--refuse-if-phone-numbers` (the chart's uninstall guard): fails naming the PhoneNumbers
/// that remain.
async fn refuse_if_phone_numbers(client: &Client, config: &Config) -> anyhow::Result<()> {
    let numbers: Api<PhoneNumber> = scoped(client, config.watch_namespace.as_deref());
    let items = numbers.list(&ListParams::default()).await?.items;
    match uninstall_refusal(&items) {
        Some(message) => anyhow::bail!(message),
        None => {
            info!("no PhoneNumbers left: the operator may go");
            Ok(())
        }
    }
}

/// Why the operator must not be uninstalled yet, when PhoneNumbers remain (pure).
///
/// Without the operator a PhoneNumber keeps pointing its Twilio number at a webhook server
/// that is gone, a bought number is never released, and deleting the PhoneNumber later hangs
/// on a finalizer that nothing runs.
pub fn uninstall_refusal(numbers: &[PhoneNumber]) -> Option<String> {
    if numbers.is_empty() {
        return None;
    }
    let names: Vec<String> = numbers
        .iter()
        .map(|n| {
            format!(
                "{}/{} ({})",
                n.namespace().unwrap_or_default(),
                n.name_any(),
                crate::controller::deps::claimed_number(n).unwrap_or("number not bought yet")
            )
        })
        .collect();
    Some(format!(
        "{} PhoneNumber(s) still use Switchboard: {}. Delete them first, while the operator runs, so that their numbers are released or pointed away from Switchboard: kubectl delete phonenumbers --all -A (then helm uninstall again). To uninstall anyway and leave the numbers as they are: helm uninstall --no-hooks, then remove each PhoneNumber's finalizer by hand.",
        names.len(),
        names.join(", ")
    ))
}

/// Resolves once the policy, chain and schedule stores have each listed their kind: the
/// controllers start only then.
pub async fn wait_until_listed(
    policies: &reflector::Store<IncomingCallPolicy>,
    chains: &reflector::Store<EscalationChain>,
    schedules: &reflector::Store<Schedule>,
) -> anyhow::Result<()> {
    listed(policies).await?;
    listed(chains).await?;
    listed(schedules).await
}

/// Waits until `store` has listed, naming its kind when its watch stopped first.
pub async fn listed<K>(store: &reflector::Store<K>) -> anyhow::Result<()>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let kind = K::kind(&());
    store
        .wait_until_ready()
        .await
        .with_context(|| format!("the {kind} watch stopped before it listed"))?;
    info!(kind = %kind, "listed");
    Ok(())
}

/// Who holds the Lease: the pod's name, so that `kubectl get lease` names the leading pod.
fn identity() -> String {
    controller::pod_name().unwrap_or_else(|| format!("switchboard-operator-{}", std::process::id()))
}

/// An API of all namespaces, or of one.
fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

pub use switchboard_process::shutdown_signal;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::time::Duration;

    fn config(args: &[&str]) -> Config {
        let mut all = vec![
            "switchboard-operator",
            "--public-url",
            "https://sb.example.com",
        ];
        all.extend(args);
        Config::try_parse_from(all).unwrap()
    }

    #[test]
    fn uninstalling_is_refused_while_phone_numbers_remain_naming_them_and_the_fix() {
        assert_eq!(uninstall_refusal(&[]), None);
        let pn: PhoneNumber = serde_json::from_value(serde_json::json!({
            "apiVersion": "switchboard.dev/v1alpha1", "kind": "PhoneNumber",
            "metadata": {"name": "support-hotline", "namespace": "oncall"},
            "spec": {"number": "+14155550100", "credentialsSecretRef": {"name": "t"}, "policyRef": {"name": "p"}}
        }))
        .unwrap();
        let m = uninstall_refusal(&[pn]).unwrap();
        assert!(
            m.starts_with(
                "1 PhoneNumber(s) still use Switchboard: oncall/support-hotline (+14155550100)."
            ),
            "{m}"
        );
        assert!(m.contains("kubectl delete phonenumbers --all -A"), "{m}");
    }

    #[test]
    fn alert_delivery_and_resync_settings_come_from_the_command_line() {
        let d = config(&[]).notify_settings().unwrap();
        assert_eq!(d.retry_base, Duration::from_secs(2));
        assert_eq!(d.retry_max, Duration::from_secs(300));
        assert_eq!(d.give_up_after, Duration::from_secs(24 * 3600));
        assert_eq!(config(&[]).resync().unwrap(), Duration::from_secs(300));
        let c = config(&[
            "--alert-retry-base-seconds",
            "5",
            "--alert-retry-max-seconds",
            "60",
            "--alert-give-up-hours",
            "2",
            "--alert-request-timeout-seconds",
            "3",
            "--alert-lease-seconds",
            "30",
            "--resync-seconds",
            "3600",
        ]);
        let s = c.notify_settings().unwrap();
        assert_eq!(s.retry_base, Duration::from_secs(5));
        assert_eq!(s.retry_max, Duration::from_secs(60));
        assert_eq!(s.give_up_after, Duration::from_secs(7200));
        assert_eq!(s.request_timeout, Duration::from_secs(3));
        assert_eq!(s.lease, Duration::from_secs(30));
        assert_eq!(s.backoff(10), Duration::from_secs(60));
        assert_eq!(c.resync().unwrap(), Duration::from_secs(3600));
    }

    #[test]
    fn settings_that_cannot_work_together_name_the_variable_and_the_fix() {
        let e = |args: &[&str]| config(args).notify_settings().unwrap_err().to_string();
        let m = e(&[
            "--alert-retry-base-seconds",
            "60",
            "--alert-retry-max-seconds",
            "30",
        ]);
        assert!(
            m.contains("SWITCHBOARD_ALERT_RETRY_MAX_SECONDS (30) is below"),
            "{m}"
        );
        let m = e(&["--alert-lease-seconds", "10"]);
        assert!(
            m.contains("SWITCHBOARD_ALERT_LEASE_SECONDS (10) must be longer"),
            "{m}"
        );
        let m = e(&["--alert-give-up-hours", "0"]);
        assert!(m.contains("SWITCHBOARD_ALERT_GIVE_UP_HOURS is 0"), "{m}");
        let m = config(&["--resync-seconds", "1"])
            .resync()
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("SWITCHBOARD_RESYNC_SECONDS (1) is below 10"),
            "{m}"
        );
    }
}
