#![forbid(unsafe_code)]
//! A call simulator that plays Twilio's part: it sends the webhooks Twilio would send, signed
//! as Twilio signs them, and executes the TwiML that comes back the way Twilio documents each
//! verb, while a [`Script`] decides what the caller and each responder do.
//!
//! ```text
//!   Script (caller keys, responders' behaviour) ─► Simulator ─POST, X-Twilio-Signature─► server
//!        virtual clock (shared with the server) ◄─┘    ◄──────────── TwiML ────────────┘
//!   Transcript: what the caller and responders hear and do, when
//! ```
//!
//! Time is virtual: saying a sentence, ringing for 20 s or talking for a minute moves a clock
//! (milliseconds since the epoch in an `AtomicI64`) that the server under test reads too, so a
//! whole escalation plays out in milliseconds of real time.
//!
//! The Twilio rules modelled, each from Twilio's TwiML reference
//! (<https://www.twilio.com/docs/voice/twiml>):
//! - `<Gather>` POSTs `Digits` / `SpeechResult` to `action`; with no input it falls through to
//!   the next verb, unless `actionOnEmptyResult` is true ("<Gather>", `actionOnEmptyResult`).
//! - `<Dial>` with several `<Number>`s rings them all; the first to answer is connected and the
//!   others are hung up ("<Dial>", "Dialing multiple numbers simultaneously").
//! - `<Number url>` runs TwiML on the called party's leg after it answers and before the
//!   parties are connected; when that TwiML ends the parties are bridged, and a `<Hangup>` in
//!   it ends the called leg without bridging ("<Number>", `url`).
//! - The `<Dial action>` request carries `DialCallStatus`, `DialCallDuration` and the caller's
//!   `CallStatus`; if the caller has hung up, the TwiML it returns is not executed.
//!   Twilio reports a called leg that answered and then hung up during the whisper as
//!   `completed` with no talk time, so the server must not take `completed` as proof of a
//!   conversation; the simulator reports exactly that.
//! - `<Record>` POSTs `RecordingUrl`, `RecordingDuration` to `action` when the caller finishes
//!   (`Digits=hangup` when they hung up); with no audio it continues with the next verb;
//!   `transcribeCallback` receives `TranscriptionText` later.
//! - An answer that is not 200 with TwiML is an application error (11200 / 12100): Twilio
//!   then requests the number's fallback URL when it has one.
//! - A `<Gather>` takes keys up to `numDigits` or up to `finishOnKey` (default `#`, not passed
//!   on), and sends `Digits` and `FinishedOnKey` (see `gathered`).
//! - When the caller hangs up during a `<Dial>`, the `<Dial action>` and the status callback
//!   come in any order, or the action not at all ([`CallbackOrder`]); a caller hanging up
//!   mid-conversation gets the time actually talked as `DialCallDuration`.
//! - Refused as Twilio refuses them, failing the call with Twilio's error: more than ten nouns
//!   in a `<Dial>`, a `callerId` that is not a phone number (13214), a voice that cannot speak
//!   the `<Say>`'s language (13511), a `<Say>` over 3,000 characters (13521).
//! - Each callback carries the parameters Twilio documents for it (the status callback's
//!   `CallDuration`, `Timestamp`, `CallbackSource`, `SequenceNumber`; the transcription's
//!   `TranscriptionStatus`, with `TranscriptionText` only when it completed).

pub mod twiml;

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::Timestamp;
use switchboard_routing::{signature, voice};

use crate::twiml::Node;

/// What a rung responder does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Picks up after `after` seconds and presses the accept key.
    Accept {
        /// Seconds of ringing before the pickup.
        after: u32,
    },
    /// Picks up after `after` seconds and never presses a key (a pocket answer).
    Ignore {
        /// Seconds of ringing before the pickup.
        after: u32,
    },
    /// The responder's personal voicemail picks up after `after` seconds.
    Voicemail {
        /// Seconds of ringing before the pickup.
        after: u32,
    },
    /// Picks up after `after` seconds, presses the accept key, and the line drops before the
    /// caller is connected (a mobile losing signal).
    AcceptThenDrop {
        /// Seconds of ringing before the pickup.
        after: u32,
    },
    /// Picks up after `after` seconds and hangs up at once.
    HangUp {
        /// Seconds of ringing before the pickup.
        after: u32,
    },
    /// Never picks up.
    NoAnswer,
    /// The line is busy.
    Busy,
    /// The call cannot be placed.
    Fail,
}

impl FromStr for Behaviour {
    type Err = String;

    /// `accept`, `ignore`, `voicemail`, `hang-up`, `accept-then-drop` (each with an optional
    /// `@SECONDS` of ringing first), `no-answer`, `busy`, `fail`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, after) = match s.split_once('@') {
            Some((k, a)) => (
                k,
                Some(
                    a.parse::<u32>()
                        .map_err(|_| format!("`{a}` is not a number of seconds"))?,
                ),
            ),
            None => (s, None),
        };
        Ok(match kind {
            "accept" => Behaviour::Accept {
                after: after.unwrap_or(5),
            },
            "ignore" => Behaviour::Ignore {
                after: after.unwrap_or(5),
            },
            "voicemail" => Behaviour::Voicemail {
                after: after.unwrap_or(3),
            },
            "hang-up" => Behaviour::HangUp {
                after: after.unwrap_or(5),
            },
            "accept-then-drop" => Behaviour::AcceptThenDrop {
                after: after.unwrap_or(5),
            },
            "no-answer" => Behaviour::NoAnswer,
            "busy" => Behaviour::Busy,
            "fail" => Behaviour::Fail,
            other => {
                return Err(format!(
                    "unknown behaviour `{other}`: use accept, ignore, voicemail, hang-up, accept-then-drop, no-answer, busy or fail"
                ));
            }
        })
    }
}

