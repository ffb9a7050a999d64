//! The alert queue: what the webhook server leaves for the dispatcher (an alert snapshot per
//! call or text, marked due) and what the dispatcher keeps while it delivers (leases, a lock
//! per alert, which stages each target was sent). One trait, two back ends with the same
//! rules: Redis (`RedisQueue`, the keys of [`crate::keys`] and the scripts of
//! [`crate::scripts`]) and memory ([`MemoryQueue`], for `switchboard dev` without Redis).
//!
//! ```text
//!   webhook commit ──snapshot + due mark──► queue ◄──claim (leased) / lock / release── dispatcher
//!                                             └── sent: <target>:<stage>, sms:<n>, attempts
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::AlertKind;
use crate::keys::{self, field};

/// A failure of the queue's store.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct QueueError(pub String);

#[cfg(feature = "redis")]
impl From<redis::RedisError> for QueueError {
    fn from(e: redis::RedisError) -> Self {
        QueueError(format!("Redis: {e}"))
    }
}

/// Result of a queue operation.
pub type QueueResult<T> = Result<T, QueueError>;

/// The dispatcher's side of the queue. Members are [`keys::alert_member`]s; times are Unix
/// milliseconds.
pub trait AlertQueue: Clone + Send + Sync + 'static {
    /// The members due by `now` (at most `batch`), each leased until `lease_end`.
    fn claim(
        &self,
        now: i64,
        lease_end: i64,
        batch: usize,
    ) -> impl Future<Output = QueueResult<Vec<String>>> + Send;
    /// Takes alert `id`'s lock for `lease_ms` as `token`; false when another holds it.
    fn lock(
        &self,
        id: &str,
        token: &str,
        lease_ms: u64,
    ) -> impl Future<Output = QueueResult<bool>> + Send;
    /// Drops alert `id`'s lock if `token` still holds it.
    fn unlock(&self, id: &str, token: &str) -> impl Future<Output = QueueResult<()>> + Send;
    /// Makes `member`, still queued, due at `at` (another dispatcher holds its lock).
    fn due_again(&self, member: &str, at: i64) -> impl Future<Output = QueueResult<()>> + Send;
    /// The alert's snapshot (JSON), if its call or text has not expired, and what was sent.
    fn load(
        &self,
        kind: AlertKind,
        id: &str,
    ) -> impl Future<Output = QueueResult<(Option<String>, HashMap<String, String>)>> + Send;
    /// What was sent of alert `id`.
    fn sent(&self, id: &str) -> impl Future<Output = QueueResult<HashMap<String, String>>> + Send;
    /// Records field `field` of what was sent (a stage, a forward), as of `value`.
    fn mark(
        &self,
        id: &str,
        field: &str,
        value: String,
        ttl_secs: i64,
    ) -> impl Future<Output = QueueResult<()>> + Send;
    /// Counts a failed delivery attempt: (attempts, failing since), the latter set to `now` by
    /// the first failure.
    fn failed(
        &self,
        id: &str,
        now: i64,
        ttl_secs: i64,
    ) -> impl Future<Output = QueueResult<(u32, Option<i64>)>> + Send;
    /// Forgets the failed attempts of alert `id` (it was delivered, or given up).
    fn clear_failures(&self, id: &str) -> impl Future<Output = QueueResult<()>> + Send;
    /// Ends `member`'s lease taken until `lease_end`: due again at `next`, or done (`None`).
    /// Nothing when the lease is no longer the one taken (a newer snapshot made it due).
    fn release(
        &self,
        member: &str,
        lease_end: i64,
        next: Option<i64>,
    ) -> impl Future<Output = QueueResult<()>> + Send;
}

/// The queue in memory, for one process (`switchboard dev` without Redis): the webhook
/// server's memory store puts snapshots in, a dispatcher takes them out. Kept until the
/// process ends (the memory store is for trying things out, not for weeks of calls).
#[derive(Clone, Debug, Default)]
pub struct MemoryQueue(Arc<Mutex<Memory>>);

