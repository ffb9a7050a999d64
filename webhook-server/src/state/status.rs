//! Twilio's call and dial statuses, as the webhooks carry them.

/// Twilio's `CallStatus` (a call's status callback) and `DialCallStatus` (a `<Dial action>`),
/// parsed at the edge. NB (Twilio, "Call resource" status values and `<Dial>` `action`):
/// CallStatus is one of queued, ringing, in-progress, completed, busy, failed, no-answer,
/// canceled; DialCallStatus one of completed, answered, busy, no-answer, failed, canceled.
/// <https://www.twilio.com/docs/voice/api/call-resource#call-status-values>
/// <https://www.twilio.com/docs/voice/twiml/dial#dialcallstatus>
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallStatus {
    /// `queued`
    Queued,
    /// `ringing`
    Ringing,
    /// `in-progress`
    InProgress,
    /// `completed`
    Completed,
    /// `answered` (DialCallStatus only)
    Answered,
    /// `busy`
    Busy,
    /// `failed`
    Failed,
    /// `no-answer`
    NoAnswer,
    /// `canceled`
    Canceled,
    /// Missing, or a value Twilio does not document.
    Unknown,
}

impl CallStatus {
    /// The status Twilio sent (`Unknown` for anything else, an empty parameter included).
    pub fn parse(s: &str) -> CallStatus {
        match s {
            "queued" => CallStatus::Queued,
            "ringing" => CallStatus::Ringing,
            "in-progress" => CallStatus::InProgress,
            "completed" => CallStatus::Completed,
            "answered" => CallStatus::Answered,
            "busy" => CallStatus::Busy,
            "failed" => CallStatus::Failed,
            "no-answer" => CallStatus::NoAnswer,
            "canceled" => CallStatus::Canceled,
            _ => CallStatus::Unknown,
        }
    }

    /// The call is over: one of Twilio's final statuses.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CallStatus::Completed
                | CallStatus::Canceled
                | CallStatus::Busy
                | CallStatus::Failed
                | CallStatus::NoAnswer
        )
    }

    /// The caller's leg is gone (it hung up, or Twilio ended it).
    pub fn caller_gone(self) -> bool {
        matches!(self, CallStatus::Completed | CallStatus::Canceled)
    }
}
