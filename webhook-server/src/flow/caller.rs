//! The caller's number as responders see it (the caller ID of the `<Dial>`) and hear it.

use switchboard_routing::phrases::{Phrase, Texts};
use switchboard_routing::table::CallerId;

/// The caller ID a rung responder sees. NB (Twilio, TwiML `<Dial callerId>` and error 13214):
/// the caller ID must be a phone number in E.164 that the account owns or verified, or the
/// number of the incoming call being forwarded; a caller who withholds their number arrives
/// as `anonymous` (clients and SIP endpoints as `client:...` / `sip:...`), which Twilio
/// refuses, failing the `<Dial>`. Such callers are shown with the hotline number, so that
/// responders are still rung for exactly the callers who withhold theirs.
/// <https://www.twilio.com/docs/voice/twiml/dial#callerid>
pub(super) fn caller_id(policy: CallerId, from: &str, to: &str) -> String {
    match policy {
        CallerId::Caller if switchboard_routing::is_e164(from) => from.to_string(),
        _ => to.to_string(),
    }
}

/// The caller's number as the whisper says it, or what stands for one that is withheld.
pub(super) fn caller_spoken(from: &str, texts: Texts<'_>) -> String {
    if switchboard_routing::is_known_caller(from) {
        spell(from)
    } else {
        texts.get(Phrase::WithheldNumber).to_string()
    }
}

/// A number read digit by digit (`+1 4 1 5 ...`), so text to speech does not say "four billion".
pub(super) fn spell(number: &str) -> String {
    number
        .chars()
        .filter(|c| c.is_ascii_digit())
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod caller_id_tests {
    use super::*;

    #[test]
    fn a_withheld_client_or_sip_caller_is_shown_and_announced_without_a_refused_caller_id() {
        let hotline = "+14155550100";
        let (en, de) = (Texts::new("en-US", None), Texts::new("de-DE", None));
        assert_eq!(
            caller_id(CallerId::Caller, "+15105550123", hotline),
            "+15105550123"
        );
        for withheld in [
            "anonymous",
            "client:alice",
            "sip:bob@pbx.example.com",
            "",
            "+0123",
            "266696687",
        ] {
            assert_eq!(
                caller_id(CallerId::Caller, withheld, hotline),
                hotline,
                "{withheld}"
            );
            assert_eq!(
                caller_spoken(withheld, en),
                "a withheld number",
                "{withheld}"
            );
            assert_eq!(caller_spoken(withheld, de), "einer unterdrückten Nummer");
        }
        assert_eq!(
            caller_id(CallerId::Hotline, "+15105550123", hotline),
            hotline
        );
        assert_eq!(caller_spoken("+15105550123", en), "1 5 1 0 5 5 5 0 1 2 3");
    }
}
