//! Where routing tables and call state live: Redis in production, memory for `switchboard
//! simulate` and unit tests. Both keep the same layout (`switchboard_routing::keys`).
//!
//! ```text
//!   sb:v1:route:{number}       STRING  RoutingTable JSON (written by the operator)
//!   sb:v1:route:{number}:rev   STRING  its revision (same MULTI); read with every webhook
//!                                      of a caller's leg, the table only when it is new
//!   sb:v1:call:{sid}           HASH    version, state (CallState JSON without events),
//!                                      r:<webhook key> (the TwiML answered to that webhook)
//!   sb:v1:call:{sid}:events    LIST    the call's events, oldest first, at most MAX_EVENTS
//!   sb:v1:call:{sid}:draft:<r> HASH    a new call's first commit, until RENAMENX moves it
//!                                      into place (or it is deleted: the call existed)
//!   sb:v1:call-log             ZSET    call SIDs by start (ms), at most `log_size` (ZADD NX)
//!   sb:v1:call:{sid} alert     field   the call's alert snapshot, when its policy notifies
//!   sb:v1:alerts:due           ZSET    alerts the dispatcher (operator) must look at
//!   sb:v1:text:{sid}           HASH    response (the TwiML answered to a text), alert
//! ```
//!
//! Every change to a call is one compare-and-set on its `version` (a Lua script, so it is
//! atomic on the server) that also stores the TwiML answered to the webhook that made the
//! change. A new call's first change, when it has no events, is a draft hash renamed into
//! place with `RENAMENX` instead (`RedisStore::create`), which is as atomic and much cheaper
//! for Redis. A retried webhook finds its answer and gets it again, unchanged; two replicas racing
//! on one call cannot both win, and the loser reloads and tries again. A call's keys share a
//! hash tag, so the script is valid on Redis Cluster; the call log list is written in a
//! separate command (it lives in another slot) right after the call's first commit.
//!
//! A call's first webhook takes one round trip: it is decided on the table this replica read
//! last and committed in a pipeline that reads the table's revision first (`commit_first`);
//! the rare first call after a table change is decided again and replaces the first decision
//! (`Commit::replace`) before Twilio hears it.

mod memory;
mod redis_store;

pub use memory::Memory;
use redis_store::CallFields;
pub use redis_store::RedisStore;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use redis::AsyncCommands;
use switchboard_routing::RoutingTable;
use switchboard_routing::keys::{self, field};

use crate::sms::TextRecord;
use crate::state::CallState;

/// The most events kept per call.
pub const MAX_EVENTS: usize = 500;

/// A store failure. The webhook answers with the fallback TwiML when it sees one.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis failed or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A stored document could not be read.
    #[error("stored document: {0}")]
    Decode(#[from] serde_json::Error),
    /// A stored routing table that cannot be read (malformed, or newer than this server).
    #[error("routing table of {number}: {source}")]
    Table {
        /// The number.
        number: String,
        /// Why.
        source: switchboard_routing::TableError,
    },
}

/// A call as loaded for one webhook.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The call's state, when it exists (events not included).
    pub state: Option<CallState>,
    /// Its version (0 when it does not exist).
    pub version: u64,
    /// The TwiML already answered to this webhook, when it is a retry.
    pub response: Option<String>,
    /// The routing table of the number asked for, when asked for and published.
    pub table: Option<Arc<RoutingTable>>,
}

/// One change to a call.
#[derive(Debug)]
pub struct Commit<'a> {
    /// The new state; its `events` are the events to append.
    pub state: &'a CallState,
    /// The version loaded; the commit fails when the call has moved on since.
    pub expected_version: u64,
    /// The webhook's idempotency key.
    pub key: &'a str,
    /// The TwiML answered.
    pub response: &'a str,
    /// The call's alert snapshot to store and mark due, when this change changed it (`None`
    /// leaves the stored one as it is), for the dispatcher (on Redis, or on the memory store's
    /// queue: `Store::alert_queue`).
    pub alert: Option<&'a switchboard_routing::Alert>,
    /// This change replaces the call's first decision, made on a routing table that turned out
    /// to be stale (`Store::commit_first`): the stored events are replaced rather than appended
    /// to, and the stored alert snapshot by `alert` (removed when `None`).
    pub replace: bool,
}

