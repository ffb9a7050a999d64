//! `<Dial>` as Twilio plays it: every `<Number>` rung at once, the first to answer connected
//! after its whisper (`<Number url>`), the others hung up; then the `<Dial action>` and the
//! status callback in the order the call's [`CallbackOrder`](crate::CallbackOrder) says.

use super::*;
use crate::gather::gathered;

/// How a `<Dial>` ended for the caller: the `<Dial action>` parameters, and whether the
/// caller is gone (Twilio then reports the parent call `completed`).
struct DialEnd {
    caller_gone: bool,
    params: Vec<(String, String)>,
}

impl DialEnd {
    fn new(caller_gone: bool, params: &[(&str, String)]) -> Self {
        DialEnd {
            caller_gone,
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    fn caller_status(&self) -> &'static str {
        if self.caller_gone {
            "completed"
        } else {
            "in-progress"
        }
    }
}

/// The responder's leg of a `<Dial>`: what Twilio sends to its `<Number url>` and `<Gather>`.
struct Leg<'a> {
    sid: String,
    parent: String,
    from: &'a str,
    to: &'a str,
    who: String,
    behaviour: Behaviour,
}

impl Leg<'_> {
    fn params(&self, extra: Vec<(String, String)>) -> Vec<(String, String)> {
        let mut p = vec![
            ("CallSid".to_string(), self.sid.clone()),
            ("ParentCallSid".to_string(), self.parent.clone()),
            ("From".to_string(), self.from.to_string()),
            ("To".to_string(), self.to.to_string()),
            ("CallStatus".to_string(), "in-progress".to_string()),
            ("Direction".to_string(), "outbound-dial".to_string()),
        ];
        p.extend(extra);
        p
    }
}

/// What one verb of a whisper document leads to.
enum WhisperStep {
    /// On to the next verb.
    Next,
    /// A new document (a `<Gather action>`'s answer) replaces the rest of this one.
    Load(Vec<Node>),
    /// The leg ends without a bridge.
    Drop,
}

impl Simulator {
    /// Rings every noun; the first to pick up gets the whisper; see the module notes.
    pub(crate) async fn dial(
        &mut self,
        call: &mut Call,
        d: &Node,
    ) -> Result<Option<Next>, SimError> {
        let timeout = d.number("timeout", 30);
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
        let first = nouns
            .iter()
            .enumerate()
            .filter_map(|(i, (a, _))| behaviour(call, a).pickup_after().map(|t| (t, i)))
            .filter(|(t, _)| *t <= timeout)
            .min();
        let end = match first {
            None => self.no_pickup(call, &addresses, timeout),
            Some((after, _)) if !self.elapse(call, after) => {
                self.say(call, "caller hangs up while the phones ring");
                DialEnd::new(true, &[("DialCallStatus", "no-answer".into())])
            }
            Some((_, i)) => self.picked_up(call, d, &nouns[i], nouns.len() > 1).await?,
        };
        self.after_dial(call, d, end).await
    }

    /// Nobody picked up within the timeout: no-answer, busy or failed, as Twilio reports it.
    fn no_pickup(&self, call: &mut Call, addresses: &[String], timeout: u32) -> DialEnd {
        let ringing = addresses
            .iter()
            .any(|a| !matches!(behaviour(call, a), Behaviour::Busy | Behaviour::Fail));
        let status = if ringing {
            "no-answer"
        } else if addresses
            .iter()
            .any(|a| behaviour(call, a) == Behaviour::Busy)
        {
            "busy"
        } else {
            "failed"
        };
        let wait = if ringing { timeout } else { 1 };
        if !self.elapse(call, wait) {
            self.say(call, "caller hangs up while the phones ring");
            DialEnd::new(true, &[("DialCallStatus", "no-answer".into())])
        } else {
            self.say(call, format!("no pickup: {status}"));
            DialEnd::new(false, &[("DialCallStatus", status.into())])
        }
    }

