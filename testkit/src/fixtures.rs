//! The example company the tests share: Acme's support hotline from `examples/`, its
//! compiled table (`webhook-server/tests/fixtures/support-hotline.json`, kept current by an
//! operator test), the instant most scenarios run at and the calls they place.

use std::path::PathBuf;

use jiff::Timestamp;
use switchboard_routing::RoutingTable;
use switchboard_sim::Script;

/// Acme's support hotline (examples/acme).
pub const HOTLINE: &str = "+14155550100";
/// The caller of most scenarios.
pub const CALLER: &str = "+15105550123";

/// The workspace's root directory.
pub fn workspace() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The support hotline's compiled table.
pub fn support_hotline_table() -> RoutingTable {
    RoutingTable::from_json(include_str!(
        "../../webhook-server/tests/fixtures/support-hotline.json"
    ))
    .expect("the fixture table parses")
}

/// Monday 2026-11-23, 10:00 in New York: dana is on call for the database team.
pub fn monday_10am() -> Timestamp {
    "2026-11-23T15:00:00Z".parse().expect("an instant")
}

/// A call to the hotline choosing the database team (2), saying what is wrong.
pub fn database_call() -> Script {
    let mut s = Script::call(CALLER, HOTLINE).press(&["2"]);
    s.speech = Some("the primary database is down".into());
    s
}
