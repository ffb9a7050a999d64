//! What a simulated call is made of: the script (the caller's keys and speech, each
//! responder's behaviour), the transcript it produces, and the callback order it plays.

use std::collections::HashMap;
use std::str::FromStr;

use jiff::Timestamp;

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
    /// Picks up after `after` seconds and presses the decline key (passes the call on).
    Decline {
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
            "decline" => Behaviour::Decline {
                after: after.unwrap_or(5),
            },
            "no-answer" => Behaviour::NoAnswer,
            "busy" => Behaviour::Busy,
            "fail" => Behaviour::Fail,
            other => {
                return Err(format!(
                    "unknown behaviour `{other}`: use accept, decline, ignore, voicemail, hang-up, accept-then-drop, no-answer, busy or fail"
                ));
            }
        })
    }
}

impl Behaviour {
    pub(crate) fn pickup_after(self) -> Option<u32> {
        match self {
            Behaviour::Accept { after }
            | Behaviour::Ignore { after }
            | Behaviour::Voicemail { after }
            | Behaviour::AcceptThenDrop { after }
            | Behaviour::Decline { after }
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
    /// The key a responder presses to decline (`decline`).
    pub decline_digit: String,
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
            decline_digit: "2".into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviours_parse_with_optional_delays() {
        assert_eq!("accept".parse(), Ok(Behaviour::Accept { after: 5 }));
        assert_eq!("voicemail@2".parse(), Ok(Behaviour::Voicemail { after: 2 }));
        assert_eq!("busy".parse(), Ok(Behaviour::Busy));
        assert_eq!("decline@8".parse(), Ok(Behaviour::Decline { after: 8 }));
        assert!(
            "answer"
                .parse::<Behaviour>()
                .unwrap_err()
                .contains("accept, decline, ignore")
        );
        assert!("accept@x".parse::<Behaviour>().is_err());
    }
}
