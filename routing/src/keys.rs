//! The Redis key schema, defined once for the operator (writer) and the webhook server (reader).
//!
//! ```text
//!   sb:v1:route:{+14155550100}        STRING  the number's RoutingTable as JSON
//!   sb:v1:route:{+14155550100}:rev    STRING  that table's revision (written with it in one MULTI)
//!   sb:v1:routes                      SET     numbers that have a published table (start-up GC)
//!   sb:v1:call:{CA0123...}            HASH    one call's state (all of a call's keys share a slot):
//!                                             version, state, alert, r:<webhook> (answers)
//!   sb:v1:call:{CA0123...}:draft:<r>  HASH    a new call's first commit, until RENAMENX moves it
//!   sb:v1:call:{CA0123...}:events     LIST    the call's event stream
//!   sb:v1:call-log                    ZSET    recent CallSids by start (ms), trimmed
//!   sb:v1:text:{SM0123...}            HASH    one text: response, record, alert
//!   sb:v1:texts                       LIST    recent texts (MessageSids), newest first, trimmed
//!   sb:v1:sent:{CA0123...}            HASH    which alert stages each target has been sent:
//!                                             <target>:<stage>, sms:<number>, attempts,
//!                                             failingSince
//!   sb:v1:sent:{CA0123...}:lock       STRING  the dispatcher sending that alert now (PX lease)
//!   sb:v1:alerts:due                  ZSET    alerts with something to send, by when (ms)
//! ```
//!
//! Keys that belong together carry the same hash tag (`{...}`), so on Redis Cluster a number's
//! keys, or a call's keys, live in one slot and can be used together in a MULTI or a script.
//! The table is replaced with a single `SET` of the whole document: a reader sees the old table
//! or the new one, never a mix.

/// Prefix of every key, with the schema version of the key layout.
pub const PREFIX: &str = "sb:v1";

// The keys are joined with `concat` rather than `format!`: the webhook server builds several
// for every webhook, and `concat` sizes the string once without the formatting machinery.

/// The key holding the routing table of `number` (E.164).
pub fn route(number: &str) -> String {
    [PREFIX, ":route:{", number, "}"].concat()
}

/// The revision an unpublished number's revision key holds for a while
/// ([`UNPUBLISHED_TTL_SECONDS`]): a reader that finds no revision key at all knows Redis lost
/// its data (restarted empty, or failed over to an empty replica), not that the number was
/// taken out of service, and keeps answering with the table it read last.
pub const UNPUBLISHED: &str = "-";

/// How long the [`UNPUBLISHED`] mark lives: longer than a webhook server answers from its
/// last table while Redis has none.
pub const UNPUBLISHED_TTL_SECONDS: u64 = 7 * 24 * 3600;

/// The key holding the revision of `number`'s routing table. Readers that cache parsed
/// tables read this small key and fetch the table only when the revision changed; writers set
/// both keys in one `MULTI` (they share a hash tag, so that is valid on Redis Cluster too).
pub fn route_revision(number: &str) -> String {
    [PREFIX, ":route:{", number, "}:rev"].concat()
}

/// The set of numbers with a published routing table.
pub fn routes_index() -> String {
    [PREFIX, ":routes"].concat()
}

/// The hash holding the state of call `call_sid`.
pub fn call(call_sid: &str) -> String {
    [PREFIX, ":call:{", call_sid, "}"].concat()
}

/// The list of events of call `call_sid`.
pub fn call_events(call_sid: &str) -> String {
    [PREFIX, ":call:{", call_sid, "}:events"].concat()
}

/// The recent calls: a sorted set of CallSids scored by when each call came in (Unix ms).
/// A set, so a retried or raced first webhook cannot list a call twice (`ZADD NX`). (Before
/// this change the log was the list `sb:v1:calls`, no longer written; it can be deleted.)
pub fn call_log() -> String {
    [PREFIX, ":call-log"].concat()
}

/// The list of recent texts (MessageSids), newest first.
pub fn text_log() -> String {
    [PREFIX, ":texts"].concat()
}

/// The hash holding what was answered to text `message_sid`, its alert and its log record.
pub fn text(message_sid: &str) -> String {
    [PREFIX, ":text:{", message_sid, "}"].concat()
}

/// The hash recording which alert stages each target of alert `id` (a CallSid or MessageSid)
/// has been sent, with the delivery attempts.
pub fn alert_sent(id: &str) -> String {
    [PREFIX, ":sent:{", id, "}"].concat()
}

/// The lock a dispatcher holds while it sends alert `id`, so that no two send one alert at
/// once (in the slot of [`alert_sent`], which it guards).
pub fn alert_lock(id: &str) -> String {
    [PREFIX, ":sent:{", id, "}:lock"].concat()
}

/// Where a new call's first commit is written before `RENAMENX` moves it to [`call`]: same
/// hash tag, a name of its own (`nonce`, random), so concurrent first webhooks never share it.
pub fn call_draft(call_sid: &str, nonce: u64) -> String {
    format!("{PREFIX}:call:{{{call_sid}}}:draft:{nonce:016x}")
}