impl Behaviour {
    fn pickup_after(self) -> Option<u32> {
        match self {
            Behaviour::Accept { after }
            | Behaviour::Ignore { after }
            | Behaviour::Voicemail { after }
            | Behaviour::AcceptThenDrop { after }
            | Behaviour::HangUp { after } => Some(after),
            Behaviour::NoAnswer | Behaviour::Busy | Behaviour::Fail => None,
        }
    }
}

/// The caller leaves a voicemail.
#[derive(Clone, Debug)]
pub struct Message {
    /// Seconds spoken.
    pub seconds: u32,
    /// What Twilio's transcription returns.
    pub transcript: String,
}

/// What happens in one call.
#[derive(Clone, Debug)]
pub struct Script {
    /// The caller's number.
    pub from: String,
    /// The hotline number called.
    pub to: String,
    /// Keys the caller presses at each digit `<Gather>`, in order; "" presses nothing. The
    /// `<Gather>` takes them as Twilio does: up to `numDigits`, or up to `finishOnKey` (which is
    /// not passed on); keys after either are lost.
    pub presses: Vec<String>,
    /// What the caller says at a speech `<Gather>`.
    pub speech: Option<String>,
    /// Responders by number or SIP URI; anyone not listed does not pick up.
    pub responders: HashMap<String, Behaviour>,
    /// Names shown for numbers in the transcript.
    pub names: HashMap<String, String>,
    /// The key a responder presses to accept.
    pub accept_digit: String,
    /// The caller hangs up this many seconds into the call.
    pub caller_hangs_up_after: Option<u32>,
    /// Seconds a connected call lasts.
    pub talk_seconds: u32,
    /// The caller, not the responder, hangs up when the conversation ends: the case where
    /// Twilio's last callbacks of the call may come in any order ([`CallbackOrder`]).
    pub caller_ends_the_conversation: bool,
    /// Twilio's transcription of the voicemail fails (`TranscriptionStatus=failed`).
    pub transcription_fails: bool,
    /// The message left at a `<Record>`; `None` stays silent.
    pub message: Option<Message>,
}

impl Script {
    /// A call from `from` to `to` where nobody does anything.
    pub fn call(from: &str, to: &str) -> Script {
        Script {
            from: from.to_string(),
            to: to.to_string(),
            presses: vec![],
            speech: None,
            responders: HashMap::new(),
            names: HashMap::new(),
            accept_digit: "1".into(),
            caller_hangs_up_after: None,
            talk_seconds: 60,
            caller_ends_the_conversation: false,
            transcription_fails: false,
            message: None,
        }
    }

    /// Sets what the responder at `address` does.
    pub fn responder(mut self, address: &str, b: Behaviour) -> Script {
        self.responders.insert(address.to_string(), b);
        self
    }

    /// Adds keys the caller presses.
    pub fn press(mut self, keys: &[&str]) -> Script {
        self.presses.extend(keys.iter().map(|k| k.to_string()));
        self
    }
}

/// One line of the transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Virtual time.
    pub at: Timestamp,
    /// What happened.
    pub text: String,
}

/// What happened in a simulated call.
#[derive(Clone, Debug, Default)]
pub struct Transcript {
    /// The call's SID.
    pub call_sid: String,
    /// What was heard and done, in order.
    pub lines: Vec<Line>,
    /// Every `<Dial>`: the addresses rung together.
    pub dials: Vec<Vec<String>>,
    /// Who accepted and was connected to the caller.
    pub connected: Option<String>,
    /// Everything the caller heard (`<Say>` texts).
    pub heard: Vec<String>,
    /// Webhooks sent (not counting deliberate repeats).
    pub webhooks: usize,
    /// Application errors Twilio would have reported (non-200 answers, invalid TwiML).
    pub application_errors: Vec<String>,
    /// Repeated deliveries whose answer differed from the first delivery's.
    pub replay_mismatches: Vec<String>,
    /// Whether the recording of a voicemail was delivered.
    pub voicemail_left: bool,
}

impl Transcript {
    /// The transcript as text, one line per event, times relative to the start.
    pub fn render(&self) -> String {
        let start = self.lines.first().map(|l| l.at).unwrap_or_default();
        self.lines
            .iter()
            .map(|l| {
                format!(
                    "[{:>4}s] {}\n",
                    l.at.duration_since(start).as_secs(),
                    l.text
                )
            })
            .collect()
    }
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The server could not be reached.
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// The TwiML asked for a URL outside the server's public URL.
    #[error("the TwiML points at {0}, which is not under the public URL")]
    ForeignUrl(String),
    /// The call never ended.
    #[error("the call did not end after {0} webhooks")]
    Runaway(usize),
}

/// The order of a call's last two callbacks when the caller hangs up during a `<Dial>`.
///
/// NB (Twilio, "Voice webhooks", `<Dial action>` and the Call resource's `StatusCallback`): the
/// `<Dial action>` request and the call's status callback are separate requests, and Twilio
/// documents no order between them; when the caller has hung up, the status callback may come
/// first, and the action, whose TwiML would not be executed, may not come at all. Tests run the
/// calls that matter in each order.
/// <https://www.twilio.com/docs/voice/twiml/dial#action>,
/// <https://www.twilio.com/docs/voice/api/call-resource#statuscallback>
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CallbackOrder {
    /// The `<Dial action>`, then the status callback.
    #[default]
    ActionThenStatus,
    /// The status callback, then the `<Dial action>`.
    StatusThenAction,
    /// The status callback only: no `<Dial action>` after the caller hung up.
    StatusOnly,
}

