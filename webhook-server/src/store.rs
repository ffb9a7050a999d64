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

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use redis::AsyncCommands;
use redis::aio::ConnectionManagerConfig;
use switchboard_routing::connect::Conn;
use switchboard_routing::keys::{self, field};
use switchboard_routing::{AlertKind, RoutingTable, scripts};
use tracing::{info, warn};

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
    /// leaves the stored one as it is). Only Redis has a dispatcher to read it.
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

/// Parsed routing tables by number, with their revision. Each webhook of a caller's leg reads
/// the small revision key (a first webhook with its commit, `Store::commit_first`); the table
/// is fetched and parsed again only when its revision changed, so every webhook sees the table
/// as it is in Redis now without moving and parsing an unchanged document each time.
#[derive(Debug, Default)]
struct TableCache(Mutex<HashMap<String, Cached>>);

/// A table as read, and when Redis last said it was current.
#[derive(Debug)]
struct Cached {
    table: Arc<RoutingTable>,
    confirmed: std::time::Instant,
    /// Being served while Redis has no revision of it (logged once per episode).
    from_memory: bool,
}

/// How long after Redis last confirmed a table it is still served while Redis holds no
/// revision of its number at all (Redis restarted empty or failed over to an empty replica,
/// and the operator has not written it again yet, or is down).
const SERVE_LAST_TABLE_FOR: Duration = Duration::from_secs(24 * 3600);

impl TableCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cached(&self, number: &str, revision: &str) -> Option<Arc<RoutingTable>> {
        let mut cache = self.lock();
        let c = cache
            .get_mut(number)
            .filter(|c| c.table.revision == revision)?;
        c.confirmed = std::time::Instant::now();
        if c.from_memory {
            c.from_memory = false;
            info!(number, "Redis holds this number's table again");
        }
        Some(c.table.clone())
    }

    fn remove(&self, number: &str) {
        self.lock().remove(number);
    }

    fn last(&self, number: &str) -> Option<Arc<RoutingTable>> {
        self.lock().get(number).map(|c| c.table.clone())
    }

    /// The last table of `number`, if Redis confirmed it recently enough to go on serving it
    /// while Redis has none.
    fn last_confirmed(&self, number: &str) -> Option<Arc<RoutingTable>> {
        let mut cache = self.lock();
        let c = cache
            .get_mut(number)
            .filter(|c| c.confirmed.elapsed() < SERVE_LAST_TABLE_FOR)?;
        if !c.from_memory {
            c.from_memory = true;
            warn!(
                number,
                revision = %c.table.revision,
                "Redis holds no routing table of this number (it lost its data?): answering with the table read last until the operator writes it again"
            );
        }
        Some(c.table.clone())
    }

    fn insert(&self, number: &str, json: &str) -> Result<Arc<RoutingTable>, StoreError> {
        let table = Arc::new(decode_table(number, json)?);
        self.lock().insert(
            number.to_string(),
            Cached {
                table: table.clone(),
                confirmed: std::time::Instant::now(),
                from_memory: false,
            },
        );
        Ok(table)
    }
}

impl RedisStore {
    /// The table of `number` whose current revision is `revision`: `None` when the number is
    /// not published ([`keys::UNPUBLISHED`], or never seen). When Redis holds no revision at
    /// all but this replica read a table of the number within [`SERVE_LAST_TABLE_FOR`], Redis
    /// lost it (an unpublished number leaves the mark) and that table goes on answering:
    /// callers hear "not in service" only for numbers really not published.
    async fn table_at(
        &self,
        number: &str,
        revision: Option<String>,
    ) -> Result<Option<Arc<RoutingTable>>, StoreError> {
        let Some(revision) = revision else {
            return Ok(self.tables.last_confirmed(number));
        };
        if revision == keys::UNPUBLISHED {
            // Unpublished: forget it, or every call to the number would first be decided on
            // the old table (`Store::cached_table`) and then again.
            self.tables.remove(number);
            return Ok(None);
        }
        if let Some(t) = self.tables.cached(number, &revision) {
            return Ok(Some(t));
        }
        let json: Option<String> = self.conn.clone().get(keys::route(number)).await?;
        json.map(|j| self.tables.insert(number, &j)).transpose()
    }
}

/// A call's hash fields as read: version, state, the stored answer.
type CallFields = (Option<u64>, Option<String>, Option<String>);

