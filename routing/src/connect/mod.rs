//! Opening a Redis client the same way in every binary: the URL, and the credentials from
//! the environment rather than spliced into it.
//!
//! ```text
//!   SWITCHBOARD_REDIS_URL  redis://host:6379/0  or  rediss://host:6380/0 (TLS, system roots)
//!                          redis+sentinel://s1:26379,s2:26379,s3:26379/mymaster/0 (Sentinel)
//!                          redis+cluster://n1:6379,n2:6379,n3:6379  (Cluster; rediss+cluster:// TLS)
//!   SWITCHBOARD_REDIS_PASSWORD, SWITCHBOARD_REDIS_USERNAME (ACL user): any characters
//!
//!   Conn ── Direct: a ConnectionManager (reconnects to the one address)
//!        └─ Sentinel: the master's ConnectionManager; when a command finds the connection
//!           gone or refused, or the server a replica (READONLY: a failover happened), the
//!           Sentinels are asked for the master again and a new manager replaces the old;
//!           a READONLY command, which the server refused without running, is sent again
//!        └─ Cluster: redis-rs's cluster connection (slot map, MOVED/ASK, its own retries);
//!           a pipeline whose commands live in several slots is sent as one pipeline per hash
//!           tag, concurrently, and the replies put back in order (a MULTI must stay in one
//!           slot: the key schema gives the keys written together one tag); when a command
//!           still finds a node gone or the cluster down, a new connection is made from the
//!           seed nodes, which reads the slot map afresh (redis-rs refreshes it only on MOVED
//!           or READONLY, so a connection to a SIGKILLed master kept asking the dead address)
//! ```
//!
//! NB: a password inside a URL must be percent-encoded (`p@ss/word` is `p%40ss%2Fword`), which
//! a Secret mounted into an environment variable is not; so the password comes in a variable
//! of its own and is set on the connection, never written into a URL (and never logged).

mod cluster;
mod sentinel;

pub use cluster::{CLUSTER_SCHEME, CLUSTER_TLS_SCHEME};
pub use sentinel::SENTINEL_SCHEME;

use cluster::ClusterConn;
use sentinel::SentinelConn;

/// The variable holding the Redis password (`AUTH`).
pub const PASSWORD_ENV: &str = "SWITCHBOARD_REDIS_PASSWORD";
/// The variable holding the Redis ACL user name, with [`PASSWORD_ENV`].
pub const USERNAME_ENV: &str = "SWITCHBOARD_REDIS_USERNAME";

/// A client for `url`, with the password and user name from the environment when they are set
/// (they take precedence over any in the URL).
pub fn client(url: &str) -> redis::RedisResult<redis::Client> {
    let (password, username) = env_credentials();
    with_credentials(url, password, username)
}

/// The password and user name the environment sets ([`PASSWORD_ENV`], [`USERNAME_ENV`]).
fn env_credentials() -> (Option<String>, Option<String>) {
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    (var(PASSWORD_ENV), var(USERNAME_ENV))
}

/// A client for `url` authenticating with `password` (and `username`) when given.
pub fn with_credentials(
    url: &str,
    password: Option<String>,
    username: Option<String>,
) -> redis::RedisResult<redis::Client> {
    use redis::IntoConnectionInfo;
    let mut info = url.into_connection_info()?;
    if password.is_some() || username.is_some() {
        let mut settings = info.redis_settings().clone();
        if let Some(p) = password {
            settings = settings.set_password(p);
        }
        if let Some(u) = username {
            settings = settings.set_username(u);
        }
        info = info.set_redis_settings(settings);
    }
    redis::Client::open(info)
}

/// A Redis connection for the binaries: straight to one server, or to the master a group of
/// Sentinels names (see the module notes). Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Conn(Inner);

#[derive(Clone)]
enum Inner {
    Direct(redis::aio::ConnectionManager),
    Sentinel(std::sync::Arc<SentinelConn>),
    Cluster(std::sync::Arc<ClusterConn>),
}

/// A connection that is replaced when it is found lost, made from a `source` (the Sentinels,
/// the cluster's seed nodes).
pub(super) struct Replaceable<S, C> {
    source: tokio::sync::Mutex<S>,
    /// The connection, and how many times it was replaced (so that concurrent failures
    /// replace it once).
    current: std::sync::RwLock<Option<(C, u64)>>,
    what: &'static str,
}

