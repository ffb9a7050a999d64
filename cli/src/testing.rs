//! `switchboard test`: routing tests, run like `promtool test rules`. Each test file holds call
//! cases (when, who calls, what they press and say, what each responder does) and what must
//! happen (who is rung in which order and why, who answers and how soon, the outcome, the
//! alert's stages and targets, what the caller hears). Every case is played by the engine
//! `simulate` uses, offline; a failing case prints expected beside actual and the transcript
//! `simulate` would print for it.
//!
//! ```text
//!   test file ─parse─► cases ─► Plan + responders ─► Bench (one per manifests set) ─► call
//!       │ manifests: relative to the file                                         │
//!       └─► validate::check ─► tables ─► Bench                 expect ◄─ compare ─┘
//! ```
//!
//! The format is documented in docs/testing.md.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use jiff::Timestamp;
use serde::Deserialize;
use switchboard_routing::RoutingTable;
use switchboard_webhook::state::CallState;

use crate::engine::{self, AlertView, Bench, Plan};
use crate::oncall::{At, parse_at};

/// `switchboard test` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Test files, or folders of them (their .yaml and .yml files).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Manifests to test instead of each file's `manifests:`.
    #[arg(long)]
    pub manifests: Vec<PathBuf>,
    /// Print every case's transcript, not only the failing ones'.
    #[arg(short, long)]
    pub verbose: bool,
}

/// A test file.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TestFile {
    /// Manifest files or folders, relative to the test file (default: its parent folder).
    #[serde(default)]
    manifests: Vec<PathBuf>,
    /// Also read subfolders of the manifest folders.
    #[serde(default)]
    recursive: bool,
    /// The zone local times (`at: 2026-11-23T10:00`) are read in, for every case that does not
    /// name its own.
    #[serde(default)]
    time_zone: Option<String>,
    /// The cases (each read on its own, so an error names its case).
    cases: Vec<serde_norway::Value>,
}

/// One call and what must happen.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Case {
    name: String,
    /// RFC 3339, a zoned time, or a local time read in `timeZone` (the case's, the file's,
    /// or the one zone of the hotline's schedules).
    at: String,
    #[serde(default)]
    time_zone: Option<String>,
    /// The hotline called; default: the only one in the manifests.
    #[serde(default)]
    to: Option<String>,
    #[serde(default = "default_caller")]
    from: String,
    #[serde(default)]
    press: Vec<String>,
    #[serde(default)]
    say: Option<String>,
    /// Person name (or number) to behaviour (`accept@5`); anyone not named does not pick up.
    #[serde(default)]
    responders: BTreeMap<String, String>,
    #[serde(default)]
    hang_up_after: Option<u32>,
    #[serde(default)]
    leave_message: Option<u32>,
    #[serde(default = "default_talk")]
    talk: u32,
    expect: Expect,
}

fn default_caller() -> String {
    "+15105550123".into()
}

fn default_talk() -> u32 {
    60
}

/// What must happen; only what is written is checked.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Expect {
    /// Everyone rung, in order.
    #[serde(default)]
    rung: Option<Vec<Rung>>,
    /// Who accepted (name or number), or `nobody`.
    #[serde(default)]
    answered_by: Option<String>,
    /// Accepted at most this many seconds into the call.
    #[serde(default)]
    answered_within: Option<u32>,
    /// `answered`, `voicemail`, `no-answer`, `abandoned`, `blocked`, `unknown-number`,
    /// `unavailable`.
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    alerts: Option<Alerts>,
    /// Substrings of what the caller hears.
    #[serde(default)]
    hears: Vec<String>,
    /// Substrings the caller must not hear.
    #[serde(default)]
    does_not_hear: Vec<String>,
}

/// One ring: who, and optionally why and how it ended.
#[derive(Deserialize, Debug)]
#[serde(untagged)]
enum Rung {
    Who(String),
    Full(RungFull),
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RungFull {
    who: String,
    /// A substring of the reason (`on call in schedule database`).
    #[serde(default)]
    because: Option<String>,
    /// How the ring ended (`accepted`, `not-accepted`, `no-answer`, `busy`, ...).
    #[serde(default)]
    result: Option<String>,
}

impl Rung {
    fn parts(&self) -> (&str, Option<&str>, Option<&str>) {
        match self {
            Rung::Who(w) => (w, None, None),
            Rung::Full(f) => (&f.who, f.because.as_deref(), f.result.as_deref()),
        }
    }
}

/// The alert's stages (in order) and where they go.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Alerts {
    #[serde(default)]
    stages: Option<Vec<String>>,
    #[serde(default)]
    targets: Option<Vec<String>>,
}

