//! The operator without Kubernetes: the PhoneNumber controller's pipeline (the steps of
//! `pipeline.rs`, shared with it), with the manifests read from a folder instead of the API
//! server and a report in the log instead of status (`switchboard-operator --manifests-dir`,
//! and `switchboard dev`).
//!
//! ```text
//!   folder ─load+schema─► objects + Secrets ─► Twilio: each number exists, points at us
//!          (reloaded when a file changes)      ─► compile (pure) ─► tables ─► RouteStore (Redis, or
//!                                                 the webhook server's in-memory store)
//!   gone from the folder ─► unpublish, release or detach (as the finalizer does)
//!   policy gone          ─► unpublish, detach (as the controller does)
//! ```
//!
//! What status holds in a cluster (the number's SID, whether Switchboard bought it, the
//! purchase intent) is kept in memory here. The purchase intent is derived from the object's
//! namespace and name, so an operator restarted after a purchase finds the number it bought
//! instead of buying another.
//!
//! A file that cannot be read as YAML makes the pass keep everything as it is: a half-saved
//! edit must not look like every object of that file was deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use kube::ResourceExt;
use switchboard_crds::PhoneNumber;
use switchboard_crds::phone_number::TwilioEndpoint;
use switchboard_routing::RoutingTable;
use tracing::{info, warn};

mod steps;

use crate::compile::{AccountSids, compile};
use crate::manifests::{Loaded, Objects, load_files, manifest_files};
use crate::metrics::Metrics;
use crate::notify::Snapshot;
use crate::pipeline::{self, PublishStep, TwilioFailed};
use crate::schema::SchemaChecker;
use crate::twilio::client::Credentials;
use crate::twilio::number::{Ensured, Known, LetGo, purchase_marker};

pub use switchboard_routing::publish::RouteStore;

/// Settings of the folder operator.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Files or folders of manifests.
    pub paths: Vec<PathBuf>,
    /// Read subfolders too.
    pub recursive: bool,
    /// The webhook server's public URL; Twilio numbers are pointed at it.
    pub public_url: String,
    /// Twilio's REST API base URL, when not Twilio's own.
    pub twilio_api_url: Option<String>,
    /// Configure numbers in Twilio (off: only publish tables, for trying it offline).
    pub twilio: bool,
}

/// What one PhoneNumber came to in a pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberReport {
    /// `namespace/name`.
    pub name: String,
    /// The number, when known.
    pub number: Option<String>,
    /// Published and (when Twilio is on) configured.
    pub ready: bool,
    /// What happened or what is wrong, with the fix.
    pub message: String,
}

/// What a pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Each PhoneNumber of the folder, in order of name.
    pub numbers: Vec<NumberReport>,
    /// PhoneNumbers that left the folder and were cleaned up (`namespace/name`).
    pub removed: Vec<String>,
    /// Problems of the manifests, readable (file, object, field, fix).
    pub problems: Vec<String>,
    /// A Twilio or Redis failure worth retrying soon.
    pub retry: bool,
}

/// What the cluster would keep in a PhoneNumber's status.
#[derive(Clone, Debug, Default)]
struct Remembered {
    known: Known,
    number: Option<String>,
    published: Option<String>,
    release_on_delete: bool,
    credentials: Option<Credentials>,
    twilio: Option<TwilioEndpoint>,
}

/// The folder operator's memory between passes.
#[derive(Debug, Default)]
pub struct Folder {
    numbers: BTreeMap<(String, String), Remembered>,
    /// The tables live after the last pass, checked again every [`REPUBLISH`].
    live: Vec<RoutingTable>,
}

/// Reads the manifests of `settings`.
/// The Twilio account of each credentials Secret that has one, by (namespace, name): what
/// the tables of their numbers carry (and so their revisions).
fn account_sids(secrets: &BTreeMap<(String, String), Result<Credentials, String>>) -> AccountSids {
    secrets
        .iter()
        .filter_map(|(k, c)| Some((k.clone(), c.as_ref().ok()?.account_sid.clone())))
        .collect()
}

/// The auth token of `table`'s account, from the credentials Secrets among the manifests.
pub fn auth_token(
    secrets: &BTreeMap<(String, String), Result<Credentials, String>>,
    table: &RoutingTable,
) -> Option<String> {
    let account = table.account_sid.as_deref()?;
    secrets
        .values()
        .filter_map(|c| c.as_ref().ok())
        .find(|c| c.account_sid == account)
        .and_then(|c| c.auth_token.clone())
}

