//! `switchboard call`: one scripted call placed at a running webhook server (`switchboard
//! dev`, or a deployment given its URL and auth token), signed as Twilio signs, played by the
//! simulator `simulate` uses, in real time, and printed the same way.
//!
//! ```text
//!   manifests ─► the hotline's table (names, accept key) and Secrets (account SID, token)
//!   Caller ─► Script ─► Simulator (real time) ─signed webhooks─► the running server
//!   transcript (+ the server's call log, read from its Redis with --redis-url) ─► stdout
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use anyhow::{Context, bail};
use jiff::Timestamp;
use switchboard_sim::Simulator;
use switchboard_webhook::Store;
use switchboard_webhook::store::{RedisStore, Retention};

use crate::simulate::{Caller, table_of};

/// `switchboard call` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub manifests: crate::validate::Manifests,
    /// Where the webhook server listens (`switchboard dev`'s `--listen`).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The server's public URL, which Twilio signs requests for (`--public-url` of `dev`, or
    /// `SWITCHBOARD_PUBLIC_URL` of a deployment). Default: `--url`.
    #[arg(long)]
    pub public_url: Option<String>,
    /// The Twilio account the call is signed for. Default: the one Secret among the
    /// manifests with an `accountSid` and an `authToken`.
    #[arg(long, env = "SWITCHBOARD_TWILIO_ACCOUNT_SID")]
    pub account_sid: Option<String>,
    /// Its auth token, which signs the webhooks. Default: from that Secret.
    #[arg(long, env = "SWITCHBOARD_TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// The server's Redis: with it, the call log (who was rung when and why, the alert) is
    /// printed beside the transcript, as `simulate` prints it.
    #[arg(long)]
    pub redis_url: Option<String>,
    #[command(flatten)]
    pub call: Caller,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (loaded, table) = table_of(&args.manifests, &args.call.to)?;
    let script = args.call.script(table.as_ref())?;
    let (account, token) = credentials(&args, &loaded)?;
    let public_url = args.public_url.clone().unwrap_or_else(|| args.url.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let clock = Arc::new(AtomicI64::new(Timestamp::now().as_millisecond()));
        let mut sim = Simulator::new(&public_url, vec![args.url.clone()], &account, &token, clock);
        sim.real_time = true;
        eprintln!(
            "calling {} at {} in real time (as long as the call lasts)...",
            args.call.to, args.url
        );
        let transcript = sim
            .run(script)
            .await
            .with_context(|| format!("calling the webhook server at {}", args.url))?;
        let call = match &args.redis_url {
            Some(url) => {
                let store = Store::redis(
                    RedisStore::connect(url, Duration::from_secs(5))?,
                    Retention::default(),
                );
                store.call(&transcript.call_sid).await?
            }
            None => None,
        };
        let no_record = format!(
            "Call {}: the server's call log is in its store (`switchboard calls {}` with its \
             Redis, or give --redis-url here).\n",
            transcript.call_sid, transcript.call_sid
        );
        print!(
            "{}",
            crate::engine::render_or(&transcript, call.as_ref(), &no_record)
        );
        Ok(if transcript.application_errors.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

/// The account SID and auth token to sign with: given, or the one pair among the manifests'
/// Secrets (the ones `switchboard dev` checks signatures with).
fn credentials(
    args: &Args,
    loaded: &switchboard_compile::Loaded,
) -> anyhow::Result<(String, String)> {
    if let (Some(sid), Some(token)) = (&args.account_sid, &args.auth_token) {
        return Ok((sid.clone(), token.clone()));
    }
    let pairs = switchboard_apply::notify::Snapshot::of(loaded).auth_tokens();
    let matching: Vec<_> = pairs
        .into_iter()
        .filter(|(sid, _)| args.account_sid.as_ref().is_none_or(|a| a == sid))
        .collect();
    match &matching[..] {
        [(sid, token)] => Ok((
            sid.clone(),
            args.auth_token.clone().unwrap_or(token.clone()),
        )),
        [] => bail!(
            "no Secret among the manifests has an accountSid and authToken{}: give --account-sid and --auth-token (or SWITCHBOARD_TWILIO_AUTH_TOKEN)",
            args.account_sid
                .as_deref()
                .map(|a| format!(" for {a}"))
                .unwrap_or_default()
        ),
        several => {
            let sids: Vec<&str> = several.iter().map(|(s, _)| s.as_str()).collect();
            bail!(
                "several Twilio accounts among the manifests' Secrets ({}): choose one with --account-sid",
                sids.join(", ")
            )
        }
    }
}