impl CallbackOrder {
    /// Every order Twilio allows.
    pub const ALL: [CallbackOrder; 3] = [
        CallbackOrder::ActionThenStatus,
        CallbackOrder::StatusThenAction,
        CallbackOrder::StatusOnly,
    ];
}

/// A hook run before each webhook with its path (`/twilio/voice/dial?seq=1`), for tests that
/// break something mid-call.
pub type BeforeRequest = Box<dyn FnMut(&str) + Send>;

/// Plays Twilio's part against a running server.
pub struct Simulator {
    http: reqwest::Client,
    public_url: String,
    targets: Vec<String>,
    next_target: usize,
    account_sid: String,
    auth_token: String,
    clock: Arc<AtomicI64>,
    /// Deliver every webhook twice, as Twilio may, and compare the answers.
    pub deliver_twice: bool,
    /// The number's fallback URL path, when it has one.
    pub fallback_path: Option<String>,
    /// Called before each webhook.
    pub before_request: Option<BeforeRequest>,
    /// The order of the last callbacks when the caller hangs up during a `<Dial>`.
    pub order: CallbackOrder,
    seq: u64,
    status_seq: u32,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("public_url", &self.public_url)
            .field("targets", &self.targets)
            .finish_non_exhaustive()
    }
}

const MAX_WEBHOOKS: usize = 400;
const VOICE_PATH: &str = "/twilio/voice";
const STATUS_PATH: &str = "/twilio/voice/status";

