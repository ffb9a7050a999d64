//! `switchboard validate`.

use std::path::PathBuf;
use std::process::ExitCode;

use switchboard_compile::{Compiled, Loaded, SchemaChecker, compile, load_files, manifest_files};

/// The manifests a command reads (flattened into each command's arguments).
#[derive(clap::Args, Debug)]
pub struct Manifests {
    /// Files or folders of manifests (a folder's .yaml and .yml files), as you would
    /// `kubectl apply -f` them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Also read the subfolders of folders (like `kubectl apply -R`).
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

/// Loads, checks and compiles the manifests of `paths`, PINs sealed with the auth tokens of
/// the credentials Secrets among them (as `dev` and the folder operator publish them).
pub fn check(paths: &[PathBuf], recursive: bool) -> anyhow::Result<(Loaded, Compiled)> {
    check_for(paths, recursive, false)
}

/// As [`check`]; `simulated`: PINs sealed with the simulated account's auth token instead,
/// for the in-process server of `simulate` and `test`.
pub fn check_for(
    paths: &[PathBuf],
    recursive: bool,
    simulated: bool,
) -> anyhow::Result<(Loaded, Compiled)> {
    let files = manifest_files(paths, recursive)?;
    if files.is_empty() {
        anyhow::bail!("no .yaml or .yml files in {}", display_paths(paths));
    }
    let loaded = load_files(&files, &SchemaChecker::new())?;
    // The account SIDs of the credentials Secrets among the manifests, as `dev` and the folder
    // operator compile with: the revisions printed are the ones they publish.
    let sids = switchboard_apply::folder::manifest_account_sids(&loaded);
    let mut compiled = compile(&loaded.objects, &sids);
    if simulated {
        let token = || Some(crate::engine::SIMULATED_TOKEN.to_string());
        switchboard_compile::pins::seal_manifest_pins(&loaded, &mut compiled, |_| token());
    } else {
        let token = switchboard_apply::folder::manifest_auth_token(&loaded);
        switchboard_compile::pins::seal_manifest_pins(&loaded, &mut compiled, token);
    }
    Ok((loaded, compiled))
}

pub fn run(paths: &[PathBuf], recursive: bool) -> anyhow::Result<ExitCode> {
    let (loaded, compiled) = check(paths, recursive)?;
    let o = &loaded.objects;
    let secrets = switchboard_compile::secrets::secret_problems(&loaded);
    let mut problems: Vec<_> = loaded
        .problems
        .iter()
        .chain(&compiled.problems)
        .chain(&secrets)
        .cloned()
        .collect();
    switchboard_compile::problem::order(&mut problems);
    for p in &problems {
        println!("error: {p}");
    }
    for w in compiled.warnings(o, jiff::Timestamp::now()) {
        println!("warning: {w}");
    }
    // Objects that failed their schema checks are still counted: they are in the files.
    let rejected = |kind: &str| o.rejected.iter().filter(|id| id.kind == kind).count();
    let mut summary = format!(
        "{} file(s): {} PhoneNumber(s), {} IncomingCallPolicy(ies), {} EscalationChain(s), {} Schedule(s)",
        loaded.files.len(),
        o.phone_numbers.len() + rejected("PhoneNumber"),
        o.policies.len() + rejected("IncomingCallPolicy"),
        o.chains.len() + rejected("EscalationChain"),
        o.schedules.len() + rejected("Schedule")
    );
    // The kinds beside the four, named when there are any.
    for (n, kind) in [
        (o.schedule_overrides.len(), "ScheduleOverride"),
        (o.people.len(), "Person"),
        (o.calendars.len(), "HolidayCalendar"),
        (o.caller_lists.len(), "CallerList"),
    ] {
        let n = n + rejected(kind);
        if n > 0 {
            summary.push_str(&format!(", {n} {kind}(s)"));
        }
    }
    if !problems.is_empty() {
        println!("\n{summary}\n{} problem(s) found", problems.len());
        return Ok(ExitCode::FAILURE);
    }
    println!("{summary}: valid");
    for t in &compiled.tables {
        println!(
            "  {} -> policy {}/{}: {} chain(s), {} schedule(s), revision {}",
            t.number,
            t.owner.namespace,
            t.policy.name,
            t.chains.len(),
            t.schedules.len(),
            t.revision
        );
    }
    for id in &compiled.awaiting_number {
        println!(
            "  {id}: valid, no routing table until Twilio has sold it a number (spec.purchase)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
