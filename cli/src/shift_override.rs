//! `switchboard override`: "take my shift tonight" in one command, as a ScheduleOverride
//! object, in the cluster of the current kubeconfig context or in a folder of manifests
//! (`--dir`, for `switchboard dev` or a Git repository).
//!
//! ```text
//!   SCHEDULE --person NAME --until T ─► read the Schedule (and the namespace's people)
//!        ─► check the person, resolve the times in the Schedule's zone
//!        ─► create ScheduleOverride <schedule>-<person>-<random> (labelled delete-after-end)
//!           or write <dir>/override-<schedule>-<person>-<start>.yaml
//!   --remove NAME ─► delete it (or its file)
//! ```
//!
//! The object is not in Git, so Argo CD or Flux do not own it: self-heal and prune leave it
//! alone (neither tracks an object that carries none of its labels or annotations), and the
//! operator deletes it once it has ended.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use jiff::{SignedDuration, Timestamp, Zoned, civil, tz::TimeZone};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use switchboard_crds::schedule_override::DELETE_AFTER_END_LABEL;
use switchboard_crds::{LocalRef, Person, Schedule, ScheduleOverride, ScheduleOverrideSpec};

/// `switchboard override`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("end").args(["until", "for_"])))]
pub struct Args {
    /// The Schedule whose on-call person the override replaces.
    #[arg(required_unless_present = "remove", conflicts_with = "remove")]
    pub schedule: Option<String>,
    /// Who is on call during the override: a person of the Schedule or a Person object.
    #[arg(long, required_unless_present = "remove")]
    pub person: Option<String>,
    /// When it starts: RFC 3339 (`2026-12-24T18:00:00Z`), a local time in the Schedule's zone
    /// (`2026-12-24T18:00`), or `HH:MM` (the next such time). Default: now.
    #[arg(long)]
    pub from: Option<String>,
    /// When it ends, in the same forms as --from (`09:00`: the next 09:00 after the start).
    #[arg(long, required_unless_present_any = ["remove", "for_"])]
    pub until: Option<String>,
    /// How long it lasts instead of --until: `8h`, `90m`, `2d`.
    #[arg(long = "for", id = "for_")]
    pub for_: Option<String>,
    /// Why, shown by `kubectl get overrides` (`covering Sam, sick`).
    #[arg(long)]
    pub reason: Option<String>,
    /// Keep the object once it has ended (by default the operator deletes it then).
    #[arg(long)]
    pub keep: bool,
    /// Remove the override of this name instead.
    #[arg(long, value_name = "NAME")]
    pub remove: Option<String>,
    /// Namespace; the kubeconfig context's by default (with --dir: the Schedule's).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Write the override into this folder of manifests (`switchboard dev` reloads it)
    /// instead of creating it in the cluster.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// What an override will be, resolved.
#[derive(Debug)]
struct Wanted {
    namespace: String,
    schedule: String,
    person: String,
    start: Timestamp,
    end: Timestamp,
    zone: TimeZone,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match &args.dir {
        Some(dir) => in_folder(&args, dir),
        None => tokio::runtime::Runtime::new()?.block_on(in_cluster(&args)),
    }
}

async fn in_cluster(args: &Args) -> anyhow::Result<ExitCode> {
    let client = kube::Client::try_default()
        .await
        .context("no Kubernetes cluster to talk to (kubeconfig); use --dir for a folder")?;
    let ns = args
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    let overrides: Api<ScheduleOverride> = Api::namespaced(client.clone(), &ns);
    if let Some(name) = &args.remove {
        return match overrides.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
                println!("scheduleoverride {ns}/{name} removed");
                Ok(ExitCode::SUCCESS)
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {
                let names = names_of(overrides.list(&ListParams::default()).await);
                bail!(
                    "no ScheduleOverride {name:?} in namespace {ns}{}",
                    listing(name, &names)
                )
            }
            Err(e) => Err(e).context(format!("deleting ScheduleOverride {ns}/{name}")),
        };
    }
    let name = args.schedule.clone().unwrap_or_default();
    let schedules: Api<Schedule> = Api::namespaced(client.clone(), &ns);
    let schedule = match schedules.get(&name).await {
        Ok(s) => s,
        Err(kube::Error::Api(e)) if e.code == 404 => {
            let names = names_of(schedules.list(&ListParams::default()).await);
            bail!(
                "no Schedule {name:?} in namespace {ns}{}",
                listing(&name, &names)
            )
        }
        Err(e) => return Err(e).context(format!("reading Schedule {ns}/{name}")),
    };
    let people: Api<Person> = Api::namespaced(client, &ns);
    let directory = match people.list(&ListParams::default()).await {
        Ok(list) => Some(names_of(Ok(list))),
        Err(kube::Error::Api(e)) if e.code == 404 => Some(vec![]),
        Err(e) => {
            eprintln!(
                "note: cannot read the Person objects of {ns} ({e}); the operator checks the person"
            );
            None
        }
    };
    let wanted = resolve(args, &ns, &schedule, directory.as_deref())?;
    let object = object(&wanted, args, None);
    let created = overrides
        .create(&PostParams::default(), &object)
        .await
        .context(format!("creating a ScheduleOverride in {ns}"))?;
    let made = created.metadata.name.unwrap_or_default();
    print_made(&wanted, &format!("scheduleoverride {ns}/{made}"));
    println!("remove it with: switchboard override --remove {made} -n {ns}");
    Ok(ExitCode::SUCCESS)
}