/// Field names of the hashes above: part of the contract between the webhook server (writer)
/// and the dispatcher and `switchboard calls` (readers). The Lua scripts of [`crate::scripts`]
/// spell the same names.
pub mod field {
    /// Call hash: the compare-and-set version.
    pub const VERSION: &str = "version";
    /// Call hash: the call's state (JSON, without its events).
    pub const STATE: &str = "state";
    /// Call and text hashes: the alert snapshot (JSON).
    pub const ALERT: &str = "alert";
    /// Text hash: the TwiML answered to the text.
    pub const RESPONSE: &str = "response";
    /// Text hash: the text's log record (JSON).
    pub const RECORD: &str = "record";
    /// Sent hash: delivery attempts since the last success.
    pub const ATTEMPTS: &str = "attempts";
    /// Sent hash: since when (Unix ms) deliveries have been failing.
    pub const FAILING_SINCE: &str = "failingSince";

    /// Call hash: the answer stored for webhook `key` (so a retried webhook is answered the
    /// same).
    pub fn response(key: &str) -> String {
        ["r:", key].concat()
    }

    /// Sent hash: stage `stage` (`Stage::as_str`) was sent to target `target`.
    pub fn sent(target: &str, stage: &str) -> String {
        [target, ":", stage].concat()
    }

    /// Sent hash: the text was forwarded to the responder at `number`.
    pub fn forwarded(number: &str) -> String {
        ["sms:", number].concat()
    }
}

/// The sorted set of alerts with something to send, scored by when (Unix milliseconds).
/// Members are [`alert_member`]s.
pub fn alerts_due() -> String {
    [PREFIX, ":alerts:due"].concat()
}

/// The score with which a webhook marks an alert due in [`alerts_due`], from when its call or
/// text came in (Unix milliseconds, on the webhook's clock): that time scaled below 1 (until
/// the year 2286).
///
/// Every other score in the set is a time in Unix milliseconds (a lease's end, a retry, a
/// delayed trigger), so a mark is due at once for any dispatcher, and lower than any of them
/// (`ZADD LT` with a mark makes a new snapshot due at once, even while an older one is leased),
/// however far the webhook's clock is from the operator's: that clock only orders the marks,
/// so the dispatcher takes a backlog oldest call first. (Marking every alert with 0 did the rest
/// too, but Redis then ordered the marks by member, comparing CallSids on every insert.)
pub fn due_mark(unix_ms: u64) -> f64 {
    unix_ms as f64 / 1e13
}

/// The member of [`alerts_due`] for an alert: `call:CA..` or `text:SM..`.
pub fn alert_member(kind: crate::AlertKind, id: &str) -> String {
    match kind {
        crate::AlertKind::Call => ["call:", id].concat(),
        crate::AlertKind::Text => ["text:", id].concat(),
    }
}

/// What an [`alerts_due`] member names: the alert's kind and id; `None` for a member this
/// version does not know.
pub fn parse_alert_member(member: &str) -> Option<(crate::AlertKind, &str)> {
    match member.split_once(':')? {
        ("call", id) => Some((crate::AlertKind::Call, id)),
        ("text", id) => Some((crate::AlertKind::Text, id)),
        _ => None,
    }
}

/// The hash tag of a key: the part Redis Cluster hashes to pick the slot.
pub fn hash_tag(key: &str) -> &str {
    match key.find('{') {
        Some(open) => match key[open + 1..].find('}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_one_call_share_a_cluster_slot() {
        assert_eq!(hash_tag(&call("CA1")), "CA1");
        assert_eq!(hash_tag(&call_events("CA1")), "CA1");
        assert_eq!(hash_tag(&route("+14155550100")), "+14155550100");
        assert_eq!(hash_tag(&route_revision("+14155550100")), "+14155550100");
        assert_eq!(route("+14155550100"), "sb:v1:route:{+14155550100}");
    }

    #[test]
    fn alert_members_parse_back_and_drafts_share_the_calls_slot() {
        use crate::AlertKind;
        for kind in [AlertKind::Call, AlertKind::Text] {
            let m = alert_member(kind, "CA1");
            assert_eq!(parse_alert_member(&m), Some((kind, "CA1")));
        }
        assert_eq!(parse_alert_member("page:CA1"), None);
        assert_eq!(parse_alert_member("CA1"), None);
        let draft = call_draft("CA1", 0xab);
        assert_eq!(draft, "sb:v1:call:{CA1}:draft:00000000000000ab");
        assert_eq!(hash_tag(&draft), hash_tag(&call("CA1")));
    }

    #[test]
    fn due_marks_are_due_at_once_and_ordered_by_time() {
        let now = 1_795_000_000_000; // 2026-11-18, in Unix ms
        let mark = due_mark(now);
        assert!(mark > 0.0 && mark < 1.0, "{mark}");
        // Below any time a dispatcher claims up to or leases until, even one at the epoch's
        // first millisecond; a webhook clock a year ahead changes nothing.
        assert!(due_mark(now + 365 * 86_400_000) < 1.0);
        // One millisecond apart stays apart, through Redis's text form of the score too.
        assert!(due_mark(now) < due_mark(now + 1));
        let text = due_mark(now + 1).to_string();
        assert_eq!(text.parse::<f64>().unwrap(), due_mark(now + 1));
        assert!(text.parse::<f64>().unwrap() > mark);
        assert!(due_mark(9_999_999_999_999) < 1.0);
    }
}