    /// The first pickup: its whisper, then the conversation when the leg is bridged.
    async fn picked_up(
        &mut self,
        call: &mut Call,
        d: &Node,
        (address, url): &(String, Option<String>),
        others: bool,
    ) -> Result<DialEnd, SimError> {
        let who = self.name(call, address);
        let b = behaviour(call, address);
        match b {
            Behaviour::Voicemail { .. } => self.say(call, format!("{who}'s voicemail picks up")),
            _ => self.say(call, format!("{who} picks up")),
        }
        if others {
            self.say(call, "Twilio hangs up the other phones (first pickup wins)");
        }
        let caller_id = d.attr("callerId").unwrap_or(&call.script.from).to_string();
        let leg = Leg {
            sid: self.sid("CA"),
            parent: call.sid.clone(),
            from: &caller_id,
            to: address,
            who: who.clone(),
            behaviour: b,
        };
        let bridged = match url {
            Some(url) => self.whisper(call, url, &leg).await?,
            None => !matches!(b, Behaviour::HangUp { .. }),
        };
        let leg = leg.sid;
        if call.hangs_up_at.is_some_and(|h| h <= self.now()) {
            self.say(call, "caller hangs up");
            return Ok(DialEnd::new(
                true,
                &[
                    ("DialCallStatus", "completed".into()),
                    ("DialCallDuration", "0".into()),
                ],
            ));
        }
        if !bridged {
            self.say(call, format!("{who}'s leg ends without being connected"));
            return Ok(DialEnd::new(
                false,
                &[
                    ("DialCallStatus", "completed".into()),
                    ("DialCallDuration", "0".into()),
                    ("DialCallSid", leg),
                ],
            ));
        }
        call.t.connected = Some(address.clone());
        let mut talk = call.script.talk_seconds.min(d.number("timeLimit", 14_400));
        let bridged_at = self.now();
        let still_there = self.elapse(call, talk);
        let (caller_gone, ender) = if !still_there {
            // The caller hung up mid-conversation: the talk time is what was talked until then.
            talk = self.now().duration_since(bridged_at).as_secs().max(0) as u32;
            (true, "the caller hangs up")
        } else if call.script.caller_ends_the_conversation {
            (true, "the caller hangs up")
        } else {
            (false, "the responder hangs up")
        };
        self.say(
            call,
            format!("caller and {who} talk; {ender} after {talk}s"),
        );
        let end = DialEnd::new(
            caller_gone,
            &[
                ("DialCallStatus", "completed".into()),
                ("DialCallDuration", talk.to_string()),
                ("DialCallSid", leg),
                ("DialBridged", "true".into()),
            ],
        );
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
        Ok(end)
    }

