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

use redis::aio::ConnectionLike as _;

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

/// The URL scheme of a Redis reached through Sentinel:
/// `redis+sentinel://host:port[,host:port...]/<master name>[/<db>]`.
pub const SENTINEL_SCHEME: &str = "redis+sentinel://";

/// A Redis connection for the binaries: straight to one server, or to the master a group of
/// Sentinels names (see the module notes). Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Conn(Inner);

/// The URL scheme of a Redis Cluster: `redis+cluster://host:port[,host:port...]` (the seed
/// nodes; the others are learnt from them), or `rediss+cluster://` over TLS.
pub const CLUSTER_SCHEME: &str = "redis+cluster://";
/// [`CLUSTER_SCHEME`] over TLS.
pub const CLUSTER_TLS_SCHEME: &str = "rediss+cluster://";

#[derive(Clone)]
enum Inner {
    Direct(redis::aio::ConnectionManager),
    Sentinel(std::sync::Arc<SentinelConn>),
    Cluster(std::sync::Arc<ClusterConn>),
}

/// A connection that is replaced when it is found lost, made from a `source` (the Sentinels,
/// the cluster's seed nodes).
struct Replaceable<S, C> {
    source: tokio::sync::Mutex<S>,
    /// The connection, and how many times it was replaced (so that concurrent failures
    /// replace it once).
    current: std::sync::RwLock<Option<(C, u64)>>,
    what: &'static str,
}

impl<S, C: Clone> Replaceable<S, C> {
    fn new(source: S, what: &'static str) -> Self {
        Replaceable {
            source: tokio::sync::Mutex::new(source),
            current: std::sync::RwLock::new(None),
            what,
        }
    }

