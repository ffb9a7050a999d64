//! Redis Cluster, on real processes on loopback: three masters with a replica each
//! (`switchboard_testkit::RedisCluster`); webhook servers reach it through
//! `redis+cluster://`, and calls go on while the master holding a call is SIGKILLed in the
//! middle of that call. Prints how many calls the failover affected.

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::failover::*;
use common::*;
use switchboard_routing::{AlertKind, keys};
use switchboard_sim::Simulator;
use switchboard_testkit::RedisCluster;
use switchboard_testkit::cluster::master_holding;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_go_on_through_a_cluster_failover() {
    let mut cluster = RedisCluster::start();
    let url = cluster.url();
    store(&url).put_table(&table()).await.unwrap();
    let (targets, clock) = servers(&url, 2).await;
    let sim = || Simulator::new(PUBLIC_URL, targets.clone(), ACCOUNT, TOKEN, clock.clone());
    routed_and(&sim, "before the failover", |sid| {
        cluster.master_holding(&keys::call(sid)).is_some()
    })
    .await;

    // The master holding a call's state dies (SIGKILL) as its responder picks up: the cluster
    // promotes that master's replica after about a second (node timeout, election). The
    // state was acknowledged by the replica before each answer (WAIT); the webhooks wait for
    // the new master, and the connection reads the slot map again.
    let ports = cluster.ports.clone();
    let pids: Vec<(u16, u32)> = ports.iter().map(|&p| (p, cluster.pid(p))).collect();
    let killed = Arc::new(Mutex::new(None::<u16>));
    let mut sim_in_flight = sim();
    let noted = killed.clone();
    sim_in_flight.before_request = Some(Box::new(move |path: &str| {
        let mut noted = noted.lock().unwrap();
        if noted.is_some() || !path.starts_with("/twilio/voice/whisper") {
            return;
        }
        let sid = path
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("call="))
            .expect("the whisper names its call");
        let port = master_holding(&ports, &keys::call(sid)).expect("a master holds the call");
        let pid = pids.iter().find(|(p, _)| *p == port).unwrap().1;
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        *noted = Some(port);
    }));
    // Five more calls in flight beside it, started with it.
    let started = Instant::now();
    let others = futures::future::join_all((0..5).map(|_| {
        let mut s = sim();
        async move { s.run(call()).await.unwrap() }
    }));
    let (t, others) = tokio::join!(sim_in_flight.run(call()), others);
    let t = t.unwrap();
    let dead = killed.lock().unwrap().expect("a master was killed");
    cluster.reap(dead);
    let affected = std::iter::once(&t)
        .chain(&others)
        .filter(|t| !routed(t))
        .count();
    println!(
        "calls in flight while their master died: {affected} of {} affected; the one whose \
         own master was killed took {} ms",
        others.len() + 1,
        started.elapsed().as_millis()
    );
    assert!(routed(&t), "{}", t.render());
    for o in &others {
        assert!(routed(o), "{}", o.render());
    }
    let holder = cluster.master_holding(&keys::call(&t.call_sid));
    assert!(
        holder.is_some_and(|p| p != dead),
        "the call is on the promoted master, not {dead}: {holder:?}"
    );
    // Every call's alert was marked due (no dispatcher runs here to take them), on whichever
    // master holds the due set.
    let due = keys::alerts_due();
    let due_on = cluster
        .master_holding(&due)
        .expect("a master holds the due set");
    for sid in std::iter::once(&t).chain(&others).map(|t| &t.call_sid) {
        let member = keys::alert_member(AlertKind::Call, sid);
        let score = RedisCluster::query(due_on, redis::cmd("ZSCORE").arg(&due).arg(&member));
        assert!(
            matches!(&score, Some(v) if *v != redis::Value::Nil),
            "call {sid}'s alert is due: {score:?}"
        );
    }
    calls_until(
        "master killed, until the cluster has promoted its replica",
        &sim,
        1,
        Duration::from_secs(60),
        || cluster.recovered_without(dead),
    )
    .await;
    // The table was replicated: the cluster routes without anyone writing it again.
    routed_and(&sim, "after the kill", |sid| {
        cluster
            .master_holding(&keys::call(sid))
            .is_some_and(|p| p != dead)
    })
    .await;
}
