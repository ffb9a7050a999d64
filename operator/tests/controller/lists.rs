//! Shared HolidayCalendars and CallerLists against the API server verifier: a policy naming a
//! calendar that does not exist keeps the last good table; once it exists, its holidays are in
//! the hotline's table, and a change to it maps to the numbers of the policies that name it.

use super::*;
use kube::runtime::reflector::ObjectRef;
use switchboard_crds::IncomingCallPolicy;
use switchboard_crds::common::LocalRef;
use switchboard_crds::hours::{Holiday, OpeningHours};
use switchboard_crds::lists::{HolidayCalendar, HolidayCalendarSpec};

fn calendar() -> HolidayCalendar {
    let mut c = HolidayCalendar::new(
        "us-holidays",
        HolidayCalendarSpec {
            holidays: vec![Holiday {
                date: "2026-12-25".into(),
                name: "Christmas Day".into(),
            }],
        },
    );
    c.metadata.namespace = Some("oncall".into());
    c
}

fn naming_calendar(s: &Setup) -> Vec<IncomingCallPolicy> {
    edited_policies(s, |p| {
        p.spec.opening_hours = Some(OpeningHours {
            time_zone: "America/New_York".into(),
            weekly: serde_json::from_value(json!([{"start": "00:00", "end": "00:00"}])).unwrap(),
            holidays: vec![],
            calendar_refs: vec![LocalRef {
                name: "us-holidays".into(),
            }],
            when_closed: Default::default(),
        });
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_calendar_reaches_the_table_once_it_exists() {
    let (pn, s) = published_hotline().await;
    let before = hotline_revision(&s.redis.url).await.unwrap();
    let policies = naming_calendar(&s);
    let reconcile_with = |calendars: Vec<HolidayCalendar>| {
        let (policy_store, mut w) = reflector::store();
        fill(&mut w, policies.clone());
        let (calendar_store, mut w) = reflector::store();
        fill(&mut w, calendars);
        let ctx = with_stores(
            &s.ctx,
            Stores {
                policies: policy_store,
                calendars: calendar_store,
                ..s.ctx.stores.clone()
            },
        );
        let pn = pn.clone();
        async move { phone_number::reconcile(Arc::new(pn), ctx).await.unwrap() }
    };

    // No such calendar yet: the policy is invalid and the last good table stays.
    reconcile_with(vec![]).await;
    assert_eq!(hotline_revision(&s.redis.url).await.unwrap(), before);

    reconcile_with(vec![calendar()]).await;
    assert_ne!(hotline_revision(&s.redis.url).await.unwrap(), before);
    let table: switchboard_routing::RoutingTable =
        serde_json::from_str(&hotline_table(&s.redis.url).await.unwrap()).unwrap();
    let hours = table.policy.opening_hours.expect("opening hours");
    assert_eq!(hours.holidays.len(), 1);
    assert_eq!(hours.holidays[0].name, "Christmas Day");

    // An edit of the calendar maps to the numbers of the policies that name it.
    let numbers = s.ctx.stores.numbers.state();
    let policies: Vec<_> = policies.into_iter().map(Arc::new).collect();
    let users = deps::list_users("oncall", "us-holidays", true, &numbers, &policies);
    let expected = deps::policy_users("oncall", &pn.spec.policy_ref.name, &numbers);
    assert!(users.contains(&ObjectRef::from_obj(&pn)), "{users:?}");
    assert!(expected.iter().all(|e| users.contains(e)));
    assert!(deps::list_users("oncall", "other", true, &numbers, &policies).is_empty());
    assert!(deps::list_users("oncall", "us-holidays", false, &numbers, &policies).is_empty());
}