    /// The `<Dial action>` and the status callback, in the order the simulator's
    /// [`CallbackOrder`] says; then what the caller's call does next.
    async fn after_dial(
        &mut self,
        call: &mut Call,
        d: &Node,
        end: DialEnd,
    ) -> Result<Option<Next>, SimError> {
        let caller_status = end.caller_status();
        let Some(action) = d.attr("action") else {
            return Ok(end.caller_gone.then_some(Next::End("completed")));
        };
        if end.caller_gone && self.order != CallbackOrder::ActionThenStatus {
            self.post_status(call, "completed").await?;
            if self.order == CallbackOrder::StatusThenAction {
                self.post_caller(call, action, caller_status, end.params)
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
            .post_caller(call, action, caller_status, end.params)
            .await?;
        if end.caller_gone {
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
        leg: &Leg<'_>,
    ) -> Result<bool, SimError> {
        let mut doc = match self.post(call, url, leg.params(vec![])).await? {
            Some(d) => d,
            None => return Ok(false),
        };
        if let Behaviour::HangUp { .. } = leg.behaviour {
            self.say(call, format!("{} hangs up", leg.who));
            return Ok(false);
        }
        'doc: loop {
            for verb in doc.clone() {
                match self.whisper_verb(call, &verb, leg).await? {
                    WhisperStep::Next => {}
                    WhisperStep::Load(next) => {
                        doc = next;
                        continue 'doc;
                    }
                    WhisperStep::Drop => return Ok(false),
                }
            }
            // The whisper document ran out: Twilio bridges the two parties.
            self.say(call, format!("Twilio connects the caller to {}", leg.who));
            return Ok(true);
        }
    }

    /// One verb of a whisper document, played on the responder's leg.
    async fn whisper_verb(
        &mut self,
        call: &mut Call,
        verb: &Node,
        leg: &Leg<'_>,
    ) -> Result<WhisperStep, SimError> {
        let who = &leg.who;
        match verb.name.as_str() {
            "Say" => Ok(self.whisper_say(call, verb, who)),
            "Pause" | "Play" => Ok(if self.elapse(call, verb.number("length", 1)) {
                WhisperStep::Next
            } else {
                WhisperStep::Drop
            }),
            "Gather" => self.whisper_gather(call, verb, leg).await,
            "Hangup" | "Reject" => {
                self.say(call, format!("Twilio hangs up {who}'s leg"));
                Ok(WhisperStep::Drop)
            }
            other => {
                call.t
                    .application_errors
                    .push(format!("12100: <{other}> in a whisper"));
                Ok(WhisperStep::Drop)
            }
        }
    }

    /// A `<Say>` the responder hears (Twilio refuses some before speaking: see [`refused_say`]).
    fn whisper_say(&self, call: &mut Call, say: &Node, who: &str) -> WhisperStep {
        if let Some(why) = refused_say(say) {
            self.say(call, format!("{who}'s leg fails ({why})"));
            call.t.application_errors.push(why);
            return WhisperStep::Drop;
        }
        if say.name != "Say" {
            return WhisperStep::Next;
        }
        self.say(call, format!("{who} hears: \"{}\"", say.text));
        if self.elapse(call, speaking_seconds(&say.text)) {
            WhisperStep::Next
        } else {
            WhisperStep::Drop
        }
    }

    /// The acceptance prompt: the responder presses the accept digit, or nothing.
    async fn whisper_gather(
        &mut self,
        call: &mut Call,
        verb: &Node,
        leg: &Leg<'_>,
    ) -> Result<WhisperStep, SimError> {
        let who = &leg.who;
        for p in &verb.children {
            if let WhisperStep::Drop = self.whisper_say(call, p, who) {
                return Ok(WhisperStep::Drop);
            }
        }
        let action = verb.attr("action").unwrap_or_default().to_string();
        if let Behaviour::Accept { .. }
        | Behaviour::AcceptThenDrop { .. }
        | Behaviour::Decline { .. } = leg.behaviour
        {
            let digit = match leg.behaviour {
                Behaviour::Decline { .. } => call.script.decline_digit.clone(),
                _ => call.script.accept_digit.clone(),
            };
            self.say(call, format!("{who} presses {digit}"));
            let (digits, finished) = gathered(verb, &digit);
            let mut extra = vec![];
            if !digits.is_empty() {
                extra.push(("Digits".into(), digits));
                extra.push((
                    "FinishedOnKey".into(),
                    finished.map(String::from).unwrap_or_default(),
                ));
            }
            let answer = self.post(call, &action, leg.params(extra)).await?;
            if let Behaviour::AcceptThenDrop { .. } = leg.behaviour {
                self.say(call, format!("{who}'s line drops"));
                return Ok(WhisperStep::Drop);
            }
            return Ok(answer.map_or(WhisperStep::Drop, WhisperStep::Load));
        }
        let t = verb.number("timeout", 5);
        self.say(call, format!("{who} presses nothing for {t}s"));
        if !self.elapse(call, t) {
            return Ok(WhisperStep::Drop);
        }
        if !verb.flag("actionOnEmptyResult") {
            return Ok(WhisperStep::Next);
        }
        let answer = self.post(call, &action, leg.params(vec![])).await?;
        Ok(answer.map_or(WhisperStep::Drop, WhisperStep::Load))
    }
}

/// How the script says the responder at `address` behaves (no answer when it says nothing).
fn behaviour(call: &Call, address: &str) -> Behaviour {
    call.script
        .responders
        .get(address)
        .copied()
        .unwrap_or(Behaviour::NoAnswer)
}
