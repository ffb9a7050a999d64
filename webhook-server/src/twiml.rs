//! A small typed TwiML builder. Text and attribute values are escaped by quick-xml, so a
//! caller's speech or a policy's message can never break the document.
//!
//! Only the verbs and attributes Switchboard uses are modelled; see Twilio's TwiML reference
//! for each (<https://www.twilio.com/docs/voice/twiml>).

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// A `<Response>` document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    verbs: Vec<Verb>,
}

/// A TwiML verb.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verb {
    /// `<Say>`.
    Say(Say),
    /// `<Play>` of an audio URL.
    Play(String),
    /// `<Pause length>` in seconds.
    Pause(u32),
    /// `<Gather>`.
    Gather(Gather),
    /// `<Dial>`.
    Dial(Dial),
    /// `<Record>`.
    Record(Record),
    /// `<Redirect>` to a URL (POST).
    Redirect(String),
    /// `<Hangup/>`.
    Hangup,
    /// `<Reject reason>`: refuse the call before answering it (no charge to the caller).
    Reject(RejectReason),
    /// `<Message>`: the reply to an incoming text (Messaging TwiML), sent back to its sender.
    Message(String),
}

/// Spoken text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Say {
    /// The words.
    pub text: String,
    /// Twilio voice (`Polly.Joanna`), or Twilio's default.
    pub voice: Option<String>,
    /// BCP 47 language.
    pub language: Option<String>,
}

/// What `<Gather>` listens for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Key presses.
    Dtmf,
    /// Speech to text.
    Speech,
}

/// `<Gather>`: collects digits or speech, then POSTs them to `action`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gather {
    /// Where the result is POSTed.
    pub action: String,
    /// Digits or speech.
    pub input: Input,
    /// With digits: how many end the gather.
    pub num_digits: Option<u32>,
    /// Seconds to wait for input.
    pub timeout: u32,
    /// With speech: the language of the speech.
    pub language: Option<String>,
    /// POST to `action` even when nothing was entered. NB: without it Twilio falls through
    /// to the next verb after the gather instead, which is what the menu's retry relies on.
    pub action_on_empty_result: bool,
    /// What is said or played while listening.
    pub prompts: Vec<Verb>,
}

/// `<Dial>`: rings numbers or SIP URIs and bridges the first to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dial {
    /// Where Twilio POSTs the outcome (`DialCallStatus`) when the dial ends; without one,
    /// Twilio goes on with the next verb.
    pub action: Option<String>,
    /// Seconds to ring.
    pub timeout: u32,
    /// The caller ID the called party sees.
    pub caller_id: Option<String>,
    /// Keep the caller hearing ringing until the called party is bridged.
    pub answer_on_bridge: bool,
    /// Longest connected call, seconds.
    pub time_limit: Option<u32>,
    /// Record the bridged call (`record-from-answer-dual`) and where to send the recording.
    pub recording_status_callback: Option<String>,
    /// Who is rung.
    pub nouns: Vec<Noun>,
}

/// A party in a `<Dial>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Noun {
    /// `<Number url>`: a phone number; `url` is the whisper run on the callee's leg.
    Number {
        /// E.164 number.
        number: String,
        /// Whisper TwiML URL.
        url: Option<String>,
    },
    /// `<Sip url>`: a SIP URI.
    Sip {
        /// SIP URI.
        uri: String,
        /// Whisper TwiML URL.
        url: Option<String>,
    },
}

/// `<Record>` of a voicemail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Where the recording's details are POSTed when it ends.
    pub action: String,
    /// Longest message, seconds.
    pub max_length: u32,
    /// Ask Twilio for a transcription, POSTed to `transcribe_callback`.
    pub transcribe_callback: Option<String>,
    /// Where the recording status (with its URL) is POSTed.
    pub recording_status_callback: Option<String>,
}

/// Why a call is rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// The caller hears a busy signal.
    Busy,
    /// The caller hears "the number you have dialed is not in service".
    Rejected,
}

impl Response {
    /// An empty response: Twilio ends the call (or, in a whisper, bridges the parties).
    pub fn new() -> Response {
        Response::default()
    }

