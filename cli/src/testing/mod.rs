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

mod compare;
mod format;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use jiff::Timestamp;
use switchboard_routing::RoutingTable;

use crate::engine::{self, Bench};
use compare::{Check, compare, side_by_side};
use format::{Case, Expect, TestFile, prepare};

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
    let (loaded, compiled) = crate::validate::check_for(manifests, recursive, true)?;
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