fn in_folder(args: &Args, dir: &Path) -> anyhow::Result<ExitCode> {
    if let Some(name) = &args.remove {
        let file = dir.join(format!("override-{name}.yaml"));
        if !file.exists() {
            bail!(
                "no {} (written by switchboard override): an override kept elsewhere is removed by editing its file",
                file.display()
            );
        }
        std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
        println!("removed {}", file.display());
        return Ok(ExitCode::SUCCESS);
    }
    let (loaded, _) = crate::validate::check(&[dir.to_path_buf()], false)?;
    let name = args.schedule.clone().unwrap_or_default();
    let objects = &loaded.objects;
    let matching: Vec<&Schedule> = objects
        .schedules
        .iter()
        .map(|s| &s.object)
        .filter(|s| s.metadata.name.as_deref() == Some(name.as_str()))
        .filter(|s| args.namespace.is_none() || s.metadata.namespace == args.namespace)
        .collect();
    let schedule = match matching.as_slice() {
        [one] => *one,
        [] => {
            let names: Vec<String> = objects
                .schedules
                .iter()
                .filter_map(|s| s.object.metadata.name.clone())
                .collect();
            bail!(
                "no valid Schedule {name:?} in {}{}",
                dir.display(),
                listing(&name, &names)
            )
        }
        _ => bail!("Schedule {name:?} is in several namespaces: say which with -n"),
    };
    let ns = schedule
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let directory: Vec<String> = objects
        .people
        .iter()
        .filter(|p| p.object.metadata.namespace.as_deref() == Some(ns.as_str()))
        .filter_map(|p| p.object.metadata.name.clone())
        .collect();
    let wanted = resolve(args, &ns, schedule, Some(&directory))?;
    let local = wanted.start.to_zoned(wanted.zone.clone());
    let made = format!(
        "{}-{}-{}",
        wanted.schedule,
        wanted.person,
        local.strftime("%Y%m%d%H%M")
    );
    let object = object(&wanted, args, Some(&made));
    let file = dir.join(format!("override-{made}.yaml"));
    if file.exists() {
        bail!(
            "{} exists already: remove it first (switchboard override --remove {made} --dir {})",
            file.display(),
            dir.display()
        );
    }
    let yaml = serde_norway::to_string(&object)?;
    let header = "# Written by `switchboard override`; `switchboard override --remove NAME --dir DIR` removes it.\n";
    std::fs::write(&file, format!("{header}{yaml}"))
        .with_context(|| format!("writing {}", file.display()))?;
    print_made(&wanted, &file.display().to_string());
    println!(
        "remove it with: switchboard override --remove {made} --dir {}",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Checks the person and resolves the times, in the Schedule's zone.
fn resolve(
    args: &Args,
    ns: &str,
    schedule: &Schedule,
    directory: Option<&[String]>,
) -> anyhow::Result<Wanted> {
    let person = args.person.clone().unwrap_or_default();
    let inline: Vec<String> = schedule
        .spec
        .people
        .iter()
        .map(|p| p.name.clone())
        .collect();
    let known = inline.iter().chain(directory.unwrap_or_default());
    if directory.is_some() && !known.clone().any(|n| *n == person) {
        let hint = switchboard_compile::problem::did_you_mean(&person, known.map(String::as_str));
        bail!(
            "{person:?} is neither a person of Schedule {ns}/{} nor a Person in {ns}{hint}",
            schedule.metadata.name.as_deref().unwrap_or_default()
        );
    }
    let zone = TimeZone::get(&schedule.spec.time_zone).with_context(|| {
        format!(
            "the Schedule's time zone {:?} is unknown",
            schedule.spec.time_zone
        )
    })?;
    // Whole seconds: what `kubectl get overrides` shows is read by people.
    let now = Timestamp::now().round(jiff::Unit::Second)?;
    let start = match &args.from {
        Some(t) => instant(t, &zone, now).context("--from")?,
        None => now,
    };
    let end = match (&args.until, &args.for_) {
        (Some(t), _) => instant(t, &zone, start).context("--until")?,
        (None, Some(d)) => {
            let d = duration(d).context("--for")?;
            start.checked_add(d)?
        }
        (None, None) => bail!("say when it ends: --until TIME or --for DURATION"),
    };
    if end <= start {
        bail!(
            "it ends ({}) before it starts ({}): check --from and --until",
            end.to_zoned(zone.clone()).strftime("%Y-%m-%d %H:%M %Z"),
            start.to_zoned(zone.clone()).strftime("%Y-%m-%d %H:%M %Z")
        );
    }
    if end <= now {
        bail!("it has already ended: --until is in the past");
    }
    Ok(Wanted {
        namespace: ns.to_string(),
        schedule: schedule.metadata.name.clone().unwrap_or_default(),
        person,
        start,
        end,
        zone,
    })
}

/// An instant from RFC 3339, a local date and time in `zone`, or `HH:MM` (the first such
/// time in `zone` after `after`).
fn instant(text: &str, zone: &TimeZone, after: Timestamp) -> anyhow::Result<Timestamp> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    if let Ok(dt) = text.parse::<civil::DateTime>() {
        return Ok(dt.to_zoned(zone.clone())?.timestamp());
    }
    if let Ok(time) = text.parse::<civil::Time>() {
        let local: Zoned = after.to_zoned(zone.clone());
        let mut day = local.date();
        loop {
            let t = day.to_datetime(time).to_zoned(zone.clone())?.timestamp();
            if t > after {
                return Ok(t);
            }
            day = day.tomorrow()?;
        }
    }
    bail!(
        "{text:?} is not a time: write 2026-12-24T18:00:00Z, 2026-12-24T18:00 (the Schedule's zone) or 18:00"
    )
}

/// `8h`, `90m`, `2d`.
fn duration(text: &str) -> anyhow::Result<SignedDuration> {
    let (n, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = n
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .with_context(|| format!("{text:?} is not a length: write 8h, 90m or 2d"))?;
    Ok(match unit {
        "m" => SignedDuration::from_mins(n),
        "h" => SignedDuration::from_hours(n),
        "d" => SignedDuration::from_hours(24 * n),
        _ => bail!("{text:?} is not a length: write 8h, 90m or 2d"),
    })
}

/// The object: a generated name in the cluster (`<schedule>-<person>-xxxxx`), or `name`.
fn object(w: &Wanted, args: &Args, name: Option<&str>) -> ScheduleOverride {
    let mut labels = std::collections::BTreeMap::new();
    if !args.keep {
        labels.insert(DELETE_AFTER_END_LABEL.to_string(), "true".to_string());
    }
    labels.insert(
        "app.kubernetes.io/managed-by".to_string(),
        "switchboard-cli".to_string(),
    );
    ScheduleOverride {
        metadata: ObjectMeta {
            name: name.map(str::to_string),
            generate_name: name
                .is_none()
                .then(|| format!("{}-{}-", w.schedule, w.person)),
            namespace: Some(w.namespace.clone()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec: ScheduleOverrideSpec {
            schedule_ref: LocalRef {
                name: w.schedule.clone(),
            },
            person: w.person.clone(),
            start: w.start.to_string(),
            end: w.end.to_string(),
            reason: args.reason.clone(),
        },
        status: None,
    }
}

fn print_made(w: &Wanted, what: &str) {
    let local = |t: Timestamp| t.to_zoned(w.zone.clone()).strftime("%a %Y-%m-%d %H:%M %Z");
    println!(
        "{what}: {} is on call in {}/{} from {} until {}",
        w.person,
        w.namespace,
        w.schedule,
        local(w.start),
        local(w.end)
    );
}

fn names_of<K: kube::Resource + Clone>(
    list: Result<kube::core::ObjectList<K>, kube::Error>,
) -> Vec<String> {
    list.map(|l| {
        l.items
            .iter()
            .map(|o| o.meta().name.clone().unwrap_or_default())
            .collect()
    })
    .unwrap_or_default()
}

/// `: did you mean "x"?`, or the names there are, or nothing.
fn listing(name: &str, names: &[String]) -> String {
    let hint = switchboard_compile::problem::did_you_mean(name, names.iter().map(String::as_str));
    if !hint.is_empty() || names.is_empty() {
        return hint;
    }
    format!(" (there are: {})", names.join(", "))
}
