//! The engine `simulate` and `test` share: the real webhook server in process on an in-memory
//! store holding the compiled tables, the simulator playing Twilio against it over loopback
//! HTTP on a virtual clock, and the transcript that merges what the caller and responders
//! heard with the server's call log and the call's alert.
//!
//! ```text
//!   tables ─► memory Store ◄─ webhook server (127.0.0.1:random)
//!                                   ▲ signed webhooks, TwiML
//!   Script ─► Simulator ────────────┘ (one virtual clock, set to each call's start)
//!   transcript + call log + alert stages, merged by time ─► render()
//! ```

use std::collections::HashMap;

use anyhow::Context;
use jiff::Timestamp;
use switchboard_routing::{Alert, Contact, RoutingTable, Stage};
use switchboard_sim::{Behaviour, Message, Script, Simulator, Transcript};
use switchboard_webhook::state::CallState;
use switchboard_webhook::{AppState, AuthToken, Clock, Credentials, Fallback, Store, app};

/// The account every simulated table is served under (the signature check runs all the same).
const SIMULATED_ACCOUNT: &str = "AC00000000000000000000000000000000";
pub(crate) const SIMULATED_TOKEN: &str = "simulated-auth-token";
const PUBLIC_URL: &str = "https://switchboard.simulated";

/// A webhook server on a memory store and the simulator that calls it: many calls in turn,
/// each at its own instant (CallSids stay unique, so one store keeps them all).
pub struct Bench {
    store: Store,
    clock: std::sync::Arc<std::sync::atomic::AtomicI64>,
    sim: Simulator,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Bench {
    /// Starts the server with `tables` published.
    pub async fn start(tables: &[RoutingTable]) -> anyhow::Result<Bench> {
        let store = Store::memory();
        for t in tables {
            let mut t = t.clone();
            t.account_sid = Some(SIMULATED_ACCOUNT.into());
            store.put_table(&t).await?;
        }
        let clock = Clock::manual(Timestamp::now());
        let Clock::Manual(ms) = &clock else {
            unreachable!("Clock::manual is manual")
        };
        let ms = ms.clone();
        let state = AppState::new(
            store.clone(),
            Credentials::fixed([(
                SIMULATED_ACCOUNT.to_string(),
                AuthToken::new(SIMULATED_TOKEN),
            )]),
            PUBLIC_URL,
            Fallback::default(),
            clock,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding a loopback port for the in-process webhook server")?;
        let target = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move { axum::serve(listener, app(state)).await });
        let mut sim = Simulator::new(
            PUBLIC_URL,
            vec![target],
            SIMULATED_ACCOUNT,
            SIMULATED_TOKEN,
            ms.clone(),
        );
        sim.fallback_path = Some("/twilio/voice/fallback".into());
        Ok(Bench {
            store,
            clock: ms,
            sim,
            server,
        })
    }

    /// Plays `script` starting at `at`; the transcript and the call as the server logged it.
    pub async fn call(
        &mut self,
        script: switchboard_sim::Script,
        at: Timestamp,
    ) -> anyhow::Result<(Transcript, Option<CallState>)> {
        self.clock
            .store(at.as_millisecond(), std::sync::atomic::Ordering::SeqCst);
        let transcript = self.sim.run(script).await?;
        let call = self.store.call(&transcript.call_sid).await?;
        Ok((transcript, call))
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// What the caller does in one call (responders are added to the script with [`responder`]).
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The caller's number.
    pub from: String,
    /// The hotline called.
    pub to: String,
    /// Keys pressed at each menu prompt; `none` presses nothing at that prompt.
    pub press: Vec<String>,
    /// What the caller says when asked to describe the problem.
    pub say: Option<String>,
    /// The caller hangs up this many seconds into the call.
    pub hang_up_after: Option<u32>,
    /// Seconds of voicemail left when asked.
    pub leave_message: Option<u32>,
    /// Seconds a connected call lasts.
    pub talk: u32,
}

impl Plan {
    /// The simulator's script for this plan on `table` (names shown, the accept key), without
    /// responders.
    pub fn script(&self, table: Option<&RoutingTable>) -> Script {
        let mut script = Script::call(&self.from, &self.to);
        for (display, contacts) in people(table).values() {
            for contact in contacts {
                script
                    .names
                    .insert(contact.address().to_string(), display.clone());
            }
        }
        script.presses = self
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
        script.speech = self.say.clone();
        script.caller_hangs_up_after = self.hang_up_after;
        script.talk_seconds = self.talk;
        script.message = self.leave_message.map(|seconds| Message {
            seconds,
            transcript: "(the caller's message)".into(),
        });
        if let Some(a) = table.and_then(|t| t.policy.acceptance.as_ref()) {
            script.accept_digit = a.digit.clone();
            if let Some(d) = &a.decline_digit {
                script.decline_digit = d.clone();
            }
        }
        script
    }
}

/// The address and behaviour of responder `who` (a person's name, a number or a SIP URI) doing
/// `behaviour` (`accept@5`); the error says what is wrong, for the caller to prefix.
/// What `who` (a person's name: every contact of theirs; or one number or SIP URI) does.
pub fn responder(
    people: &HashMap<String, (String, Vec<Contact>)>,
    who: &str,
    behaviour: &str,
) -> Result<(Vec<String>, Behaviour), String> {
    let behaviour: Behaviour = behaviour.parse()?;
    let address = match people.get(who) {
        Some((_, contacts)) => contacts.iter().map(|c| c.address().to_string()).collect(),
        None if who.starts_with('+') || who.starts_with("sip:") => vec![who.to_string()],
        None => {
            let mut names: Vec<_> = people.keys().map(String::as_str).collect();
            names.sort();
            return Err(format!(
                "nobody called {who:?} in this number's schedules (people: {})",
                names.join(", ")
            ));
        }
    };
    Ok((address, behaviour))
}

/// Every person of the table's schedules and directory, by name, with their contacts in order.
pub fn people(table: Option<&RoutingTable>) -> HashMap<String, (String, Vec<Contact>)> {
    let mut people = HashMap::new();
    let schedules = table.into_iter().flat_map(|t| t.schedules.values());
    let directory = table.into_iter().flat_map(|t| t.people.values());
    for p in schedules.flat_map(|s| &s.people).chain(directory) {
        let contacts = std::iter::once(p.contact.clone())
            .chain(p.more_contacts.iter().map(|c| c.contact.clone()))
            .collect();
        people.insert(p.name.clone(), (p.display_name.clone(), contacts));
    }
    people
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
pub struct AlertView {
    /// The alert as the call ended.
    pub alert: Alert,
    /// Its targets, in one line.
    pub to: String,
    /// When each stage fell due.
    pub timeline: Vec<(Timestamp, Stage)>,
}

impl AlertView {
    /// The view of `call`'s alert, when its policy names notification targets.
    pub fn of(call: &CallState) -> Option<AlertView> {
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
pub fn render(t: &switchboard_sim::Transcript, call: Option<&CallState>) -> String {
    render_or(t, call, "The server kept no record of this call.\n")
}

/// [`render`], saying `no_record` where the call log would be when there is none.
pub fn render_or(
    t: &switchboard_sim::Transcript,
    call: Option<&CallState>,
    no_record: &str,
) -> String {
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
                Stage::CallbackRequested => format!(
                    "  alert: call-back requested to {}",
                    a.callback.as_deref().unwrap_or("the caller")
                ),
                Stage::RaisedAgain => format!(
                    "  alert: raised again, to {to}: the hotline opens at {at} (left while closed: {})",
                    a.closed.as_deref().unwrap_or("outside opening hours")
                ),
                other => format!("  alert: {}", other.as_str()),
            };
            (at, 2, text)
        }));
    }
    lines.sort_by_key(|(at, source, _)| (*at, *source));
    let mut out = String::new();
    for (at, _, text) in lines {
        let secs = at.duration_since(start).as_secs();
        // Days later (an alert raised again when the hotline opens): hours read better.
        let when = if secs >= 100_000 {
            format!("+{}h", secs / 3600)
        } else {
            format!("{secs}s")
        };
        out.push_str(&format!("[{when:>5}] {text}\n"));
    }
    out.push('\n');
    match call {
        Some(c) => out.push_str(&crate::calls::summary(c)),
        None => out.push_str(no_record),
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
