//! `<Dial>` as Twilio plays it: every `<Number>` rung at once, the first to answer connected
//! after its whisper (`<Number url>`), the others hung up; then the `<Dial action>` and the
//! status callback in the order the call's [`CallbackOrder`](crate::CallbackOrder) says.

use super::*;
use crate::gather::gathered;

impl Simulator {
    /// Rings every noun; the first to pick up gets the whisper; see the module notes.
    pub(crate) async fn dial(
        &mut self,
        call: &mut Call,
        d: &Node,
    ) -> Result<Option<Next>, SimError> {
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
    pub(crate) async fn whisper(
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
}
