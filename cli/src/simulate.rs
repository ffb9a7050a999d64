//! `switchboard simulate`: one call, played in process against the real webhook server on an
//! in-memory store, with the simulator standing in for Twilio. No cluster, Redis or Twilio.
//!
//! ```text
//!   manifests ─compile─► RoutingTable ─► memory Store ◄─ webhook server (127.0.0.1:random)
//!                                                              ▲ signed webhooks, TwiML
//!   --press / --responder ─► Script ─► Simulator (virtual clock shared with the server)
//!   transcript + the server's call log + the call's alert stages, merged by time ─► stdout
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use jiff::Timestamp;
use switchboard_routing::{Alert, Contact, RoutingTable, Stage};
use switchboard_sim::{Behaviour, Message, Script, Simulator};
use switchboard_webhook::state::CallState;
use switchboard_webhook::{AppState, AuthToken, Clock, Credentials, Fallback, Store, app};

use crate::oncall::{At, parse_at};

/// What to simulate.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files or folders of manifests.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Also read the subfolders of folders.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// The hotline number called.
    #[arg(long)]
    pub to: String,
    /// The caller's number.
    #[arg(long, default_value = "+15105550123")]
    pub from: String,
    /// When the call comes in: RFC 3339 (`2026-11-23T15:00:00Z`) or a zoned time
    /// (`2026-11-23T10:00[America/New_York]`). Default: now.
    #[arg(long)]
    pub at: Option<String>,
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

/// Placeholder account and token for a table whose account is not known yet; the signature
/// check runs all the same.
const SIMULATED_ACCOUNT: &str = "AC00000000000000000000000000000000";
const SIMULATED_TOKEN: &str = "simulated-auth-token";
const PUBLIC_URL: &str = "https://switchboard.simulated";

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let at = match args.at.as_deref().map(parse_at).transpose()? {
        None => Timestamp::now(),
        Some(At::Instant(t)) => t,
        Some(At::Local(_)) => bail!(
            "--at needs a zone or an offset for a call: 2026-11-23T10:00[America/New_York] or 2026-11-23T15:00:00Z"
        ),
    };
    let (loaded, compiled) = crate::validate::check(&args.paths, args.recursive)?;
    for p in loaded.problems.iter().chain(&compiled.problems) {
        eprintln!("warning: {p}");
    }
    let table = compiled
        .tables
        .iter()
        .find(|t| t.number == args.to)
        .cloned();
    if table.is_none() {
        let known: Vec<_> = compiled.tables.iter().map(|t| t.number.as_str()).collect();
        eprintln!(
            "note: no PhoneNumber in these manifests has the number {} (known: {}); simulating a call to an unknown number",
            args.to,
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    }
    let script = script(&args, table.as_ref())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (transcript, call) = runtime.block_on(simulate(table, script, at))?;
    print!("{}", render(&transcript, call.as_ref()));
    Ok(if transcript.application_errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Every person of the table's schedules, by name.
fn people(table: Option<&RoutingTable>) -> HashMap<String, (String, Contact)> {
    let mut people = HashMap::new();
    for s in table.into_iter().flat_map(|t| t.schedules.values()) {
        for p in &s.people {
            people.insert(p.name.clone(), (p.display_name.clone(), p.contact.clone()));
        }
    }
    people
}

fn script(args: &Args, table: Option<&RoutingTable>) -> anyhow::Result<Script> {
    let mut script = Script::call(&args.from, &args.to);
    let people = people(table);
    for (display, contact) in people.values() {
        script
            .names
            .insert(contact.address().to_string(), display.clone());
    }
    for r in &args.responder {
        let (who, behaviour) = r.split_once('=').with_context(|| {
            format!("--responder {r:?}: write WHO=BEHAVIOUR, like alice=accept")
        })?;
        let behaviour: Behaviour = behaviour
            .parse()
            .map_err(|e| anyhow::anyhow!("--responder {r:?}: {e}"))?;
        let address = match people.get(who) {
            Some((_, contact)) => contact.address().to_string(),
            None if who.starts_with('+') || who.starts_with("sip:") => who.to_string(),
            None => {
                let mut names: Vec<_> = people.keys().map(String::as_str).collect();
                names.sort();
                bail!(
                    "--responder {r:?}: nobody called {who:?} in this number's schedules (people: {})",
                    names.join(", ")
                )
            }
        };
        script.responders.insert(address, behaviour);
    }
    script.presses = args
        .press
        .iter()
        .map(|p| {
            if p == "none" {
                String::new()
            } else {
                p.clone()
            }
        })
        .collect();
    script.speech = args.say.clone();
    script.caller_hangs_up_after = args.hang_up_after;
    script.talk_seconds = args.talk;
    script.message = args.leave_message.map(|seconds| Message {
        seconds,
        transcript: "(the caller's message)".into(),
    });
    if let Some(a) = table.and_then(|t| t.policy.acceptance.as_ref()) {
        script.accept_digit = a.digit.clone();
    }
    Ok(script)
}

async fn simulate(
    table: Option<RoutingTable>,
    script: Script,
    at: Timestamp,
) -> anyhow::Result<(switchboard_sim::Transcript, Option<CallState>)> {
    let account = table
        .as_ref()
        .and_then(|t| t.account_sid.clone())
        .unwrap_or_else(|| SIMULATED_ACCOUNT.to_string());
    let store = Store::memory();
    if let Some(t) = &table {
        store.put_table(t).await?;
    }
    let clock = Clock::manual(at);
    let Clock::Manual(ms) = &clock else {
        unreachable!("Clock::manual is manual")
    };
    let ms = ms.clone();
    let state = AppState::new(
        store.clone(),
        Credentials::fixed([(account.clone(), AuthToken::new(SIMULATED_TOKEN))]),
        PUBLIC_URL,
        Fallback::default(),
        clock,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding a loopback port for the in-process webhook server")?;
    let target = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app(state)).await });
    let mut sim = Simulator::new(PUBLIC_URL, vec![target], &account, SIMULATED_TOKEN, ms);
    sim.fallback_path = Some("/twilio/voice/fallback".into());
    let transcript = sim.run(script).await?;
    let call = store.call(&transcript.call_sid).await?;
    server.abort();
    Ok((transcript, call))
}