impl<S, C: Clone> Replaceable<S, C> {
    pub(super) fn new(source: S, what: &'static str) -> Self {
        Replaceable {
            source: tokio::sync::Mutex::new(source),
            current: std::sync::RwLock::new(None),
            what,
        }
    }

    /// The connection, making one when there is none.
    pub(super) async fn get(
        &self,
        connect: impl AsyncFnOnce(&mut S) -> redis::RedisResult<C>,
    ) -> redis::RedisResult<(C, u64)> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        self.replace(None, connect).await
    }

    fn current(&self) -> Option<(C, u64)> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Makes a new connection, unless another task already replaced generation `failed`.
    pub(super) async fn replace(
        &self,
        failed: Option<u64>,
        connect: impl AsyncFnOnce(&mut S) -> redis::RedisResult<C>,
    ) -> redis::RedisResult<(C, u64)> {
        let mut source = self.source.lock().await;
        if let Some(c) = self.current()
            && Some(c.1) != failed
        {
            return Ok(c);
        }
        let conn = connect(&mut source).await?;
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let generation = current.as_ref().map_or(0, |c| c.1 + 1);
        *current = Some((conn.clone(), generation));
        tracing::info!(generation, "Redis {}: connected", self.what);
        Ok((conn, generation))
    }
}

/// How long a write waits for a replica (`WAIT 1 <ms>`). `WAIT` holds up the connection it is
/// sent on (Redis answers a client's commands in order), and the connection is shared by every
/// request of the process: with no replica to answer, every write would hold up all the others
/// for the whole wait. So once a `WAIT` found no replica, writes wait only
/// [`ReplicaGate::PROBE_MS`] (a replica that is back answers within it, and the full wait
/// resumes), until one finds a replica again.
#[derive(Default)]
pub(super) struct ReplicaGate {
    missing: std::sync::atomic::AtomicBool,
}

impl ReplicaGate {
    /// The wait while replicas answer.
    const WAIT_MS: u64 = 250;
    /// The wait while none did.
    const PROBE_MS: u64 = 5;

    fn wait_ms(&self) -> u64 {
        if self.missing.load(std::sync::atomic::Ordering::Relaxed) {
            Self::PROBE_MS
        } else {
            Self::WAIT_MS
        }
    }

    fn acked(&self, replicas: i64) {
        let missing = replicas < 1;
        let before = self
            .missing
            .swap(missing, std::sync::atomic::Ordering::Relaxed);
        // At debug: in a Cluster the writes of one process go to every master, and a shard
        // without a replica flips this back and forth.
        if missing && !before {
            tracing::debug!(
                "Redis: no replica acknowledged a write within {} ms; writes wait {} ms until \
                 one does",
                Self::WAIT_MS,
                Self::PROBE_MS
            );
        } else if before && !missing {
            tracing::debug!("Redis: a replica acknowledges writes again");
        }
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::Direct(_) => f.write_str("Conn(direct)"),
            Inner::Sentinel(_) => f.write_str("Conn(sentinel)"),
            Inner::Cluster(_) => f.write_str("Conn(cluster)"),
        }
    }
}

impl Conn {
    /// A connection to `url` (see the module notes) that connects when first used, so a
    /// process starts whether or not Redis is up.
    pub fn lazy(
        url: &str,
        config: redis::aio::ConnectionManagerConfig,
    ) -> redis::RedisResult<Conn> {
        if let Some(rest) = url.strip_prefix(SENTINEL_SCHEME) {
            return Ok(Conn(Inner::Sentinel(std::sync::Arc::new(
                sentinel::sentinel(rest, config)?,
            ))));
        }
        for (scheme, tls) in [(CLUSTER_SCHEME, false), (CLUSTER_TLS_SCHEME, true)] {
            if let Some(rest) = url.strip_prefix(scheme) {
                return Ok(Conn(Inner::Cluster(std::sync::Arc::new(cluster::cluster(
                    rest, tls, &config,
                )?))));
            }
        }
        Ok(Conn(Inner::Direct(
            client(url)?.get_connection_manager_lazy(config)?,
        )))
    }

    /// Whether its writes are replicated to a server that takes over when the one written to
    /// dies (Sentinel or Cluster): a failover takes seconds worth waiting for, and a write is
    /// worth a `WAIT` for a replica.
    pub fn fails_over(&self) -> bool {
        matches!(self.0, Inner::Sentinel(_) | Inner::Cluster(_))
    }

