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
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Controller;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use switchboard_crds::{EscalationChain, IncomingCallPolicy, PhoneNumber, Schedule};
use tracing::{error, info, warn};

use crate::controller::{self, Context, Stores, deps, phone_number};
use crate::kube_secrets::KubeSecrets;
use crate::metrics::Metrics;
use crate::notify::{self, Dispatcher, FolderSecrets};

/// `switchboard-operator` settings.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "switchboard-operator",
    version,
    about = "Reconciles Switchboard's CRDs into routing tables in Redis and Twilio number configuration"
)]
pub struct Config {
    /// The webhook server's public URL; Twilio numbers are pointed at it.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: String,
    /// Redis URL (`redis://`, or `rediss://` for TLS, trusting the system's CA roots or
    /// `SSL_CERT_FILE`). The password comes from `SWITCHBOARD_REDIS_PASSWORD` (and an ACL user
    /// from `SWITCHBOARD_REDIS_USERNAME`), any characters, never from a URL that would need
    /// them percent-encoded.
    #[arg(
        long,
        env = "SWITCHBOARD_REDIS_URL",
        default_value = "redis://127.0.0.1:6379/0"
    )]
    pub redis_url: String,
    /// Twilio's REST API base URL, when not Twilio's own (a proxy).
    #[arg(long, env = "SWITCHBOARD_TWILIO_API_URL")]
    pub twilio_api_url: Option<String>,
    /// Only watch this namespace (default: all namespaces).
    #[arg(long, env = "SWITCHBOARD_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Read and watch Secrets only in these namespaces (comma-separated), where the chart's
    /// `operator.secretNamespaces` grants it through namespaced Roles: no cluster-wide Secret access.
    /// Default: where the operator watches (all namespaces, or `--watch-namespace`).
    #[arg(long, env = "SWITCHBOARD_SECRET_NAMESPACES", value_delimiter = ',')]
    pub secret_namespaces: Vec<String>,
    /// Namespace of the leader-election Lease (default: the pod's namespace).
    #[arg(long, env = "SWITCHBOARD_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Health and metrics listen address.
    #[arg(
        long,
        env = "SWITCHBOARD_METRICS_LISTEN",
        default_value = "0.0.0.0:8081"
    )]
    pub metrics_listen: SocketAddr,
    /// Log format: `json` or `text`.
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", default_value = "json")]
    pub log_format: String,
    /// Seconds an alert claimed by this process's dispatcher is its own; when the process dies
    /// mid-delivery, another takes the alert over after this long. Longer than one alert's
    /// deliveries take (10 s per request at most).
    #[arg(long, env = "SWITCHBOARD_ALERT_LEASE_SECONDS", default_value_t = 120)]
    pub alert_lease_seconds: u64,
    /// Seconds before the first retry of a failed delivery to a notification target; doubled
    /// after each failure, up to `--alert-retry-max-seconds`.
    #[arg(
        long,
        env = "SWITCHBOARD_ALERT_RETRY_BASE_SECONDS",
        default_value_t = 2
    )]
    pub alert_retry_base_seconds: u64,
    /// Longest wait between two retries of a failed delivery.
    #[arg(
        long,
        env = "SWITCHBOARD_ALERT_RETRY_MAX_SECONDS",
        default_value_t = 300
    )]
    pub alert_retry_max_seconds: u64,
    /// Hours a failing delivery is retried; then the stages still unsent are given up and
    /// counted as `expired`.
    #[arg(long, env = "SWITCHBOARD_ALERT_GIVE_UP_HOURS", default_value_t = 24)]
    pub alert_give_up_hours: u64,
    /// Seconds one request to a notification target may take.
    #[arg(
        long,
        env = "SWITCHBOARD_ALERT_REQUEST_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    pub alert_request_timeout_seconds: u64,
    /// Seconds between two checks of a Ready PhoneNumber against Twilio, which is when edits
    /// made in the Twilio console are found and undone. Each check is one or two Twilio API
    /// requests per number: raise it for thousands of numbers.
    #[arg(long, env = "SWITCHBOARD_RESYNC_SECONDS", default_value_t = 300)]
    pub resync_seconds: u64,
    /// Read the manifests from this folder instead of the Kubernetes API, reloading them when a
    /// file changes. Its `.yaml`/`.yml` files are read as `kubectl apply -f` and `switchboard
    /// validate` read a folder: subfolders only with `--manifests-recursive`. Twilio credentials
    /// come from the Secrets among the manifests. No cluster is needed; there is no leader
    /// election (run one).
    #[arg(long, env = "SWITCHBOARD_MANIFESTS_DIR")]
    pub manifests_dir: Option<std::path::PathBuf>,
    /// Do not run: list the PhoneNumbers in the watched namespaces and exit 1, naming them and
    /// the fix, when there are any (0 when there are none). The Helm chart runs this as a
    /// pre-delete hook, so that `helm uninstall` cannot remove the operator while numbers still
    /// point at Switchboard and carry finalizers that only the operator runs.
    #[arg(long)]
    pub refuse_if_phone_numbers: bool,
    /// With `--manifests-dir`: read its subfolders too (as `kubectl apply -R`, `validate -R`).
    #[arg(long, env = "SWITCHBOARD_MANIFESTS_RECURSIVE")]
    pub manifests_recursive: bool,
}

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