/// The notification targets of `a`: `incident-bot (Webhook), oncall-slack (Slack)`.
fn targets(a: &Alert) -> String {
    a.route
        .targets
        .iter()
        .map(|t| format!("{} ({})", t.name, t.kind))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A call's alert as the transcript shows it: its targets and when each stage fell due.
struct AlertView {
    alert: Alert,
    to: String,
    timeline: Vec<(Timestamp, Stage)>,
}

impl AlertView {
    /// The view of `call`'s alert, when its policy names notification targets.
    fn of(call: &CallState) -> Option<AlertView> {
        let alert = call.alert().filter(|a| !a.route.targets.is_empty())?;
        Some(AlertView {
            to: targets(&alert),
            timeline: alert.timeline(),
            alert,
        })
    }
}

/// What the operator's dispatcher sends for this call, in one line.
fn alerts(view: Option<&AlertView>) -> String {
    let Some(AlertView {
        alert: a,
        to,
        timeline,
    }) = view
    else {
        return "none (the policy names no notification targets)".into();
    };
    if timeline.is_empty() {
        let end = a.ended_at.unwrap_or(a.started_at);
        let why = a.plan(end).suppressed.unwrap_or("nothing due");
        return format!("none sent ({why}); targets: {to}");
    }
    let stages: Vec<&str> = timeline.iter().map(|(_, s)| s.as_str()).collect();
    format!("{} -> {to} (sent by the operator)", stages.join(", "))
}

/// The simulator's transcript, the server's events and the call's alert, merged by time.
fn render(t: &switchboard_sim::Transcript, call: Option<&CallState>) -> String {
    let start = t.lines.first().map(|l| l.at).unwrap_or_default();
    let mut lines: Vec<(Timestamp, u8, String)> =
        t.lines.iter().map(|l| (l.at, 0, l.text.clone())).collect();
    let alert = call.and_then(AlertView::of);
    if let Some(c) = call {
        lines.extend(
            c.events
                .iter()
                .map(|(at, e)| (*at, 1, format!("  switchboard: {e}"))),
        );
    }
    if let Some(AlertView {
        alert: a,
        to,
        timeline,
    }) = &alert
    {
        lines.extend(timeline.iter().map(|&(at, stage)| {
            let text = match stage {
                Stage::Triggered => format!("  alert: triggered, to {to}"),
                Stage::Acknowledged => format!(
                    "  alert: acknowledged ({} accepted)",
                    a.accepted_by.as_deref().unwrap_or("a responder")
                ),
                other => format!("  alert: {}", other.as_str()),
            };
            (at, 2, text)
        }));
    }
    lines.sort_by_key(|(at, source, _)| (*at, *source));
    let mut out = String::new();
    for (at, _, text) in lines {
        out.push_str(&format!(
            "[{:>4}s] {text}\n",
            at.duration_since(start).as_secs()
        ));
    }
    out.push('\n');
    match call {
        Some(c) => out.push_str(&crate::calls::summary(c)),
        None => out.push_str("The server kept no record of this call.\n"),
    }
    if call.is_some() {
        out.push_str(&format!("  alerts:         {}\n", alerts(alert.as_ref())));
    }
    for e in &t.application_errors {
        out.push_str(&format!(
            "APPLICATION ERROR (the caller would hear Twilio's error message): {e}\n"
        ));
    }
    out
}
