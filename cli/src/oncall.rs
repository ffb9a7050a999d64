//! `switchboard oncall`: who is on call, and the next handoffs, in a readable table.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use jiff::{Timestamp, Zoned, civil, tz::TimeZone};
use switchboard_routing::{Handoff, Schedule};

/// When to ask: an instant, or a local time read in each schedule's own zone.
#[derive(Clone, Copy, Debug)]
pub(crate) enum At {
    Instant(Timestamp),
    Local(civil::DateTime),
}

pub(crate) fn parse_at(s: &str) -> anyhow::Result<At> {
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Ok(At::Instant(ts));
    }
    if let Ok(z) = s.parse::<Zoned>() {
        return Ok(At::Instant(z.timestamp()));
    }
    if let Ok(dt) = s.parse::<civil::DateTime>() {
        return Ok(At::Local(dt));
    }
    anyhow::bail!(
        "--at {s:?} is not a time: write RFC 3339 (2026-03-08T14:00:00Z), a zoned time \
         (2026-03-08T09:00[America/New_York]) or a local time (2026-03-08T09:00)"
    )
}

/// `switchboard oncall` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub manifests: crate::validate::Manifests,
    /// The instant to ask about instead of now: RFC 3339 (`2026-03-08T14:00:00Z`), a zoned
    /// time (`2026-03-08T09:00[America/New_York]`), or a local time (`2026-03-08T09:00`)
    /// read in each schedule's own time zone. With `--svg` or `--ics`, where they start.
    #[arg(long)]
    pub at: Option<String>,
    /// Only this schedule (`name` or `namespace/name`).
    #[arg(long)]
    pub schedule: Option<String>,
    /// How many upcoming handoffs to list per schedule.
    #[arg(long, default_value_t = 3)]
    pub handoffs: usize,
    /// Draw each schedule's next days (`--days`) as an SVG timeline into FILE: a row per
    /// layer and one for the final on-call, people as coloured bars, overrides dashed, gaps
    /// hatched red, handoffs labelled in the schedule's zone.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Write each person's shifts over the next days (`--days`) as an iCalendar file
    /// (RFC 5545) into FILE, for calendars to subscribe to.
    #[arg(long, value_name = "FILE")]
    pub ics: Option<PathBuf>,
    /// How many days `--svg`, `--ics` and `--gaps` cover.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// List when, in the next days (`--days`), a schedule has nobody on call or a chain's
    /// first step has nobody to ring; exits 1 when there is any such gap.
    #[arg(long, conflicts_with_all = ["svg", "ics"])]
    pub gaps: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (paths, recursive, only, handoffs) = (
        &args.manifests.paths,
        args.manifests.recursive,
        args.schedule.as_deref(),
        args.handoffs,
    );
    let at = match args.at.as_deref() {
        Some(s) => parse_at(s)?,
        None => At::Instant(Timestamp::now()),
    };
    let (loaded, compiled) = crate::validate::check(paths, recursive)?;
    let schedule_problems: Vec<_> = loaded
        .problems
        .iter()
        .chain(&compiled.problems)
        .filter(|p| p.object.as_ref().is_some_and(|o| o.kind == "Schedule"))
        .collect();
    for p in &schedule_problems {
        eprintln!("error: {p}");
    }
    let selected: Vec<_> = compiled
        .schedules
        .iter()
        .filter(|((ns, name), _)| match only {
            None => true,
            Some(o) => o == name || *o == format!("{ns}/{name}"),
        })
        .collect();
    if selected.is_empty() {
        match only {
            Some(o) => anyhow::bail!("no valid schedule named {o:?}"),
            None => anyhow::bail!("no valid schedules found"),
        }
    }
    let labelled: Vec<(String, &Schedule)> = selected
        .iter()
        .map(|((ns, name), s)| (format!("{ns}/{name}"), *s))
        .collect();
    if args.gaps {
        let from = start_of(at)?;
        let until = from
            .checked_add(jiff::SignedDuration::from_hours(i64::from(args.days) * 24))
            .context("--days")?;
        let code = crate::gaps::print(&compiled, &labelled, from, until)?;
        return Ok(if schedule_problems.is_empty() {
            code
        } else {
            ExitCode::FAILURE
        });
    }
    if args.svg.is_some() || args.ics.is_some() {
        pictures(&args, &labelled, at)?;
        return Ok(if schedule_problems.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }

    let mut now_rows =
        vec![["SCHEDULE", "LOCAL TIME", "ON CALL", "VIA", "UNTIL"].map(String::from)];
    let mut next_rows =
        vec![["SCHEDULE", "HANDOFF (LOCAL)", "UTC", "FROM", "TO", "VIA"].map(String::from)];
    for ((ns, name), schedule) in selected {
        let tz = schedule.tz()?;
        let instant = match at {
            At::Instant(ts) => ts,
            At::Local(dt) => tz.to_ambiguous_timestamp(dt).compatible().context("--at")?,
        };
        let who = schedule.on_call_at(instant)?;
        let upcoming = schedule.next_handoffs(instant, handoffs.max(1))?;
        let label = format!("{ns}/{name}");
        now_rows.push([
            label.clone(),
            local(instant, &tz),
            person(schedule, who.person.as_deref()),
            who.source.label(),
            upcoming
                .first()
                .map(|h| local(h.at, &tz))
                .unwrap_or_else(|| "-".into()),
        ]);
        for Handoff { at, from, to } in upcoming.into_iter().take(handoffs) {
            next_rows.push([
                label.clone(),
                local(at, &tz),
                at.strftime("%Y-%m-%d %H:%M").to_string(),
                person(schedule, from.as_deref()),
                person(schedule, to.person.as_deref()),
                to.source.label(),
            ]);
        }
    }
    print_table(&now_rows);
    if handoffs > 0 {
        println!();
        print_table(&next_rows);
    }
    if only.is_none() {
        hotline_hours(&compiled, at)?;
    }
    Ok(if schedule_problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Where `--svg`, `--ics` and `--gaps` start: `at` (a local `at` read in UTC).
fn start_of(at: At) -> anyhow::Result<Timestamp> {
    Ok(match at {
        At::Instant(ts) => ts,
        At::Local(dt) => TimeZone::UTC
            .to_ambiguous_timestamp(dt)
            .compatible()
            .context("--at")?,
    })
}

/// `--svg` and `--ics`: the schedules' next `--days` from `at`.
fn pictures(args: &Args, labelled: &[(String, &Schedule)], at: At) -> anyhow::Result<()> {
    let from = start_of(at)?;
    let until = from
        .checked_add(jiff::SignedDuration::from_hours(i64::from(args.days) * 24))
        .context("--days")?;
    let write = |path: &std::path::Path, doc: String| -> anyhow::Result<()> {
        std::fs::write(path, doc).with_context(|| format!("writing {}", path.display()))?;
        println!(
            "wrote {} ({} schedule(s), {} days)",
            path.display(),
            labelled.len(),
            args.days
        );
        Ok(())
    };
    if let Some(path) = &args.svg {
        write(path, crate::rota::svg(labelled, from, until)?)?;
    }
    if let Some(path) = &args.ics {
        write(
            path,
            crate::rota::ics(labelled, from, until, Timestamp::now())?,
        )?;
    }
    Ok(())
}

/// The hotlines with opening hours or no live answer: which rule answers a call at `at`.
fn hotline_hours(compiled: &switchboard_compile::Compiled, at: At) -> anyhow::Result<()> {
    use switchboard_routing::hours::ClosedAction;
    let mut rows = vec![
        [
            "HOTLINE",
            "POLICY",
            "LOCAL TIME",
            "ANSWERS WITH",
            "NEXT OPENING",
        ]
        .map(String::from),
    ];
    for t in &compiled.tables {
        let policy = format!("{}/{}", t.owner.namespace, t.policy.name);
        if t.policy.voicemail_only.is_some() {
            rows.push([
                t.number.clone(),
                policy,
                "-".into(),
                "voicemail only".into(),
                "-".into(),
            ]);
            continue;
        }
        let Some(h) = &t.policy.opening_hours else {
            continue;
        };
        let tz = h.tz().context("the opening hours' time zone")?;
        let instant = match at {
            At::Instant(ts) => ts,
            At::Local(dt) => tz.to_ambiguous_timestamp(dt).compatible().context("--at")?,
        };
        let closed = h.closed_at(instant);
        let answers = match closed {
            None => "open: the greeting, menu and chain".to_string(),
            Some(why) => {
                let then = match &h.when_closed.action {
                    ClosedAction::Hangup => "the closed message".to_string(),
                    ClosedAction::Voicemail => "voicemail".to_string(),
                    ClosedAction::Chain(c) => format!("chain {c}"),
                    ClosedAction::Emergency { digit, chain, .. } => format!(
                        "{digit} for an emergency ({}), else voicemail",
                        chain
                            .as_deref()
                            .map_or("the usual entry".into(), |c| format!("chain {c}"))
                    ),
                };
                format!("closed ({why}): {then}")
            }
        };
        let next = match closed {
            Some(_) => h
                .next_opening(instant)
                .map_or("-".into(), |o| local(o, &tz)),
            None => "-".into(),
        };
        rows.push([t.number.clone(), policy, local(instant, &tz), answers, next]);
    }
    if rows.len() > 1 {
        println!();
        print_table(&rows);
    }
    Ok(())
}

fn local(ts: Timestamp, tz: &TimeZone) -> String {
    ts.to_zoned(tz.clone())
        .strftime("%a %Y-%m-%d %H:%M %Z")
        .to_string()
}

fn person(schedule: &Schedule, name: Option<&str>) -> String {
    match name.and_then(|n| schedule.person(n)) {
        Some(p) if p.display_name != p.name => format!("{} ({})", p.display_name, p.name),
        Some(p) => p.name.clone(),
        None => "(nobody)".into(),
    }
}

pub(crate) fn print_table<const N: usize>(rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}
