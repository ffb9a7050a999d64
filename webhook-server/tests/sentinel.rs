//! Redis Sentinel, on real processes on loopback: a master, a replica and three Sentinels;
//! webhook servers reach Redis through `redis+sentinel://`, and calls go on through a
//! failover. Prints how many calls the failover affected.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::failover::*;
use common::*;
use switchboard_sim::Simulator;
use switchboard_testkit::free_port;

fn master_port(sentinel: u16) -> Option<u16> {
    let v = query(
        sentinel,
        redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg("mymaster"),
    )?;
    let addr: Vec<String> = redis::from_redis_value(v).ok()?;
    addr.get(1)?.parse().ok()
}

struct Group {
    master: u16,
    replica: u16,
    sentinels: Vec<u16>,
    processes: Killed,
    _dir: tempfile::TempDir,
}

impl Group {
    /// A master, its replica, and three Sentinels watching them (a quorum of two, the master
    /// judged down after 1 s).
    fn start() -> Group {
        let dir = tempfile::tempdir().unwrap();
        let (master, replica) = (free_port(), free_port());
        let base = |port: u16| {
            // Its own directory: a replica's full sync writes dump.rdb there.
            let data = dir.path().join(format!("data-{port}"));
            std::fs::create_dir_all(&data).unwrap();
            vec![
                "--dir".into(),
                data.display().to_string(),
                "--port".into(),
                port.to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--save".into(),
                String::new(),
                "--appendonly".into(),
                "no".into(),
            ]
        };
        let mut processes = vec![redis_server(&base(master))];
        let mut args = base(replica);
        args.extend(["--replicaof".into(), "127.0.0.1".into(), master.to_string()]);
        processes.push(redis_server(&args));
        let mut sentinels = vec![];
        for i in 0..3 {
            let port = free_port();
            let conf = dir.path().join(format!("sentinel-{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {master} 2\nsentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 4000\n"
                ),
            )
            .unwrap();
            processes.push(redis_server(&[
                conf.display().to_string(),
                "--sentinel".into(),
            ]));
            sentinels.push(port);
        }
        let g = Group {
            master,
            replica,
            sentinels,
            processes: Killed(processes),
            _dir: dir,
        };
        // Sentinels learn the replica from the master's INFO (every 10 s at first).
        wait_for(
            "the Sentinels know the replica",
            Duration::from_secs(30),
            || {
                g.sentinels.iter().all(|&s| {
                    query(s, redis::cmd("SENTINEL").arg("replicas").arg("mymaster"))
                        .and_then(|v| redis::from_redis_value::<Vec<redis::Value>>(v).ok())
                        .is_some_and(|r| !r.is_empty())
                })
            },
        );
        g
    }

    fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+sentinel://{}/mymaster/0", hosts.join(","))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_go_on_through_a_sentinel_failover() {
    let mut g = Group::start();
    let url = g.url();
    store(&url).put_table(&table()).await.unwrap();
    let (targets, clock) = servers(&url, 2).await;
    let sim = || Simulator::new(PUBLIC_URL, targets.clone(), ACCOUNT, TOKEN, clock.clone());
    routed_and(&sim, "before the failover", |sid| holds(g.master, sid)).await;

    // A planned failover (SENTINEL FAILOVER): the replica is promoted, and the old master is
    // turned into its replica, refusing writes (READONLY) from then on.
    // (Refused with NOGOODSLAVE until the replica is in sync with the master: asked again.)
    wait_for(
        "a Sentinel accepts the failover",
        Duration::from_secs(30),
        || {
            query(
                g.sentinels[0],
                redis::cmd("SENTINEL").arg("failover").arg("mymaster"),
            )
            .is_some()
        },
    );
    calls_until(
        "planned failover, until the old master is a replica",
        &sim,
        10,
        Duration::from_secs(30),
        || {
            master_port(g.sentinels[0]) == Some(g.replica)
                && role(g.master).as_deref() == Some("slave")
        },
    )
    .await;
    routed_and(&sim, "after the planned failover", |sid| {
        holds(g.replica, sid)
    })
    .await;
    // The demoted master resyncs from the new one (a diskless full sync starts after
    // `repl-diskless-sync-delay`, 5 s); until then no write reaches a replica (WAIT finds
    // none) and a master killed meanwhile takes them with it, as with any Redis.
    wait_for(
        "the old master is in sync as a replica",
        Duration::from_secs(30),
        || in_sync(g.master),
    );

    // The new master dies (SIGKILL) in the middle of a call, as its responder picks up: the
    // Sentinels promote the old one again after 1 s. The call's state was acknowledged by the
    // replica before each answer (WAIT), and its webhooks wait for the new master.
    let pid = g.processes.0[1].id();
    let mut killed = false;
    let mut sim_in_flight = sim();
    sim_in_flight.before_request = Some(Box::new(move |path: &str| {
        if !killed && path.starts_with("/twilio/voice/whisper") {
            killed = true;
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }));
    let started = Instant::now();
    let t = sim_in_flight.run(call()).await.unwrap();
    let _ = g.processes.0[1].wait();
    println!(
        "a call whose master was killed mid-call: routed {}, {} ms",
        routed(&t),
        started.elapsed().as_millis()
    );
    assert!(routed(&t), "{}", t.render());
    assert!(
        holds(g.master, &t.call_sid),
        "the call is on the promoted master"
    );
    calls_until(
        "master killed, until the Sentinels promote the replica",
        &sim,
        1,
        Duration::from_secs(60),
        || {
            master_port(g.sentinels[0]) == Some(g.master)
                && role(g.master).as_deref() == Some("master")
        },
    )
    .await;
    // The table was replicated: the promoted server routes without anyone writing it again.
    routed_and(&sim, "after the kill", |sid| holds(g.master, sid)).await;
}