    /// Appends a verb.
    pub fn push(mut self, verb: Verb) -> Response {
        self.verbs.push(verb);
        self
    }

    /// Appends `<Say>`.
    pub fn say(
        self,
        text: impl Into<String>,
        voice: Option<&str>,
        language: Option<&str>,
    ) -> Response {
        self.push(Verb::Say(Say {
            text: text.into(),
            voice: voice.map(String::from),
            language: language.map(String::from),
        }))
    }

    /// Appends `<Hangup/>`.
    pub fn hangup(self) -> Response {
        self.push(Verb::Hangup)
    }

    /// The verbs, in order.
    pub fn verbs(&self) -> &[Verb] {
        &self.verbs
    }

    /// The XML document Twilio receives.
    pub fn to_xml(&self) -> String {
        // Room for a typical answer (a greeting and a menu, about 700 bytes) at once.
        let mut w = Writer::new(Vec::with_capacity(1024));
        let write = |w: &mut Writer<Vec<u8>>| -> std::io::Result<()> {
            w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
            w.write_event(Event::Start(BytesStart::new("Response")))?;
            for v in &self.verbs {
                write_verb(w, v)?;
            }
            w.write_event(Event::End(BytesEnd::new("Response")))
        };
        write(&mut w).expect("writing to a Vec cannot fail");
        String::from_utf8(w.into_inner()).expect("quick-xml writes UTF-8")
    }
}

