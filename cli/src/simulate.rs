//! `switchboard simulate`: one call, played in process against the real webhook server on an
//! in-memory store, with the simulator standing in for Twilio. No cluster, Redis or Twilio.
//!
//! ```text
//!   manifests ─compile─► RoutingTable ─► memory Store ◄─ webhook server (127.0.0.1:random)
//!                                                              ▲ signed webhooks, TwiML
//!   --press / --responder ─► Script ─► Simulator (virtual clock shared with the server)
//!   transcript + the server's call log + the call's alert stages, merged by time ─► stdout
//! ```

use std::process::ExitCode;

use anyhow::{Context, bail};
use jiff::Timestamp;
use switchboard_routing::RoutingTable;
use switchboard_sim::Script;

use crate::engine::{self, Bench, Plan};
use crate::oncall::{At, parse_at};

/// What to simulate.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub manifests: crate::validate::Manifests,
    /// When the call comes in: RFC 3339 (`2026-11-23T15:00:00Z`) or a zoned time
    /// (`2026-11-23T10:00[America/New_York]`). Default: now.
    #[arg(long)]
    pub at: Option<String>,
    #[command(flatten)]
    pub call: Caller,
}

/// Who calls which hotline, and what the caller and the responders do (`simulate`, `call`).
#[derive(clap::Args, Debug)]
pub struct Caller {
    /// The hotline number called.
    #[arg(long)]
    pub to: String,
    /// The caller's number.
    #[arg(long, default_value = "+15105550123")]
    pub from: String,
    /// Keys the caller presses at each menu prompt, in order (`--press 9 --press 2`);
    /// `none` presses nothing at that prompt.
    #[arg(long)]
    pub press: Vec<String>,
    /// What the caller says when asked to describe the problem.
    #[arg(long)]
    pub say: Option<String>,
    /// What a responder does, by person name or number: `alice=accept`, `bob=no-answer`,
    /// `+12125550201=voicemail@3`. Behaviours: accept, ignore, voicemail, hang-up,
    /// accept-then-drop (each with an optional `@SECONDS` of ringing first), no-answer, busy,
    /// fail. Anyone not named does not pick up.
    #[arg(long, value_name = "WHO=BEHAVIOUR")]
    pub responder: Vec<String>,
    /// The caller hangs up this many seconds into the call.
    #[arg(long, value_name = "SECONDS")]
    pub hang_up_after: Option<u32>,
    /// The caller leaves a voicemail of this many seconds when asked (default: says nothing).
    #[arg(long, value_name = "SECONDS")]
    pub leave_message: Option<u32>,
    /// Seconds a connected call lasts.
    #[arg(long, default_value_t = 60)]
    pub talk: u32,
}

/// The manifests as loaded, and the table of `to` among them (with a note when there is none).
pub fn table_of(
    manifests: &crate::validate::Manifests,
    to: &str,
) -> anyhow::Result<(switchboard_compile::Loaded, Option<RoutingTable>)> {
    let (loaded, compiled) =
        crate::validate::check_for(&manifests.paths, manifests.recursive, true)?;
    for p in loaded.problems.iter().chain(&compiled.problems) {
        eprintln!("warning: {p}");
    }
    let table = compiled.tables.iter().find(|t| t.number == to).cloned();
    if table.is_none() {
        let known: Vec<_> = compiled.tables.iter().map(|t| t.number.as_str()).collect();
        eprintln!(
            "note: no PhoneNumber in these manifests has the number {to} (known: {}); calling it as an unknown number",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    }
    Ok((loaded, table))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let at = match args.at.as_deref().map(parse_at).transpose()? {
        None => Timestamp::now(),
        Some(At::Instant(t)) => t,
        Some(At::Local(_)) => bail!(
            "--at needs a zone or an offset for a call: 2026-11-23T10:00[America/New_York] or 2026-11-23T15:00:00Z"
        ),
    };
    let (_, table) = table_of(&args.manifests, &args.call.to)?;
    let script = args.call.script(table.as_ref())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tables: Vec<RoutingTable> = table.into_iter().collect();
    let (transcript, call) = runtime.block_on(async {
        let mut bench = Bench::start(&tables).await?;
        bench.call(script, at).await
    })?;
    print!("{}", engine::render(&transcript, call.as_ref()));
    Ok(if transcript.application_errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

impl Caller {
    /// The simulator's script of this call on `table`.
    pub fn script(&self, table: Option<&RoutingTable>) -> anyhow::Result<Script> {
        let plan = Plan {
            from: self.from.clone(),
            to: self.to.clone(),
            press: self.press.clone(),
            say: self.say.clone(),
            hang_up_after: self.hang_up_after,
            leave_message: self.leave_message,
            talk: self.talk,
        };
        let mut script = plan.script(table);
        let people = engine::people(table);
        for r in &self.responder {
            let (who, behaviour) = r.split_once('=').with_context(|| {
                format!("--responder {r:?}: write WHO=BEHAVIOUR, like alice=accept")
            })?;
            let (addresses, behaviour) = engine::responder(&people, who, behaviour)
                .map_err(|e| anyhow::anyhow!("--responder {r:?}: {e}"))?;
            for address in addresses {
                script.responders.insert(address, behaviour);
            }
        }
        Ok(script)
    }
}