    /// Whether it is a Redis Cluster (a pipeline's commands may reach several nodes).
    pub fn is_cluster(&self) -> bool {
        matches!(self.0, Inner::Cluster(_))
    }

    /// How long a write should wait for a replica (`WAIT 1 <ms>`): none straight to one
    /// server; behind Sentinels or in a Cluster 250 ms, or 5 ms while no replica answered
    /// (see [`ReplicaGate`]).
    pub fn replica_wait_ms(&self) -> Option<u64> {
        self.replicas().map(ReplicaGate::wait_ms)
    }

    /// Notes how many replicas a `WAIT` found.
    pub fn replicas_acked(&self, replicas: i64) {
        if let Some(g) = self.replicas() {
            g.acked(replicas);
        }
    }

    fn replicas(&self) -> Option<&ReplicaGate> {
        match &self.0 {
            Inner::Direct(_) => None,
            Inner::Sentinel(s) => Some(&s.replicas),
            Inner::Cluster(c) => Some(&c.replicas),
        }
    }

    /// A connection to `url`, connected now (an error when Redis cannot be reached).
    pub async fn connect(
        url: &str,
        config: redis::aio::ConnectionManagerConfig,
    ) -> redis::RedisResult<Conn> {
        let conn = Conn::lazy(url, config)?;
        let mut c = conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut c).await?;
        Ok(conn)
    }
}

impl From<redis::aio::ConnectionManager> for Conn {
    fn from(c: redis::aio::ConnectionManager) -> Conn {
        Conn(Inner::Direct(c))
    }
}

/// Whether `e` says the server written to is gone or being replaced (refused, cut, timed out;
/// a Cluster between masters or pointing at a dead node; no master named by the Sentinels; a
/// demoted master): a failover, worth a new connection and, for a webhook, a short wait. Also
/// after redis-rs's own cluster retries.
pub fn failing_over(e: &redis::RedisError) -> bool {
    e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_io_error()
        || e.is_timeout()
        || matches!(
            e.kind(),
            redis::ErrorKind::MasterNameNotFoundBySentinel
                | redis::ErrorKind::ClusterConnectionNotFound
                | redis::ErrorKind::Server(
                    redis::ServerErrorKind::Moved
                        | redis::ServerErrorKind::Ask
                        | redis::ServerErrorKind::ClusterDown
                        | redis::ServerErrorKind::TryAgain
                        | redis::ServerErrorKind::MasterDown
                        | redis::ServerErrorKind::ReadOnly
                )
        )
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        Box::pin(async move {
            match &mut self.0 {
                Inner::Direct(c) => c.req_packed_command(cmd).await,
                Inner::Sentinel(s) => s.command(cmd).await,
                Inner::Cluster(cl) => cl.command(cmd).await,
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        Box::pin(async move {
            match &mut self.0 {
                Inner::Direct(c) => c.req_packed_commands(pipeline, offset, count).await,
                Inner::Sentinel(s) => s.pipeline(pipeline, offset, count).await,
                Inner::Cluster(cl) => cl.pipeline(pipeline, offset, count).await,
            }
        })
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            Inner::Direct(c) => c.get_db(),
            Inner::Sentinel(s) => s.db,
            Inner::Cluster(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_with_url_characters_is_set_as_it_is() {
        let c = with_credentials(
            "redis://redis.example:6379/2",
            Some("p@ss/w:rd#%".into()),
            Some("switchboard".into()),
        )
        .unwrap();
        let s = c.get_connection_info().redis_settings();
        assert_eq!(s.password(), Some("p@ss/w:rd#%"));
        assert_eq!(s.username(), Some("switchboard"));
        assert_eq!(s.db(), 2);
    }

    #[test]
    fn without_replicas_writes_wait_briefly_until_one_answers() {
        let g = ReplicaGate::default();
        assert_eq!(g.wait_ms(), ReplicaGate::WAIT_MS);
        g.acked(0);
        assert_eq!(g.wait_ms(), ReplicaGate::PROBE_MS);
        g.acked(1);
        assert_eq!(g.wait_ms(), ReplicaGate::WAIT_MS);
    }

    #[test]
    fn a_tls_url_is_accepted() {
        assert!(with_credentials("rediss://redis.example:6380/0", None, None).is_ok());
    }
}