/// Where a document's execution leads.
enum Next {
    /// TwiML fetched from an `action` or `Redirect`.
    Fetch(Vec<Node>),
    /// The call is over, with the caller's final status.
    End(&'static str),
    /// The call is over and its status callback sent already.
    Ended,
}

/// One call in progress.
struct Call {
    script: Script,
    sid: String,
    presses: VecDeque<String>,
    hangs_up_at: Option<Timestamp>,
    started: Timestamp,
    t: Transcript,
}

impl Simulator {
    /// A simulator for a server Twilio reaches at `public_url`, really listening at each of
    /// `targets` (replicas, used in turn), for the account `account_sid`, on a virtual clock.
    pub fn new(
        public_url: &str,
        targets: Vec<String>,
        account_sid: &str,
        auth_token: &str,
        clock: Arc<AtomicI64>,
    ) -> Simulator {
        // When another crate of the build enables reqwest's TLS without a provider (the
        // operator does), reqwest needs one installed even for plain HTTP; a second install
        // is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Simulator {
            http: reqwest::Client::new(),
            public_url: public_url.trim_end_matches('/').to_string(),
            targets: targets
                .into_iter()
                .map(|t| t.trim_end_matches('/').to_string())
                .collect(),
            next_target: 0,
            account_sid: account_sid.to_string(),
            auth_token: auth_token.to_string(),
            clock,
            deliver_twice: false,
            fallback_path: None,
            before_request: None,
            order: CallbackOrder::default(),
            seq: 0,
            status_seq: 0,
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_millisecond(self.clock.load(Ordering::SeqCst))
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn sid(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!(
            "{prefix}{:016x}{:016x}",
            self.clock.load(Ordering::SeqCst),
            self.seq
        )
    }

    fn say(&self, call: &mut Call, text: impl Into<String>) {
        call.t.lines.push(Line {
            at: self.now(),
            text: text.into(),
        });
    }

    /// Lets `seconds` pass; false when the caller hung up meanwhile (the clock then stops at
    /// the hang-up).
    fn elapse(&self, call: &mut Call, seconds: u32) -> bool {
        let target = self.now().as_millisecond() + i64::from(seconds) * 1000;
        if let Some(h) = call.hangs_up_at
            && h.as_millisecond() <= target
        {
            self.clock.fetch_max(h.as_millisecond(), Ordering::SeqCst);
            return false;
        }
        self.clock.fetch_max(target, Ordering::SeqCst);
        true
    }

    fn name(&self, call: &Call, address: &str) -> String {
        match call.script.names.get(address) {
            Some(n) => format!("{n} ({address})"),
            None => address.to_string(),
        }
    }

    /// Runs one call to its end.
    pub async fn run(&mut self, script: Script) -> Result<Transcript, SimError> {
        let sid = self.sid("CA");
        let started = self.now();
        let mut call = Call {
            presses: script.presses.iter().cloned().collect(),
            hangs_up_at: script.caller_hangs_up_after.map(|s| {
                Timestamp::from_millisecond(started.as_millisecond() + i64::from(s) * 1000)
                    .unwrap_or(started)
            }),
            script,
            sid: sid.clone(),
            started,
            t: Transcript {
                call_sid: sid,
                ..Transcript::default()
            },
        };
        let intro = format!("{} calls {}", call.script.from, call.script.to);
        self.say(&mut call, intro);
        let mut doc = match self
            .post_caller(
                &mut call,
                &format!("{}{VOICE_PATH}", self.public_url),
                "ringing",
                vec![],
            )
            .await?
        {
            Some(d) => d,
            None => return self.finish(call, "completed").await,
        };
        loop {
            if call.t.webhooks > MAX_WEBHOOKS {
                return Err(SimError::Runaway(call.t.webhooks));
            }
            match self.execute(&mut call, doc).await? {
                Next::Fetch(d) => doc = d,
                Next::End(status) => return self.finish(call, status).await,
                Next::Ended => return Ok(call.t),
            }
        }
    }

    async fn finish(
        &mut self,
        mut call: Call,
        status: &'static str,
    ) -> Result<Transcript, SimError> {
        self.post_status(&mut call, status).await?;
        Ok(call.t)
    }

    /// The caller's status callback, with the parameters Twilio sends on it.
    /// <https://www.twilio.com/docs/voice/api/call-resource#statuscallback>
    async fn post_status(&mut self, call: &mut Call, status: &str) -> Result<(), SimError> {
        let now = self.now();
        let duration = now.duration_since(call.started).as_secs().to_string();
        self.say(call, format!("call ends ({status})"));
        let timestamp = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_string(&now)
            .unwrap_or_default();
        let params = vec![
            ("CallDuration".to_string(), duration.clone()),
            (
                "Duration".to_string(),
                duration
                    .parse::<u64>()
                    .map(|s| s.div_ceil(60).to_string())
                    .unwrap_or_default(),
            ),
            ("Timestamp".to_string(), timestamp),
            (
                "CallbackSource".to_string(),
                "call-progress-events".to_string(),
            ),
            ("SequenceNumber".to_string(), self.status_seq.to_string()),
        ];
        self.status_seq += 1;
        let url = format!("{}{STATUS_PATH}", self.public_url);
        self.post_caller(call, &url, status, params).await?;
        Ok(())
    }

    /// Executes the caller's document, verb by verb.
    async fn execute(&mut self, call: &mut Call, doc: Vec<Node>) -> Result<Next, SimError> {
        for verb in doc {
            match verb.name.as_str() {
                "Say" => {
                    if let Some(why) = refused_say(&verb) {
                        return Ok(self.application_error(call, why));
                    }
                    self.say(call, format!("caller hears: \"{}\"", verb.text));
                    call.t.heard.push(verb.text.clone());
                    if !self.elapse(call, speaking_seconds(&verb.text)) {
                        return self.caller_gone(call).await;
                    }
                }
                "Play" => {
                    self.say(call, format!("caller hears audio {}", verb.text));
                    if !self.elapse(call, 5) {
                        return self.caller_gone(call).await;
                    }
                }
                "Pause" => {
                    if !self.elapse(call, verb.number("length", 1)) {
                        return self.caller_gone(call).await;
                    }
                }
                "Gather" => {
                    if let Some(next) = self.gather(call, &verb).await? {
                        return Ok(next);
                    }
                }
                // NB (Twilio, TwiML `<Number>`): "You can specify up to ten `<Number>`s within
                // a `<Dial>` verb to dial simultaneously"; Twilio fails such a `<Dial>` and the
                // caller hears the application error. The page names no error code, so the
                // simulator names the rule. <https://www.twilio.com/docs/voice/twiml/number>
                "Dial" if verb.children.len() > 10 => {
                    let n = verb.children.len();
                    call.t.application_errors.push(format!(
                        "<Dial> with {n} nouns: Twilio dials at most ten at once"
                    ));
                    self.say(call, format!("caller hears: \"An application error has occurred.\" (<Dial> with {n} numbers; Twilio's limit is ten)"));
                    return Ok(Next::End("completed"));
                }
                // NB (Twilio error 13214, "Dial: Invalid callerId value"): the caller ID of a
                // `<Dial>` must be an E.164 number (the account's, a verified one, or the
                // forwarded caller's); `anonymous`, `client:...` or `sip:...` fail the dial.
                // <https://www.twilio.com/docs/api/errors/13214>
                "Dial"
                    if verb
                        .attr("callerId")
                        .is_some_and(|c| !switchboard_routing::is_e164(c)) =>
                {
                    let id = verb.attr("callerId").unwrap_or_default().to_string();
                    call.t
                        .application_errors
                        .push(format!("13214: invalid callerId {id:?}"));
                    self.say(call, format!("caller hears: \"An application error has occurred.\" (13214: callerId {id:?} is not a phone number)"));
                    return Ok(Next::End("completed"));
                }
                "Dial" => {
                    if let Some(next) = self.dial(call, &verb).await? {
                        return Ok(next);
                    }
                }
                "Record" => {
                    if let Some(next) = self.record(call, &verb).await? {
                        return Ok(next);
                    }
                }
                "Redirect" => {
                    let url = verb.text.clone();
                    return Ok(
                        match self.post_caller(call, &url, "in-progress", vec![]).await? {
                            Some(d) => Next::Fetch(d),
                            None => Next::End("completed"),
                        },
                    );
                }
                "Hangup" => {
                    self.say(call, "Twilio hangs up");
                    return Ok(Next::End("completed"));
                }
                "Reject" => {
                    let reason = verb.attr("reason").unwrap_or("rejected");
                    self.say(call, format!("Twilio rejects the call ({reason})"));
                    // The simulator reports a rejected call as `busy` or `no-answer`.
                    return Ok(Next::End(if reason == "busy" {
                        "busy"
                    } else {
                        "no-answer"
                    }));
                }
                other => {
                    call.t
                        .application_errors
                        .push(format!("12100: unknown verb <{other}>"));
                    self.say(call, format!("caller hears: \"An application error has occurred.\" (unknown verb <{other}>)"));
                    return Ok(Next::End("completed"));
                }
            }
        }
        // No more verbs: Twilio ends the call.
        Ok(Next::End("completed"))
    }

    /// Twilio fails the call on TwiML it refuses (`why`): the caller hears the application
    /// error and the call ends.
    fn application_error(&self, call: &mut Call, why: String) -> Next {
        self.say(
            call,
            format!("caller hears: \"An application error has occurred.\" ({why})"),
        );
        call.t.application_errors.push(why);
        Next::End("completed")
    }

    async fn caller_gone(&mut self, call: &mut Call) -> Result<Next, SimError> {
        self.say(call, "caller hangs up");
        Ok(Next::End("completed"))
    }

    async fn gather(&mut self, call: &mut Call, g: &Node) -> Result<Option<Next>, SimError> {
        for p in &g.children {
            match p.name.as_str() {
                "Say" => {
                    if let Some(why) = refused_say(p) {
                        return Ok(Some(self.application_error(call, why)));
                    }
                    self.say(call, format!("caller hears: \"{}\"", p.text));
                    call.t.heard.push(p.text.clone());
                    if !self.elapse(call, speaking_seconds(&p.text)) {
                        return self.caller_gone(call).await.map(Some);
                    }
                }
                "Play" => self.say(call, format!("caller hears audio {}", p.text)),
                _ => {}
            }
        }
        let action = g.attr("action").unwrap_or_default().to_string();
        let timeout = g.number("timeout", 5);
        let mut params = vec![];
        if g.attr("input").unwrap_or("dtmf").contains("speech")
            && let Some(words) = call.script.speech.take()
        {
            self.say(call, format!("caller says: \"{words}\""));
            let _ = self.elapse(call, speaking_seconds(&words));
            params.push(("SpeechResult".to_string(), words));
            params.push(("Confidence".to_string(), "0.92".to_string()));
        } else if !g.attr("input").unwrap_or("dtmf").contains("speech")
            && let Some(keys) = call.presses.pop_front().filter(|k| !k.is_empty())
        {
            self.say(call, format!("caller presses {keys}"));
            let (digits, finished_on) = gathered(g, &keys);
            if finished_on.is_none() && g.attr("numDigits").is_none() {
                // Neither limit ended the input: Twilio waits `timeout` after the last key.
                if !self.elapse(call, timeout) {
                    return self.caller_gone(call).await.map(Some);
                }
            }
            if !digits.is_empty() {
                params.push(("Digits".to_string(), digits));
                params.push((
                    "FinishedOnKey".to_string(),
                    finished_on.map(String::from).unwrap_or_default(),
                ));
            }
        }
        if params.is_empty() {
            self.say(call, format!("caller stays silent for {timeout}s"));
            if !self.elapse(call, timeout) {
                return self.caller_gone(call).await.map(Some);
            }
            if !g.flag("actionOnEmptyResult") {
                return Ok(None);
            }
        }
        Ok(Some(
            match self
                .post_caller(call, &action, "in-progress", params)
                .await?
            {
                Some(d) => Next::Fetch(d),
                None => Next::End("completed"),
            },
        ))
    }

    async fn record(&mut self, call: &mut Call, r: &Node) -> Result<Option<Next>, SimError> {
        let Some(msg) = call.script.message.clone() else {
            self.say(call, "caller says nothing at the beep");
            if !self.elapse(call, r.number("timeout", 5)) {
                return self.caller_gone(call).await.map(Some);
            }
            return Ok(None);
        };
        let seconds = msg.seconds.min(r.number("maxLength", 3600));
        self.say(
            call,
            format!("caller leaves a {seconds}s message and hangs up"),
        );
        self.clock
            .fetch_add(i64::from(seconds) * 1000, Ordering::SeqCst);
        let recording_sid = self.sid("RE");
        let recording_url = format!(
            "https://api.twilio.com/2010-04-01/Accounts/{}/Recordings/{recording_sid}",
            self.account_sid
        );
        let params = vec![
            ("RecordingUrl".to_string(), recording_url.clone()),
            ("RecordingSid".to_string(), recording_sid.clone()),
            ("RecordingDuration".to_string(), seconds.to_string()),
            ("Digits".to_string(), "hangup".to_string()),
        ];
        if let Some(action) = r.attr("action") {
            // The caller has hung up: the answer is not executed.
            self.post_caller(call, action, "completed", params).await?;
            call.t.voicemail_left = true;
        }
        if let Some(cb) = r.attr("transcribeCallback") {
            // NB (Twilio, `<Record transcribeCallback>`): `TranscriptionText` only when the
            // transcription completed; a failed one carries `TranscriptionStatus=failed`.
            let transcription_sid = self.sid("TR");
            let mut params = vec![
                ("TranscriptionSid".to_string(), transcription_sid.clone()),
                (
                    "TranscriptionUrl".to_string(),
                    format!(
                        "https://api.twilio.com/2010-04-01/Accounts/{}/Transcriptions/{transcription_sid}",
                        self.account_sid
                    ),
                ),
                ("RecordingUrl".to_string(), recording_url),
                ("RecordingSid".to_string(), recording_sid),
            ];
            if call.script.transcription_fails || seconds == 0 {
                params.push(("TranscriptionStatus".to_string(), "failed".to_string()));
            } else {
                params.push(("TranscriptionText".to_string(), msg.transcript.clone()));
                params.push(("TranscriptionStatus".to_string(), "completed".to_string()));
            }
            self.post_caller(call, cb, "completed", params).await?;
        }
        Ok(Some(Next::End("completed")))
    }

    /// Rings every noun; the first to pick up gets the whisper; see the module notes.
    async fn dial(&mut self, call: &mut Call, d: &Node) -> Result<Option<Next>, SimError> {
        let timeout = d.number("timeout", 30);
        let time_limit = d.number("timeLimit", 14_400);
        let caller_id = d.attr("callerId").unwrap_or(&call.script.from).to_string();
        let nouns: Vec<(String, Option<String>)> = if d.children.is_empty() {
            vec![(d.text.clone(), None)]
        } else {
            d.children
                .iter()
                .map(|n| (n.text.clone(), n.attr("url").map(String::from)))
                .collect()
        };
        let addresses: Vec<String> = nouns.iter().map(|(a, _)| a.clone()).collect();
        call.t.dials.push(addresses.clone());
        self.say(
            call,
            format!(
                "Twilio rings {} for up to {timeout}s",
                addresses
                    .iter()
                    .map(|a| self.name(call, a))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        );
        let responders = call.script.responders.clone();
        let behaviour = |a: &str| responders.get(a).copied().unwrap_or(Behaviour::NoAnswer);
        let first = nouns
            .iter()
            .enumerate()
            .filter_map(|(i, (a, _))| behaviour(a).pickup_after().map(|t| (t, i)))
            .filter(|(t, _)| *t <= timeout)
            .min();
        let mut action_params = vec![];
        let mut caller_status = "in-progress";
        match first {
            None => {
                let ringing = addresses
                    .iter()
                    .any(|a| !matches!(behaviour(a), Behaviour::Busy | Behaviour::Fail));
                let status = if ringing {
                    "no-answer"
                } else if addresses.iter().any(|a| behaviour(a) == Behaviour::Busy) {
                    "busy"
                } else {
                    "failed"
                };
                let wait = if ringing { timeout } else { 1 };
                if !self.elapse(call, wait) {
                    self.say(call, "caller hangs up while the phones ring");
                    caller_status = "completed";
                    action_params.push(("DialCallStatus".to_string(), "no-answer".to_string()));
                } else {
                    self.say(call, format!("no pickup: {status}"));
                    action_params.push(("DialCallStatus".to_string(), status.to_string()));
                }
            }
            Some((after, i)) => {
                if !self.elapse(call, after) {
                    self.say(call, "caller hangs up while the phones ring");
                    caller_status = "completed";
                    action_params.push(("DialCallStatus".to_string(), "no-answer".to_string()));
                } else {
                    let (address, url) = nouns[i].clone();
                    let who = self.name(call, &address);
                    let b = behaviour(&address);
                    match b {
                        Behaviour::Voicemail { .. } => {
                            self.say(call, format!("{who}'s voicemail picks up"))
                        }
                        _ => self.say(call, format!("{who} picks up")),
                    }
                    if nouns.len() > 1 {
                        self.say(call, "Twilio hangs up the other phones (first pickup wins)");
                    }
                    let leg = self.sid("CA");
                    let bridged = match url {
                        Some(url) => {
                            self.whisper(call, &url, &leg, &address, &caller_id, b)
                                .await?
                        }
                        None => !matches!(b, Behaviour::HangUp { .. }),
                    };
                    if call.hangs_up_at.is_some_and(|h| h <= self.now()) {
                        self.say(call, "caller hangs up");
                        caller_status = "completed";
                        action_params.push(("DialCallStatus".to_string(), "completed".to_string()));
                        action_params.push(("DialCallDuration".to_string(), "0".to_string()));
                    } else if bridged {
                        call.t.connected = Some(address.clone());
                        let mut talk = call.script.talk_seconds.min(time_limit);
                        let bridged_at = self.now();
                        let still_there = self.elapse(call, talk);
                        let ender = if !still_there {
                            // The caller hung up mid-conversation: the talk time is what was
                            // talked until then.
                            talk = self.now().duration_since(bridged_at).as_secs().max(0) as u32;
                            caller_status = "completed";
                            "the caller hangs up"
                        } else if call.script.caller_ends_the_conversation {
                            caller_status = "completed";
                            "the caller hangs up"
                        } else {
                            "the responder hangs up"
                        };
                        self.say(
                            call,
                            format!("caller and {who} talk; {ender} after {talk}s"),
                        );
                        action_params.push(("DialCallStatus".to_string(), "completed".to_string()));
                        action_params.push(("DialCallDuration".to_string(), talk.to_string()));
                        action_params.push(("DialCallSid".to_string(), leg));
                        action_params.push(("DialBridged".to_string(), "true".to_string()));
                        if let Some(cb) = d.attr("recordingStatusCallback") {
                            let rec = self.sid("RE");
                            let params = vec![
                                ("RecordingSid".to_string(), rec.clone()),
                                (
                                    "RecordingUrl".to_string(),
                                    format!(
                                        "https://api.twilio.com/2010-04-01/Accounts/{}/Recordings/{rec}",
                                        self.account_sid
                                    ),
                                ),
                                ("RecordingStatus".to_string(), "completed".to_string()),
                                ("RecordingDuration".to_string(), talk.to_string()),
                            ];
                            self.post_caller(call, cb, "in-progress", params).await?;
                        }
                    } else {
                        self.say(call, format!("{who}'s leg ends without being connected"));
                        action_params.push(("DialCallStatus".to_string(), "completed".to_string()));
                        action_params.push(("DialCallDuration".to_string(), "0".to_string()));
                        action_params.push(("DialCallSid".to_string(), leg));
                    }
                }
            }
        }
        let Some(action) = d.attr("action") else {
            return Ok(if caller_status == "completed" {
                Some(Next::End("completed"))
            } else {
                None
            });
        };
        if caller_status == "completed" && self.order != CallbackOrder::ActionThenStatus {
            self.post_status(call, "completed").await?;
            if self.order == CallbackOrder::StatusThenAction {
                self.post_caller(call, action, caller_status, action_params)
                    .await?;
            } else {
                self.say(
                    call,
                    "Twilio sends no <Dial action> after the caller hung up",
                );
            }
            return Ok(Some(Next::Ended));
        }
        let doc = self
            .post_caller(call, action, caller_status, action_params)
            .await?;
        if caller_status == "completed" {
            // The caller is gone: Twilio does not execute the answer.
            return Ok(Some(Next::End("completed")));
        }
        Ok(Some(match doc {
            Some(d) => Next::Fetch(d),
            None => Next::End("completed"),
        }))
    }

    /// Runs the `<Number url>` document on the responder's leg; true when it ends in a bridge.
    async fn whisper(
        &mut self,
        call: &mut Call,
        url: &str,
        leg: &str,
        address: &str,
        caller_id: &str,
        b: Behaviour,
    ) -> Result<bool, SimError> {
        let who = self.name(call, address);
        let parent = call.sid.clone();
        let params = |extra: Vec<(String, String)>| {
            let mut p = vec![
                ("CallSid".to_string(), leg.to_string()),
                ("ParentCallSid".to_string(), parent.clone()),
                ("From".to_string(), caller_id.to_string()),
                ("To".to_string(), address.to_string()),
                ("CallStatus".to_string(), "in-progress".to_string()),
                ("Direction".to_string(), "outbound-dial".to_string()),
            ];
            p.extend(extra);
            p
        };
        let mut doc = match self.post(call, url, params(vec![])).await? {
            Some(d) => d,
            None => return Ok(false),
        };
        if let Behaviour::HangUp { .. } = b {
            self.say(call, format!("{who} hangs up"));
            return Ok(false);
        }
        'doc: loop {
            for verb in doc.clone() {
                match verb.name.as_str() {
                    "Say" => {
                        if let Some(why) = refused_say(&verb) {
                            self.say(call, format!("{who}'s leg fails ({why})"));
                            call.t.application_errors.push(why);
                            return Ok(false);
                        }
                        self.say(call, format!("{who} hears: \"{}\"", verb.text));
                        if !self.elapse(call, speaking_seconds(&verb.text)) {
                            return Ok(false);
                        }
                    }
                    "Pause" | "Play" => {
                        if !self.elapse(call, verb.number("length", 1)) {
                            return Ok(false);
                        }
                    }
                    "Gather" => {
                        for p in &verb.children {
                            if let Some(why) = refused_say(p) {
                                self.say(call, format!("{who}'s leg fails ({why})"));
                                call.t.application_errors.push(why);
                                return Ok(false);
                            }
                            if p.name == "Say" {
                                self.say(call, format!("{who} hears: \"{}\"", p.text));
                                if !self.elapse(call, speaking_seconds(&p.text)) {
                                    return Ok(false);
                                }
                            }
                        }
                        if let Behaviour::Accept { .. } | Behaviour::AcceptThenDrop { .. } = b {
                            let digit = call.script.accept_digit.clone();
                            self.say(call, format!("{who} presses {digit}"));
                            let action = verb.attr("action").unwrap_or_default().to_string();
                            let (digits, finished) = gathered(&verb, &digit);
                            let mut extra = vec![];
                            if !digits.is_empty() {
                                extra.push(("Digits".into(), digits));
                                extra.push((
                                    "FinishedOnKey".into(),
                                    finished.map(String::from).unwrap_or_default(),
                                ));
                            }
                            let answer = self.post(call, &action, params(extra)).await?;
                            if let Behaviour::AcceptThenDrop { .. } = b {
                                self.say(call, format!("{who}'s line drops"));
                                return Ok(false);
                            }
                            match answer {
                                Some(d) => {
                                    doc = d;
                                    continue 'doc;
                                }
                                None => return Ok(false),
                            }
                        }
                        let t = verb.number("timeout", 5);
                        self.say(call, format!("{who} presses nothing for {t}s"));
                        if !self.elapse(call, t) {
                            return Ok(false);
                        }
                        if verb.flag("actionOnEmptyResult") {
                            let action = verb.attr("action").unwrap_or_default().to_string();
                            match self.post(call, &action, params(vec![])).await? {
                                Some(d) => {
                                    doc = d;
                                    continue 'doc;
                                }
                                None => return Ok(false),
                            }
                        }
                    }
                    "Hangup" | "Reject" => {
                        self.say(call, format!("Twilio hangs up {who}'s leg"));
                        return Ok(false);
                    }
                    other => {
                        call.t
                            .application_errors
                            .push(format!("12100: <{other}> in a whisper"));
                        return Ok(false);
                    }
                }
            }
            // The whisper document ran out: Twilio bridges the two parties.
            self.say(call, format!("Twilio connects the caller to {who}"));
            return Ok(true);
        }
    }

    /// A webhook about the caller's leg.
    async fn post_caller(
        &mut self,
        call: &mut Call,
        url: &str,
        call_status: &str,
        extra: Vec<(String, String)>,
    ) -> Result<Option<Vec<Node>>, SimError> {
        let mut p = vec![
            ("CallSid".to_string(), call.sid.clone()),
            ("From".to_string(), call.script.from.clone()),
            ("Caller".to_string(), call.script.from.clone()),
            ("To".to_string(), call.script.to.clone()),
            ("Called".to_string(), call.script.to.clone()),
            ("CallStatus".to_string(), call_status.to_string()),
            ("Direction".to_string(), "inbound".to_string()),
        ];
        p.extend(extra);
        self.post(call, url, p).await
    }

    /// POSTs a signed webhook to `url` (absolute, under the public URL) at the next replica;
    /// `None` after an application error, which ends the call as Twilio would.
    async fn post(
        &mut self,
        call: &mut Call,
        url: &str,
        mut params: Vec<(String, String)>,
    ) -> Result<Option<Vec<Node>>, SimError> {
        params.push(("AccountSid".to_string(), self.account_sid.clone()));
        params.push(("ApiVersion".to_string(), "2010-04-01".to_string()));
        let path = url
            .strip_prefix(&self.public_url)
            .ok_or_else(|| SimError::ForeignUrl(url.to_string()))?
            .to_string();
        if let Some(hook) = self.before_request.as_mut() {
            hook(&path);
        }
        call.t.webhooks += 1;
        let (status, body) = self.send(url, &path, &params).await?;
        if self.deliver_twice {
            let (status2, body2) = self.send(url, &path, &params).await?;
            if (status, &body) != (status2, &body2) {
                call.t.replay_mismatches.push(format!(
                    "{path}: first {status} {body}\nthen {status2} {body2}"
                ));
            }
        }
        let doc = if status == 200 {
            twiml::parse(&body).map_err(|e| format!("12100: {path}: {e}"))
        } else {
            Err(format!("11200: {path} answered HTTP {status}"))
        };
        match doc {
            Ok(d) => Ok(Some(d)),
            Err(e) => {
                call.t.application_errors.push(e);
                if let Some(fb) = self.fallback_path.clone() {
                    let fb_url = format!("{}{fb}", self.public_url);
                    params.push(("ErrorCode".to_string(), "11200".to_string()));
                    params.push(("ErrorUrl".to_string(), url.to_string()));
                    let (s, b) = self.send(&fb_url, &fb, &params).await?;
                    if s == 200
                        && let Ok(d) = twiml::parse(&b)
                    {
                        return Ok(Some(d));
                    }
                }
                self.say(call, "caller hears: \"An application error has occurred.\"");
                Ok(None)
            }
        }
    }

    async fn send(
        &mut self,
        url: &str,
        path: &str,
        params: &[(String, String)],
    ) -> Result<(u16, String), SimError> {
        let target = &self.targets[self.next_target % self.targets.len()];
        self.next_target += 1;
        let signature = signature::sign(
            &self.auth_token,
            &signed_url(url, !path.starts_with("/twilio/sms")),
            params,
        );
        let res = self
            .http
            .post(format!("{target}{path}"))
            .header("X-Twilio-Signature", signature)
            .form(params)
            .send()
            .await?;
        let status = res.status().as_u16();
        Ok((status, res.text().await?))
    }
}

/// Why Twilio would refuse this `<Say>`, if it would. NB: Twilio error 13521 ("Say: Invalid
/// text length": Amazon Polly takes at most 3,000 characters) and 13511 ("Say: Invalid voice
/// value": "Using an invalid combination of voice and language may result in error and
/// `<Say>` instruction failure"); the voices' languages are those of Twilio's and Amazon
/// Polly's voice lists (`switchboard_routing::voice`).
/// <https://www.twilio.com/docs/api/errors/13521>, <https://www.twilio.com/docs/api/errors/13511>,
/// <https://www.twilio.com/docs/voice/twiml/say>
fn refused_say(say: &Node) -> Option<String> {
    if say.name != "Say" {
        return None;
    }
    let n = say.text.chars().count();
    if n > voice::MAX_SAY_CHARS {
        return Some(format!(
            "13521: <Say> of {n} characters; the limit is {}",
            voice::MAX_SAY_CHARS
        ));
    }
    let v = say.attr("voice")?;
    let language = say.attr("language").unwrap_or("en-US");
    (voice::speaks(v, language) == Some(false))
        .then(|| format!("13511: voice {v} cannot speak {language}"))
}

/// The digits a `<Gather>` passes on for `keys` pressed, and the `finishOnKey` that ended
/// them. NB (Twilio, `<Gather>`): input ends at `numDigits` keys or at `finishOnKey` (default
/// `#`, not included in `Digits`; an empty value disables it), whichever comes first.
/// <https://www.twilio.com/docs/voice/twiml/gather#numdigits>,
/// <https://www.twilio.com/docs/voice/twiml/gather#finishonkey>
fn gathered(g: &Node, keys: &str) -> (String, Option<char>) {
    let limit = g.attr("numDigits").and_then(|n| n.parse::<usize>().ok());
    let finish = g.attr("finishOnKey").unwrap_or("#");
    let mut digits = String::new();
    for c in keys.chars() {
        if finish.contains(c) {
            return (digits, Some(c));
        }
        digits.push(c);
        if limit.is_some_and(|l| digits.chars().count() >= l) {
            break;
        }
    }
    (digits, None)
}

/// The URL Twilio signs for a request to `url`. NB: for voice webhooks over https Twilio
/// signs the URL without its port (Twilio's helper libraries accept both forms for this
/// reason: twilio-node's `validateRequest`); for messaging it keeps the URL as configured.
fn signed_url(url: &str, voice: bool) -> String {
    if !voice || !url.starts_with("https://") {
        return url.to_string();
    }
    let rest = &url["https://".len()..];
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') && !authority[i..].contains('@') => {
            format!("https://{}{path}", &authority[..i])
        }
        _ => url.to_string(),
    }
}

