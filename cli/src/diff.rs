//! `switchboard diff OLD NEW`: for every hotline and each hour of the next days, who would be
//! rung (step by step) before and after a change, as the periods that changed. Meant to be
//! posted on a pull request; the exit code says whether anything changed (0 no, 1 yes, 2 error).
//!
//! ```text
//!   OLD, NEW: a folder or file, or REV:PATH (git show, nothing checked out)
//!      └─► validate::check ─► tables by number
//!   each hotline × route (the chain, or each menu option) × each hour:
//!      plan_step for every step of the chain ─► "dana; then dba-manager, +12125550999"
//!   hours whose (before, after) differ, merged into periods ─► stdout
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use switchboard_routing::RoutingTable;
use switchboard_routing::escalation::CallProgress;
use switchboard_routing::table::{Entry, Mode};

/// `switchboard diff` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The manifests before: a folder or file, or `REV:PATH` for a git revision of one
    /// (`main:examples`, `HEAD~1:deploy/oncall`).
    pub old: String,
    /// The manifests after, the same way.
    pub new: String,
    /// Also read subfolders of folders.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// How many days ahead to compare, hour by hour.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// Start of the comparison (RFC 3339 or a zoned time); default: now, on the hour.
    #[arg(long)]
    pub from: Option<String>,
    /// Time zone the periods are printed in.
    #[arg(long, default_value = "UTC")]
    pub tz: String,
}

/// One hotline's route: the chain rung, or a menu option's.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Route {
    number: String,
    label: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let tz = TimeZone::get(&args.tz).map_err(|_| {
        anyhow::anyhow!(
            "--tz {:?} is not an IANA time zone (UTC, Europe/Berlin)",
            args.tz
        )
    })?;
    let from = match &args.from {
        Some(s) => match crate::oncall::parse_at(s)? {
            crate::oncall::At::Instant(t) => t,
            crate::oncall::At::Local(dt) => tz.to_ambiguous_timestamp(dt).compatible()?,
        },
        None => {
            let now = Timestamp::now().as_second();
            Timestamp::from_second(now - now.rem_euclid(3600))?
        }
    };
    let (_old_dir, old) = side(&args.old, args.recursive).context("OLD")?;
    let (_new_dir, new) = side(&args.new, args.recursive).context("NEW")?;
    let hours = i64::from(args.days) * 24;
    let routes: BTreeSet<Route> = old.values().chain(new.values()).flat_map(routes).collect();
    let mut changed = 0;
    let mut out = String::new();
    for route in &routes {
        let mut periods: Vec<(Timestamp, Timestamp, String, String)> = Vec::new();
        for h in 0..hours {
            let at = from.checked_add(SignedDuration::from_hours(h))?;
            let before = rung(old.get(&route.number), &route.label, at);
            let after = rung(new.get(&route.number), &route.label, at);
            if before == after {
                continue;
            }
            let end = at.checked_add(SignedDuration::from_hours(1))?;
            match periods.last_mut() {
                Some(p) if p.1 == at && p.2 == before && p.3 == after => p.1 = end,
                _ => periods.push((at, end, before, after)),
            }
        }
        if periods.is_empty() {
            continue;
        }
        changed += periods.len();
        out.push_str(&format!("{} {}:\n", route.number, route.label));
        for (start, end, before, after) in periods {
            out.push_str(&format!(
                "  {} - {} ({} h)\n    before: {before}\n    after:  {after}\n",
                start.to_zoned(tz.clone()).strftime("%a %Y-%m-%d %H:%M"),
                end.to_zoned(tz.clone()).strftime("%a %Y-%m-%d %H:%M %Z"),
                end.duration_since(start).as_hours()
            ));
        }
    }
    let span = format!(
        "the {} days from {}",
        args.days,
        from.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M %Z")
    );
    if changed == 0 {
        println!("No change in who is rung over {span}.");
        Ok(ExitCode::SUCCESS)
    } else {
        print!("{out}");
        println!("\n{changed} period(s) changed over {span}.");
        Ok(ExitCode::FAILURE)
    }
}

/// The tables of one side, by number; the temporary folder a git revision was written to.
fn side(
    spec: &str,
    recursive: bool,
) -> anyhow::Result<(Option<tempfile::TempDir>, BTreeMap<String, RoutingTable>)> {
    let (dir, path) = if Path::new(spec).exists() {
        (None, PathBuf::from(spec))
    } else if let Some((rev, path)) = spec.split_once(':') {
        let dir = from_git(rev, path)?;
        let p = dir.path().join(path);
        (Some(dir), p)
    } else {
        bail!(
            "{spec:?}: no such file or folder (a git revision is written REV:PATH, like main:examples)"
        )
    };
    let (loaded, compiled) = crate::validate::check(&[path], recursive)?;
    for p in loaded.problems.iter().chain(&compiled.problems) {
        eprintln!("warning: {spec}: {p}");
    }
    let tables = compiled
        .tables
        .into_iter()
        .map(|t| (t.number.clone(), t))
        .collect();
    Ok((dir, tables))
}

