//! `switchboard-operator`'s command line and environment, and what they come to.

use super::*;

/// `switchboard-operator` settings.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "switchboard-operator",
    version,
    about = "Reconciles Switchboard's CRDs into routing tables in Redis and Twilio number configuration"
)]
pub struct Config {
    /// The public URL, Redis and log settings both binaries share.
    #[command(flatten)]
    pub common: switchboard_process::Common,
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