    /// The connection, making one when there is none.
    async fn get(
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
    async fn replace(
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

struct SentinelConn {
    master: Replaceable<redis::sentinel::SentinelClient, redis::aio::ConnectionManager>,
    config: redis::aio::ConnectionManagerConfig,
    db: i64,
    replicas: ReplicaGate,
}

struct ClusterConn {
    nodes: Replaceable<redis::cluster::ClusterClient, redis::cluster_async::ClusterConnection>,
    replicas: ReplicaGate,
}

/// How long a write waits for a replica (`WAIT 1 <ms>`). `WAIT` holds up the connection it is
/// sent on (Redis answers a client's commands in order), and the connection is shared by every
/// request of the process: with no replica to answer, every write would hold up all the others
/// for the whole wait. So once a `WAIT` found no replica, writes wait only
/// [`ReplicaGate::PROBE_MS`] (a replica that is back answers within it, and the full wait
/// resumes), until one finds a replica again.
#[derive(Default)]
struct ReplicaGate {
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
            return Ok(Conn(Inner::Sentinel(std::sync::Arc::new(sentinel(
                rest, config,
            )?))));
        }
        for (scheme, tls) in [(CLUSTER_SCHEME, false), (CLUSTER_TLS_SCHEME, true)] {
            if let Some(rest) = url.strip_prefix(scheme) {
                return Ok(Conn(Inner::Cluster(std::sync::Arc::new(cluster(
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

fn invalid(what: String) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::InvalidClientConfig,
        "invalid Redis Sentinel URL",
        what,
    ))
}

/// `host:port,host:port/<master>[/<db>]`, the part after [`SENTINEL_SCHEME`].
fn sentinel(
    rest: &str,
    config: redis::aio::ConnectionManagerConfig,
) -> redis::RedisResult<SentinelConn> {
    use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
    let (hosts, path) = rest.split_once('/').ok_or_else(|| {
        invalid(format!(
            "{SENTINEL_SCHEME}{rest}: name the master: {SENTINEL_SCHEME}host:26379/mymaster/0"
        ))
    })?;
    let (master, db) = match path.split_once('/') {
        Some((m, d)) => (
            m,
            d.trim_end_matches('/')
                .parse::<i64>()
                .map_err(|_| invalid(format!("{d:?} is not a database number")))?,
        ),
        None => (path, 0),
    };
    if master.is_empty() || hosts.is_empty() {
        return Err(invalid(format!(
            "{SENTINEL_SCHEME}{rest}: write {SENTINEL_SCHEME}host:26379[,host:26379]/<master>[/<db>]"
        )));
    }
    let sentinels: Vec<String> = hosts.split(',').map(|h| format!("redis://{h}")).collect();
    let mut node = redis::RedisConnectionInfo::default().set_db(db);
    let (password, username) = env_credentials();
    if let Some(p) = password {
        node = node.set_password(p);
    }
    if let Some(u) = username {
        node = node.set_username(u);
    }
    let client = SentinelClient::build(
        sentinels,
        master,
        Some(SentinelNodeConnectionInfo::default().set_redis_connection_info(node)),
        SentinelServerType::Master,
    )?;
    Ok(SentinelConn {
        master: Replaceable::new(client, "Sentinel: the master it names"),
        config,
        db,
        replicas: ReplicaGate::default(),
    })
}

/// `host:port,host:port`, the part after [`CLUSTER_SCHEME`]: the seed nodes.
fn cluster(
    rest: &str,
    tls: bool,
    config: &redis::aio::ConnectionManagerConfig,
) -> redis::RedisResult<ClusterConn> {
    let hosts = rest.trim_end_matches('/');
    if hosts.is_empty() || hosts.contains('/') {
        return Err(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "invalid Redis Cluster URL",
            format!(
                "{CLUSTER_SCHEME}{rest}: write {CLUSTER_SCHEME}host:6379[,host:6379] \
                 (a cluster has only database 0)"
            ),
        )));
    }
    let scheme = if tls { "rediss" } else { "redis" };
    let nodes: Vec<String> = hosts
        .split(',')
        .map(|h| format!("{scheme}://{h}"))
        .collect();
    let mut builder = redis::cluster::ClusterClient::builder(nodes)
        // redis-rs retries a command itself (MOVED, TRYAGAIN, CLUSTERDOWN, a dropped
        // connection) with a backoff; a few quick tries, so that a webhook still has time
        // to answer: the caller's wait for a failover is the webhook server's to decide.
        .retries(3)
        .min_retry_wait(50)
        .max_retry_wait(500);
    if let Some(t) = config.connection_timeout() {
        builder = builder.connection_timeout(t);
    }
    if let Some(t) = config.response_timeout() {
        builder = builder.response_timeout(t);
    }
    let (password, username) = env_credentials();
    if let Some(p) = password {
        builder = builder.password(p);
    }
    if let Some(u) = username {
        builder = builder.username(u);
    }
    Ok(ClusterConn {
        nodes: Replaceable::new(
            builder.build()?,
            "Cluster: the slot map read from a seed node",
        ),
        replicas: ReplicaGate::default(),
    })
}

impl SentinelConn {
    async fn get(&self) -> redis::RedisResult<(redis::aio::ConnectionManager, u64)> {
        self.master.get(async |s| self.connect(s).await).await
    }

    async fn replace(
        &self,
        failed: u64,
    ) -> redis::RedisResult<(redis::aio::ConnectionManager, u64)> {
        self.master
            .replace(Some(failed), async |s| self.connect(s).await)
            .await
    }

    /// Asks the Sentinels for the master and connects to it.
    async fn connect(
        &self,
        sentinels: &mut redis::sentinel::SentinelClient,
    ) -> redis::RedisResult<redis::aio::ConnectionManager> {
        sentinels
            .async_get_client()
            .await?
            .get_connection_manager_lazy(self.config.clone())
    }
}

type ClusterConnection = redis::cluster_async::ClusterConnection;

impl ClusterConn {
    async fn get(&self) -> redis::RedisResult<(ClusterConnection, u64)> {
        self.nodes.get(Self::connect).await
    }

    async fn replace(&self, failed: u64) -> redis::RedisResult<(ClusterConnection, u64)> {
        self.nodes.replace(Some(failed), Self::connect).await
    }

    async fn connect(
        nodes: &mut redis::cluster::ClusterClient,
    ) -> redis::RedisResult<ClusterConnection> {
        nodes.get_async_connection().await
    }

    /// Sends `cmd`; a new connection (a fresh slot map) replaces the old when it failed
    /// because a node is gone or the cluster is down.
    async fn command(&self, cmd: &redis::Cmd) -> redis::RedisResult<redis::Value> {
        let (mut c, generation) = self.get().await?;
        let result = c.req_packed_command(cmd).await;
        self.after(&result, generation).await;
        result
    }

    /// Sends `pipeline` (see the module notes): as it is when it is a transaction or keeps to
    /// one hash tag, else one pipeline per hash tag, concurrently.
    async fn pipeline(
        &self,
        pipeline: &redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisResult<Vec<redis::Value>> {
        let (c, generation) = self.get().await?;
        let groups = by_hash_tag(pipeline);
        let result = if pipeline.is_transaction() || groups.len() <= 1 {
            c.clone().req_packed_commands(pipeline, offset, count).await
        } else {
            let cmds: Vec<&redis::Cmd> = pipeline.cmd_iter().collect();
            let sent = groups.iter().map(|(_, indexes)| {
                let mut part = redis::pipe();
                for &i in indexes {
                    part.add_command(cmds[i].clone());
                }
                let mut c = c.clone();
                async move {
                    let n = part.len();
                    c.req_packed_commands(&part, 0, n).await
                }
            });
            match futures::future::try_join_all(sent).await {
                Ok(replies) => {
                    let mut all = vec![redis::Value::Nil; pipeline.len()];
                    for ((_, indexes), replies) in groups.iter().zip(replies) {
                        for (&i, reply) in indexes.iter().zip(replies) {
                            all[i] = reply;
                        }
                    }
                    Ok(all.into_iter().skip(offset).take(count).collect())
                }
                Err(e) => Err(e),
            }
        };
        self.after(&result, generation).await;
        result
    }

    async fn after<T>(&self, result: &redis::RedisResult<T>, generation: u64) {
        if let Err(e) = result
            && cluster_lost(e)
            && let Err(e) = self.replace(generation).await
        {
            tracing::warn!(error = %e, "Redis Cluster: no seed node answered");
        }
    }
}

/// The commands of `pipeline` grouped by the hash tag of their first key, each group's
/// command indexes in pipeline order; a command without a key (`WAIT`, `SCRIPT LOAD`) goes
/// with the command before it (so a `WAIT` after a write waits on that write's node), or with
/// the first group when nothing comes before it.
fn by_hash_tag(pipeline: &redis::Pipeline) -> Vec<(Vec<u8>, Vec<usize>)> {
    let mut groups: Vec<(Vec<u8>, Vec<usize>)> = Vec::new();
    let mut leading = Vec::new();
    let mut last: Option<usize> = None;
    for (i, cmd) in pipeline.cmd_iter().enumerate() {
        let group = match first_key(cmd) {
            Some(key) => {
                let tag = hash_tag(key);
                match groups.iter().position(|(t, _)| t.as_slice() == tag) {
                    Some(g) => g,
                    None => {
                        groups.push((tag.to_vec(), std::mem::take(&mut leading)));
                        groups.len() - 1
                    }
                }
            }
            None => match last {
                Some(g) => g,
                None => {
                    leading.push(i);
                    continue;
                }
            },
        };
        groups[group].1.push(i);
        last = Some(group);
    }
    if !leading.is_empty() {
        // Keyless commands alone: one group, sent anywhere.
        groups.push((Vec::new(), leading));
    }
    groups
}

/// The first key `cmd` names: its first argument, or for the script commands the first of
/// their `KEYS`; none for the commands of this crate's callers that name no key.
fn first_key(cmd: &redis::Cmd) -> Option<&[u8]> {
    let mut args = cmd.args_iter().filter_map(|a| match a {
        redis::Arg::Simple(a) => Some(a),
        _ => None,
    });
    let name = args.next()?.to_ascii_uppercase();
    match name.as_slice() {
        b"WAIT" | b"PING" | b"SCRIPT" | b"INFO" | b"CLUSTER" | b"ROLE" | b"FLUSHALL" => None,
        b"EVAL" | b"EVALSHA" | b"EVAL_RO" | b"EVALSHA_RO" | b"FCALL" => {
            let _script = args.next()?;
            let numkeys = std::str::from_utf8(args.next()?)
                .ok()?
                .parse::<usize>()
                .ok()?;
            if numkeys == 0 { None } else { args.next() }
        }
        _ => args.next(),
    }
}

/// Redis Cluster's hash tag of `key`: what it hashes to pick the slot (`crate::keys::hash_tag`,
/// on bytes).
fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{')
        && let Some(len) = key[open + 1..].iter().position(|&b| b == b'}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

/// Whether `e` says a cluster node is gone or the cluster is between masters, after redis-rs's
/// own retries: the slot map is worth reading again.
fn cluster_lost(e: &redis::RedisError) -> bool {
    e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_io_error()
        || e.is_timeout()
        || matches!(
            e.kind(),
            redis::ErrorKind::ClusterConnectionNotFound
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

/// Whether `e` says the connection or the server it reached is not the master any more.
fn master_lost(e: &redis::RedisError) -> bool {
    e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_io_error()
        || e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}

fn refused_unrun(e: &redis::RedisError) -> bool {
    e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        Box::pin(async move {
            match &mut self.0 {
                Inner::Direct(c) => c.req_packed_command(cmd).await,
                Inner::Sentinel(s) => {
                    let (mut c, generation) = s.get().await?;
                    match c.req_packed_command(cmd).await {
                        Err(e) if master_lost(&e) => {
                            let (mut c, _) = s.replace(generation).await?;
                            if refused_unrun(&e) {
                                return c.req_packed_command(cmd).await;
                            }
                            Err(e)
                        }
                        other => other,
                    }
                }
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
                Inner::Sentinel(s) => {
                    let (mut c, generation) = s.get().await?;
                    match c.req_packed_commands(pipeline, offset, count).await {
                        Err(e) if master_lost(&e) => {
                            let (mut c, _) = s.replace(generation).await?;
                            if refused_unrun(&e) {
                                return c.req_packed_commands(pipeline, offset, count).await;
                            }
                            Err(e)
                        }
                        other => other,
                    }
                }
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
    fn sentinel_urls_name_the_master_and_the_database() {
        let config = redis::aio::ConnectionManagerConfig::new();
        assert!(
            Conn::lazy(
                "redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster/2",
                config.clone()
            )
            .is_ok()
        );
        let e = Conn::lazy("redis+sentinel://127.0.0.1:26379", config.clone()).unwrap_err();
        assert!(e.to_string().contains("name the master"), "{e}");
        let e = Conn::lazy("redis+sentinel://127.0.0.1:26379/mymaster/x", config).unwrap_err();
        assert!(e.to_string().contains("not a database number"), "{e}");
    }

    #[test]
    fn cluster_urls_list_seed_nodes() {
        let config = redis::aio::ConnectionManagerConfig::new();
        let c = Conn::lazy(
            "redis+cluster://127.0.0.1:7001,127.0.0.1:7002",
            config.clone(),
        )
        .unwrap();
        assert!(c.is_cluster() && c.fails_over());
        assert!(Conn::lazy("rediss+cluster://redis.example:6380", config.clone()).is_ok());
        let e = Conn::lazy("redis+cluster://127.0.0.1:7001/2", config).unwrap_err();
        assert!(e.to_string().contains("only database 0"), "{e}");
    }

    #[test]
    fn a_pipeline_across_slots_is_split_by_hash_tag_in_order() {
        let mut p = redis::pipe();
        p.get("sb:v1:route:{+1}:rev")
            .cmd("EVALSHA")
            .arg("abc")
            .arg(2)
            .arg("sb:v1:call:{CA1}")
            .arg("sb:v1:call:{CA1}:events")
            .arg("x")
            .cmd("WAIT")
            .arg(1)
            .arg(250)
            .cmd("ZADD")
            .arg("sb:v1:alerts:due")
            .arg(0.1)
            .arg("call:CA1")
            .cmd("ZADD")
            .arg("sb:v1:call-log")
            .arg(1)
            .arg("CA1")
            .cmd("ZREMRANGEBYRANK")
            .arg("sb:v1:call-log")
            .arg(0)
            .arg(-1001);
        let groups = by_hash_tag(&p);
        let tags: Vec<(&[u8], &[usize])> = groups
            .iter()
            .map(|(t, i)| (t.as_slice(), i.as_slice()))
            .collect();
        assert_eq!(
            tags,
            [
                (&b"+1"[..], &[0][..]),
                (b"CA1", &[1, 2]),
                (b"sb:v1:alerts:due", &[3]),
                (b"sb:v1:call-log", &[4, 5]),
            ]
        );
        // Keyless commands only: one group, sent anywhere.
        let mut ping = redis::pipe();
        ping.cmd("PING");
        assert_eq!(by_hash_tag(&ping), [(Vec::new(), vec![0])]);
        // A script with no keys has none; an empty tag is no tag.
        assert_eq!(first_key(redis::cmd("EVALSHA").arg("abc").arg(0)), None);
        assert_eq!(hash_tag(b"a{}b"), b"a{}b");
        assert_eq!(hash_tag(b"x{CA1}y{z}"), b"CA1");
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
