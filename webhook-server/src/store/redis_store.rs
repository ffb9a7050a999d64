//! The Redis store: the key layout of `switchboard_routing::keys`, written with the scripts
//! of `switchboard_routing::scripts`, and the parsed-table cache (see the module notes of
//! `store`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManagerConfig;
use switchboard_routing::connect::Conn;
use switchboard_routing::keys::{self, field};
use switchboard_routing::{AlertKind, RoutingTable, scripts};
use tracing::{info, warn};

use super::{Commit, MAX_EVENTS, Retention, StoreError, decode_table, response_field};

/// Parsed routing tables by number, with their revision. Each webhook of a caller's leg reads
/// the small revision key (a first webhook with its commit, `Store::commit_first`); the table
/// is fetched and parsed again only when its revision changed, so every webhook sees the table
/// as it is in Redis now without moving and parsing an unchanged document each time.
#[derive(Debug, Default)]
pub(super) struct TableCache(Mutex<HashMap<String, Cached>>);

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

    pub(super) fn last(&self, number: &str) -> Option<Arc<RoutingTable>> {
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
    pub(super) async fn table_at(
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
pub(super) type CallFields = (Option<u64>, Option<String>, Option<String>);

/// A Redis connection (reconnects by itself).
#[derive(Clone)]
pub struct RedisStore {
    pub(super) conn: Conn,
    pub(super) tables: Arc<TableCache>,
    commit: Arc<redis::Script>,
    text: Arc<redis::Script>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisStore")
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

impl RedisStore {
    /// `Store::apply` on Redis.
    pub(super) async fn apply(
        &self,
        commit: &Commit<'_>,
        state: &str,
        events: &[String],
        revision_of: Option<&str>,
        retention: Retention,
    ) -> Result<(bool, Option<String>), StoreError> {
        let sid = &commit.state.call_sid;
        let r = self;
        let alert = commit.alert.map(serde_json::to_string).transpose()?;
        let alert = alert.as_deref();
        if commit.expected_version == 0 && !commit.replace && events.is_empty() {
            return r.create(commit, state, alert, revision_of, retention).await;
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
                .arg(state)
                .arg(response_field(commit.key))
                .arg(commit.response)
                .arg(retention.call_ttl.as_secs().max(1))
                .arg(MAX_EVENTS)
                .arg(alert.unwrap_or(""))
                .arg(if commit.replace { "1" } else { "0" })
                .arg(events);
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
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                r.commit.load_async(&mut r.conn.clone()).await?;
                send(false).await?
            }
            other => other?,
        };
        Ok((n == 1, revision))
    }

    /// `Store::text` on Redis.
    pub(super) async fn text(
        &self,
        sid: &str,
        response: &str,
        alert_json: Option<&str>,
        alert: Option<&switchboard_routing::Alert>,
        record_json: &str,
        retention: Retention,
    ) -> Result<Option<String>, StoreError> {
        let r = self;
        let mut c = r.conn.clone();
        let mut invocation = r.text.key(keys::text(sid));
        invocation
            .arg(response)
            .arg(alert_json.unwrap_or(""))
            .arg(retention.call_ttl.as_secs().max(1))
            .arg(record_json);
        let earlier: Option<String> = invocation.invoke_async(&mut c).await?;
        if earlier.is_none() {
            // Beside the script: the log and the due set live in other cluster slots.
            let mut pipe = redis::pipe();
            if let Some(alert) = alert {
                mark_due(&mut pipe, AlertKind::Text, sid, alert);
            }
            push_log(&mut pipe, &keys::text_log(), sid, retention);
            let _: () = pipe.query_async(&mut c).await?;
        }
        Ok(earlier)
    }
}

/// How Redis failed, for the webhook's retry and failover wait.
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
        matches!(self, StoreError::Redis(e) if switchboard_routing::connect::failing_over(e))
    }
}
