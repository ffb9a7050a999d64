//! `switchboard calls`: the call log (and, with `--texts`, the text log) kept in Redis by the
//! webhook server.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use switchboard_webhook::Store;
use switchboard_webhook::sms::TextRecord;
use switchboard_webhook::state::CallState;
use switchboard_webhook::store::{RedisStore, Retention};

/// `switchboard calls` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The Redis the webhook servers use.
    #[arg(
        long,
        env = "SWITCHBOARD_REDIS_URL",
        default_value = "redis://127.0.0.1:6379/0"
    )]
    pub redis_url: String,
    /// How many recent calls (or texts) to list.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// List the texts to the hotlines instead of the calls: sender, outcome, who they were
    /// forwarded to, what they said.
    #[arg(long, conflicts_with = "call")]
    pub texts: bool,
    /// Show this call in full (summary, everyone rung, every event) instead of the list.
    #[arg(value_name = "CALL_SID")]
    pub call: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = Store::redis(
            RedisStore::connect(&args.redis_url, Duration::from_secs(5))?,
            Retention::default(),
        );
        match &args.call {
            Some(sid) => {
                let call = store
                    .call(sid)
                    .await
                    .with_context(|| format!("reading call {sid} from {}", args.redis_url))?
                    .with_context(|| {
                        format!("no call {sid} in the call log (expired, or never seen)")
                    })?;
                print!("{}", detail(&call));
            }
            None if args.texts => {
                let texts = store
                    .recent_texts(args.limit)
                    .await
                    .with_context(|| format!("reading the text log from {}", args.redis_url))?;
                print!("{}", list_texts(&texts));
            }
            None => {
                let calls = store
                    .recent_calls(args.limit)
                    .await
                    .with_context(|| format!("reading the call log from {}", args.redis_url))?;
                print!("{}", list(&calls));
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// How long a call can last on Twilio before Twilio ends it (the `<Dial timeLimit>` default
/// and the longest call, 4 hours), with a margin: a call older than this without an outcome
/// never got its final callback.
const LONGEST_CALL: jiff::SignedDuration = jiff::SignedDuration::from_secs(4 * 3600 + 600);

fn outcome(c: &CallState) -> &'static str {
    match c.outcome {
        Some(o) => o.as_str(),
        None if jiff::Timestamp::now().duration_since(c.started_at) > LONGEST_CALL => "unfinished",
        None => "in-progress",
    }
}

fn answered_by(c: &CallState) -> String {
    c.accepted
        .as_ref()
        .map(|(r, _)| r.display_name.clone())
        .unwrap_or_else(|| "-".into())
}

fn time_to_answer(c: &CallState) -> Option<i64> {
    c.accepted
        .as_ref()
        .map(|(_, at)| at.duration_since(c.started_at).as_secs())
}

/// The list: one call per line, newest first.
pub fn list(calls: &[CallState]) -> String {
    let mut rows = vec![
        [
            "STARTED (UTC)",
            "CALL",
            "HOTLINE",
            "CALLER",
            "CHOICE",
            "OUTCOME",
            "ANSWERED BY",
            "TO ANSWER",
            "TALK",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for c in calls {
        rows.push(vec![
            c.started_at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
            c.call_sid.clone(),
            c.to.clone(),
            c.from.clone(),
            c.menu_choice.clone().unwrap_or_else(|| "-".into()),
            outcome(c).to_string(),
            answered_by(c),
            time_to_answer(c)
                .map(|s| format!("{s}s"))
                .unwrap_or_else(|| "-".into()),
            c.talk_seconds
                .map(|s| format!("{s}s"))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    table(&rows)
}

/// The texts: one per line, newest first; a long text is cut at 40 characters.
pub fn list_texts(texts: &[TextRecord]) -> String {
    let mut rows = vec![
        [
            "RECEIVED (UTC)",
            "MESSAGE",
            "HOTLINE",
            "FROM",
            "OUTCOME",
            "FORWARDED TO",
            "TEXT",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for t in texts {
        let mut text: String = t.body.chars().take(40).collect();
        if t.body.chars().count() > 40 {
            text.push_str("...");
        }
        rows.push(vec![
            t.received_at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
            t.message_sid.clone(),
            t.to.clone(),
            t.from.clone(),
            t.outcome.clone(),
            if t.forwarded_to.is_empty() {
                "-".into()
            } else {
                t.forwarded_to.join(", ")
            },
            format!("{text:?}"),
        ]);
    }
    table(&rows)
}

fn table(rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A call's summary: outcome, who answered, timings, everyone rung.
pub fn summary(c: &CallState) -> String {
    let mut out = format!(
        "Call {} from {} to {} (policy {})\n  outcome:        {}\n",
        c.call_sid,
        c.from,
        c.to,
        if c.policy.is_empty() { "-" } else { &c.policy },
        outcome(c)
    );
    if let Some(n) = &c.callback {
        out.push_str(&format!("  call-back:      requested to {n}\n"));
    }
    if let Some(why) = &c.closed {
        out.push_str(&format!("  closed:         {why}\n"));
    }
    if let Some(choice) = &c.menu_choice {
        out.push_str(&format!("  menu choice:    {choice}\n"));
    }
    if let Some(d) = &c.description {
        out.push_str(&format!("  description:    {d:?}\n"));
    }
    if let Some(s) = time_to_answer(c) {
        out.push_str(&format!(
            "  answered by:    {} after {s}s\n",
            answered_by(c)
        ));
    }
    if let Some(t) = c.talk_seconds {
        out.push_str(&format!("  talk time:      {t}s\n"));
    }
    if let Some(u) = &c.recording_url {
        out.push_str(&format!("  voicemail:      {u}\n"));
    }
    if let Some(t) = &c.transcription {
        out.push_str(&format!("  transcription:  {t:?}\n"));
    }
    if !c.rung.is_empty() {
        out.push_str("  rung:\n");
        for r in &c.rung {
            out.push_str(&format!(
                "    pass {} step {}: {} -> {}  [{}]\n",
                r.pass + 1,
                r.step + 1,
                r.label(),
                // A ring with no result once the call is over was cut off with it.
                r.result.map_or(
                    if c.outcome.is_some() {
                        "canceled"
                    } else {
                        "ringing"
                    },
                    |r| r.as_str()
                ),
                r.reason
            ));
        }
    }
    out
}

/// A call in full: the summary and its events.
pub fn detail(c: &CallState) -> String {
    let mut out = summary(c);
    out.push_str("  events:\n");
    for (at, e) in &c.events {
        out.push_str(&format!(
            "    {} (+{}s) {e}\n",
            at.strftime("%H:%M:%S"),
            at.duration_since(c.started_at).as_secs()
        ));
    }
    out
}
