//! Calls that survive Redis stopping or restarting, two replicas, retried webhooks and table changes.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_in_the_middle_of_a_call_gives_the_fallback_not_an_error() {
    let c = Cluster::start(1, monday_10am()).await;
    let mut sim = c.simulator();
    // Stop Redis just before Twilio reports the first dial's result.
    let stop = c.redis.stopper();
    sim.before_request = Some(Box::new(move |path: &str| {
        if path.starts_with("/twilio/voice/dial") {
            stop();
        }
    }));
    let t = sim.run(database_call()).await.unwrap();
    assert!(
        t.application_errors.is_empty(),
        "{:?}",
        t.application_errors
    );
    assert!(
        t.heard.iter().any(|h| h.contains("having trouble")),
        "{}",
        t.render()
    );
    assert_eq!(t.dials.last().unwrap(), &[FALLBACK_NUMBER.to_string()]);
    let metrics = c.replicas[0].metrics().encode();
    assert!(
        metrics.contains("switchboard_webhook_fallbacks_total{endpoint=\"dial\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_serve_alternate_webhooks_of_one_call() {
    let c = Cluster::start(2, monday_10am()).await;
    let script = database_call()
        .responder(DANA, Behaviour::Voicemail { after: 3 })
        .responder(DBA_MANAGER, Behaviour::Accept { after: 5 });
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(call.outcome, Some(Outcome::Answered));
    assert_eq!(t.connected.as_deref(), Some(DBA_MANAGER));
    for r in &c.replicas {
        let m = r.metrics().encode();
        assert!(
            m.contains("switchboard_webhook_webhook_duration_seconds_count"),
            "{m}"
        );
    }
    let served = |i: usize, endpoint: &str| {
        c.replicas[i].metrics().encode().contains(&format!(
            "webhook_duration_seconds_count{{endpoint=\"{endpoint}\"}}"
        ))
    };
    assert!(served(0, "incoming") && served(1, "menu"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_webhooks_get_the_same_answer_and_ring_nobody_twice() {
    let c = Cluster::start(1, monday_10am()).await;
    let script = || {
        database_call()
            .responder(DANA, Behaviour::Voicemail { after: 3 })
            .responder(DBA_MANAGER, Behaviour::Accept { after: 5 })
    };
    let once = c.simulator().run(script()).await.unwrap();
    let mut sim = c.simulator();
    sim.deliver_twice = true;
    let twice = sim.run(script()).await.unwrap();
    assert!(
        twice.replay_mismatches.is_empty(),
        "{:?}",
        twice.replay_mismatches
    );
    assert_eq!(twice.dials, once.dials);
    let a = finished(&c, &once).await;
    let b = finished(&c, &twice).await;
    assert_eq!(b.rung.len(), a.rung.len());
    assert_eq!(b.events.len(), a.events.len());
    assert_eq!(b.outcome, Some(Outcome::Answered));
    let m = c.replicas[0].metrics().encode();
    assert!(
        m.contains("switchboard_webhook_replays_total{endpoint=\"dial\"}"),
        "{m}"
    );
    assert!(
        m.contains("switchboard_webhook_replays_total{endpoint=\"incoming\"}"),
        "{m}"
    );
    // A new call's first commit is a draft renamed into place: the retried first webhook's
    // draft was refused and deleted, and the call keeps the retention TTL the draft had.
    let mut conn = redis::Client::open(c.redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let drafts: Vec<String> = redis::cmd("KEYS")
        .arg(format!(
            "{}:call:*:draft:*",
            switchboard_routing::keys::PREFIX
        ))
        .query(&mut conn)
        .unwrap();
    assert!(drafts.is_empty(), "{drafts:?}");
    let ttl: i64 = redis::cmd("TTL")
        .arg(switchboard_routing::keys::call(&twice.call_sid))
        .query(&mut conn)
        .unwrap();
    assert!(ttl > 6 * 24 * 3600, "ttl {ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_in_maintenance_says_its_message_and_hangs_up() {
    let mut t = table();
    t.policy.mode = switchboard_routing::table::Mode::Maintenance {
        message: "The hotline is down for maintenance until 06:00 UTC.".into(),
    };
    let c = Cluster::with_table(1, monday_10am(), t.seal()).await;
    let t = c.simulator().run(database_call()).await.unwrap();
    let call = finished(&c, &t).await;
    assert_eq!(
        t.heard,
        ["The hotline is down for maintenance until 06:00 UTC."]
    );
    assert!(t.dials.is_empty());
    assert_eq!(call.outcome, Some(Outcome::Unavailable));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_conversation_is_announced_and_its_recording_kept() {
    let mut t = table();
    t.policy.recording_announcement = Some("This call is recorded.".into());
    let c = Cluster::with_table(1, monday_10am(), t.seal()).await;
    let script = database_call().responder(DANA, Behaviour::Accept { after: 4 });
    let t = c.simulator().run(script).await.unwrap();
    let call = finished(&c, &t).await;
    let announced = t.heard.iter().position(|h| h == "This call is recorded.");
    let first_ring = t
        .lines
        .iter()
        .position(|l| l.text.starts_with("Twilio rings"))
        .unwrap();
    let said_at = t
        .lines
        .iter()
        .position(|l| l.text.contains("This call is recorded."))
        .unwrap();
    assert!(
        announced.is_some() && said_at < first_ring,
        "{}",
        t.render()
    );
    assert_eq!(call.outcome, Some(Outcome::Answered));
    assert!(
        call.conversation_recording_url
            .as_deref()
            .is_some_and(|u| u.contains("/Recordings/RE")),
        "{call:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_that_empties_the_script_cache_does_not_break_a_call() {
    let dial: fn(&str) -> bool = |path| path.starts_with("/twilio/voice/dial");
    // A call's first webhook commits by its own path (one round trip) once the table is cached.
    let first: fn(&str) -> bool = |path| path == "/twilio/voice";
    for webhook in [dial, first] {
        script_cache_emptied_before(webhook).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_after_the_table_changed_is_decided_on_the_new_table() {
    // A first call makes the replica cache the table; its next first webhook is decided on
    // that cache and committed with a read of the current revision in the same round trip.
    let c = Cluster::start(1, monday_10am()).await;
    let first = c.simulator().run(database_call()).await.unwrap();
    assert!(finished(&c, &first).await.alert().is_some());
    assert!(stored_alert(&c, &first.call_sid).is_some());

    // The operator publishes a new revision: maintenance, and no notification targets.
    let mut t = table();
    t.policy.mode = switchboard_routing::table::Mode::Maintenance {
        message: "Back at 06:00 UTC.".into(),
    };
    t.policy.notifications.clear();
    let t = t.seal();
    assert_ne!(t.revision, table().revision);
    c.store().put_table(&t).await.unwrap();

    let mut sim = c.simulator();
    sim.deliver_twice = true;
    let second = sim.run(database_call()).await.unwrap();
    let call = finished(&c, &second).await;
    assert_eq!(second.heard, ["Back at 06:00 UTC."], "{}", second.render());
    assert!(
        second.replay_mismatches.is_empty(),
        "{:?}",
        second.replay_mismatches
    );
    assert_eq!(call.outcome, Some(Outcome::Unavailable));
    assert_eq!(call.revision, t.revision);
    // The decision made on the stale table left no alert behind (the new table notifies
    // nobody).
    assert_eq!(stored_alert(&c, &second.call_sid), None);

    // The number unpublished: not in service, though the replica still holds the maintenance
    // table, and the events of the decision made on that table are gone.
    c.store().remove_table(HOTLINE).await.unwrap();
    let third = c.simulator().run(database_call()).await.unwrap();
    let call = finished(&c, &third).await;
    assert_eq!(third.heard, [switchboard_webhook::flow::NOT_IN_SERVICE]);
    assert_eq!(call.outcome, Some(Outcome::UnknownNumber));
    let events: Vec<&str> = call.events.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(events[0], format!("no routing table for {HOTLINE}"));
    assert!(
        !events.iter().any(|e| e.contains("not active")),
        "{events:?}"
    );
    // The replica forgot the unpublished table: later calls are not decided on it first.
    assert!(c.replicas[0].store().cached_table(HOTLINE).is_none());
}