/// The in-memory store's contents.
#[derive(Debug, Default)]
pub struct Memory {
    tables: HashMap<String, Arc<RoutingTable>>,
    calls: HashMap<String, MemoryCall>,
    texts: HashMap<String, (String, String)>,
    log: VecDeque<String>,
    text_log: VecDeque<String>,
}

#[derive(Debug, Default)]
struct MemoryCall {
    version: u64,
    state: String,
    responses: HashMap<String, String>,
    events: VecDeque<String>,
}

/// A Redis connection (reconnects by itself).
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    tables: Arc<TableCache>,
    commit: Arc<redis::Script>,
    text: Arc<redis::Script>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisStore")
    }
}

impl StoreError {
    /// Whether the command failed because its connection broke (a broken pipe, a reset, an
    /// end of stream): Redis may well be fine, and the connection manager is reconnecting, so
    /// the same work is worth one more try. Not a timeout, nor a refused connection.
    pub fn is_connection_dropped(&self) -> bool {
        matches!(self, StoreError::Redis(e) if e.is_connection_dropped())
    }

    /// Whether Redis could not be reached at all (refused, timed out, cut) or the cluster is
    /// between masters: behind Sentinels or in a Cluster, a master that died and is being
    /// replaced.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, StoreError::Redis(e) if e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_io_error()
            || e.is_timeout()
            || matches!(e.kind(), redis::ErrorKind::MasterNameNotFoundBySentinel
                | redis::ErrorKind::ClusterConnectionNotFound
                | redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly
                    | redis::ServerErrorKind::Moved
                    | redis::ServerErrorKind::ClusterDown
                    | redis::ServerErrorKind::TryAgain
                    | redis::ServerErrorKind::MasterDown)))
    }
}

impl RedisStore {
    /// Whether Redis sits behind Sentinels or is a Cluster, whose failover takes seconds worth
    /// waiting for.
    pub fn fails_over(&self) -> bool {
        self.conn.fails_over()
    }

    /// A lazily connecting store; commands fail within `timeout` when Redis is away, so a
    /// webhook can still answer with the fallback before Twilio gives up on it.
    pub fn connect(url: &str, timeout: Duration) -> Result<RedisStore, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        Ok(RedisStore {
            conn: Conn::lazy(url, config)?,
            tables: Arc::default(),
            commit: Arc::new(redis::Script::new(scripts::COMMIT)),
            text: Arc::new(redis::Script::new(scripts::TEXT)),
        })
    }
}

/// Adds to a commit's pipeline what follows the commit itself: what lives outside the call's
/// slot (the due mark of its alert, when it changed, and for a new call, `with_log`, its entry
/// in the call log), and the wait for a replica behind Sentinels or in a Cluster
/// ([`ack_by_replica`]).
fn after_commit(
    pipe: &mut redis::Pipeline,
    commit: &Commit<'_>,
    with_log: bool,
    retention: Retention,
    conn: &Conn,
) {
    let sid = &commit.state.call_sid;
    let started_ms = commit.state.started_at.as_millisecond();
    // In a Cluster the WAIT waits on the node of the write before it, the call's (so it
    // comes first); behind Sentinels one WAIT at the end covers every write. (In a Cluster
    // the due mark and the log entry are not waited for: a due mark lost to a failover is
    // made again by the call's next webhook, each of which marks its alert due.)
    let cluster = conn.is_cluster();
    if cluster {
        ack_by_replica(pipe, conn);
    }
    if let Some(alert) = commit.alert {
        // Another slot than the call's keys, so beside the commit, not in it; when the commit
        // fails this only makes the dispatcher look once more.
        mark_due(pipe, AlertKind::Call, sid, alert);
    }
    if with_log {
        // A new call enters the call log in the same round trip. The log lives in another
        // cluster slot, so it cannot be inside the commit; it is a sorted set added to with
        // NX, so a failed commit for a new call (a retried or concurrent first webhook) adds
        // nothing: one entry per call.
        let key = keys::call_log();
        pipe.cmd("ZADD")
            .arg(&key)
            .arg("NX")
            .arg(started_ms)
            .arg(sid)
            .ignore()
            .cmd("ZREMRANGEBYRANK")
            .arg(&key)
            .arg(0)
            .arg(-(retention.log_size as i64) - 1)
            .ignore();
    }
    if !cluster {
        ack_by_replica(pipe, conn);
    }
}

