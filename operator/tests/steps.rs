//! The controllers' pure steps on the YAML in `examples/`, and start-up garbage collection
//! against a real Redis.

use std::path::PathBuf;
use std::sync::Arc;

use kube::ResourceExt;
use switchboard_operator::SchemaChecker;
use switchboard_operator::controller::{deps, schedule, validity};
use switchboard_operator::manifests::{Objects, load_files, manifest_files};

fn load(paths: &[&str]) -> Objects {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let paths: Vec<PathBuf> = paths.iter().map(|p| root.join(p)).collect();
    load_files(
        &manifest_files(&paths, false).unwrap(),
        &SchemaChecker::new(),
    )
    .unwrap()
    .objects
}

#[test]
fn schedule_status_shows_who_is_on_call_and_when_it_changes() {
    let o = load(&["examples/schedules.yaml"]);
    let db = o
        .schedules
        .iter()
        .find(|s| s.object.name_any() == "database")
        .unwrap();
    // Monday 2026-11-23 10:00 in New York.
    let now: jiff::Timestamp = "2026-11-23T15:00:00Z".parse().unwrap();
    let (status, wait) = schedule::desired_status(&db.object, &[], &[], now, &Default::default());
    assert_eq!(status.on_call.as_deref(), Some("dana"));
    assert_eq!(
        status.on_call_source.as_deref(),
        Some("layer/business-hours")
    );
    let next = status.next_handoff.clone().unwrap();
    let at: jiff::Timestamp = next.at.parse().unwrap();
    // Requeued exactly at that handoff.
    assert_eq!(
        wait.unwrap().as_secs() as i64,
        at.duration_since(now).as_secs()
    );
    let ready = &status.common.conditions[0];
    assert_eq!(
        (ready.type_.as_str(), ready.status.as_str()),
        ("Ready", "True")
    );
}

#[test]
fn an_invalid_schedule_reports_the_field() {
    let o = load(&["examples/invalid/unknown-time-zone.yaml"]);
    let s = &o.schedules[0].object;
    let (status, wait) =
        schedule::desired_status(s, &[], &[], jiff::Timestamp::now(), &Default::default());
    assert!(wait.is_none());
    let refs = &status.common.conditions[1];
    assert_eq!(refs.status, "False");
    assert!(refs.message.contains("spec.timeZone"), "{}", refs.message);
}

#[test]
fn a_chain_that_names_a_missing_schedule_is_not_ready() {
    let o = load(&[
        "examples/schedules.yaml",
        "examples/chains.yaml",
        "examples/invalid/unknown-schedule.yaml",
    ]);
    let schedules: Vec<_> = o
        .schedules
        .iter()
        .map(|s| Arc::new(s.object.clone()))
        .collect();
    for c in &o.chains {
        let check = validity::check(&deps::chain_closure(&c.object, &schedules));
        if c.object.name_any() == "storage" {
            assert!(!check.ok);
            assert!(
                check
                    .message
                    .contains("spec.steps[0].targets[0].onCall: no Schedule named \"storage\""),
                "{check:?}"
            );
        } else {
            assert!(check.ok, "{}: {check:?}", c.object.name_any());
        }
    }
}

#[test]
fn the_example_policies_are_valid_with_what_they_use() {
    let o = load(&["examples/"]);
    let chains: Vec<_> = o
        .chains
        .iter()
        .map(|s| Arc::new(s.object.clone()))
        .collect();
    let schedules: Vec<_> = o
        .schedules
        .iter()
        .map(|s| Arc::new(s.object.clone()))
        .collect();
    for p in &o.policies {
        let objects = deps::policy_closure(&p.object, &chains, &schedules);
        assert!(validity::check(&objects).ok, "{}", p.object.name_any());
    }
}