#[derive(Debug, Default)]
struct Memory {
    /// Member -> score (a due mark below 1, or a time).
    due: HashMap<String, f64>,
    /// (kind, id) -> snapshot JSON.
    snapshots: HashMap<(AlertKind, String), String>,
    sent: HashMap<String, HashMap<String, String>>,
    /// id -> (token, until, on the system clock in ms).
    locks: HashMap<String, (String, i64)>,
}

impl MemoryQueue {
    fn inner(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The webhook's side: stores `snapshot` as the alert of `kind` `id` and marks it due at
    /// once (`ZADD LT` with [`keys::due_mark`] of `started_ms`, as on Redis).
    pub fn put(&self, kind: AlertKind, id: &str, snapshot: String, started_ms: u64) {
        let mut m = self.inner();
        m.snapshots.insert((kind, id.to_string()), snapshot);
        let mark = keys::due_mark(started_ms);
        let score = m.due.entry(keys::alert_member(kind, id)).or_insert(mark);
        *score = score.min(mark);
    }

    /// Forgets the alert of `kind` `id` (its call's first decision was replaced by one that
    /// raises none).
    pub fn remove(&self, kind: AlertKind, id: &str) {
        self.inner().snapshots.remove(&(kind, id.to_string()));
    }

    /// How many alerts are due or leased.
    pub fn len(&self) -> usize {
        self.inner().due.len()
    }

    /// Whether no alert is due or leased.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl AlertQueue for MemoryQueue {
    async fn claim(&self, now: i64, lease_end: i64, batch: usize) -> QueueResult<Vec<String>> {
        let mut m = self.inner();
        let mut due: Vec<(f64, String)> = m
            .due
            .iter()
            .filter(|(_, s)| **s <= now as f64)
            .map(|(k, s)| (*s, k.clone()))
            .collect();
        due.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        due.truncate(batch);
        for (_, member) in &due {
            m.due.insert(member.clone(), lease_end as f64);
        }
        Ok(due.into_iter().map(|(_, k)| k).collect())
    }

    async fn lock(&self, id: &str, token: &str, lease_ms: u64) -> QueueResult<bool> {
        let mut m = self.inner();
        let now = now_ms();
        if m.locks.get(id).is_some_and(|(_, until)| *until > now) {
            return Ok(false);
        }
        m.locks
            .insert(id.to_string(), (token.to_string(), now + lease_ms as i64));
        Ok(true)
    }

    async fn unlock(&self, id: &str, token: &str) -> QueueResult<()> {
        let mut m = self.inner();
        if m.locks.get(id).is_some_and(|(t, _)| t == token) {
            m.locks.remove(id);
        }
        Ok(())
    }

    async fn due_again(&self, member: &str, at: i64) -> QueueResult<()> {
        if let Some(score) = self.inner().due.get_mut(member) {
            *score = at as f64;
        }
        Ok(())
    }

    async fn load(
        &self,
        kind: AlertKind,
        id: &str,
    ) -> QueueResult<(Option<String>, HashMap<String, String>)> {
        let m = self.inner();
        Ok((
            m.snapshots.get(&(kind, id.to_string())).cloned(),
            m.sent.get(id).cloned().unwrap_or_default(),
        ))
    }

    async fn sent(&self, id: &str) -> QueueResult<HashMap<String, String>> {
        Ok(self.inner().sent.get(id).cloned().unwrap_or_default())
    }

    async fn mark(&self, id: &str, field: &str, value: String, _ttl: i64) -> QueueResult<()> {
        self.inner()
            .sent
            .entry(id.to_string())
            .or_default()
            .insert(field.to_string(), value);
        Ok(())
    }

    async fn failed(&self, id: &str, now: i64, _ttl: i64) -> QueueResult<(u32, Option<i64>)> {
        let mut m = self.inner();
        let sent = m.sent.entry(id.to_string()).or_default();
        let attempts = sent
            .get(field::ATTEMPTS)
            .and_then(|a| a.parse::<u32>().ok())
            .unwrap_or(0)
            + 1;
        sent.insert(field::ATTEMPTS.to_string(), attempts.to_string());
        let since = sent
            .entry(field::FAILING_SINCE.to_string())
            .or_insert_with(|| now.to_string())
            .parse()
            .ok();
        Ok((attempts, since))
    }

    async fn clear_failures(&self, id: &str) -> QueueResult<()> {
        if let Some(sent) = self.inner().sent.get_mut(id) {
            sent.remove(field::ATTEMPTS);
            sent.remove(field::FAILING_SINCE);
        }
        Ok(())
    }

    async fn release(&self, member: &str, lease_end: i64, next: Option<i64>) -> QueueResult<()> {
        let mut m = self.inner();
        if m.due.get(member).is_none_or(|s| *s != lease_end as f64) {
            return Ok(());
        }
        match next {
            Some(at) => {
                m.due.insert(member.to_string(), at as f64);
            }
            None => {
                m.due.remove(member);
            }
        }
        Ok(())
    }
}

/// The queue on Redis (see the module notes).
#[cfg(feature = "redis")]
#[derive(Clone)]
pub struct RedisQueue {
    conn: crate::connect::Conn,
    claim: Arc<redis::Script>,
    release: Arc<redis::Script>,
    unlock: Arc<redis::Script>,
}

#[cfg(feature = "redis")]
impl RedisQueue {
    /// The queue on `conn`.
    pub fn new(conn: crate::connect::Conn) -> RedisQueue {
        use crate::scripts;
        RedisQueue {
            conn,
            claim: Arc::new(redis::Script::new(scripts::CLAIM)),
            release: Arc::new(redis::Script::new(scripts::RELEASE)),
            unlock: Arc::new(redis::Script::new(scripts::UNLOCK)),
        }
    }
}

#[cfg(feature = "redis")]
impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisQueue")
    }
}

