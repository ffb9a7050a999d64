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

use crate::compile::{AccountSids, compile};
use crate::manifests::{Loaded, load_files, manifest_files};
use crate::metrics::Metrics;
use crate::notify::Snapshot;
use crate::pipeline::{self, PublishStep, TwilioFailed};
use crate::schema::SchemaChecker;
use crate::twilio::client::Credentials;
use crate::twilio::number::{Ensured, Known, LetGo, purchase_marker};
use crate::twilio::{Client, TwilioError};

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
pub fn load(settings: &Settings, checker: &SchemaChecker) -> Result<Loaded, String> {
    let files = manifest_files(&settings.paths, settings.recursive).map_err(|e| e.to_string())?;
    load_files(&files, checker).map_err(|e| e.to_string())
}

fn key(pn: &PhoneNumber) -> (String, String) {
    (
        pn.namespace().unwrap_or_else(|| "default".into()),
        pn.name_any(),
    )
}

fn client(
    settings: &Settings,
    twilio: Option<&TwilioEndpoint>,
    creds: Credentials,
) -> Result<Client, TwilioError> {
    Client::for_number(settings.twilio_api_url.as_deref(), twilio, creds)
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
        report.problems = loaded.problems.iter().map(ToString::to_string).collect();
        let mut objects = loaded.objects;

        let mut secrets: BTreeMap<(String, String), Result<Credentials, String>> = BTreeMap::new();
        for s in &loaded.secrets {
            let name = s.secret.name_any();
            secrets.insert(
                (s.namespace.clone(), name.clone()),
                Credentials::from_secret(Some(&s.secret), &name),
            );
        }
        let mut sids = AccountSids::new();
        for (k, c) in &secrets {
            if let Ok(c) = c {
                sids.insert(k.clone(), c.account_sid.clone());
            }
        }
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
        let mut seen = BTreeSet::new();
        let mut twilio_notes: BTreeMap<(String, String), Result<String, String>> = BTreeMap::new();
        for sourced in &mut objects.phone_numbers {
            let pn = &mut sourced.object;
            let k = key(pn);
            metrics
                .reconciles
                .get_or_create(&crate::metrics::KindLabels {
                    kind: "PhoneNumber".into(),
                })
                .inc();
            if !seen.insert(k.clone()) {
                continue; // defined twice: compile reports it
            }
            let mem = self.numbers.entry(k.clone()).or_default();
            mem.release_on_delete = pn.spec.release_on_delete;
            mem.twilio = pn.spec.twilio.clone();
            let secret_key = (k.0.clone(), pn.spec.credentials_secret_ref.name.clone());
            let creds = secrets.get(&secret_key).cloned().unwrap_or_else(|| {
                Err(format!(
                    "spec.credentialsSecretRef: no Secret {} in namespace {} among the manifests: add one with accountSid and authToken",
                    secret_key.1, k.0
                ))
            });
            mem.credentials = creds.as_ref().ok().cloned();
            let policy_exists = policies.contains(&(k.0.clone(), pn.spec.policy_ref.name.clone()));
            if settings.twilio && policy_exists {
                let note = match &creds {
                    Err(m) => Err(m.clone()),
                    Ok(c) => match client(settings, pn.spec.twilio.as_ref(), c.clone()) {
                        Err(e) => Err(format!("Twilio: {e}")),
                        Ok(client) => {
                            let marker = purchase_marker(&k.0, &k.1, "folder");
                            let mut outcome = Err("not tried".to_string());
                            // At most: record the intent, then buy (or adopt).
                            for _ in 0..2 {
                                let step = pipeline::twilio(
                                    &client,
                                    pn,
                                    &mem.known,
                                    &marker,
                                    &settings.public_url,
                                    metrics,
                                )
                                .await;
                                match step {
                                    Ok(Ensured::RecordIntent(intent)) => {
                                        mem.known.purchase_intent = Some(intent);
                                    }
                                    Ok(Ensured::Ready {
                                        number,
                                        purchased,
                                        bought,
                                        changed,
                                    }) => {
                                        mem.known.sid = Some(number.sid.clone());
                                        mem.known.purchased = purchased;
                                        mem.number = Some(number.phone_number.clone());
                                        outcome = Ok(if bought {
                                            format!("bought {}", number.phone_number)
                                        } else if changed.is_empty() {
                                            format!(
                                                "{} points at {}",
                                                number.phone_number, settings.public_url
                                            )
                                        } else {
                                            format!(
                                                "{} now points at {} (set {})",
                                                number.phone_number,
                                                settings.public_url,
                                                changed.join(", ")
                                            )
                                        });
                                        break;
                                    }
                                    Err(TwilioFailed { error, .. }) => {
                                        report.retry |= error.is_transient();
                                        outcome = Err(format!("Twilio: {error}"));
                                        break;
                                    }
                                }
                            }
                            outcome
                        }
                    },
                };
                twilio_notes.insert(k.clone(), note);
            } else if !settings.twilio {
                mem.number = pn.spec.number.clone().or(mem.number.clone());
            }
            // What status would say, for the compile step.
            let status = pn.status.get_or_insert_with(Default::default);
            status.number = mem.number.clone().or(pn.spec.number.clone());
            status.sid = mem.known.sid.clone();
            status.purchased = mem.known.purchased;
            status.purchase_intent = mem.known.purchase_intent.clone();
        }

        // Tables.
        let compiled = compile(&objects, &sids);
        let mut live = Vec::new();
        report.problems.extend(
            compiled
                .problems
                .iter()
                .filter(|p| p.object.as_ref().is_none_or(|o| o.kind != "PhoneNumber"))
                .map(ToString::to_string),
        );
        let mut reported = BTreeSet::new();
        for sourced in &objects.phone_numbers {
            let pn = &sourced.object;
            let k = key(pn);
            if !reported.insert(k.clone()) {
                continue; // defined twice: compile reports it
            }
            let mem = self.numbers.get_mut(&k).expect("remembered above");
            let id = crate::problem::ObjectId::new("PhoneNumber", &k.0, &k.1);
            let problem = compiled.problems_of(&id).next().map(ToString::to_string);
            let number = mem.number.clone().or(pn.spec.number.clone());
            let name = format!("{}/{}", k.0, k.1);
            let policy_exists = policies.contains(&(k.0.clone(), pn.spec.policy_ref.name.clone()));
            if !policy_exists {
                // As in the cluster: nothing is undone while the policy is missing; deleting
                // the PhoneNumber is what takes a number out of service.
                let kept = match &mem.published {
                    Some(r) => format!("; the last valid table ({r}) stays live"),
                    None => "; nothing is published".into(),
                };
                report.numbers.push(NumberReport {
                    name,
                    number,
                    ready: false,
                    message: format!(
                        "spec.policyRef: no IncomingCallPolicy {} in namespace {}: create it or point spec.policyRef at an existing one{kept}",
                        pn.spec.policy_ref.name, k.0
                    ),
                });
                continue;
            }
            let twilio = twilio_notes.remove(&k);
            let mut ready = twilio.as_ref().is_none_or(Result::is_ok);
            let mut notes: Vec<String> = twilio
                .map(|t| match t {
                    Ok(m) | Err(m) => m,
                })
                .into_iter()
                .collect();
            let built = pipeline::build(&compiled, (&k.0, &k.1), problem);
            let number_known = built.table.is_some();
            match pipeline::publish(routes, &built, number_known, metrics).await {
                PublishStep::Live { .. } => {
                    let t = built.table.expect("published");
                    mem.published = Some(t.revision.clone());
                    mem.number = Some(t.number.clone());
                    live.push(t.clone());
                    notes.push(format!("routing table {} is live", t.revision));
                }
                PublishStep::Unavailable(e) => {
                    ready = false;
                    report.retry = true;
                    notes.push(format!("cannot publish the routing table: {e}; retrying"));
                }
                PublishStep::Invalid(p) => {
                    ready = false;
                    notes.push(match &mem.published {
                        Some(r) => format!("{p} (the last valid table, {r}, stays live)"),
                        None => format!("{p} (nothing published)"),
                    });
                }
                PublishStep::AwaitingNumber => {
                    ready = false;
                    notes.push(if settings.twilio {
                        "no number yet: waiting for Twilio (see above)".into()
                    } else {
                        "no number yet: spec.purchase needs Twilio, which is off (--no-twilio)"
                            .into()
                    });
                }
            }
            report.numbers.push(NumberReport {
                name,
                number: mem.number.clone().or(number),
                ready,
                message: notes.join("; "),
            });
        }

        // Clean-up of PhoneNumbers that left the folder.
        if unreadable {
            if self.numbers.keys().any(|k| !seen.contains(k)) {
                report.problems.push(
                    "a manifest could not be read: PhoneNumbers missing from the folder are kept until it can".into(),
                );
            }
        } else {
            let gone: Vec<(String, String)> = self
                .numbers
                .keys()
                .filter(|k| !seen.contains(*k))
                .cloned()
                .collect();
            for k in gone {
                let mem = self.numbers.get(&k).cloned().unwrap_or_default();
                if let Some(n) = &mem.number
                    && let Err(e) = routes.unpublish(n).await
                {
                    report.retry = true;
                    report.problems.push(format!(
                        "PhoneNumber {}/{} was removed but its table could not be: {e}; retrying",
                        k.0, k.1
                    ));
                    continue;
                }
                match let_go(settings, &mem, mem.release_on_delete, metrics).await {
                    Some(Ok(_)) | None => {}
                    Some(Err(e)) if e.is_transient() => {
                        report.retry = true;
                        report.problems.push(format!(
                            "PhoneNumber {}/{} was removed; Twilio failed letting its number go: {e}; retrying",
                            k.0, k.1
                        ));
                        continue;
                    }
                    Some(Err(e)) => report.problems.push(format!(
                        "PhoneNumber {}/{} was removed; its number could not be released or detached: {e}; check it in the Twilio console",
                        k.0, k.1
                    )),
                }
                self.numbers.remove(&k);
                report.removed.push(format!("{}/{}", k.0, k.1));
            }
        }
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

/// Releases (only with `release`, and only numbers Switchboard bought) or detaches the
/// remembered number in Twilio; `None` when Twilio is off or there are no credentials.
async fn let_go(
    settings: &Settings,
    mem: &Remembered,
    release: bool,
    metrics: &Metrics,
) -> Option<Result<LetGo, TwilioError>> {
    if !settings.twilio {
        return None;
    }
    let client = match client(settings, mem.twilio.as_ref(), mem.credentials.clone()?) {
        Ok(c) => c,
        Err(e) => return Some(Err(e)),
    };
    Some(
        pipeline::let_go(
            &client,
            mem.number.as_deref(),
            &mem.known,
            release,
            &settings.public_url,
            metrics,
        )
        .await,
    )
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