/// A case ready to play.
struct Ready {
    file: PathBuf,
    name: String,
    manifests: Vec<PathBuf>,
    recursive: bool,
    at: Timestamp,
    script: switchboard_sim::Script,
    expect: Expect,
}

/// One line of the comparison: what was expected, what happened, whether they agree.
struct Check {
    what: &'static str,
    expected: String,
    actual: String,
    ok: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let files = test_files(&args.paths)?;
    let mut compiled: HashMap<(Vec<PathBuf>, bool), Vec<RoutingTable>> = HashMap::new();
    let mut cases = Vec::new();
    for file in &files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let tf: TestFile = serde_norway::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: {e}; a test file has `manifests` (optional), `recursive` (optional) and `cases`",
                file.display()
            )
        })?;
        let dir = file.parent().unwrap_or(Path::new("."));
        let manifests: Vec<PathBuf> = if !args.manifests.is_empty() {
            args.manifests.clone()
        } else if tf.manifests.is_empty() {
            vec![dir.to_path_buf()]
        } else {
            tf.manifests.iter().map(|m| dir.join(m)).collect()
        };
        let key = (manifests.clone(), tf.recursive);
        if !compiled.contains_key(&key) {
            let tables = tables(&manifests, tf.recursive)
                .with_context(|| format!("{}: the manifests it tests", file.display()))?;
            compiled.insert(key.clone(), tables);
        }
        let tables = &compiled[&key];
        for (i, value) in tf.cases.into_iter().enumerate() {
            let label = case_label(i, &value);
            let case: Case = serde_path_to_error::deserialize(value).map_err(|e| {
                let path = e.path().to_string();
                let at = if path == "." {
                    String::new()
                } else {
                    format!("{path}: ")
                };
                anyhow::anyhow!("{}: {label}: {at}{}", file.display(), e.inner())
            })?;
            let ready = prepare(case, tf.time_zone.as_deref(), tables, file, &key)
                .map_err(|e| anyhow::anyhow!("{}: {label}: {e}", file.display()))?;
            cases.push(ready);
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let (passed, failed) = runtime.block_on(play_all(cases, &compiled, args.verbose))?;
    let elapsed = started.elapsed();
    println!(
        "\n{} case(s) in {} file(s): {passed} passed, {failed} failed ({:.2} s)",
        passed + failed,
        files.len(),
        elapsed.as_secs_f64()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `case 3 "name"`, or `case 3` when it has no readable name.
fn case_label(i: usize, value: &serde_norway::Value) -> String {
    match value.get("name").and_then(|n| n.as_str()) {
        Some(n) => format!("case {} {n:?}", i + 1),
        None => format!("case {}", i + 1),
    }
}

/// The test files of `paths`: files as given, folders' .yaml/.yml files (sorted).
fn test_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            found.sort();
            files.extend(found);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            bail!("{}: no such file or folder", p.display());
        }
    }
    if files.is_empty() {
        bail!("no test files (.yaml, .yml) in the paths given");
    }
    Ok(files)
}

