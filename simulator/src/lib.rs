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

mod dial;
mod gather;
mod http;
mod script;
pub mod twiml;

pub use script::{Behaviour, CallbackOrder, Line, Message, Script, SimError, Transcript};

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::Timestamp;
use switchboard_routing::{signature, voice};

use crate::twiml::Node;

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
    /// Send each webhook when the virtual clock says, waiting in real time: for a server on
    /// its own (system) clock, as `switchboard call` drives one. The clock must then start at
    /// the present.
    pub real_time: bool,
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
        Simulator {
            http: switchboard_process::http_client()
                .expect("TLS set-up (the system's CA roots)")
                .build()
                .expect("a reqwest client builds"),
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
            real_time: false,
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
                "Dial" => {
                    if let Some(next) = self.refused_dial(call, &verb) {
                        return Ok(next);
                    }
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

    /// A `<Dial>` Twilio fails before ringing anyone: the caller hears the application error.
    fn refused_dial(&self, call: &mut Call, verb: &Node) -> Option<Next> {
        // NB (Twilio, TwiML `<Number>`): "You can specify up to ten `<Number>`s within a
        // `<Dial>` verb to dial simultaneously"; Twilio fails such a `<Dial>` and the caller
        // hears the application error. The page names no error code, so the simulator names
        // the rule. <https://www.twilio.com/docs/voice/twiml/number>
        if verb.children.len() > 10 {
            let n = verb.children.len();
            call.t.application_errors.push(format!(
                "<Dial> with {n} nouns: Twilio dials at most ten at once"
            ));
            self.say(call, format!("caller hears: \"An application error has occurred.\" (<Dial> with {n} numbers; Twilio's limit is ten)"));
            return Some(Next::End("completed"));
        }
        // NB (Twilio error 13214, "Dial: Invalid callerId value"): the caller ID of a `<Dial>`
        // must be an E.164 number (the account's, a verified one, or the forwarded caller's);
        // `anonymous`, `client:...` or `sip:...` fail the dial.
        // <https://www.twilio.com/docs/api/errors/13214>
        let id = verb.attr("callerId")?;
        if switchboard_routing::is_e164(id) {
            return None;
        }
        call.t
            .application_errors
            .push(format!("13214: invalid callerId {id:?}"));
        self.say(call, format!("caller hears: \"An application error has occurred.\" (13214: callerId {id:?} is not a phone number)"));
        Some(Next::End("completed"))
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

/// Seconds text-to-speech takes to say `text` (about 2.5 words a second).
fn speaking_seconds(text: &str) -> u32 {
    let words = text.split_whitespace().count() as u32;
    words.div_ceil(5) * 2
}
