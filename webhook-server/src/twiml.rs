//! A small typed TwiML builder. Text and attribute values are escaped by quick-xml, so a
//! caller's speech or a policy's message can never break the document.
//!
//! Only the verbs and attributes Switchboard uses are modelled; see Twilio's TwiML reference
//! for each (<https://www.twilio.com/docs/voice/twiml>).

use switchboard_routing::voice;

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
        let mut x = Xml(String::with_capacity(1024));
        x.0.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>");
        for v in &self.verbs {
            x.verb(v);
        }
        x.0.push_str("</Response>");
        x.0
    }
}

/// Whether XML 1.0 allows `c` in a document at all (the `Char` production: tab, newline,
/// carriage return, and everything from U+0020 but U+FFFE and U+FFFF). No escape makes the
/// others valid, so a NUL in a greeting or a control character in a caller's recognised
/// speech would make the whole TwiML unparseable and the caller hear Twilio's application
/// error.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

/// `text` escaped for XML, with the characters XML cannot carry left out.
fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().all(xml_char) {
        quick_xml::escape::escape(text)
    } else {
        let kept: String = text.chars().filter(|c| xml_char(*c)).collect();
        std::borrow::Cow::Owned(quick_xml::escape::escape(&kept).into_owned())
    }
}

/// A document being written: tags straight into a string, every text and attribute value
/// escaped by quick-xml (`&`, `<`, `>`, `'` and `"` all become entities).
struct Xml(String);

impl Xml {
    /// `<name`: attributes follow, then `open` or `empty`.
    fn tag(&mut self, name: &str) -> &mut Self {
        self.0.push('<');
        self.0.push_str(name);
        self
    }

    fn attr(&mut self, name: &str, value: &str) -> &mut Self {
        self.0.push(' ');
        self.0.push_str(name);
        self.0.push_str("=\"");
        self.0.push_str(&escape(value));
        self.0.push('"');
        self
    }

    fn attr_if(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.attr(name, v),
            None => self,
        }
    }

    fn num(&mut self, name: &str, value: u32) -> &mut Self {
        use std::fmt::Write as _;
        let _ = write!(self.0, " {name}=\"{value}\"");
        self
    }

    fn open(&mut self) {
        self.0.push('>');
    }

    fn empty(&mut self) {
        self.0.push_str("/>");
    }

    fn close(&mut self, name: &str) {
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push('>');
    }

    /// An opened tag's text content and its end tag.
    fn text(&mut self, name: &str, text: &str) {
        self.open();
        self.0.push_str(&escape(text));
        self.close(name);
    }

    /// `text` as one `<Say>` with the attributes of `s`.
    fn say(&mut self, s: &Say, text: &str) {
        self.tag("Say")
            .attr_if("voice", s.voice.as_deref())
            .attr_if("language", s.language.as_deref())
            .text("Say", text);
    }

    fn verb(&mut self, verb: &Verb) {
        match verb {
            // A text over Twilio's limit for one `<Say>` is said as several
            // (`switchboard_routing::voice::MAX_SAY_CHARS`, Twilio error 13521).
            Verb::Say(s) if s.text.len() <= voice::MAX_SAY_CHARS => self.say(s, &s.text),
            Verb::Say(s) => {
                for part in voice::split_for_say(&s.text) {
                    self.say(s, part);
                }
            }
            Verb::Play(url) => self.tag("Play").text("Play", url),
            Verb::Message(body) => self.tag("Message").text("Message", body),
            Verb::Pause(len) => self.tag("Pause").num("length", *len).empty(),
            Verb::Gather(g) => {
                let input = match g.input {
                    Input::Dtmf => "dtmf",
                    Input::Speech => "speech",
                };
                let tag = self
                    .tag("Gather")
                    .attr("input", input)
                    .attr("action", &g.action)
                    .attr("method", "POST");
                if let Some(n) = g.num_digits {
                    tag.num("numDigits", n);
                }
                tag.num("timeout", g.timeout)
                    .attr_if("language", g.language.as_deref())
                    .attr_if("actionOnEmptyResult", flag(g.action_on_empty_result))
                    .open();
                for p in &g.prompts {
                    self.verb(p);
                }
                self.close("Gather");
            }
            Verb::Dial(d) => {
                let tag = self
                    .tag("Dial")
                    .attr_if("action", d.action.as_deref())
                    .attr_if("method", d.action.as_ref().map(|_| "POST"))
                    .num("timeout", d.timeout)
                    .attr_if("callerId", d.caller_id.as_deref())
                    .attr_if("answerOnBridge", flag(d.answer_on_bridge));
                if let Some(t) = d.time_limit {
                    tag.num("timeLimit", t);
                }
                tag.attr_if(
                    "record",
                    d.recording_status_callback
                        .as_ref()
                        .map(|_| "record-from-answer-dual"),
                )
                .attr_if(
                    "recordingStatusCallback",
                    d.recording_status_callback.as_deref(),
                )
                .open();
                for n in &d.nouns {
                    let (name, addr, url) = match n {
                        Noun::Number { number, url } => ("Number", number, url),
                        Noun::Sip { uri, url } => ("Sip", uri, url),
                    };
                    self.tag(name)
                        .attr_if("url", url.as_deref())
                        .attr_if("method", url.as_ref().map(|_| "POST"))
                        .text(name, addr);
                }
                self.close("Dial");
            }
            Verb::Record(r) => self
                .tag("Record")
                .attr("action", &r.action)
                .attr("method", "POST")
                .num("maxLength", r.max_length)
                .attr("finishOnKey", "#")
                .attr("playBeep", "true")
                .attr_if("transcribe", flag(r.transcribe_callback.is_some()))
                .attr_if("transcribeCallback", r.transcribe_callback.as_deref())
                .attr_if(
                    "recordingStatusCallback",
                    r.recording_status_callback.as_deref(),
                )
                .empty(),
            Verb::Redirect(url) => self
                .tag("Redirect")
                .attr("method", "POST")
                .text("Redirect", url),
            Verb::Hangup => self.tag("Hangup").empty(),
            Verb::Reject(reason) => self
                .tag("Reject")
                .attr(
                    "reason",
                    match reason {
                        RejectReason::Busy => "busy",
                        RejectReason::Rejected => "rejected",
                    },
                )
                .empty(),
        }
    }
}

fn flag(b: bool) -> Option<&'static str> {
    b.then_some("true")
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
    fn characters_xml_cannot_carry_are_left_out_so_the_document_stays_valid() {
        let xml = Response::new()
            .say(
                "the db\u{0}is\u{1b} down\u{FFFF}\ttoday",
                Some("Polly\u{7}.Joanna"),
                None,
            )
            .to_xml();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
             <Say voice=\"Polly.Joanna\">the dbis down\ttoday</Say></Response>"
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