/// The tables compiled from `manifests`; refused when the manifests have problems, since a
/// test of broken manifests would test something else than what the operator publishes.
fn tables(manifests: &[PathBuf], recursive: bool) -> anyhow::Result<Vec<RoutingTable>> {
    let (loaded, compiled) = crate::validate::check(manifests, recursive)?;
    let problems: Vec<String> = loaded
        .problems
        .iter()
        .chain(&compiled.problems)
        .map(|p| p.to_string())
        .collect();
    if !problems.is_empty() {
        bail!(
            "the manifests have problems (run `switchboard validate`):\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(compiled.tables)
}

fn prepare(
    case: Case,
    file_zone: Option<&str>,
    tables: &[RoutingTable],
    file: &Path,
    key: &(Vec<PathBuf>, bool),
) -> anyhow::Result<Ready> {
    let numbers: Vec<&str> = tables.iter().map(|t| t.number.as_str()).collect();
    let to = match &case.to {
        Some(to) => to.clone(),
        None if tables.len() == 1 => tables[0].number.clone(),
        None => bail!(
            "to: missing, and the manifests have {} hotlines: name one of {}",
            tables.len(),
            numbers.join(", ")
        ),
    };
    let Some(table) = tables.iter().find(|t| t.number == to) else {
        bail!(
            "to: no PhoneNumber in the manifests has {to:?}; they have {}",
            numbers.join(", ")
        );
    };
    let at = instant(&case.at, case.time_zone.as_deref().or(file_zone), table)?;
    let plan = Plan {
        from: case.from.clone(),
        to: to.clone(),
        press: case.press.clone(),
        say: case.say.clone(),
        hang_up_after: case.hang_up_after,
        leave_message: case.leave_message,
        talk: case.talk,
    };
    let mut script = plan.script(Some(table));
    let people = engine::people(Some(table));
    for (who, behaviour) in &case.responders {
        let (address, b) = engine::responder(&people, who, behaviour)
            .map_err(|e| anyhow::anyhow!("responders.{who}: {e}"))?;
        script.responders.insert(address, b);
    }
    check_names(&case.expect, &people)?;
    if let Some(o) = &case.expect.outcome
        && !switchboard_routing::Outcome::ALL
            .iter()
            .any(|x| x.as_str() == o)
    {
        let all: Vec<_> = switchboard_routing::Outcome::ALL
            .iter()
            .map(|x| x.as_str())
            .collect();
        bail!(
            "expect.outcome: {o:?} is not an outcome; write one of {}",
            all.join(", ")
        );
    }
    Ok(Ready {
        file: file.to_path_buf(),
        name: case.name,
        manifests: key.0.clone(),
        recursive: key.1,
        at,
        script,
        expect: case.expect,
    })
}

/// A person named in `expect` must be in the hotline's schedules (or be a number).
fn check_names(
    expect: &Expect,
    people: &HashMap<String, (String, switchboard_routing::Contact)>,
) -> anyhow::Result<()> {
    let known = |who: &str| {
        who.starts_with('+')
            || who.starts_with("sip:")
            || who == "nobody"
            || people.contains_key(who)
            || people.values().any(|(display, _)| display == who)
    };
    let mut names: Vec<_> = people.keys().map(String::as_str).collect();
    names.sort();
    for (i, r) in expect.rung.iter().flatten().enumerate() {
        let (who, _, _) = r.parts();
        if !known(who) {
            bail!(
                "expect.rung[{i}]: nobody called {who:?} in this number's schedules (people: {})",
                names.join(", ")
            );
        }
    }
    if let Some(who) = &expect.answered_by
        && !known(who)
    {
        bail!(
            "expect.answeredBy: nobody called {who:?} in this number's schedules (people: {}, or nobody)",
            names.join(", ")
        );
    }
    Ok(())
}

/// The case's start: an instant as written, or a local time in `zone`, or else in the zone of
/// the hotline's schedules (when they share one).
fn instant(at: &str, zone: Option<&str>, table: &RoutingTable) -> anyhow::Result<Timestamp> {
    match parse_at(at).map_err(|_| {
        // jiff's own reason for the form the text looks like (`day 30 is invalid in February`).
        let why = if at.contains('[') {
            at.parse::<jiff::Zoned>().err()
        } else if at.ends_with('Z') || at.contains('+') {
            at.parse::<Timestamp>().err()
        } else {
            at.parse::<jiff::civil::DateTime>().err()
        };
        anyhow::anyhow!(
            "at: {at:?} is not a time{}: write 2026-11-23T15:00:00Z, 2026-11-23T10:00[America/New_York] or a local 2026-11-23T10:00",
            why.map(|e| format!(" ({e})")).unwrap_or_default()
        )
    })? {
        At::Instant(t) => Ok(t),
        At::Local(dt) => {
            if let Some(zone) = zone {
                let tz = jiff::tz::TimeZone::get(zone).map_err(|_| {
                    anyhow::anyhow!(
                        "timeZone: {zone:?} is not a time zone of the IANA database (Europe/Berlin, America/New_York, UTC)"
                    )
                })?;
                return tz
                    .to_ambiguous_timestamp(dt)
                    .compatible()
                    .map_err(|e| anyhow::anyhow!("at: {at:?} in {zone}: {e}"));
            }
            let mut zones: Vec<&str> = table
                .schedules
                .values()
                .map(|s| s.time_zone.as_str())
                .collect();
            zones.sort();
            zones.dedup();
            let [zone] = zones[..] else {
                bail!(
                    "at: {at:?} has no zone and the hotline's schedules are in {}: write it as {at}[{}], or set timeZone",
                    if zones.is_empty() { "none".into() } else { zones.join(", ") },
                    zones.first().copied().unwrap_or("UTC")
                );
            };
            let tz = jiff::tz::TimeZone::get(zone)?;
            tz.to_ambiguous_timestamp(dt)
                .compatible()
                .map_err(|e| anyhow::anyhow!("at: {at:?} in {zone}: {e}"))
        }
    }
}

async fn play_all(
    cases: Vec<Ready>,
    compiled: &HashMap<(Vec<PathBuf>, bool), Vec<RoutingTable>>,
    verbose: bool,
) -> anyhow::Result<(usize, usize)> {
    let mut benches: HashMap<(Vec<PathBuf>, bool), Bench> = HashMap::new();
    let (mut passed, mut failed) = (0, 0);
    for case in cases {
        let key = (case.manifests.clone(), case.recursive);
        if !benches.contains_key(&key) {
            benches.insert(key.clone(), Bench::start(&compiled[&key]).await?);
        }
        let bench = benches.get_mut(&key).expect("inserted above");
        let (transcript, call) = bench.call(case.script.clone(), case.at).await?;
        let mut checks = compare(&case, &transcript, call.as_ref());
        if !transcript.application_errors.is_empty() {
            checks.push(Check {
                what: "application errors",
                expected: "none".into(),
                actual: transcript.application_errors.join("; "),
                ok: false,
            });
        }
        let ok = checks.iter().all(|c| c.ok);
        if ok {
            passed += 1;
            println!("ok    {}: {}", case.file.display(), case.name);
        } else {
            failed += 1;
            println!("FAIL  {}: {}", case.file.display(), case.name);
            print!("{}", side_by_side(&checks));
        }
        if !ok || verbose {
            let text = engine::render(&transcript, call.as_ref());
            for line in text.lines() {
                println!("      {line}");
            }
            println!();
        }
    }
    Ok((passed, failed))
}

/// Whether `who` (as written in the test) names ring `r`: its person, display name or address.
fn names(who: &str, person: Option<&str>, display: &str, address: &str) -> bool {
    person == Some(who) || display == who || address == who
}

fn compare(case: &Ready, t: &switchboard_sim::Transcript, call: Option<&CallState>) -> Vec<Check> {
    let e = &case.expect;
    let mut checks = Vec::new();
    let rung = call.map(|c| c.rung.as_slice()).unwrap_or_default();
    let started = call.map(|c| c.started_at).unwrap_or(case.at);
    if let Some(expected) = &e.rung {
        let rows = expected.len().max(rung.len());
        for i in 0..rows {
            let exp = expected.get(i);
            let act = rung.get(i);
            let ok = match (exp, act) {
                (Some(x), Some(r)) => {
                    let (who, because, result) = x.parts();
                    names(
                        who,
                        r.person.as_deref(),
                        &r.display_name,
                        r.contact.address(),
                    ) && because.is_none_or(|b| r.reason.contains(b))
                        && result.is_none_or(|res| r.result.is_some_and(|x| x.as_str() == res))
                }
                _ => false,
            };
            checks.push(Check {
                what: "rung",
                expected: exp.map_or_else(
                    || "(nobody more)".into(),
                    |x| {
                        let (who, because, result) = x.parts();
                        let mut s = who.to_string();
                        if let Some(r) = result {
                            s.push_str(&format!(" -> {r}"));
                        }
                        if let Some(b) = because {
                            s.push_str(&format!(" [..{b}..]"));
                        }
                        s
                    },
                ),
                actual: act.map_or_else(
                    || "(nobody more)".into(),
                    |r| {
                        format!(
                            "[{:>3}s] {} -> {} [{}]",
                            r.at.duration_since(started).as_secs(),
                            r.person.as_deref().unwrap_or(&r.display_name),
                            r.result.map_or("?", |x| x.as_str()),
                            r.reason
                        )
                    },
                ),
                ok,
            });
        }
    }
    let accepted = call.and_then(|c| c.accepted.as_ref());
    if let Some(who) = &e.answered_by {
        let actual = accepted.map_or_else(
            || "nobody".to_string(),
            |(r, _)| r.person.clone().unwrap_or_else(|| r.display_name.clone()),
        );
        let ok = match accepted {
            None => who == "nobody",
            Some((r, _)) => names(
                who,
                r.person.as_deref(),
                &r.display_name,
                r.contact.address(),
            ),
        };
        checks.push(Check {
            what: "answered by",
            expected: who.clone(),
            actual,
            ok,
        });
    }
    if let Some(within) = e.answered_within {
        let secs = accepted.map(|(_, at)| at.duration_since(started).as_secs());
        checks.push(Check {
            what: "answered within",
            expected: format!("{within}s"),
            actual: secs.map_or("not answered".into(), |s| format!("{s}s")),
            ok: secs.is_some_and(|s| s <= i64::from(within)),
        });
    }
    if let Some(o) = &e.outcome {
        let actual = call
            .and_then(|c| c.outcome)
            .map_or("(none)", |o| o.as_str());
        checks.push(Check {
            what: "outcome",
            expected: o.clone(),
            actual: actual.into(),
            ok: actual == o,
        });
    }
    if let Some(a) = &e.alerts {
        alert_checks(a, call, &mut checks);
    }
    let heard = t.heard.join(" | ");
    for h in &e.hears {
        checks.push(Check {
            what: "caller hears",
            expected: format!("{h:?}"),
            actual: if heard.contains(h.as_str()) {
                format!("{h:?}")
            } else {
                format!("not said; heard: {heard}")
            },
            ok: heard.contains(h.as_str()),
        });
    }
    for h in &e.does_not_hear {
        let said = heard.contains(h.as_str());
        checks.push(Check {
            what: "caller never hears",
            expected: format!("{h:?}"),
            actual: if said {
                format!("said: {heard}")
            } else {
                "not said".into()
            },
            ok: !said,
        });
    }
    checks
}

fn alert_checks(a: &Alerts, call: Option<&CallState>, checks: &mut Vec<Check>) {
    let view = call.and_then(AlertView::of);
    if let Some(stages) = &a.stages {
        let actual: Vec<&str> = view
            .as_ref()
            .map(|v| v.timeline.iter().map(|(_, s)| s.as_str()).collect())
            .unwrap_or_default();
        checks.push(Check {
            what: "alert stages",
            expected: list(stages.iter().map(String::as_str)),
            actual: list(actual.iter().copied()),
            ok: actual == stages.iter().map(String::as_str).collect::<Vec<_>>(),
        });
    }
    if let Some(targets) = &a.targets {
        let mut actual: Vec<&str> = view
            .as_ref()
            .map(|v| {
                v.alert
                    .route
                    .targets
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect()
            })
            .unwrap_or_default();
        actual.sort();
        let mut expected: Vec<&str> = targets.iter().map(String::as_str).collect();
        expected.sort();
        checks.push(Check {
            what: "alert targets",
            expected: list(expected.iter().copied()),
            actual: list(actual.iter().copied()),
            ok: actual == expected,
        });
    }
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// The checks as two columns, a mark on each line that disagrees.
fn side_by_side(checks: &[Check]) -> String {
    let width = checks
        .iter()
        .map(|c| c.what.len() + 2 + c.expected.chars().count())
        .max()
        .unwrap_or(0)
        .max("expected".len());
    let mut out = format!("      {:<width$}    actual\n", "expected");
    for c in checks {
        let left = format!("{}: {}", c.what, c.expected);
        let mark = if c.ok { "  " } else { "✗ " };
        out.push_str(&format!(
            "    {mark}{left:<width$}    {}: {}\n",
            c.what, c.actual
        ));
    }
    out
}