/// The files under `path` at git revision `rev`, written into a temporary folder (nothing is
/// checked out; the repository is the one of the current directory).
fn from_git(rev: &str, path: &str) -> anyhow::Result<tempfile::TempDir> {
    let git = |args: &[&str]| -> anyhow::Result<Vec<u8>> {
        let out = Command::new("git")
            .args(args)
            .output()
            .context("running git (needed for REV:PATH)")?;
        if !out.status.success() {
            bail!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(out.stdout)
    };
    let prefix = String::from_utf8(git(&["rev-parse", "--show-prefix"])?)?
        .trim()
        .to_string();
    let listed = git(&[
        "ls-tree",
        "-r",
        "--name-only",
        "--full-tree",
        rev,
        "--",
        &format!("{prefix}{path}"),
    ])?;
    let names: Vec<&str> = std::str::from_utf8(&listed)?.lines().collect();
    if names.is_empty() {
        bail!("{rev}:{path}: no files at that revision");
    }
    let dir = tempfile::tempdir()?;
    for name in names {
        let Some(relative) = name.strip_prefix(&prefix) else {
            continue;
        };
        let target = dir.path().join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, git(&["show", &format!("{rev}:{name}")])?)?;
    }
    Ok(dir)
}

/// The routes of a table: its chain, or each option of its menu.
fn routes(t: &RoutingTable) -> Vec<Route> {
    let route = |label: String| Route {
        number: t.number.clone(),
        label,
    };
    match &t.policy.entry {
        Entry::Chain(c) if c.is_empty() => vec![route("(voicemail only)".into())],
        Entry::Chain(c) => vec![route(format!("(chain {c})"))],
        Entry::Menu(m) => m
            .options
            .iter()
            .map(|o| route(format!("option {} ({})", o.digit, o.name)))
            .collect(),
    }
}

/// Who `label`'s chain rings at `at`, step by step: `dana; then dba-manager, +12125550999`.
fn rung(table: Option<&RoutingTable>, label: &str, at: Timestamp) -> String {
    let Some(t) = table else {
        return "(no such hotline)".into();
    };
    if let Mode::Disabled { .. } | Mode::Maintenance { .. } = &t.policy.mode {
        return "(not routed: the policy is disabled or in maintenance)".into();
    }
    if t.policy.voicemail_only.is_some() {
        return "(nobody: voicemail only)".into();
    }
    if let Some(why) = t
        .policy
        .opening_hours
        .as_ref()
        .and_then(|h| h.closed_at(at))
    {
        use switchboard_routing::hours::ClosedAction;
        let action = t
            .policy
            .opening_hours
            .as_ref()
            .map(|h| &h.when_closed.action);
        return match action {
            Some(ClosedAction::Chain(c)) => format!("(closed, {why}: chain {c})"),
            Some(ClosedAction::Emergency { digit, chain, .. }) => format!(
                "(closed, {why}: {} for an emergency)",
                chain
                    .as_deref()
                    .map_or(format!("the usual chain on {digit}"), |c| format!(
                        "chain {c} on {digit}"
                    ))
            ),
            _ => format!("(closed, {why})"),
        };
    }
    let chain = match &t.policy.entry {
        Entry::Chain(c) if label == format!("(chain {c})") => Some(c.as_str()),
        Entry::Menu(m) => m
            .options
            .iter()
            .find(|o| label == format!("option {} ({})", o.digit, o.name))
            .map(|o| o.chain.as_str()),
        _ => None,
    };
    let Some(chain) = chain.and_then(|c| t.chain(c)) else {
        return "(no such option)".into();
    };
    let steps: Vec<String> = (0..chain.steps.len())
        .map(|i| {
            let progress = CallProgress {
                call_sid: "CAdiff",
                pass: 0,
                already_rung: &[],
                rung_in_call: 0,
            };
            match t.plan_step(chain, i, at, progress) {
                Ok(plan) if plan.responders.is_empty() => "nobody".to_string(),
                Ok(plan) => plan
                    .responders
                    .iter()
                    .map(|r| {
                        r.person
                            .clone()
                            .unwrap_or_else(|| r.contact.address().to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                Err(e) => format!("(error: {e})"),
            }
        })
        .collect();
    steps.join("; then ")
}
