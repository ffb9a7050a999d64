//! ScheduleOverrides against the API server verifier: an override in the cluster reaches the
//! hotline's routing table (a wrong one changes nothing), and the override's own reconcile
//! reports its state and deletes it once ended when `switchboard override` made it.

use super::*;
use switchboard_crds::schedule_override::DELETE_AFTER_END_LABEL;
use switchboard_crds::{ScheduleOverride, ScheduleOverrideSpec};
use switchboard_operator::controller::schedule_override;

const OVERRIDES: &str = "/apis/switchboard.dev/v1alpha1/namespaces/oncall/scheduleoverrides";

fn take_shift(name: &str, person: &str, start: &str, end: &str) -> ScheduleOverride {
    let mut o = ScheduleOverride::new(
        name,
        ScheduleOverrideSpec {
            schedule_ref: switchboard_crds::LocalRef {
                name: "database".into(),
            },
            person: person.into(),
            start: start.into(),
            end: end.into(),
            reason: Some("covering".into()),
        },
    );
    o.metadata.namespace = Some("oncall".into());
    o.metadata.generation = Some(1);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_in_the_cluster_reaches_the_table_and_a_wrong_one_changes_nothing() {
    let (pn, s) = published_hotline().await;
    let before = hotline_revision(&s.redis.url).await.unwrap();
    let reconcile_with = |overrides: Vec<ScheduleOverride>| {
        let (store, mut writer) = reflector::store();
        fill(&mut writer, overrides);
        let ctx = with_stores(
            &s.ctx,
            Stores {
                overrides: store,
                ..s.ctx.stores.clone()
            },
        );
        let pn = pn.clone();
        async move { phone_number::reconcile(Arc::new(pn), ctx).await.unwrap() }
    };

    // An unknown person: reported on the override by its own controller; the table is as it was.
    reconcile_with(vec![take_shift(
        "typo",
        "elli",
        "2030-01-01T00:00:00Z",
        "2030-01-02T00:00:00Z",
    )])
    .await;
    assert_eq!(hotline_revision(&s.redis.url).await.unwrap(), before);

    reconcile_with(vec![take_shift(
        "eli-tonight",
        "eli",
        "2030-01-01T18:00:00Z",
        "2030-01-02T09:00:00Z",
    )])
    .await;
    let after = hotline_revision(&s.redis.url).await.unwrap();
    assert_ne!(after, before, "the override is a new table");
    let table: switchboard_routing::RoutingTable =
        serde_json::from_str(&hotline_table(&s.redis.url).await.unwrap()).unwrap();
    let at: jiff::Timestamp = "2030-01-01T20:00:00Z".parse().unwrap();
    let who = table.schedules["database"].on_call_at(at).unwrap();
    assert_eq!(who.person.as_deref(), Some("eli"), "{who:?}");
    assert_eq!(who.source.label(), "override");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_reports_its_state_and_is_deleted_once_ended_when_it_asked_to_be() {
    let mut ended = take_shift(
        "eli-last-night",
        "eli",
        "2026-01-01T18:00:00Z",
        "2026-01-02T09:00:00Z",
    );
    ended
        .metadata
        .labels
        .get_or_insert_default()
        .insert(DELETE_AFTER_END_LABEL.into(), "true".into());
    let active = take_shift(
        "eli-now",
        "eli",
        "2026-01-01T00:00:00Z",
        "2099-01-01T00:00:00Z",
    );
    let steps = vec![
        // The active one: its status says so.
        expect(
            format!("PATCH {OVERRIDES}/eli-now/status"),
            (200, serde_json::to_value(&active).unwrap()),
        )
        .has("\"state\":\"Active\""),
        // The ended one: deleted, and the Schedule's events say so.
        expect(
            format!("DELETE {OVERRIDES}/eli-last-night"),
            (
                200,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
            ),
        ),
        event("OverrideEnded").has("eli-last-night"),
    ];
    let s = setup_with(false, scenario(steps)).await;
    let action = schedule_override::reconcile(Arc::new(active), s.ctx.clone())
        .await
        .unwrap();
    // Requeued at its end, capped at an hour.
    assert_eq!(
        action,
        Action::requeue(std::time::Duration::from_secs(3600))
    );
    let action = schedule_override::reconcile(Arc::new(ended), s.ctx.clone())
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
    assert_followed(&s.seen, 3);
}

#[test]
fn an_override_is_pending_then_active_then_ended_and_invalid_with_the_reason() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let loaded = load_files(
        &manifest_files(&[root], false).unwrap(),
        &SchemaChecker::new(),
    )
    .unwrap();
    let schedules: Vec<Arc<switchboard_crds::Schedule>> = loaded
        .objects
        .schedules
        .iter()
        .map(|s| Arc::new(s.object.clone()))
        .collect();
    let o = take_shift("x", "eli", "2030-01-01T18:00:00Z", "2030-01-02T09:00:00Z");
    let state = |o: &ScheduleOverride, at: &str| {
        let d = schedule_override::desired(
            o,
            &schedules,
            &[],
            at.parse().unwrap(),
            &Default::default(),
        );
        let ready = d
            .status
            .common
            .conditions
            .iter()
            .find(|c| c.type_ == "ReferencesResolved")
            .unwrap()
            .clone();
        (
            d.status.state.unwrap(),
            d.wait.map(|w| w.as_secs()),
            ready.message,
            d.delete,
        )
    };
    let (s, wait, _, _) = state(&o, "2030-01-01T17:00:00Z");
    assert_eq!((s.as_str(), wait), ("Pending", Some(3600)));
    let (s, wait, msg, _) = state(&o, "2030-01-01T18:00:00Z");
    assert_eq!((s.as_str(), wait), ("Active", Some(15 * 3600)));
    assert!(msg.contains("eli is on call on Schedule database"), "{msg}");
    let (s, wait, _, delete) = state(&o, "2030-01-02T09:00:00Z");
    assert_eq!(
        (s.as_str(), wait, delete),
        ("Ended", None, false),
        "no label: kept"
    );

    let typo = take_shift("y", "elli", "2030-01-01T18:00:00Z", "2030-01-02T09:00:00Z");
    let (s, _, msg, _) = state(&typo, "2030-01-01T17:00:00Z");
    assert_eq!(s, "Invalid");
    assert!(
        msg.contains("spec.person") && msg.contains("did you mean \"eli\""),
        "{msg}"
    );
    let mut elsewhere = o.clone();
    elsewhere.spec.schedule_ref.name = "databse".into();
    let (s, _, msg, _) = state(&elsewhere, "2030-01-01T17:00:00Z");
    assert_eq!(s, "Invalid");
    assert!(msg.contains("did you mean \"database\""), "{msg}");
}
