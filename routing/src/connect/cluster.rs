//! Redis Cluster: `redis+cluster://n1:6379,n2:6379` (the seed nodes). A pipeline across slots
//! is split by hash tag; the slot map is read again when a node is found gone.

use redis::aio::ConnectionLike as _;

use super::{Replaceable, ReplicaGate, env_credentials};

/// The URL scheme of a Redis Cluster: `redis+cluster://host:port[,host:port...]` (the seed
/// nodes; the others are learnt from them), or `rediss+cluster://` over TLS.
pub const CLUSTER_SCHEME: &str = "redis+cluster://";
/// [`CLUSTER_SCHEME`] over TLS.
pub const CLUSTER_TLS_SCHEME: &str = "rediss+cluster://";

pub(super) struct ClusterConn {
    nodes: Replaceable<redis::cluster::ClusterClient, redis::cluster_async::ClusterConnection>,
    pub(super) replicas: ReplicaGate,
}

/// `host:port,host:port`, the part after [`CLUSTER_SCHEME`]: the seed nodes.
pub(super) fn cluster(
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
    pub(super) async fn command(&self, cmd: &redis::Cmd) -> redis::RedisResult<redis::Value> {
        let (mut c, generation) = self.get().await?;
        let result = c.req_packed_command(cmd).await;
        self.after(&result, generation).await;
        result
    }

    /// Sends `pipeline` (see the module notes): as it is when it is a transaction or keeps to
    /// one hash tag, else one pipeline per hash tag, concurrently.
    pub(super) async fn pipeline(
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
            && super::failing_over(e)
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

#[cfg(test)]
mod tests {
    use super::super::Conn;
    use super::*;

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
}
