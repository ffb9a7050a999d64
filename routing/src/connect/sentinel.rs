//! Redis through Sentinel: `redis+sentinel://s1:26379,s2:26379/<master>[/<db>]`. The
//! master's connection is replaced when a command finds it gone, refused or demoted.

use redis::aio::ConnectionLike as _;

use super::{Replaceable, ReplicaGate, env_credentials};

/// The URL scheme of a Redis reached through Sentinel:
/// `redis+sentinel://host:port[,host:port...]/<master name>[/<db>]`.
pub const SENTINEL_SCHEME: &str = "redis+sentinel://";

pub(super) struct SentinelConn {
    master: Replaceable<redis::sentinel::SentinelClient, redis::aio::ConnectionManager>,
    config: redis::aio::ConnectionManagerConfig,
    pub(super) db: i64,
    pub(super) replicas: ReplicaGate,
}

fn invalid(what: String) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::InvalidClientConfig,
        "invalid Redis Sentinel URL",
        what,
    ))
}

/// `host:port,host:port/<master>[/<db>]`, the part after [`SENTINEL_SCHEME`].
pub(super) fn sentinel(
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

    /// Sends `cmd` to the master; when the master is found lost, the Sentinels are asked again,
    /// and a command the old master refused unrun (READONLY) is sent to the new one.
    pub(super) async fn command(&self, cmd: &redis::Cmd) -> redis::RedisResult<redis::Value> {
        let (mut c, generation) = self.get().await?;
        match c.req_packed_command(cmd).await {
            Err(e) if master_lost(&e) => {
                let (mut c, _) = self.replace(generation).await?;
                if refused_unrun(&e) {
                    return c.req_packed_command(cmd).await;
                }
                Err(e)
            }
            other => other,
        }
    }

    /// [`SentinelConn::command`] for a pipeline.
    pub(super) async fn pipeline(
        &self,
        pipeline: &redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisResult<Vec<redis::Value>> {
        let (mut c, generation) = self.get().await?;
        match c.req_packed_commands(pipeline, offset, count).await {
            Err(e) if master_lost(&e) => {
                let (mut c, _) = self.replace(generation).await?;
                if refused_unrun(&e) {
                    return c.req_packed_commands(pipeline, offset, count).await;
                }
                Err(e)
            }
            other => other,
        }
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

#[cfg(test)]
mod tests {
    use super::super::Conn;

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
}