#[tokio::test]
async fn start_up_removes_tables_no_phone_number_owns() {
    let redis = switchboard_testkit::RedisServer::start();
    let url = redis.url.clone();
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    let o = load(&["examples/"]);
    let compiled = switchboard_operator::compile(&o, &Default::default());
    let mut orphan = compiled.tables[0].clone();
    orphan.number = "+15550001111".into();
    let orphan = orphan.seal();
    for t in compiled.tables.iter().chain([&orphan]) {
        switchboard_routing::publish::publish(&mut conn, t)
            .await
            .unwrap();
    }
    let numbers: Vec<_> = o.phone_numbers.iter().map(|s| s.object.clone()).collect();
    let removed = switchboard_operator::run::collect_garbage(&numbers, &mut conn)
        .await
        .unwrap();
    assert_eq!(removed, ["+15550001111"]);
    assert_eq!(
        switchboard_routing::publish::published(&mut conn)
            .await
            .unwrap(),
        ["+14155550100"]
    );
}

#[test]
fn a_schedule_with_nobody_overnight_is_ready_but_not_covered_and_says_when_first() {
    let o = load(&["examples/schedules.yaml"]);
    let mut db = o
        .schedules
        .iter()
        .find(|s| s.object.name_any() == "database")
        .unwrap()
        .object
        .clone();
    let now: jiff::Timestamp = "2027-01-04T15:00:00Z".parse().unwrap();
    let covered = |s: &switchboard_crds::ScheduleStatus| {
        s.common
            .conditions
            .iter()
            .find(|c| c.type_ == "Covered")
            .cloned()
            .unwrap()
    };
    let (status, _) = schedule::desired_status(&db, &[], &[], now, &Default::default());
    assert_eq!(covered(&status).status, "True");
    assert_eq!(status.next_gap, None);

    // The around-the-clock layer limited to 07:00-22:00 New York time.
    db.spec.layers[0].restrictions = vec![switchboard_crds::schedule::Restriction {
        days: vec![],
        start: "07:00".into(),
        end: "22:00".into(),
    }];
    let (status, _) = schedule::desired_status(&db, &[], &[], now, &Default::default());
    let ready = &status.common.conditions[0];
    assert_eq!(
        (ready.type_.as_str(), ready.status.as_str()),
        ("Ready", "True")
    );
    let c = covered(&status);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "NobodyToRing")
    );
    assert!(
        c.message.starts_with("nobody is on call from 2027-01-04T22:00:00-05:00 to 2027-01-05T07:00:00-05:00; 13 more in the next 14 days"),
        "{}",
        c.message
    );
    assert_eq!(status.next_gap.unwrap().start, "2027-01-04T22:00:00-05:00");
}

#[test]
fn a_chain_whose_first_step_rings_only_an_uncovered_on_call_has_the_same_gaps() {
    let mut o = load(&["examples/schedules.yaml", "examples/chains.yaml"]);
    let db = o
        .schedules
        .iter_mut()
        .find(|s| s.object.name_any() == "database")
        .unwrap();
    db.object.spec.layers[0].restrictions = vec![switchboard_crds::schedule::Restriction {
        days: vec![],
        start: "07:00".into(),
        end: "22:00".into(),
    }];
    let compiled = switchboard_operator::compile(&o, &Default::default());
    let chain = |name: &str| {
        o.chains
            .iter()
            .find(|c| c.object.name_any() == name)
            .unwrap()
            .object
            .clone()
    };
    let now: jiff::Timestamp = "2027-01-04T15:00:00Z".parse().unwrap();
    let schedule = |n: &str| {
        compiled
            .schedules
            .get(&("oncall".to_string(), n.to_string()))
    };
    use switchboard_operator::controller::coverage;
    let (gaps, zone) = coverage::first_step_gaps(&chain("database"), schedule, now).unwrap();
    assert_eq!(zone, "America/New_York");
    assert_eq!(gaps.len(), 14, "one a night for two weeks: {gaps:?}");
    assert_eq!(gaps[0].start, "2027-01-05T03:00:00Z".parse().unwrap());
    // The platform chain's first step rings a covered schedule.
    let (gaps, _) = coverage::first_step_gaps(&chain("platform"), schedule, now).unwrap();
    assert!(gaps.is_empty(), "{gaps:?}");
}