/// Adds to `pipe`: the dispatcher has something new to look at in the alert of call or text
/// `sid`, due now (a mark is below every time; LT never postpones an alert already due).
fn mark_due(
    pipe: &mut redis::Pipeline,
    kind: AlertKind,
    sid: &str,
    alert: &switchboard_routing::Alert,
) {
    pipe.cmd("ZADD")
        .arg(keys::alerts_due())
        .arg("LT")
        .arg(due_mark(alert))
        .arg(keys::alert_member(kind, sid))
        .ignore();
}

/// Adds to `pipe`: `sid` enters the log list `key`, trimmed to the retention's log size.
fn push_log(pipe: &mut redis::Pipeline, key: &str, sid: &str, retention: Retention) {
    pipe.lpush(key, sid)
        .ignore()
        .ltrim(key, 0, retention.log_size as isize - 1)
        .ignore();
}

/// The score that marks `alert` due now ([`keys::due_mark`]), ordered by when its call or
/// text came in (on the server's clock).
fn due_mark(alert: &switchboard_routing::Alert) -> f64 {
    keys::due_mark(alert.started_at.as_millisecond().max(0) as u64)
}

/// Adds to a commit's pipeline, behind Sentinels or in a Cluster: `WAIT` for one replica (up
/// to 250 ms, or 5 ms while none answered: `Conn::replica_wait_ms`, which learns it from the
/// number of replicas, the pipeline's last reply, in `query_commit`) before Twilio hears the
/// answer, so that a master that dies right after has the call's state on the replica
/// promoted in its place, where its next webhook finds it. (In a Cluster the `WAIT` goes to
/// the node of the call's keys.)
fn ack_by_replica(pipe: &mut redis::Pipeline, conn: &Conn) {
    if let Some(ms) = conn.replica_wait_ms() {
        pipe.cmd("WAIT").arg(1).arg(ms);
    }
}

/// Sends a commit's pipeline: (the table's revision when it was asked for, the commit's 1 or 0).
async fn query_commit(
    pipe: &redis::Pipeline,
    c: &mut Conn,
    with_revision: bool,
) -> Result<(Option<String>, i64), redis::RedisError> {
    let replies: Vec<redis::Value> = pipe.query_async(c).await?;
    let mut replies = replies.into_iter();
    let mut next = || replies.next().unwrap_or(redis::Value::Nil);
    let revision = if with_revision {
        redis::from_redis_value(next())?
    } else {
        None
    };
    let n: i64 = redis::from_redis_value(next())?;
    if let redis::Value::Int(acked) = next() {
        c.replicas_acked(acked);
    }
    Ok((revision, n))
}

