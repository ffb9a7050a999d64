#![forbid(unsafe_code)]
//! `switchboard`: the command users run.

mod call;
mod calls;
mod dev;
mod diff;
mod engine;
mod gaps;
mod oncall;
mod rota;
mod shift_override;
mod simulate;
mod testing;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Switchboard: live call routing for on-call teams, as a Kubernetes operator.
#[derive(Parser, Debug)]
#[command(name = "switchboard", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check manifests as the API server and the operator would: schema, unknown fields, CEL
    /// rules, references between objects and the compile step. Exits non-zero on any problem.
    Validate(validate::Manifests),
    /// Show who is on call in each schedule, and the next handoffs; or draw the rota
    /// (`--svg`), or write it as a calendar feed (`--ics`).
    Oncall(oncall::Args),
    /// Play one call in process, as Twilio would, against the real webhook server on an
    /// in-memory store (no cluster, Redis or Twilio), and print what everyone hears and does,
    /// who is rung when and why, and the outcome.
    Simulate(simulate::Args),
    /// Run routing tests: call cases from YAML test files, each played offline like
    /// `simulate`, checked against what must happen (who is rung in which order and why, who
    /// answers and how soon, the outcome, the alert, what the caller hears). Exits 1 when a
    /// case fails, 2 on bad input. The format is in docs/testing.md.
    Test(testing::Args),
    /// Compare who would be rung, hour by hour over the next days, between two versions of
    /// the manifests (folders, or git revisions as REV:PATH), and print the periods that
    /// changed. Exits 0 when nothing changed, 1 when something did, 2 on error.
    Diff(diff::Args),
    /// Place one scripted call at a running webhook server (`switchboard dev`, or a deployment
    /// given its URL and auth token), signed as Twilio signs, in real time, and print the
    /// transcript `simulate` prints.
    Call(call::Args),
    /// "Take my shift": create a ScheduleOverride (in the cluster of the kubeconfig context,
    /// or in a folder of manifests with --dir) that puts a person on call in a Schedule until
    /// a time; the operator deletes it once it has ended. `--remove NAME` takes it back.
    Override(shift_override::Args),
    /// List recent calls from the call log in Redis, or show one call in full.
    Calls(calls::Args),
    /// Run Switchboard on this machine without Kubernetes: the operator's pipeline on a folder
    /// of manifests (reloaded when a file changes), the webhook server, and Redis (given) or
    /// an in-memory store. Point a Twilio number at it through a tunnel.
    Dev(dev::Args),
    /// Print the CustomResourceDefinitions (the YAML committed in crds/).
    Crds,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(m) => validate::run(&m.paths, m.recursive),
        Command::Oncall(args) => oncall::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Test(args) => testing::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Call(args) => call::run(args),
        Command::Override(args) => shift_override::run(args),
        Command::Calls(args) => calls::run(args),
        Command::Dev(args) => dev::run(args),
        Command::Crds => {
            print!("{}", switchboard_crds::crds_yaml());
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
