//! The Lua scripts that read and write the keys of [`crate::keys`] atomically, kept beside the
//! key schema because they spell its field names (`crate::keys::field`). Each script's keys
//! share one hash tag, so each runs on one Redis Cluster node.
//!
//! ```text
//!   COMMIT   webhook server: a call's compare-and-set commit (state, answer, alert, events)
//!   TEXT     webhook server: a text recorded once per MessageSid
//!   CLAIM    dispatcher: take the due alerts, leased
//!   RELEASE  dispatcher: put an alert back (done, or due again later)
//!   UNLOCK   dispatcher: drop its per-alert lock if it still holds it
//!   RESTORE  operator: write a lost table unless one was written meanwhile
//! ```

/// KEYS: call hash, events list. ARGV: expected version, state JSON, response field, TwiML,
/// TTL seconds, max events, alert snapshot JSON ('' to leave the stored one), '1' to replace
/// the events and alert rather than append to and keep them (`Commit::replace`), then the
/// events to append.
pub const COMMIT: &str = r"
local v = redis.call('HGET', KEYS[1], 'version')
if (v or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'version', tostring(tonumber(ARGV[1]) + 1), 'state', ARGV[2], ARGV[3], ARGV[4])
if ARGV[8] == '1' then
  redis.call('DEL', KEYS[2])
  if ARGV[7] == '' then redis.call('HDEL', KEYS[1], 'alert') end
end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'alert', ARGV[7]) end
redis.call('EXPIRE', KEYS[1], ARGV[5])
if #ARGV > 8 then
  for i = 9, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[6]), -1)
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
return 1
";

/// KEYS: text hash. ARGV: TwiML answered, alert JSON ('' for none), TTL seconds, the text's
/// record JSON. Returns the
/// answer stored by an earlier delivery of the same text, or nil after storing this one.
pub const TEXT: &str = r"
local r = redis.call('HGET', KEYS[1], 'response')
if r then return r end
redis.call('HSET', KEYS[1], 'response', ARGV[1], 'record', ARGV[4])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'alert', ARGV[2]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return false
";

/// KEYS: the due set. ARGV: now (ms), lease end (ms), batch. Takes the due members and sets
/// their score to the lease end, so no other dispatcher takes them meanwhile.
pub const CLAIM: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, m in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], m) end
return due
";

/// KEYS: the due set. ARGV: member, its lease end (ms), next due time (ms) or '' for done.
/// Does nothing when the score is no longer the lease end: a newer snapshot made it due again.
pub const RELEASE: &str = r"
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not s) or tonumber(s) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then redis.call('ZREM', KEYS[1], ARGV[1]) else redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) end
return 1
";

/// KEYS: the lock. ARGV: the holder's token. Deletes the lock if this holder still has it.
pub const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// KEYS: the table, its revision. ARGV: the table's JSON, its revision. Writes both unless the
/// revision key exists (a table was published meanwhile); 1 when written.
pub const RESTORE: &str = r"
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
return 1
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::field;

    #[test]
    fn the_scripts_spell_the_field_names_of_the_key_schema() {
        let quoted = |f: &str| format!("'{f}'");
        for f in [field::VERSION, field::STATE, field::ALERT] {
            assert!(COMMIT.contains(&quoted(f)), "COMMIT does not write {f}");
        }
        for f in [field::RESPONSE, field::RECORD, field::ALERT] {
            assert!(TEXT.contains(&quoted(f)), "TEXT does not write {f}");
        }
    }
}
