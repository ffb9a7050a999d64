//! Failover harness shared by the Sentinel and Cluster tests: real `redis-server` processes
//! on loopback, webhook servers on a Redis URL, calls played until a failover is over.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use switchboard_sim::{Behaviour, Script, Simulator};
#[allow(unused_imports)] // not every test file uses both
pub use switchboard_testkit::cluster::{in_sync, role};
use switchboard_webhook::store::{RedisStore, Retention};
use switchboard_webhook::{AppState, AuthToken, Clock, Credentials, Fallback, Store, app};

pub const DANA: &str = "+12125550201";

pub struct Killed(pub Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn redis_server(args: &[String]) -> Child {
    Command::new("redis-server")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server")
}

pub fn query(port: u16, cmd: &mut redis::Cmd) -> Option<redis::Value> {
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .ok()?
        .get_connection_with_timeout(Duration::from_millis(500))
        .ok()?;
    cmd.query(&mut c).ok()
}

pub fn wait_for(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn store(url: &str) -> Store {
    Store::redis(
        RedisStore::connect(url, Duration::from_millis(500)).unwrap(),
        Retention::default(),
    )
}

pub async fn servers(
    url: &str,
    n: usize,
) -> (Vec<String>, std::sync::Arc<std::sync::atomic::AtomicI64>) {
    let clock = Clock::manual(monday_10am());
    let Clock::Manual(ms) = &clock else {
        unreachable!()
    };
    let ms = ms.clone();
    let mut targets = vec![];
    for _ in 0..n {
        let state = AppState::new(
            store(url),
            Credentials::fixed([(ACCOUNT.to_string(), AuthToken::new(TOKEN))]),
            PUBLIC_URL,
            Fallback::default(),
            clock.clone(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        targets.push(format!("http://{}", listener.local_addr().unwrap()));
        tokio::spawn(async move { axum::serve(listener, app(state)).await });
    }
    (targets, ms)
}

pub fn call() -> Script {
    let mut s = Script::call(CALLER, HOTLINE)
        .press(&["2"])
        .responder(DANA, Behaviour::Accept { after: 4 });
    s.speech = Some("the primary database is down".into());
    s
}

/// Whether the call went as it should (answered by dana, no fallback, no error).
pub fn routed(t: &switchboard_sim::Transcript) -> bool {
    t.application_errors.is_empty()
        && t.connected.as_deref() == Some(DANA)
        && !t.heard.iter().any(|h| h.contains("having trouble"))
}

/// Whether the server on `port` holds call `sid`.
pub fn holds(port: u16, sid: &str) -> bool {
    query(
        port,
        redis::cmd("EXISTS").arg(switchboard_routing::keys::call(sid)),
    )
    .and_then(|v| redis::from_redis_value::<i64>(v).ok())
        == Some(1)
}

/// Plays calls with `sim` (at least `min`) until `done`, within `limit`; prints and returns
/// how many were not routed, as `what`.
pub async fn calls_until(
    what: &str,
    sim: impl Fn() -> Simulator,
    min: usize,
    limit: Duration,
    done: impl Fn() -> bool,
) -> (usize, usize) {
    let started = Instant::now();
    let (mut affected, mut calls) = (0, 0);
    while !(calls >= min && done()) {
        let t = sim().run(call()).await.unwrap();
        calls += 1;
        if !routed(&t) {
            affected += 1;
        }
        assert!(
            started.elapsed() < limit,
            "{what}: no failover within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "{what}: {affected} of {calls} calls affected in the {} ms it took",
        started.elapsed().as_millis()
    );
    (affected, calls)
}

/// Five calls, each routed and, by `stored`, found where it should be.
pub async fn routed_and(sim: impl Fn() -> Simulator, when: &str, stored: impl Fn(&str) -> bool) {
    for _ in 0..5 {
        let t = sim().run(call()).await.unwrap();
        assert!(routed(&t), "{when}: {}", t.render());
        assert!(
            stored(&t.call_sid),
            "{when}: call {} is not stored where it should be",
            t.call_sid
        );
    }
}