impl Config {
    /// The dispatcher's settings, or what to change when they cannot work together.
    pub fn notify_settings(&self) -> anyhow::Result<notify::Settings> {
        let secs = std::time::Duration::from_secs;
        for (name, value) in [
            ("SWITCHBOARD_ALERT_LEASE_SECONDS", self.alert_lease_seconds),
            (
                "SWITCHBOARD_ALERT_RETRY_BASE_SECONDS",
                self.alert_retry_base_seconds,
            ),
            ("SWITCHBOARD_ALERT_GIVE_UP_HOURS", self.alert_give_up_hours),
            (
                "SWITCHBOARD_ALERT_REQUEST_TIMEOUT_SECONDS",
                self.alert_request_timeout_seconds,
            ),
        ] {
            anyhow::ensure!(value > 0, "{name} is 0: set it to 1 or more");
        }
        anyhow::ensure!(
            self.alert_retry_max_seconds >= self.alert_retry_base_seconds,
            "SWITCHBOARD_ALERT_RETRY_MAX_SECONDS ({}) is below SWITCHBOARD_ALERT_RETRY_BASE_SECONDS ({}): raise it, or lower the base",
            self.alert_retry_max_seconds,
            self.alert_retry_base_seconds
        );
        // A claimed alert must stay this dispatcher's while it sends: several targets, each
        // up to the request timeout.
        anyhow::ensure!(
            self.alert_lease_seconds > self.alert_request_timeout_seconds,
            "SWITCHBOARD_ALERT_LEASE_SECONDS ({}) must be longer than SWITCHBOARD_ALERT_REQUEST_TIMEOUT_SECONDS ({}), or another replica would send the same alert while this one is still sending it: raise the lease to several times the timeout",
            self.alert_lease_seconds,
            self.alert_request_timeout_seconds
        );
        Ok(notify::Settings {
            lease: secs(self.alert_lease_seconds),
            retry_base: secs(self.alert_retry_base_seconds),
            retry_max: secs(self.alert_retry_max_seconds),
            give_up_after: secs(self.alert_give_up_hours.saturating_mul(3600)),
            request_timeout: secs(self.alert_request_timeout_seconds),
            ..notify::Settings::default()
        })
    }

    /// How often a Ready PhoneNumber is checked against Twilio.
    pub fn resync(&self) -> anyhow::Result<std::time::Duration> {
        anyhow::ensure!(
            self.resync_seconds >= 10,
            "SWITCHBOARD_RESYNC_SECONDS ({}) is below 10: every number would be checked against Twilio that often; use 10 or more (default 300)",
            self.resync_seconds
        );
        Ok(std::time::Duration::from_secs(self.resync_seconds))
    }
}

