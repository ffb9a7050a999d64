//! Opening a Redis client the same way in every binary: the URL, and the credentials from
//! the environment rather than spliced into it.
//!
//! ```text
//!   SWITCHBOARD_REDIS_URL  redis://host:6379/0  or  rediss://host:6380/0 (TLS, system roots)
//!                          redis+sentinel://s1:26379,s2:26379,s3:26379/mymaster/0 (Sentinel)
//!   SWITCHBOARD_REDIS_PASSWORD, SWITCHBOARD_REDIS_USERNAME (ACL user): any characters
//!
//!   Conn ── Direct: a ConnectionManager (reconnects to the one address)
//!        └─ Sentinel: the master's ConnectionManager; when a command finds the connection
//!           gone or refused, or the server a replica (READONLY: a failover happened), the
//!           Sentinels are asked for the master again and a new manager replaces the old;
//!           a READONLY command, which the server refused without running, is sent again
//! ```
//!
//! NB: a password inside a URL must be percent-encoded (`p@ss/word` is `p%40ss%2Fword`), which
//! a Secret mounted into an environment variable is not; so the password comes in a variable
//! of its own and is set on the connection, never written into a URL (and never logged).

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

#[derive(Clone)]
enum Inner {
    Direct(redis::aio::ConnectionManager),
    Sentinel(std::sync::Arc<SentinelConn>),
}

struct SentinelConn {
    sentinels: tokio::sync::Mutex<redis::sentinel::SentinelClient>,
    config: redis::aio::ConnectionManagerConfig,
    /// The master's connection, and how many times it was replaced (so that concurrent
    /// failures replace it once).
    current: std::sync::RwLock<Option<(redis::aio::ConnectionManager, u64)>>,
    db: i64,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::Direct(_) => f.write_str("Conn(direct)"),
            Inner::Sentinel(_) => f.write_str("Conn(sentinel)"),
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
        match url.strip_prefix(SENTINEL_SCHEME) {
            None => Ok(Conn(Inner::Direct(
                client(url)?.get_connection_manager_lazy(config)?,
            ))),
            Some(rest) => Ok(Conn(Inner::Sentinel(std::sync::Arc::new(sentinel(
                rest, config,
            )?)))),
        }
    }

    /// Whether it reaches Redis through Sentinels (a master that can fail over).
    pub fn is_sentinel(&self) -> bool {
        matches!(self.0, Inner::Sentinel(_))
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
        sentinels: tokio::sync::Mutex::new(client),
        config,
        current: std::sync::RwLock::new(None),
        db,
    })
}

impl SentinelConn {
    /// The master's connection, asking the Sentinels for it when there is none.
    async fn get(&self) -> redis::RedisResult<(redis::aio::ConnectionManager, u64)> {
        if let Some(c) = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(c);
        }
        self.replace(None).await
    }

    /// Asks the Sentinels for the master and connects to it, unless another task already
    /// replaced generation `failed` meanwhile.
    async fn replace(
        &self,
        failed: Option<u64>,
    ) -> redis::RedisResult<(redis::aio::ConnectionManager, u64)> {
        let mut sentinels = self.sentinels.lock().await;
        if let Some(c) = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            && Some(c.1) != failed
        {
            return Ok(c);
        }
        let client = sentinels.async_get_client().await?;
        let manager = client.get_connection_manager_lazy(self.config.clone())?;
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let generation = current.as_ref().map_or(0, |c| c.1 + 1);
        *current = Some((manager.clone(), generation));
        tracing::info!(
            generation,
            "Redis Sentinel: connected to the master it names"
        );
        Ok((manager, generation))
    }
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
                            let (mut c, _) = s.replace(Some(generation)).await?;
                            if refused_unrun(&e) {
                                return c.req_packed_command(cmd).await;
                            }
                            Err(e)
                        }
                        other => other,
                    }
                }
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
                            let (mut c, _) = s.replace(Some(generation)).await?;
                            if refused_unrun(&e) {
                                return c.req_packed_commands(pipeline, offset, count).await;
                            }
                            Err(e)
                        }
                        other => other,
                    }
                }
            }
        })
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            Inner::Direct(c) => c.get_db(),
            Inner::Sentinel(s) => s.db,
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
    fn a_tls_url_is_accepted() {
        assert!(with_credentials("rediss://redis.example:6380/0", None, None).is_ok());
    }
}