/// The auth token of `table`'s account among `loaded`'s credentials Secrets (what `dev` and
/// `validate` seal PINs with).
pub fn manifest_auth_token(
    loaded: &switchboard_compile::Loaded,
) -> impl Fn(&RoutingTable) -> Option<String> {
    let secrets = credentials_of(&loaded.secrets);
    move |t| auth_token(&secrets, t)
}

/// The Twilio credentials each Secret among the manifests holds (or what it lacks).
fn credentials_of(
    secrets: &[switchboard_compile::manifests::SecretManifest],
) -> BTreeMap<(String, String), Result<Credentials, String>> {
    secrets
        .iter()
        .map(|s| {
            let name = s.secret.name_any();
            let creds = Credentials::from_secret(Some(&s.secret), &name);
            ((s.namespace.clone(), name), creds)
        })
        .collect()
}

/// [`account_sids`] of the Secrets among `loaded`'s manifests: `switchboard validate` compiles
/// with them, so the revisions it prints are the ones the folder operator (and `dev`)
/// publishes.
pub fn manifest_account_sids(loaded: &switchboard_compile::Loaded) -> AccountSids {
    account_sids(&credentials_of(&loaded.secrets))
}

pub fn load(settings: &Settings, checker: &SchemaChecker) -> Result<Loaded, String> {
    let files = manifest_files(&settings.paths, settings.recursive).map_err(|e| e.to_string())?;
    load_files(&files, checker).map_err(|e| e.to_string())
}

/// A PhoneNumber's (namespace, name).
type Key = (String, String);

fn key(pn: &PhoneNumber) -> Key {
    (
        pn.namespace().unwrap_or_else(|| "default".into()),
        pn.name_any(),
    )
}

impl Folder {
    /// One pass over `loaded`: Twilio, then tables, then clean-up of what left the folder.
    pub async fn pass<R: RouteStore>(
        &mut self,
        settings: &Settings,
        loaded: Loaded,
        routes: &mut R,
        metrics: &Metrics,
    ) -> Report {
        let mut report = Report::default();
        let unreadable = loaded.problems.iter().any(|p| p.object.is_none());
        // Secrets are checked whenever they are among the manifests, as `validate` does.
        let mut found = loaded.problems.clone();
        found.extend(switchboard_compile::secrets::secret_problems(&loaded));
        let mut objects = loaded.objects;

        let secrets = credentials_of(&loaded.secrets);
        let sids = account_sids(&secrets);
        let policies: BTreeSet<(String, String)> = objects
            .policies
            .iter()
            .map(|p| {
                (
                    p.object.namespace().unwrap_or_else(|| "default".into()),
                    p.object.name_any(),
                )
            })
            .collect();

        // Twilio, first: a purchase makes the number known before the tables are compiled.
        let (seen, twilio_notes) = self
            .configure_twilio(
                settings,
                &mut objects,
                &secrets,
                &policies,
                metrics,
                &mut report,
            )
            .await;
        let pin_of =
            switchboard_compile::pins::manifest_pin(&loaded.secrets, &objects.phone_numbers);
        let seal = |c: &mut switchboard_compile::Compiled| {
            switchboard_compile::pins::seal_pins(c, &pin_of, |t| auth_token(&secrets, t));
        };
        let mut live = self
            .publish_tables(
                settings,
                &objects,
                &seal,
                found,
                &sids,
                &policies,
                twilio_notes,
                routes,
                metrics,
                &mut report,
            )
            .await;
        self.clean_up(settings, &seen, unreadable, routes, metrics, &mut report)
            .await;
        report.numbers.sort_by(|a, b| a.name.cmp(&b.name));
        // Invalid numbers keep their last valid table live: keep checking it too.
        for t in std::mem::take(&mut self.live) {
            let still_ours = self.numbers.values().any(|m| {
                m.published.as_deref() == Some(t.revision.as_str())
                    && m.number.as_deref() == Some(t.number.as_str())
            });
            if still_ours && !live.iter().any(|l| l.number == t.number) {
                live.push(t);
            }
        }
        self.live = live;
        report
    }

