//! Whole calls through the real HTTP server and a real Redis server, with the simulator
//! playing Twilio's part (signed webhooks, TwiML executed as Twilio documents it).

mod common;

use common::*;
use switchboard_sim::{Behaviour, CallbackOrder, Message, Script, Transcript};
use switchboard_testkit::fixtures::database_call;
use switchboard_webhook::state::{CallState, Outcome};

#[path = "calls/callbacks.rs"]
mod callbacks;
#[path = "calls/callers.rs"]
mod callers;
#[path = "calls/choices.rs"]
mod choices;
#[path = "calls/escalation.rs"]
mod escalation;
#[path = "calls/hours.rs"]
mod hours;
#[path = "calls/languages.rs"]
mod languages;
#[path = "calls/pin.rs"]
mod pin;
#[path = "calls/resilience.rs"]
mod resilience;

const DANA: &str = "+12125550201";
const DBA_MANAGER: &str = "+12125550299";
const NOC: &str = "+12125550999";

async fn finished(c: &Cluster, t: &Transcript) -> CallState {
    assert!(
        t.application_errors.is_empty(),
        "{:?}\n{}",
        t.application_errors,
        t.render()
    );
    c.store()
        .call(&t.call_sid)
        .await
        .unwrap()
        .expect("call logged")
}

fn flat(t: &Transcript) -> Vec<String> {
    t.dials.iter().flatten().cloned().collect()
}

/// Saturday 10:00 UTC, when jonas is on call for platform (menu option 1): the cluster, and a
/// first call to platform where nobody answers (its second dial rings the rest of the team).
async fn saturday_platform_unanswered() -> (Cluster, Transcript, CallState) {
    let c = Cluster::start(1, "2026-11-21T10:00:00Z".parse().unwrap()).await;
    let t = c
        .simulator()
        .run(Script::call(CALLER, HOTLINE).press(&["1"]))
        .await
        .unwrap();
    let call = finished(&c, &t).await;
    (c, t, call)
}

fn menu_without_default() -> switchboard_routing::RoutingTable {
    let mut t = table();
    if let switchboard_routing::table::Entry::Menu(m) = &mut t.policy.entry {
        m.default_digit = None;
    }
    t.seal()
}

/// A call whose script cache is emptied just before each webhook `webhook` picks.
async fn script_cache_emptied_before(webhook: fn(&str) -> bool) {
    let c = Cluster::start(1, monday_10am()).await;
    // A first call, so that the replica has the table cached.
    let warm = c.simulator().run(database_call()).await.unwrap();
    finished(&c, &warm).await;
    let mut sim = c.simulator();
    let url = c.redis.url.clone();
    sim.before_request = Some(Box::new(move |path: &str| {
        if webhook(path) {
            let mut conn = redis::Client::open(url.as_str())
                .unwrap()
                .get_connection()
                .unwrap();
            let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut conn).unwrap();
        }
    }));
    let script = database_call().responder(DBA_MANAGER, Behaviour::Accept { after: 5 });
    let t = sim.run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(call.outcome, Some(Outcome::Answered));
    assert_eq!(t.connected.as_deref(), Some(DBA_MANAGER));
    let m = c.replicas[0].metrics().encode();
    assert!(!m.contains("fallbacks_total{"), "{m}");
}

/// The alert snapshot stored for call `sid`, if any.
fn stored_alert(c: &Cluster, sid: &str) -> Option<String> {
    let mut conn = redis::Client::open(c.redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    redis::cmd("HGET")
        .arg(switchboard_routing::keys::call(sid))
        .arg("alert")
        .query(&mut conn)
        .unwrap()
}

/// Each `(order, call log)` of `script` played once per order Twilio allows for the last
/// callbacks ([`CallbackOrder`]), each on a fresh server and Redis.
async fn in_every_order(script: &Script) -> Vec<(CallbackOrder, Transcript, CallState, Cluster)> {
    let mut out = vec![];
    for order in CallbackOrder::ALL {
        let c = Cluster::start(1, monday_10am()).await;
        let mut sim = c.simulator();
        sim.order = order;
        let t = sim.run(script.clone()).await.unwrap();
        let call = finished(&c, &t).await;
        out.push((order, t, call, c));
    }
    out
}

async fn c_run(script: Script) -> (Transcript, CallState) {
    let c = Cluster::start(1, monday_10am()).await;
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    (t, call)
}