/// Runs the operator on a folder of manifests until SIGTERM (see `folder.rs`).
pub async fn run_folder(config: Config, dir: std::path::PathBuf) -> anyhow::Result<()> {
    let redis = switchboard_routing::connect::Conn::lazy(
        &config.redis_url,
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
    info!(dir = %dir.display(), public_url = %config.public_url, "reading manifests from a folder");
    let settings = crate::folder::Settings {
        paths: vec![dir],
        recursive: config.manifests_recursive,
        public_url: config.public_url.clone(),
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
        let numbers: Api<PhoneNumber> = scoped(&client, config.watch_namespace.as_deref());
        let items = numbers.list(&ListParams::default()).await?.items;
        return match uninstall_refusal(&items) {
            Some(message) => anyhow::bail!(message),
            None => {
                info!("no PhoneNumbers left: the operator may go");
                Ok(())
            }
        };
    }
    let notify_settings = config.notify_settings()?;
    let resync = config.resync()?;
    check_crds(&client, config.watch_namespace.as_deref()).await?;
    let redis = switchboard_routing::connect::Conn::lazy(
        &config.redis_url,
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

    let ns = config.watch_namespace.as_deref();
    let numbers: Api<PhoneNumber> = scoped(&client, ns);
    let policies: Api<IncomingCallPolicy> = scoped(&client, ns);
    let chains: Api<EscalationChain> = scoped(&client, ns);
    let schedules: Api<Schedule> = scoped(&client, ns);
    // Metadata only (`PartialObjectMeta`): see the Secret watch below. One watch per namespace
    // the operator may read Secrets in, when it is limited to some.
    let secret_apis: Vec<Api<PartialObjectMeta<Secret>>> = if config.secret_namespaces.is_empty() {
        vec![scoped(&client, ns)]
    } else {
        config
            .secret_namespaces
            .iter()
            .map(|n| Api::namespaced(client.clone(), n.trim()))
            .collect()
    };

    let mut gc_conn = redis.clone();
    let existing = numbers.list(&ListParams::default()).await?.items;
    match collect_garbage(&existing, &mut gc_conn).await {
        Ok(removed) if !removed.is_empty() => {
            info!(?removed, "removed routing tables no PhoneNumber owns")
        }
        Ok(_) => {}
        Err(e) => {
            warn!(error = %e, "start-up garbage collection failed; it runs again at the next start")
        }
    }

    let wc = watcher::Config::default();
    let (policy_store, policy_writer) = reflector::store();
    let (chain_store, chain_writer) = reflector::store();
    let (schedule_store, schedule_writer) = reflector::store();
    tokio::spawn(
        reflector::reflector(policy_writer, watcher(policies.clone(), wc.clone()))
            .default_backoff()
            .touched_objects()
            .for_each(|_| async {}),
    );
    tokio::spawn(
        reflector::reflector(chain_writer, watcher(chains.clone(), wc.clone()))
            .default_backoff()
            .touched_objects()
            .for_each(|_| async {}),
    );
    tokio::spawn(
        reflector::reflector(schedule_writer, watcher(schedules.clone(), wc.clone()))
            .default_backoff()
            .touched_objects()
            .for_each(|_| async {}),
    );

    // Not one reconcile before every store a reconcile reads has listed: an object missing
    // from a store that has not listed yet is unknown, not deleted, and a PhoneNumber
    // reconciled then would be compiled without its policy (kube-runtime's controllers wait
    // for their own store, not for these).
    tokio::select! {
        r = wait_until_listed(&policy_store, &chain_store, &schedule_store) => r?,
        () = shutdown_signal() => return Ok(()),
    }

    let controller = Controller::new(numbers, wc.clone());
    let number_store = controller.store();
    let stores = Stores {
        numbers: number_store.clone(),
        policies: policy_store.clone(),
        chains: chain_store.clone(),
        schedules: schedule_store.clone(),
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        redis,
        public_url: config.public_url.clone(),
        twilio_api_url: config.twilio_api_url.clone(),
        recorder: Recorder::new(client.clone(), controller::reporter()),
        stores: stores.clone(),
        metrics: metrics.clone(),
        live: Default::default(),
        resync,
        kept: Default::default(),
    });
    // While leading: tables Redis lost are written again within seconds.
    let guard = tokio::spawn(controller::live::guard(ctx.clone()));

    let (s1, s2, s3) = (stores.clone(), stores.clone(), stores.clone());
    let mut numbers_ctl = controller
        .watches(policies, wc.clone(), move |p: IncomingCallPolicy| {
            deps::policy_users(
                &p.namespace().unwrap_or_default(),
                &p.name_any(),
                &s1.numbers.state(),
            )
        })
        .watches(chains, wc.clone(), move |c: EscalationChain| {
            deps::chain_users(
                &c.namespace().unwrap_or_default(),
                &c.name_any(),
                &s2.numbers.state(),
                &s2.policies.state(),
            )
        })
        .watches(schedules.clone(), wc.clone(), move |s: Schedule| {
            deps::schedule_users(
                &s.namespace().unwrap_or_default(),
                &s.name_any(),
                &s3.numbers.state(),
                &s3.policies.state(),
                &s3.chains.state(),
            )
        })
        // The other claimants of a number: a duplicate takes over when its owner goes.
        .watches(scoped::<PhoneNumber>(&client, ns), wc.clone(), {
            let s = stores.clone();
            move |pn: PhoneNumber| deps::number_peers(&pn, &s.numbers.state())
        });
    // Secrets by metadata only: a rotated token changes the Secret's resourceVersion, which is
    // all the mapping needs, and no Secret's data is streamed into the operator.
    for secrets in secret_apis {
        numbers_ctl = numbers_ctl.watches(secrets, watcher::Config::default(), {
            let s = stores.clone();
            move |secret: PartialObjectMeta<Secret>| -> Vec<ObjectRef<PhoneNumber>> {
                deps::secret_users(
                    &secret.namespace().unwrap_or_default(),
                    &secret.name_any(),
                    &s.numbers.state(),
                )
            }
        });
    }
    let numbers_ctl = numbers_ctl
        .graceful_shutdown_on(shutdown_signal())
        .run(
            phone_number::reconcile,
            phone_number::error_policy,
            ctx.clone(),
        )
        .for_each(|r| async move {
            if let Err(e) = r {
                warn!(error = %e, "PhoneNumber controller");
            }
        });
    let (s4, s5, s6) = (stores.clone(), stores.clone(), stores.clone());
    let policies_ctl = Controller::new(scoped::<IncomingCallPolicy>(&client, ns), wc.clone())
        .watches(
            scoped::<EscalationChain>(&client, ns),
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
            scoped::<Schedule>(&client, ns),
            wc.clone(),
            move |sc: Schedule| {
                let ns = sc.namespace().unwrap_or_default();
                deps::chains_of_schedule(&ns, &sc.name_any(), &s5.chains.state())
                    .into_iter()
                    .flat_map(|c| deps::policies_of_chain(&ns, &c.name, &s5.policies.state()))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            scoped::<PhoneNumber>(&client, ns),
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
            controller::validity::reconcile_policy,
            controller::validity::error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});
    let chains_ctl = Controller::new(scoped::<EscalationChain>(&client, ns), wc.clone())
        .watches(
            scoped::<Schedule>(&client, ns),
            wc.clone(),
            move |sc: Schedule| {
                deps::chains_of_schedule(
                    &sc.namespace().unwrap_or_default(),
                    &sc.name_any(),
                    &s6.chains.state(),
                )
            },
        )
        .graceful_shutdown_on(shutdown_signal())
        .run(
            controller::validity::reconcile_chain,
            controller::validity::error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});
    let schedules_ctl = Controller::new(schedules, wc)
        .graceful_shutdown_on(shutdown_signal())
        .run(
            controller::schedule::reconcile,
            controller::schedule::error_policy,
            ctx,
        )
        .for_each(|_| async {});

    tokio::select! {
        () = async { tokio::join!(numbers_ctl, schedules_ctl, policies_ctl, chains_ctl); } => {
            info!("controllers stopped");
            guard.abort();
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
    for (kind, ready) in [
        ("IncomingCallPolicy", policies.wait_until_ready().boxed()),
        ("EscalationChain", chains.wait_until_ready().boxed()),
        ("Schedule", schedules.wait_until_ready().boxed()),
    ] {
        ready
            .await
            .with_context(|| format!("the {kind} watch stopped before it listed"))?;
        info!(kind, "listed");
    }
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
