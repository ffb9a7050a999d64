#![forbid(unsafe_code)]
//! `switchboard-operator-bench REDIS_URL [N]`: compiles and publishes N (10,000) phone numbers,
//! each with its own policy, chain and schedule, through the controller's own steps (the
//! dependency closure of each number, the pure compile, the Redis publish), then changes one
//! Schedule and times the way to its new table being current in Redis. Prints figures: the
//! time to publish all, the peak resident memory, the change latency. `scripts/bench-operator`
//! runs it against a throwaway redis-server.
//!
//! Not measured (no API server here): the watch delivery of the change by the API server.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use kube::{Resource, ResourceExt};
use switchboard_crds::{EscalationChain, IncomingCallPolicy, PhoneNumber, Schedule};
use switchboard_operator::SchemaChecker;
use switchboard_operator::compile::{AccountSids, compile};
use switchboard_operator::controller::deps;
use switchboard_operator::controller::live::LiveTables;
use switchboard_operator::manifests::{load_files, manifest_files};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

struct World {
    numbers: Vec<Arc<PhoneNumber>>,
    policies: Vec<Arc<IncomingCallPolicy>>,
    chains: Vec<Arc<EscalationChain>>,
    schedules: Vec<Arc<Schedule>>,
}

fn world(n: usize) -> World {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let o = load_files(
        &manifest_files(&[root], false).expect("examples"),
        &SchemaChecker::new(),
    )
    .expect("examples")
    .objects;
    let pn = o
        .phone_numbers
        .iter()
        .find(|p| p.object.name_any() == "support-hotline")
        .expect("hotline")
        .object
        .clone();
    let policy = o
        .policies
        .iter()
        .find(|p| p.object.name_any() == "major-incident")
        .expect("policy")
        .object
        .clone();
    let chain = o
        .chains
        .iter()
        .find(|c| c.object.name_any() == "platform")
        .expect("chain")
        .object
        .clone();
    let schedule = o
        .schedules
        .iter()
        .find(|s| s.object.name_any() == "platform")
        .expect("schedule")
        .object
        .clone();
    let mut w = World {
        numbers: vec![],
        policies: vec![],
        chains: vec![],
        schedules: vec![],
    };
    for i in 0..n {
        let ns = format!("team-{:03}", i / 100);
        let rename = |meta: &mut kube::core::ObjectMeta, name: String| {
            meta.name = Some(name);
            meta.namespace = Some(ns.clone());
        };
        let mut s = schedule.clone();
        rename(&mut s.metadata, format!("schedule-{i}"));
        let mut c = chain.clone();
        rename(&mut c.metadata, format!("chain-{i}"));
        for step in &mut c.spec.steps {
            for t in &mut step.targets {
                if t.on_call.is_some() {
                    t.on_call = Some(format!("schedule-{i}"));
                }
                if t.team.is_some() {
                    t.team = Some(format!("schedule-{i}"));
                }
            }
        }
        let mut p = policy.clone();
        rename(&mut p.metadata, format!("policy-{i}"));
        p.spec.chain_ref = Some(switchboard_crds::LocalRef {
            name: format!("chain-{i}"),
        });
        let mut number = pn.clone();
        rename(&mut number.metadata, format!("pn-{i}"));
        number.spec.number = Some(format!("+1415{:07}", i));
        number.spec.policy_ref = switchboard_crds::LocalRef {
            name: format!("policy-{i}"),
        };
        w.schedules.push(Arc::new(s));
        w.chains.push(Arc::new(c));
        w.policies.push(Arc::new(p));
        w.numbers.push(Arc::new(number));
    }
    w
}

/// What one reconcile of `pn` does to Redis: closure, compile, remember (for a Redis that
/// loses it), publish.
async fn reconcile(
    w: &World,
    live: &LiveTables,
    pn: &PhoneNumber,
    conn: &mut redis::aio::ConnectionManager,
) -> bool {
    let objects = deps::closure(pn, &w.policies, &w.chains, &w.schedules);
    let compiled = compile(&objects, &AccountSids::new());
    match compiled.tables.first() {
        Some(t) if compiled.problems.is_empty() => {
            live.remember(pn.object_ref(&()), t).await;
            switchboard_routing::publish::publish(conn, t).await.is_ok()
        }
        _ => false,
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".into());
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let conn = redis::Client::open(url.as_str())
        .expect("redis URL")
        .get_connection_manager()
        .await
        .expect("connect to Redis");
    let mut w = world(n);
    println!(
        "objects: {n} PhoneNumbers, {n} IncomingCallPolicies, {n} EscalationChains, {n} Schedules in {} namespaces",
        n.div_ceil(100)
    );

    let started = Instant::now();
    let w_ref = &w;
    let live = LiveTables::default();
    let live_ref = &live;
    let ok = futures::stream::iter(w.numbers.clone())
        .map(|pn| {
            let mut c = conn.clone();
            async move { reconcile(w_ref, live_ref, &pn, &mut c).await }
        })
        .buffer_unordered(64)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    let all = started.elapsed();
    println!(
        "publish all: {ok}/{n} tables current in Redis in {:.2} s ({:.0} tables/s)",
        all.as_secs_f64(),
        ok as f64 / all.as_secs_f64()
    );
    assert_eq!(ok, n, "every table must publish");
    println!("peak resident memory: {:.1} MiB", peak_rss_mib());

    // The check for tables Redis lost (live.rs), every 5 s: nothing lost, then everything.
    let mut c = conn.clone();
    let started = Instant::now();
    let restored = live.restore(&mut c).await.expect("check");
    let nothing = started.elapsed();
    assert!(restored.is_empty());
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut c)
        .await
        .expect("FLUSHALL");
    let started = Instant::now();
    let restored = live.restore(&mut c).await.expect("restore");
    let everything = started.elapsed();
    assert_eq!(restored.len(), n, "every lost table must be written again");
    println!(
        "lost-table check of {n} tables: {:.1} ms with nothing lost; all {n} written again in {:.2} s",
        nothing.as_secs_f64() * 1e3,
        everything.as_secs_f64()
    );

    // One Schedule change: the number it serves gets a new table.
    let target = n / 2;
    let mut changed = (*w.schedules[target]).clone();
    let mut samples = Vec::new();
    for round in 0..20 {
        changed.spec.layers[0].handoff_time = format!("07:{:02}", round + 10);
        w.schedules[target] = Arc::new(changed.clone());
        let t = Instant::now();
        let users = deps::schedule_users(
            &changed.namespace().unwrap_or_default(),
            &changed.name_any(),
            &w.numbers,
            &w.policies,
            &w.chains,
        );
        let mut c = conn.clone();
        for r in &users {
            let pn = w
                .numbers
                .iter()
                .find(|p| p.name_any() == r.name && p.namespace() == r.namespace)
                .expect("mapped number exists");
            assert!(reconcile(&w, &live, pn, &mut c).await);
        }
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(users.len(), 1);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    println!(
        "schedule change -> new table current (mapping + compile + publish, 20 changes): median {:.2} ms, max {:.2} ms",
        samples[samples.len() / 2],
        samples[samples.len() - 1]
    );
    println!("peak resident memory at the end: {:.1} MiB", peak_rss_mib());
}
