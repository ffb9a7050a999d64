//! Delivery: failing receivers, restarts, texts, two dispatchers and Secrets a policy may not send.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_every_stage_once_and_in_order_and_retried_webhooks_send_nothing_twice()
 {
    let h = Harness::start(None).await;
    h.r.slack.fail_next(3, 503);
    h.r.pagerduty.fail_next(2, 429);
    let _d = h.dispatch().await;
    let mut sim = h.simulator();
    // Every webhook delivered twice, as Twilio may retry them.
    sim.deliver_twice = true;
    let t = sim
        .run(database_call().responder(DANA, Behaviour::Accept { after: 4 }))
        .await
        .unwrap();
    assert_eq!(t.connected.as_deref(), Some(DANA), "{}", t.render());
    h.drained().await;

    let slack = h.r.slack.received();
    assert_eq!(slack.len(), 3, "{slack:?}");
    assert!(events(&slack, "text")[0].starts_with(":rotating_light:"));
    assert!(events(&slack, "text")[1].starts_with(":white_check_mark:"));
    assert!(events(&slack, "text")[2].starts_with(":checkered_flag:"));
    assert_eq!(h.r.slack.refused().len(), 3);
    assert_eq!(
        pd_actions(&h.r.pagerduty.received()),
        ["trigger", "trigger", "acknowledge", "resolve"]
    );
    assert_eq!(h.r.webhook.received().len(), 3);
    let m = h.metrics.encode();
    assert_counted(&m, "Slack", "oncall-slack", "failed", 3);
    assert_counted(&m, "Slack", "oncall-slack", "delivered", 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_queued_while_no_dispatcher_runs_or_one_is_killed_are_delivered_after_restart() {
    let h = Harness::start(None).await;
    // No dispatcher yet: the call's alerts wait in Redis.
    let t = h
        .simulator()
        .run(database_call().responder(DANA, Behaviour::Accept { after: 4 }))
        .await
        .unwrap();
    assert_eq!(t.connected.as_deref(), Some(DANA));
    assert!(h.r.webhook.received().is_empty());
    // A dispatcher starts against a receiver that refuses everything, and is killed.
    h.r.webhook.fail_next(1000, 500);
    let d = h.dispatch().await;
    for _ in 0..200 {
        if h.r.webhook.refused().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    d.abort();
    let _ = d.await;
    assert!(h.r.webhook.refused().len() >= 2);
    assert!(h.r.webhook.received().is_empty());
    // The receiver heals; a new dispatcher takes over once the dead one's lease is over.
    h.r.webhook.fail_next(0, 500);
    let _d = h.dispatch().await;
    let got = h.r.webhook.wait_for(3, WAIT).await;
    h.drained().await;
    assert_eq!(
        events(&got, "event"),
        ["triggered", "acknowledged", "resolved"]
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(h.r.webhook.received().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_is_routed_by_keyword_alerted_forwarded_through_twilios_contract_and_answered() {
    let (fake, world) = twilio::start().await;
    world.lock().unwrap().own(HOTLINE);
    let prism = Prism::proxy(&fake);
    let h = Harness::start(Some(prism.url.clone())).await;
    let _d = h.dispatch().await;

    let reply = text(
        &h,
        "SM00000000000000000000000000000001",
        CALLER,
        "Database is down, orders fail",
    )
    .await;
    assert!(
        reply.contains("<Message>Thanks, the on-call engineer has been notified.</Message>"),
        "{reply}"
    );
    // A retried delivery of the same text gets the same reply and sends nothing new.
    let again = text(
        &h,
        "SM00000000000000000000000000000001",
        CALLER,
        "Database is down, orders fail",
    )
    .await;
    assert_eq!(again, reply);

    let got = h.r.webhook.wait_for(1, WAIT).await;
    h.drained().await;
    let alert = &got[0].json()["alert"];
    assert_eq!(alert["kind"], "text");
    assert_eq!(alert["text"], "Database is down, orders fail");
    assert_eq!(alert["menuChoice"], "2 the database team");
    assert_eq!(alert["caller"], CALLER);
    let g = h.r.grafana.wait_for(1, WAIT).await;
    assert_eq!(g[0].json()["message"], "Database is down, orders fail");
    assert_eq!(g[0].json()["target"], "the database team");

    // Forwarded once to the database team's on-call (dana, Monday 10:00), through Prism.
    let sent = world.lock().unwrap().messages.clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["To"], DANA);
    assert_eq!(sent[0]["From"], HOTLINE);
    assert_eq!(
        sent[0]["Body"],
        format!(
            "[Switchboard {HOTLINE}] Text from {CALLER} (2 the database team): Database is down, orders fail"
        )
    );

    // STOP and HELP are Twilio's to answer: no reply, no alert, no forward.
    for (i, kw) in ["STOP", "help"].iter().enumerate() {
        let reply = text(
            &h,
            &format!("SM0000000000000000000000000000010{i}"),
            CALLER,
            kw,
        )
        .await;
        assert!(!reply.contains("<Message>"), "{reply}");
    }
    // A blocked sender gets nothing either.
    let reply = text(
        &h,
        "SM00000000000000000000000000000200",
        "+19005550100",
        "hello",
    )
    .await;
    assert!(!reply.contains("<Message>"), "{reply}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    h.drained().await;
    assert_eq!(h.r.webhook.received().len(), 1);
    assert_eq!(world.lock().unwrap().messages.len(), 1);

    // A responder who opted out (Twilio error 21610) is not retried forever.
    world.lock().unwrap().opted_out.push(DANA.into());
    text(
        &h,
        "SM00000000000000000000000000000300",
        CALLER,
        "database again",
    )
    .await;
    h.drained().await;
    let m = h.metrics.encode();
    assert_counted(&m, "TwilioSms", "sms-forward", "rejected", 1);
    assert_counted(&m, "TwilioSms", "sms-forward", "delivered", 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_twilio_off_a_text_is_alerted_but_never_forwarded_through_twilio() {
    let (fake, world) = twilio::start().await;
    world.lock().unwrap().own(HOTLINE);
    let prism = Prism::proxy(&fake);
    let h = Harness::start(Some(prism.url.clone())).await;
    let _d = h.dispatch_with(false).await;
    let reply = text(
        &h,
        "SM00000000000000000000000000000301",
        CALLER,
        "Database is down, orders fail",
    )
    .await;
    assert!(reply.contains("<Message>"), "{reply}");
    let got = h.r.webhook.wait_for(1, WAIT).await;
    assert_eq!(got[0].json()["alert"]["kind"], "text");
    h.drained().await;
    assert!(world.lock().unwrap().messages.is_empty());
    let m = h.metrics.encode();
    assert_counted(&m, "TwilioSms", "sms-forward", "skipped", 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dispatchers_send_each_stage_of_100_calls_once() {
    // The chart runs two operator replicas, each with a dispatcher. A call's newer snapshot
    // makes its alert due again while the other dispatcher may still be sending it.
    let h = Harness::start(None).await;
    let _a = h.dispatch().await;
    let _b = h.dispatch().await;
    for i in 0..100 {
        let script = if i % 2 == 0 {
            database_call().responder(DBA_MANAGER, Behaviour::Accept { after: 6 })
        } else {
            database_call()
        };
        h.simulator().run(script).await.unwrap();
    }
    h.drained().await;
    // Answered calls: triggered, acknowledged, resolved; unanswered: triggered, resolved.
    let expected = 50 * 3 + 50 * 2;
    h.r.webhook.wait_for(expected, WAIT).await;
    // Any duplicate would come within a lease retry.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = h.r.webhook.received();
    let mut deliveries: Vec<String> = got
        .iter()
        .map(|r| r.headers["x-switchboard-delivery"].clone())
        .collect();
    let total = deliveries.len();
    deliveries.sort();
    deliveries.dedup();
    println!(
        "two dispatchers, 100 calls: {total} webhook deliveries, {} distinct, {} duplicates",
        deliveries.len(),
        total - deliveries.len()
    );
    assert_eq!(total, deliveries.len(), "duplicate deliveries");
    assert_eq!(total, expected);
    let slack = h.r.slack.received().len();
    assert_eq!(slack, expected, "Slack messages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_cannot_have_the_twilio_credentials_or_an_unlabelled_secret_sent_anywhere() {
    // Someone who may edit the policy but not read Secrets points a PagerDuty target (whose
    // key travels in the body) at their own URL with the Twilio credentials Secret, and a
    // webhook target at a Secret nobody labelled for notifications.
    let h = Harness::start(None).await;
    let dir = h._manifests.path();
    std::fs::write(
        dir.join("other.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: database-password, namespace: oncall}\nstringData:\n  password: hunter2-not-for-you\n",
    )
    .unwrap();
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    h.secrets.set(Snapshot::of(
        &load_files(&files, &SchemaChecker::new()).unwrap(),
    ));
    // A store of its own: reading the table through the server's would leave the old table
    // in the server's cache, and the first call would be decided on it before being decided
    // again on this one (`first_webhook`), its alert possibly sent to the old targets meanwhile.
    let store = store_on(&h.redis.url().expect("a Redis"));
    let mut table = (*store.table(HOTLINE).await.unwrap().unwrap()).clone();
    let mut stolen = target("pagerduty", TargetKind::PagerDuty);
    stolen.url = Some(format!("{}/v2/enqueue", h.r.pagerduty.url));
    stolen.secret = Some(SecretKey {
        name: "twilio-credentials".into(),
        key: "authToken".into(),
    });
    let mut unlabelled = target("incident-bot", TargetKind::Webhook);
    unlabelled.url = Some(format!("{}/hooks/switchboard", h.r.webhook.url));
    unlabelled.secret = Some(SecretKey {
        name: "database-password".into(),
        key: "password".into(),
    });
    table.policy.notifications = vec![stolen, unlabelled];
    table.revision = format!("{}-foreign-secrets", table.revision);
    store.put_table(&table).await.unwrap();

    let _d = h.dispatch().await;
    for _ in 0..5 {
        h.simulator().run(database_call()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let m = h.metrics.encode();
    let delivered = h.r.pagerduty.received().len() + h.r.webhook.received().len();
    let leaked =
        h.r.pagerduty
            .received()
            .iter()
            .chain(h.r.webhook.received().iter())
            .filter(|r| {
                let body = String::from_utf8_lossy(&r.body);
                body.contains(TOKEN) || body.contains("hunter2")
            })
            .count();
    println!("5 calls: {delivered} deliveries to the two targets, {leaked} carrying a secret");
    assert_eq!(delivered, 0);
    assert!(
        m.lines().any(|l| l.contains("target=\"pagerduty\"")
            && l.contains("result=\"failed\"")
            && !l.ends_with(" 0")),
        "{m}"
    );
}
