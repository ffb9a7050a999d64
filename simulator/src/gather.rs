//! `<Gather>` and `<Record>` as Twilio plays them: keys up to `numDigits` or `finishOnKey`,
//! speech, an empty result falling through; a recording, its transcription later.

use super::*;

impl Simulator {
    pub(crate) async fn gather(
        &mut self,
        call: &mut Call,
        g: &Node,
    ) -> Result<Option<Next>, SimError> {
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

    pub(crate) async fn record(
        &mut self,
        call: &mut Call,
        r: &Node,
    ) -> Result<Option<Next>, SimError> {
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
}

/// The digits a `<Gather>` passes on for `keys` pressed, and the `finishOnKey` that ended
/// them. NB (Twilio, `<Gather>`): input ends at `numDigits` keys or at `finishOnKey` (default
/// `#`, not included in `Digits`; an empty value disables it), whichever comes first.
/// <https://www.twilio.com/docs/voice/twiml/gather#numdigits>,
/// <https://www.twilio.com/docs/voice/twiml/gather#finishonkey>
pub(crate) fn gathered(g: &Node, keys: &str) -> (String, Option<char>) {
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