/// Seconds text-to-speech takes to say `text` (about 2.5 words a second).
fn speaking_seconds(text: &str) -> u32 {
    let words = text.split_whitespace().count() as u32;
    words.div_ceil(5) * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviours_parse_with_optional_delays() {
        assert_eq!("accept".parse(), Ok(Behaviour::Accept { after: 5 }));
        assert_eq!("voicemail@2".parse(), Ok(Behaviour::Voicemail { after: 2 }));
        assert_eq!("busy".parse(), Ok(Behaviour::Busy));
        assert!(
            "answer"
                .parse::<Behaviour>()
                .unwrap_err()
                .contains("accept, ignore")
        );
        assert!("accept@x".parse::<Behaviour>().is_err());
    }
}

#[cfg(test)]
mod signing_tests {
    use super::signed_url;

    #[test]
    fn voice_over_https_is_signed_without_the_port_and_texts_as_configured() {
        assert_eq!(
            signed_url("https://hotline.example.com:8443/twilio/voice?x=1", true),
            "https://hotline.example.com/twilio/voice?x=1"
        );
        assert_eq!(
            signed_url("https://hotline.example.com:8443/twilio/sms", false),
            "https://hotline.example.com:8443/twilio/sms"
        );
        assert_eq!(
            signed_url("http://127.0.0.1:8080/twilio/voice", true),
            "http://127.0.0.1:8080/twilio/voice"
        );
        assert_eq!(
            signed_url("https://u:p@hotline.example.com/twilio/voice", true),
            "https://u:p@hotline.example.com/twilio/voice"
        );
    }
}