fn element<'a>(name: &'a str, attrs: &[(&'a str, Option<String>)]) -> BytesStart<'a> {
    let mut e = BytesStart::new(name);
    for (k, v) in attrs {
        if let Some(v) = v {
            e.push_attribute((*k, v.as_str()));
        }
    }
    e
}

fn text_element(w: &mut Writer<Vec<u8>>, start: BytesStart<'_>, text: &str) -> std::io::Result<()> {
    let name = start.to_end().into_owned();
    w.write_event(Event::Start(start))?;
    w.write_event(Event::Text(BytesText::new(text)))?;
    w.write_event(Event::End(name))
}

fn flag(b: bool) -> Option<String> {
    b.then(|| "true".to_string())
}

fn write_verb(w: &mut Writer<Vec<u8>>, verb: &Verb) -> std::io::Result<()> {
    match verb {
        Verb::Say(s) => text_element(
            w,
            element(
                "Say",
                &[("voice", s.voice.clone()), ("language", s.language.clone())],
            ),
            &s.text,
        ),
        Verb::Play(url) => text_element(w, BytesStart::new("Play"), url),
        Verb::Message(body) => text_element(w, BytesStart::new("Message"), body),
        Verb::Pause(len) => w.write_event(Event::Empty(element(
            "Pause",
            &[("length", Some(len.to_string()))],
        ))),
        Verb::Gather(g) => {
            let start = element(
                "Gather",
                &[
                    (
                        "input",
                        Some(
                            match g.input {
                                Input::Dtmf => "dtmf",
                                Input::Speech => "speech",
                            }
                            .into(),
                        ),
                    ),
                    ("action", Some(g.action.clone())),
                    ("method", Some("POST".into())),
                    ("numDigits", g.num_digits.map(|n| n.to_string())),
                    ("timeout", Some(g.timeout.to_string())),
                    ("language", g.language.clone()),
                    ("actionOnEmptyResult", flag(g.action_on_empty_result)),
                ],
            );
            w.write_event(Event::Start(start))?;
            for p in &g.prompts {
                write_verb(w, p)?;
            }
            w.write_event(Event::End(BytesEnd::new("Gather")))
        }
        Verb::Dial(d) => {
            let start = element(
                "Dial",
                &[
                    ("action", d.action.clone()),
                    ("method", d.action.as_ref().map(|_| "POST".into())),
                    ("timeout", Some(d.timeout.to_string())),
                    ("callerId", d.caller_id.clone()),
                    ("answerOnBridge", flag(d.answer_on_bridge)),
                    ("timeLimit", d.time_limit.map(|t| t.to_string())),
                    (
                        "record",
                        d.recording_status_callback
                            .as_ref()
                            .map(|_| "record-from-answer-dual".to_string()),
                    ),
                    (
                        "recordingStatusCallback",
                        d.recording_status_callback.clone(),
                    ),
                ],
            );
            w.write_event(Event::Start(start))?;
            for n in &d.nouns {
                let (name, addr, url) = match n {
                    Noun::Number { number, url } => ("Number", number, url),
                    Noun::Sip { uri, url } => ("Sip", uri, url),
                };
                let method = url.as_ref().map(|_| "POST".to_string());
                text_element(
                    w,
                    element(name, &[("url", url.clone()), ("method", method)]),
                    addr,
                )?;
            }
            w.write_event(Event::End(BytesEnd::new("Dial")))
        }
        Verb::Record(r) => w.write_event(Event::Empty(element(
            "Record",
            &[
                ("action", Some(r.action.clone())),
                ("method", Some("POST".into())),
                ("maxLength", Some(r.max_length.to_string())),
                ("finishOnKey", Some("#".into())),
                ("playBeep", Some("true".into())),
                ("transcribe", flag(r.transcribe_callback.is_some())),
                ("transcribeCallback", r.transcribe_callback.clone()),
                (
                    "recordingStatusCallback",
                    r.recording_status_callback.clone(),
                ),
            ],
        ))),
        Verb::Redirect(url) => text_element(
            w,
            element("Redirect", &[("method", Some("POST".into()))]),
            url,
        ),
        Verb::Hangup => w.write_event(Event::Empty(BytesStart::new("Hangup"))),
        Verb::Reject(reason) => w.write_event(Event::Empty(element(
            "Reject",
            &[(
                "reason",
                Some(
                    match reason {
                        RejectReason::Busy => "busy",
                        RejectReason::Rejected => "rejected",
                    }
                    .into(),
                ),
            )],
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped() {
        let xml = Response::new()
            .say("Tom & Jerry's <script>", Some("Polly.\"Joanna\""), None)
            .push(Verb::Redirect("https://x.example/a?b=1&c=2".into()))
            .to_xml();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
             <Say voice=\"Polly.&quot;Joanna&quot;\">Tom &amp; Jerry&apos;s &lt;script&gt;</Say>\
             <Redirect method=\"POST\">https://x.example/a?b=1&amp;c=2</Redirect></Response>"
        );
    }

    #[test]
    fn an_empty_response_is_a_valid_document() {
        assert_eq!(
            Response::new().to_xml(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>"
        );
    }

    #[test]
    fn a_simultaneous_dial_with_whispers_and_a_voicemail_render_as_twilio_expects() {
        let xml = Response::new()
            .push(Verb::Dial(Dial {
                action: Some("https://sb.example/twilio/voice/dial?call=CA1&seq=3".into()),
                timeout: 25,
                caller_id: Some("+14155550100".into()),
                answer_on_bridge: true,
                time_limit: Some(3600),
                recording_status_callback: None,
                nouns: vec![
                    Noun::Number {
                        number: "+12125550201".into(),
                        url: Some(
                            "https://sb.example/twilio/voice/whisper?call=CA1&seq=3&to=0".into(),
                        ),
                    },
                    Noun::Sip {
                        uri: "sip:olaf@pbx.acme.example".into(),
                        url: None,
                    },
                ],
            }))
            .push(Verb::Gather(Gather {
                action: "https://sb.example/twilio/voice/menu".into(),
                input: Input::Dtmf,
                num_digits: Some(1),
                timeout: 6,
                language: None,
                action_on_empty_result: false,
                prompts: vec![Verb::Say(Say {
                    text: "For the database team, press 2.".into(),
                    voice: None,
                    language: Some("en-US".into()),
                })],
            }))
            .push(Verb::Record(Record {
                action: "https://sb.example/twilio/voice/voicemail".into(),
                max_length: 120,
                transcribe_callback: Some("https://sb.example/twilio/voice/transcription".into()),
                recording_status_callback: None,
            }))
            .hangup()
            .to_xml();
        insta::assert_snapshot!(xml.replace("><", ">\n<"));
    }
}