    /// Writes again any live table Redis lost (a Redis restart without persistence); cheap
    /// when nothing was lost (one read per table). Returns how many were written.
    pub async fn republish<R: RouteStore>(&self, routes: &mut R) -> Result<usize, String> {
        let mut written = 0;
        for t in &self.live {
            if routes.publish(t).await? {
                written += 1;
            }
        }
        Ok(written)
    }
}

/// How often the folder is checked for changes, and a Ready set is resynced with Twilio.
pub const POLL: Duration = Duration::from_millis(500);
/// As the controller's resync: console edits in Twilio are found and undone this often.
pub const RESYNC: Duration = Duration::from_secs(300);
/// After a Twilio or Redis failure.
pub const RETRY: Duration = Duration::from_secs(5);
/// How often the live tables are checked for a Redis that lost them.
pub const REPUBLISH: Duration = Duration::from_secs(5);

/// A cheap fingerprint of the manifests: each file's path, length and modification time.
pub fn fingerprint(settings: &Settings) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    manifest_files(&settings.paths, settings.recursive)
        .unwrap_or_default()
        .into_iter()
        .map(|f| {
            let meta = std::fs::metadata(&f).ok();
            let len = meta.as_ref().map_or(0, std::fs::Metadata::len);
            let modified = meta.and_then(|m| m.modified().ok());
            (f, len, modified)
        })
        .collect()
}

/// Logs a pass's report (only what changed since the last one).
pub fn log_report(report: &Report, last: Option<&Report>) {
    for n in &report.numbers {
        if last.is_some_and(|l| l.numbers.contains(n)) {
            continue;
        }
        let number = n.number.as_deref().unwrap_or("(no number yet)");
        if n.ready {
            info!(phone_number = %n.name, number, "ready: {}", n.message);
        } else {
            warn!(phone_number = %n.name, number, "not ready: {}", n.message);
        }
    }
    for r in &report.removed {
        info!(phone_number = %r, "removed from the folder: routing table removed, number let go");
    }
    for p in &report.problems {
        if last.is_some_and(|l| l.problems.contains(p)) {
            continue;
        }
        warn!("{p}");
    }
}

/// Runs passes until `stop` resolves: at start, whenever a manifest changes, every
/// [`RESYNC`], and [`RETRY`] after a failure. `on_pass` sees the Secrets and PhoneNumbers each
/// pass read and its report (`switchboard dev` takes the webhook server's auth tokens from
/// them, the alert dispatcher its credentials).
pub async fn watch<R: RouteStore>(
    settings: Settings,
    mut routes: R,
    metrics: Arc<Metrics>,
    mut on_pass: impl FnMut(Snapshot, &Report) + Send,
    stop: impl Future<Output = ()> + Send,
) {
    let checker = SchemaChecker::new();
    let mut folder = Folder::default();
    let mut last: Option<Report> = None;
    let mut seen_files = None;
    let mut next_due = Instant::now();
    let mut next_check = Instant::now() + REPUBLISH;
    tokio::pin!(stop);
    loop {
        if Instant::now() >= next_check {
            next_check = Instant::now() + REPUBLISH;
            match folder.republish(&mut routes).await {
                Ok(0) => {}
                Ok(n) => {
                    metrics.published.inc_by(n as u64);
                    metrics.restored.inc_by(n as u64);
                    warn!(
                        tables = n,
                        "Redis had lost routing tables (restarted without persistence?): published them again"
                    );
                }
                Err(e) => {
                    warn!(error = %e, "cannot check the routing tables in Redis; trying again")
                }
            }
        }
        let files = fingerprint(&settings);
        if seen_files.as_ref() != Some(&files) || Instant::now() >= next_due {
            seen_files = Some(files);
            match load(&settings, &checker) {
                Ok(loaded) => {
                    let snapshot = Snapshot::of(&loaded);
                    let report = folder.pass(&settings, loaded, &mut routes, &metrics).await;
                    log_report(&report, last.as_ref());
                    on_pass(snapshot, &report);
                    next_due = Instant::now() + if report.retry { RETRY } else { RESYNC };
                    last = Some(report);
                }
                Err(e) => {
                    warn!(error = %e, "cannot read the manifests; trying again");
                    next_due = Instant::now() + RETRY;
                }
            }
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}