/// Settings of a store.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// How long a call's keys live after its last change.
    pub call_ttl: Duration,
    /// How many calls the call log keeps.
    pub log_size: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            call_ttl: Duration::from_secs(7 * 24 * 3600),
            log_size: 1000,
        }
    }
}

/// The store.
#[derive(Clone, Debug)]
pub enum Store {
    /// In memory, for one process.
    Memory(Arc<Mutex<Memory>>, Retention),
    /// Redis.
    Redis(RedisStore, Retention),
}

/// The store as a writer of tables (`switchboard dev` publishes into it; in a deployment the
/// operator writes Redis itself): writes a table only when its revision changed.
impl switchboard_routing::publish::RouteStore for Store {
    async fn publish(&mut self, table: &RoutingTable) -> Result<bool, String> {
        let current = self.table(&table.number).await.map_err(|e| e.to_string())?;
        if current.is_some_and(|t| t.revision == table.revision) {
            return Ok(false);
        }
        self.put_table(table).await.map_err(|e| e.to_string())?;
        Ok(true)
    }

    async fn unpublish(&mut self, number: &str) -> Result<(), String> {
        self.remove_table(number).await.map_err(|e| e.to_string())
    }
}

/// The state's JSON, which leaves its events out (`CallState::events`).
fn state_json(state: &CallState) -> Result<String, serde_json::Error> {
    serde_json::to_string(state)
}

fn event_json(e: &(Timestamp, String)) -> String {
    serde_json::to_string(e).unwrap_or_default()
}

fn response_field(key: &str) -> String {
    field::response(key)
}

fn decode_table(number: &str, json: &str) -> Result<RoutingTable, StoreError> {
    RoutingTable::from_json(json).map_err(|source| StoreError::Table {
        number: number.to_string(),
        source,
    })
}

impl Store {
    /// An empty in-memory store.
    pub fn memory() -> Store {
        Store::Memory(Arc::default(), Retention::default())
    }

    /// The queue the memory store puts its alerts in, for a dispatcher of the same process
    /// (`switchboard dev` without Redis); `None` on Redis, whose queue is Redis itself.
    pub fn alert_queue(&self) -> Option<switchboard_routing::queue::MemoryQueue> {
        match self {
            Store::Memory(m, _) => Some(Self::mem(m).alerts.clone()),
            Store::Redis(..) => None,
        }
    }

    /// A Redis store.
    pub fn redis(store: RedisStore, retention: Retention) -> Store {
        Store::Redis(store, retention)
    }

    /// Whether its Redis can fail over (Sentinels), so that a lost master is worth waiting for.
    pub fn fails_over(&self) -> bool {
        matches!(self, Store::Redis(r, _) if r.fails_over())
    }

    fn retention(&self) -> Retention {
        match self {
            Store::Memory(_, r) | Store::Redis(_, r) => *r,
        }
    }

