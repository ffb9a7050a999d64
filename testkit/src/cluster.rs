//! A throwaway Redis Cluster: six `redis-server`s on free loopback ports made three masters
//! with a replica each by `redis-cli --cluster create` (Debian's redis-tools, which its
//! redis-server package depends on); killed on drop.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// The cluster's nodes; see the module notes.
#[derive(Debug)]
pub struct RedisCluster {
    /// The nodes' ports, in start order.
    pub ports: Vec<u16>,
    processes: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for c in &mut self.processes {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl RedisCluster {
    /// Starts the nodes, makes the cluster and waits until every slot is served and every
    /// replica is in sync. A master is judged failed after 1 s (`cluster-node-timeout`; the
    /// default is 15 s).
    pub fn start() -> RedisCluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ports: Vec<u16> = (0..6).map(|_| free_port()).collect();
        let processes = ports
            .iter()
            .map(|&port| {
                // Its own directory: each node writes its nodes.conf (and a replica's full
                // sync a dump.rdb) there.
                let data = dir.path().join(format!("node-{port}"));
                std::fs::create_dir_all(&data).expect("a node directory");
                Command::new("redis-server")
                    .arg("--dir")
                    .arg(&data)
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--save", "", "--appendonly", "no"])
                    .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
                    // The bus port of its own: by default it is the port + 10,000, which a
                    // port above 55535 (a third of the ephemeral range) cannot have, and
                    // Redis then refuses to start.
                    .args(["--cluster-port", &free_port().to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("redis-server (Debian's redis-server package)")
            })
            .collect();
        let cluster = RedisCluster {
            ports,
            processes,
            _dir: dir,
        };
        wait_for("the nodes listen", Duration::from_secs(10), || {
            cluster.ports.iter().all(|&p| role(p).is_some())
        });
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli (Debian's redis-tools)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        wait_for(
            "every node says the cluster is ok",
            Duration::from_secs(30),
            || {
                cluster
                    .ports
                    .iter()
                    .all(|&p| state(p).as_deref() == Some("ok"))
            },
        );
        // Each replica in sync with its master (else a master killed now has none to
        // promote, and WAIT has nobody to wait for).
        wait_for("three replicas in sync", Duration::from_secs(30), || {
            cluster.ports.iter().filter(|&&p| in_sync(p)).count() == 3
        });
        cluster
    }

    /// `redis+cluster://` with every node as a seed.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    /// The process id of the node on `port`.
    pub fn pid(&self, port: u16) -> u32 {
        let i = self.index(port);
        self.processes[i].id()
    }

    /// Reaps the node on `port` once it was killed (by its pid).
    pub fn reap(&mut self, port: u16) {
        let i = self.index(port);
        let _ = self.processes[i].wait();
    }

    fn index(&self, port: u16) -> usize {
        self.ports
            .iter()
            .position(|&p| p == port)
            .expect("a node of the cluster")
    }

    /// The live master that holds `key`, asked of each node (the others answer MOVED).
    pub fn master_holding(&self, key: &str) -> Option<u16> {
        master_holding(&self.ports, key)
    }

    /// Whether every live node but `dead` says every slot is served again.
    pub fn recovered_without(&self, dead: u16) -> bool {
        self.ports
            .iter()
            .filter(|&&p| p != dead)
            .all(|&p| state(p).as_deref() == Some("ok"))
    }

    /// `command` sent to the node on `port`.
    pub fn query(port: u16, command: &mut redis::Cmd) -> Option<redis::Value> {
        query(port, command)
    }
}

/// The live master among `ports` that holds `key` (usable from a hook that cannot borrow the
/// cluster).
pub fn master_holding(ports: &[u16], key: &str) -> Option<u16> {
    ports.iter().copied().find(|&p| {
        role(p).as_deref() == Some("master")
            && query(p, redis::cmd("EXISTS").arg(key))
                .and_then(|v| redis::from_redis_value::<i64>(v).ok())
                == Some(1)
    })
}

fn query(port: u16, command: &mut redis::Cmd) -> Option<redis::Value> {
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .ok()?
        .get_connection_with_timeout(Duration::from_millis(500))
        .ok()?;
    command.query(&mut c).ok()
}

/// `master` or `slave`, as the node on `port` says (`ROLE`).
pub fn role(port: u16) -> Option<String> {
    let v = query(port, &mut redis::cmd("ROLE"))?;
    let parts: Vec<redis::Value> = redis::from_redis_value(v).ok()?;
    redis::from_redis_value(parts.first()?.clone()).ok()
}

/// `cluster_state` as the node on `port` reports it.
fn state(port: u16) -> Option<String> {
    let v = query(port, redis::cmd("CLUSTER").arg("INFO"))?;
    let info: String = redis::from_redis_value(v).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("cluster_state:"))
        .map(|s| s.trim().to_string())
}

/// Whether the server on `port` is a replica whose link to its master is up.
pub fn in_sync(port: u16) -> bool {
    query(port, redis::cmd("INFO").arg("replication"))
        .and_then(|v| redis::from_redis_value::<String>(v).ok())
        .is_some_and(|i| i.contains("master_link_status:up"))
}

fn wait_for(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