impl RedisStore {
    /// A new call's first commit, when it has no events to append, without the script: the
    /// call's hash is written under a draft key of its own (same hash tag, a random name) and
    /// moved into place by `RENAMENX`, which refuses when the call exists already (a retried or
    /// concurrent first webhook). `RENAME` keeps the draft's TTL. The script costs Redis more
    /// than the commands it runs: Redis hashes every byte of every argument it hands to Lua,
    /// and the state, answer and alert are a few KB.
    async fn create(
        &self,
        commit: &Commit<'_>,
        state: &str,
        alert: Option<&str>,
        revision_of: Option<&str>,
        retention: Retention,
    ) -> Result<(bool, Option<String>), StoreError> {
        let sid = &commit.state.call_sid;
        let call = keys::call(sid);
        let draft = keys::call_draft(sid, fastrand::u64(..));
        let mut hset = redis::cmd("HSET");
        hset.arg(&draft)
            .arg(field::VERSION)
            .arg(1)
            .arg(field::STATE)
            .arg(state)
            .arg(response_field(commit.key))
            .arg(commit.response);
        if let Some(a) = alert {
            hset.arg(field::ALERT).arg(a);
        }
        let mut pipe = redis::pipe();
        if let Some(n) = revision_of {
            pipe.get(keys::route_revision(n));
        }
        pipe.add_command(hset)
            .ignore()
            .expire(&draft, retention.call_ttl.as_secs().max(1) as i64)
            .ignore()
            .cmd("RENAMENX")
            .arg(&draft)
            .arg(&call);
        after_commit(&mut pipe, commit, true, retention, &self.conn);
        let mut c = self.conn.clone();
        let (revision, created) = query_commit(&pipe, &mut c, revision_of.is_some()).await?;
        if created != 1 {
            let _: () = c.del(&draft).await?;
        }
        Ok((created == 1, revision))
    }
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
        let sid = &commit.state.call_sid;
        match self {
            Store::Memory(m, _) => {
                let mut mem = Self::mem(m);
                let revision =
                    revision_of.and_then(|n| mem.tables.get(n).map(|t| t.revision.clone()));
                let call = mem.calls.entry(sid.clone()).or_default();
                if call.version != commit.expected_version {
                    return Ok((false, revision));
                }
                call.version += 1;
                call.state = state;
                call.responses
                    .insert(commit.key.to_string(), commit.response.to_string());
                if commit.replace {
                    call.events.clear();
                }
                call.events.extend(events);
                while call.events.len() > MAX_EVENTS {
                    call.events.pop_front();
                }
                if commit.expected_version == 0 {
                    Self::log_call(&mut mem, sid, retention.log_size);
                }
                Ok((true, revision))
            }
            Store::Redis(r, _) => {
                let alert = commit.alert.map(serde_json::to_string).transpose()?;
                let alert = alert.as_deref();
                if commit.expected_version == 0 && !commit.replace && events.is_empty() {
                    return r
                        .create(commit, &state, alert, revision_of, retention)
                        .await;
                }
                // EVALSHA: the script is sent once, not with every commit. After a Redis
                // restart the script cache is empty: load it and send the commit again, without
                // the call log push, which Redis ran beside the failed EVALSHA already.
                let pipe = |with_log: bool| {
                    let mut pipe = redis::pipe();
                    if let Some(n) = revision_of {
                        // Before the script, in the same round trip: what the table's revision
                        // is when the call is committed.
                        pipe.get(keys::route_revision(n));
                    }
                    pipe.cmd("EVALSHA")
                        .arg(r.commit.get_hash())
                        .arg(2)
                        .arg(keys::call(sid))
                        .arg(keys::call_events(sid))
                        .arg(commit.expected_version)
                        .arg(&state)
                        .arg(response_field(commit.key))
                        .arg(commit.response)
                        .arg(retention.call_ttl.as_secs().max(1))
                        .arg(MAX_EVENTS)
                        .arg(alert.unwrap_or(""))
                        .arg(if commit.replace { "1" } else { "0" })
                        .arg(&events);
                    after_commit(&mut pipe, commit, with_log, retention, &r.conn);
                    pipe
                };
                let new_call = commit.expected_version == 0;
                let send = |with_log| {
                    let mut c = r.conn.clone();
                    let pipe = pipe(with_log);
                    async move { query_commit(&pipe, &mut c, revision_of.is_some()).await }
                };
                let (revision, n) = match send(new_call).await {
                    Err(e)
                        if e.kind()
                            == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                    {
                        r.commit.load_async(&mut r.conn.clone()).await?;
                        send(false).await?
                    }
                    other => other?,
                };
                Ok((n == 1, revision))
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
                let mut mem = Self::mem(m);
                if let Some((r, _)) = mem.texts.get(sid) {
                    return Ok(Some(r.clone()));
                }
                mem.texts
                    .insert(sid.to_string(), (response.to_string(), record_json));
                mem.text_log.push_front(sid.to_string());
                while mem.text_log.len() > retention.log_size {
                    if let Some(old) = mem.text_log.pop_back() {
                        mem.texts.remove(&old);
                    }
                }
                Ok(None)
            }
            Store::Redis(r, retention) => {
                let mut c = r.conn.clone();
                let mut invocation = r.text.key(keys::text(sid));
                invocation
                    .arg(response)
                    .arg(alert_json.as_deref().unwrap_or(""))
                    .arg(retention.call_ttl.as_secs().max(1))
                    .arg(&record_json);
                let earlier: Option<String> = invocation.invoke_async(&mut c).await?;
                if earlier.is_none() {
                    // Beside the script: the log and the due set live in other cluster slots.
                    let mut pipe = redis::pipe();
                    if let Some(alert) = alert {
                        mark_due(&mut pipe, AlertKind::Text, sid, alert);
                    }
                    push_log(&mut pipe, &keys::text_log(), sid, *retention);
                    let _: () = pipe.query_async(&mut c).await?;
                }
                Ok(earlier)
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

    fn log_call(mem: &mut Memory, sid: &str, size: usize) {
        mem.log.push_front(sid.to_string());
        while mem.log.len() > size {
            if let Some(old) = mem.log.pop_back() {
                mem.calls.remove(&old);
            }
        }
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