    fn mem(m: &Arc<Mutex<Memory>>) -> std::sync::MutexGuard<'_, Memory> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks that the store answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Memory(..) => Ok(()),
            Store::Redis(r, _) => {
                let mut c = r.conn.clone();
                let _: String = redis::cmd("PING").query_async(&mut c).await?;
                Ok(())
            }
        }
    }

    /// The routing table of `number`.
    pub async fn table(&self, number: &str) -> Result<Option<Arc<RoutingTable>>, StoreError> {
        match self {
            Store::Memory(m, _) => Ok(Self::mem(m).tables.get(number).cloned()),
            Store::Redis(r, _) => {
                let revision: Option<String> =
                    r.conn.clone().get(keys::route_revision(number)).await?;
                r.table_at(number, revision).await
            }
        }
    }

    /// Publishes a routing table (the operator's job; the simulator and tests use it too).
    pub async fn put_table(&self, table: &RoutingTable) -> Result<(), StoreError> {
        match self {
            Store::Memory(m, _) => {
                let table = Arc::new(table.clone());
                Self::mem(m).tables.insert(table.number.clone(), table);
            }
            Store::Redis(r, _) => {
                switchboard_routing::publish::publish(&mut r.conn.clone(), table).await?;
            }
        }
        Ok(())
    }

    /// Removes the routing table of `number` (its number then answers "not in service").
    pub async fn remove_table(&self, number: &str) -> Result<(), StoreError> {
        match self {
            Store::Memory(m, _) => {
                Self::mem(m).tables.remove(number);
            }
            Store::Redis(r, _) => {
                switchboard_routing::publish::unpublish(&mut r.conn.clone(), number).await?;
            }
        }
        Ok(())
    }

    /// Loads call `sid` for the webhook `key`, and the routing table of `number` when given,
    /// in one round trip.
    pub async fn load(
        &self,
        sid: &str,
        key: &str,
        number: Option<&str>,
    ) -> Result<Loaded, StoreError> {
        let (version, state, response, table): (
            Option<u64>,
            Option<String>,
            Option<String>,
            Option<Arc<RoutingTable>>,
        ) = match self {
            Store::Memory(m, _) => {
                let mem = Self::mem(m);
                let table = number.and_then(|n| mem.tables.get(n).cloned());
                match mem.calls.get(sid) {
                    Some(c) => (
                        Some(c.version),
                        Some(c.state.clone()),
                        c.responses.get(key).cloned(),
                        table,
                    ),
                    None => (None, None, None, table),
                }
            }
            Store::Redis(r, _) => {
                let mut c = r.conn.clone();
                let mut pipe = redis::pipe();
                pipe.cmd("HMGET")
                    .arg(keys::call(sid))
                    .arg(field::VERSION)
                    .arg(field::STATE)
                    .arg(response_field(key));
                if let Some(n) = number {
                    pipe.get(keys::route_revision(n));
                }
                let (fields, revision): (CallFields, Option<String>) = if number.is_some() {
                    pipe.query_async(&mut c).await?
                } else {
                    let (fields,): (CallFields,) = pipe.query_async(&mut c).await?;
                    (fields, None)
                };
                let table = match number {
                    Some(n) => r.table_at(n, revision).await?,
                    None => None,
                };
                (fields.0, fields.1, fields.2, table)
            }
        };
        Ok(Loaded {
            state: state.map(|s| serde_json::from_str(&s)).transpose()?,
            version: version.unwrap_or(0),
            response,
            table,
        })
    }

    /// Applies `commit` when the call is still at `expected_version`; false when it moved on.
    pub async fn commit(&self, commit: Commit<'_>) -> Result<bool, StoreError> {
        Ok(self.apply(&commit, None).await?.0)
    }

    /// The routing table of `number` this store read last, without asking Redis whether it is
    /// still current (`commit_first` tells).
    pub fn cached_table(&self, number: &str) -> Option<Arc<RoutingTable>> {
        match self {
            Store::Memory(m, _) => Self::mem(m).tables.get(number).cloned(),
            Store::Redis(r, _) => r.tables.last(number),
        }
    }

    /// The table of `number` at `revision`, its current one as `commit_first` returned it.
    pub async fn table_at(
        &self,
        number: &str,
        revision: Option<String>,
    ) -> Result<Option<Arc<RoutingTable>>, StoreError> {
        match self {
            Store::Memory(m, _) => Ok(Self::mem(m).tables.get(number).cloned()),
            Store::Redis(r, _) => r.table_at(number, revision).await,
        }
    }

    /// Applies the first commit of a new call (`expected_version` 0), decided on a table of
    /// `number` that may be stale (`cached_table`), and reads that table's current revision in
    /// the same round trip, before the commit. `None` when the call exists already (a retried
    /// or concurrent first webhook); else the current revision (`None`: not published), which
    /// the caller compares with the revision it decided on.
    pub async fn commit_first(
        &self,
        commit: Commit<'_>,
        number: &str,
    ) -> Result<Option<Option<String>>, StoreError> {
        let (applied, revision) = self.apply(&commit, Some(number)).await?;
        Ok(applied.then_some(revision))
    }

    /// Applies `commit`; with `revision_of`, also reads that number's table revision first.
    async fn apply(
        &self,
        commit: &Commit<'_>,
        revision_of: Option<&str>,
    ) -> Result<(bool, Option<String>), StoreError> {
        let state = state_json(commit.state)?;
        let events: Vec<String> = commit.state.events.iter().map(event_json).collect();
        let retention = self.retention();
        match self {
            Store::Memory(m, _) => {
                Ok(Self::mem(m).apply(commit, &state, events, revision_of, retention)?)
            }
            Store::Redis(r, _) => {
                r.apply(commit, &state, &events, revision_of, retention)
                    .await
            }
        }
    }

    /// Records a text (`record`), answered with `response`, raising `alert`, unless an earlier
    /// delivery of the same text was recorded: then that delivery's answer comes back and nothing
    /// changes, so a retried text is neither forwarded nor alerted twice. A new text enters the
    /// text log, trimmed to the call log's size.
    pub async fn text(
        &self,
        record: &TextRecord,
        response: &str,
        alert: Option<&switchboard_routing::Alert>,
    ) -> Result<Option<String>, StoreError> {
        let sid = record.message_sid.as_str();
        let alert_json = alert.map(serde_json::to_string).transpose()?;
        let record_json = serde_json::to_string(record)?;
        match self {
            Store::Memory(m, retention) => {
                Ok(Self::mem(m).text(sid, response, record_json, alert, retention.log_size)?)
            }
            Store::Redis(r, retention) => {
                r.text(
                    sid,
                    response,
                    alert_json.as_deref(),
                    alert,
                    &record_json,
                    *retention,
                )
                .await
            }
        }
    }

    /// The most recent texts, newest first, as far as they have not expired.
    pub async fn recent_texts(&self, limit: usize) -> Result<Vec<TextRecord>, StoreError> {
        let records: Vec<Option<String>> = match self {
            Store::Memory(m, _) => {
                let mem = Self::mem(m);
                mem.text_log
                    .iter()
                    .take(limit)
                    .map(|sid| mem.texts.get(sid).map(|(_, r)| r.clone()))
                    .collect()
            }
            Store::Redis(r, _) => {
                let mut c = r.conn.clone();
                let sids: Vec<String> = c.lrange(keys::text_log(), 0, limit as isize - 1).await?;
                if sids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut pipe = redis::pipe();
                for sid in &sids {
                    pipe.hget(keys::text(sid), field::RECORD);
                }
                pipe.query_async(&mut c).await?
            }
        };
        let mut seen = std::collections::HashSet::new();
        let mut texts = Vec::new();
        for json in records.into_iter().flatten() {
            let record: TextRecord = serde_json::from_str(&json)?;
            if seen.insert(record.message_sid.clone()) {
                texts.push(record);
            }
        }
        Ok(texts)
    }

    /// A call with its events, for the call log.
    pub async fn call(&self, sid: &str) -> Result<Option<CallState>, StoreError> {
        let (state, events): (Option<String>, Vec<String>) = match self {
            Store::Memory(m, _) => match Self::mem(m).calls.get(sid) {
                Some(c) => (Some(c.state.clone()), c.events.iter().cloned().collect()),
                None => (None, vec![]),
            },
            Store::Redis(r, _) => {
                let mut c = r.conn.clone();
                redis::pipe()
                    .hget(keys::call(sid), field::STATE)
                    .lrange(keys::call_events(sid), 0, -1)
                    .query_async(&mut c)
                    .await?
            }
        };
        let Some(state) = state else { return Ok(None) };
        let mut state: CallState = serde_json::from_str(&state)?;
        state.events = events
            .iter()
            .filter_map(|e| serde_json::from_str(e).ok())
            .collect();
        Ok(Some(state))
    }

    /// The most recent calls, newest first (calls whose keys expired are left out).
    pub async fn recent_calls(&self, limit: usize) -> Result<Vec<CallState>, StoreError> {
        let sids: Vec<String> = match self {
            Store::Memory(m, _) => Self::mem(m).log.iter().take(limit).cloned().collect(),
            Store::Redis(r, _) => {
                let mut c = r.conn.clone();
                redis::cmd("ZREVRANGE")
                    .arg(keys::call_log())
                    .arg(0)
                    .arg(limit as isize - 1)
                    .query_async(&mut c)
                    .await?
            }
        };
        let mut calls = Vec::with_capacity(sids.len());
        let mut seen = std::collections::HashSet::new();
        for sid in sids {
            if !seen.insert(sid.clone()) {
                continue;
            }
            if let Some(call) = self.call(&sid).await? {
                calls.push(call);
            }
        }
        Ok(calls)
    }
}