#[cfg(feature = "redis")]
impl AlertQueue for RedisQueue {
    async fn claim(&self, now: i64, lease_end: i64, batch: usize) -> QueueResult<Vec<String>> {
        let mut conn = self.conn.clone();
        Ok(self
            .claim
            .key(keys::alerts_due())
            .arg(now)
            .arg(lease_end)
            .arg(batch)
            .invoke_async(&mut conn)
            .await?)
    }

    async fn lock(&self, id: &str, token: &str, lease_ms: u64) -> QueueResult<bool> {
        let mut conn = self.conn.clone();
        let locked: Option<String> = redis::cmd("SET")
            .arg(keys::alert_lock(id))
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(lease_ms.max(1))
            .query_async(&mut conn)
            .await?;
        Ok(locked.is_some())
    }

    async fn unlock(&self, id: &str, token: &str) -> QueueResult<()> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .unlock
            .key(keys::alert_lock(id))
            .arg(token)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn due_again(&self, member: &str, at: i64) -> QueueResult<()> {
        let mut conn = self.conn.clone();
        let _: () = redis::cmd("ZADD")
            .arg(keys::alerts_due())
            .arg("XX")
            .arg(at)
            .arg(member)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn load(
        &self,
        kind: AlertKind,
        id: &str,
    ) -> QueueResult<(Option<String>, HashMap<String, String>)> {
        let hash = match kind {
            AlertKind::Call => keys::call(id),
            AlertKind::Text => keys::text(id),
        };
        let mut conn = self.conn.clone();
        Ok(redis::pipe()
            .hget(&hash, field::ALERT)
            .hgetall(keys::alert_sent(id))
            .query_async(&mut conn)
            .await?)
    }

    async fn sent(&self, id: &str) -> QueueResult<HashMap<String, String>> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("HGETALL")
            .arg(keys::alert_sent(id))
            .query_async(&mut conn)
            .await?)
    }

    async fn mark(&self, id: &str, field: &str, value: String, ttl_secs: i64) -> QueueResult<()> {
        let mut conn = self.conn.clone();
        let _: () = redis::pipe()
            .hset(keys::alert_sent(id), field, value)
            .ignore()
            .expire(keys::alert_sent(id), ttl_secs)
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn failed(&self, id: &str, now: i64, ttl_secs: i64) -> QueueResult<(u32, Option<i64>)> {
        let mut conn = self.conn.clone();
        Ok(redis::pipe()
            .hincr(keys::alert_sent(id), field::ATTEMPTS, 1)
            .hset_nx(keys::alert_sent(id), field::FAILING_SINCE, now)
            .ignore()
            .hget(keys::alert_sent(id), field::FAILING_SINCE)
            .expire(keys::alert_sent(id), ttl_secs)
            .ignore()
            .query_async(&mut conn)
            .await?)
    }

    async fn clear_failures(&self, id: &str) -> QueueResult<()> {
        let mut conn = self.conn.clone();
        let _: () = redis::pipe()
            .hdel(
                keys::alert_sent(id),
                &[field::ATTEMPTS, field::FAILING_SINCE],
            )
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn release(&self, member: &str, lease_end: i64, next: Option<i64>) -> QueueResult<()> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .release
            .key(keys::alerts_due())
            .arg(member)
            .arg(lease_end)
            .arg(next.map(|n| n.to_string()).unwrap_or_default())
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<T>(f: impl Future<Output = T>) -> T {
        // The memory queue never awaits anything: one poll finishes it.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the memory queue awaited"),
        }
    }

    #[test]
    fn the_memory_queue_leases_claims_and_releases_as_the_scripts_do() {
        let q = MemoryQueue::default();
        let started = 1_795_000_000_000;
        q.put(AlertKind::Call, "CA1", "{}".into(), started);
        let now = started as i64;
        let claimed = block(q.claim(now, now + 5_000, 10)).unwrap();
        assert_eq!(claimed, ["call:CA1"]);
        // Leased: nobody else takes it meanwhile.
        assert!(block(q.claim(now + 1, now + 6_000, 10)).unwrap().is_empty());
        // A new snapshot makes it due at once, even while leased (ZADD LT).
        q.put(AlertKind::Call, "CA1", "{\"v\":2}".into(), started);
        // The old lease's release then does nothing: the newer mark stays due.
        block(q.release("call:CA1", now + 5_000, None)).unwrap();
        let again = block(q.claim(now + 2, now + 7_000, 10)).unwrap();
        assert_eq!(again, ["call:CA1"]);
        block(q.release("call:CA1", now + 7_000, Some(now + 60_000))).unwrap();
        assert!(block(q.claim(now + 3, now + 8_000, 10)).unwrap().is_empty());
        assert_eq!(
            block(q.claim(now + 60_000, now + 65_000, 10))
                .unwrap()
                .len(),
            1
        );
        block(q.release("call:CA1", now + 65_000, None)).unwrap();
        assert!(q.is_empty());
    }

    #[test]
    fn one_lock_per_alert_and_failures_counted_from_the_first() {
        let q = MemoryQueue::default();
        assert!(block(q.lock("CA1", "a", 60_000)).unwrap());
        assert!(!block(q.lock("CA1", "b", 60_000)).unwrap());
        block(q.unlock("CA1", "b")).unwrap();
        assert!(
            !block(q.lock("CA1", "b", 60_000)).unwrap(),
            "only the holder unlocks"
        );
        block(q.unlock("CA1", "a")).unwrap();
        assert!(block(q.lock("CA1", "b", 60_000)).unwrap());
        assert_eq!(block(q.failed("CA1", 100, 0)).unwrap(), (1, Some(100)));
        assert_eq!(block(q.failed("CA1", 200, 0)).unwrap(), (2, Some(100)));
        block(q.clear_failures("CA1")).unwrap();
        assert_eq!(block(q.failed("CA1", 300, 0)).unwrap(), (1, Some(300)));
    }
}
