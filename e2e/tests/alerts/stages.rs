//! Each alert stage of answered, abandoned and voicemail calls at every target (Redis, Cluster, memory).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_call_is_triggered_acknowledged_and_resolved_at_every_target() {
    let h = Harness::start(None).await;
    let sid = h.play_answered_call().await;
    // Started once the call is over, so that the first delivery carries what the caller chose
    // and said: a dispatcher already running may send the trigger before the menu choice (the
    // alert is due from the call's first webhook), and then it rightly lacks them.
    let _d = h.dispatch().await;

    // Webhook: three signed deliveries, in lifecycle order.
    let got = h.r.webhook.wait_for(3, WAIT).await;
    assert_eq!(
        events(&got, "event"),
        ["triggered", "acknowledged", "resolved"]
    );
    for r in &got {
        assert_eq!(r.path, "/hooks/switchboard");
        let ts: i64 = r.headers["x-switchboard-timestamp"].parse().unwrap();
        let body = String::from_utf8(r.body.clone()).unwrap();
        assert_eq!(
            r.headers["x-switchboard-signature"],
            format!("sha256={}", webhook_signature(HMAC_KEY, ts, &body))
        );
        assert_eq!(
            r.headers["x-switchboard-delivery"],
            format!("{sid}:{}", r.json()["event"].as_str().unwrap())
        );
        assert_eq!(r.headers["content-type"], "application/json");
    }
    let first = got[0].json();
    assert_eq!(first["version"], "v1");
    assert_eq!(first["alert"]["id"], sid.as_str());
    assert_eq!(first["alert"]["kind"], "call");
    assert_eq!(first["alert"]["hotline"], HOTLINE);
    assert_eq!(first["alert"]["caller"], CALLER);
    assert_eq!(first["alert"]["policy"], "oncall/support");
    assert_eq!(first["alert"]["menuChoice"], "2 the database team");
    assert_eq!(
        first["alert"]["description"],
        "the primary database is down"
    );
    assert!(
        first["alert"].get("route").is_none(),
        "internal routing leaked: {first}"
    );
    assert_eq!(got[1].json()["alert"]["acceptedBy"], "Hana Ito");
    let last = got[2].json();
    assert_eq!(last["alert"]["outcome"], "answered");
    assert_eq!(last["alert"]["talkSeconds"], 60);

    // Slack: one message per stage.
    let got = h.r.slack.wait_for(3, WAIT).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].path, "/services/T0/B0/x");
    let texts = events(&got, "text");
    assert_eq!(
        texts[0],
        format!(":rotating_light: Hotline call from {CALLER} to {HOTLINE}")
    );
    assert_eq!(
        texts[1],
        format!(":white_check_mark: Hana Ito accepted the call from {CALLER}")
    );
    assert_eq!(
        texts[2],
        format!(":checkered_flag: Call from {CALLER} is over: answered by Hana Ito, talked 1m00s")
    );
    let block = got[0].json()["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(block.contains("*Menu:* 2 the database team"), "{block}");
    assert!(
        block.contains("*Said:* “the primary database is down”"),
        "{block}"
    );

    // PagerDuty: trigger; trigger update naming who accepted, then acknowledge; resolve.
    let got = h.r.pagerduty.wait_for(4, WAIT).await;
    assert_eq!(
        pd_actions(&got),
        ["trigger", "trigger", "acknowledge", "resolve"]
    );
    let dedup = format!("switchboard-{sid}");
    for r in &got {
        assert_eq!(r.path, "/v2/enqueue");
        assert_eq!(r.json()["dedup_key"], dedup.as_str());
        assert_eq!(r.json()["routing_key"], PD_KEY);
    }
    let trigger = got[0].json();
    // The trigger says what is known when it is sent (the call may be further along by then).
    assert!(
        trigger["payload"]["summary"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "Hotline call from {CALLER} to {HOTLINE} (2 the database team)"
            )),
        "{trigger}"
    );
    assert_eq!(trigger["payload"]["source"], HOTLINE);
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["group"], "oncall/support");
    assert_eq!(trigger["payload"]["class"], "hotline-call");
    assert_eq!(
        trigger["payload"]["custom_details"]["description"],
        "the primary database is down"
    );
    assert_eq!(
        got[1].json()["payload"]["summary"],
        format!(
            "Hotline call from {CALLER} to {HOTLINE} (2 the database team): accepted by Hana Ito"
        )
    );
    assert_eq!(
        got[3].json(),
        json!({"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": dedup})
    );

    // Alertmanager: the same labels every time, endsAt only on resolution.
    let got = h.r.alertmanager.wait_for(3, WAIT).await;
    assert_eq!(got.len(), 3);
    let labels = json!({
        "alertname": "SwitchboardHotlineCall",
        "severity": "critical",
        "policy": "oncall/support",
        "number": HOTLINE,
        "caller": CALLER,
        "id": sid,
    });
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.path, "/api/v2/alerts");
        let a = &r.json()[0];
        assert_eq!(a["labels"], labels);
        assert_eq!(a["startsAt"], "2026-11-23T15:00:00Z");
        assert_eq!(a.get("endsAt").is_some(), i == 2, "{a}");
    }
    assert_eq!(got[1].json()[0]["annotations"]["accepted_by"], "Hana Ito");
    assert_eq!(got[2].json()[0]["annotations"]["outcome"], "answered");

    // Grafana OnCall: Grafana's own Twilio flow's fields, then ok on resolution.
    let got = h.r.grafana.wait_for(3, WAIT).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].path, "/integrations/v1/webhook/abc/");
    let g = got[0].json();
    assert_eq!(g["from"], CALLER);
    assert_eq!(g["message"], "the primary database is down");
    assert_eq!(g["target"], "the database team");
    assert_eq!(g["alert_uid"], sid.as_str());
    assert_eq!(events(&got, "state"), ["alerting", "alerting", "ok"]);

    // Nothing more arrives later: every stage was sent once.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(h.r.webhook.received().len(), 3);
    assert_eq!(h.r.pagerduty.received().len(), 4);
    let m = h.metrics.encode();
    assert_counted(&m, "Webhook", "incident-bot", "delivered", 3);
}

/// The same on a Redis Cluster: the webhook's commits, the due set, the dispatcher's claims,
/// locks and sent records spread over three masters, through `redis+cluster://`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_redis_cluster_an_answered_call_is_alerted_once_per_stage_at_every_target() {
    let h = Harness::start_on(None, Redis::Cluster(RedisCluster::start())).await;
    let _d = h.dispatch().await;
    each_stage_once_at_every_target(&h).await;
}

/// The same without Redis: the webhook server's memory store keeps the alert queue that
/// `switchboard dev` without `--redis-url` dispatches from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_memory_store_alerts_every_target_once_per_stage() {
    let h = Harness::start_on(None, Redis::None).await;
    let _d = h.dispatch().await;
    each_stage_once_at_every_target(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_call_resolves_and_a_voicemail_carries_its_recording_and_transcription() {
    let h = Harness::start(None).await;
    let _d = h.dispatch().await;
    let mut abandoned = database_call();
    abandoned.caller_hangs_up_after = Some(35);
    let t1 = h.simulator().run(abandoned).await.unwrap();
    let mut vm = database_call()
        .responder(DANA, Behaviour::NoAnswer)
        .responder(DBA_MANAGER, Behaviour::Busy)
        .responder(NOC, Behaviour::Ignore { after: 5 });
    vm.message = Some(Message {
        seconds: 20,
        transcript: "please call me back about the database".into(),
    });
    let t2 = h.simulator().run(vm).await.unwrap();
    assert!(t2.voicemail_left, "{}", t2.render());
    h.drained().await;

    let got = h.r.webhook.wait_for(5, WAIT).await;
    let of = |sid: &str| -> Vec<Value> {
        got.iter()
            .map(Received::json)
            .filter(|v| v["alert"]["id"] == sid)
            .collect()
    };
    let abandoned = of(&t1.call_sid);
    let stages: Vec<_> = abandoned.iter().map(|v| v["event"].clone()).collect();
    assert_eq!(stages, ["triggered", "resolved"]);
    assert_eq!(abandoned[1]["alert"]["outcome"], "abandoned");
    assert_eq!(
        abandoned[1]["summary"],
        format!(
            "Hotline call from {CALLER} to {HOTLINE} (2 the database team): the caller hung up before anyone answered"
        )
    );

    let voicemail = of(&t2.call_sid);
    let stages: Vec<_> = voicemail.iter().map(|v| v["event"].clone()).collect();
    assert_eq!(stages, ["triggered", "voicemail", "transcription"]);
    let recording = voicemail[1]["alert"]["recordingUrl"].as_str().unwrap();
    assert!(recording.contains("/Recordings/RE"), "{recording}");
    assert_eq!(
        voicemail[2]["alert"]["transcription"],
        "please call me back about the database"
    );
    // PagerDuty keeps the voicemail's incident open, with a link to the recording.
    let pd: Vec<Value> =
        h.r.pagerduty
            .received()
            .iter()
            .map(Received::json)
            .filter(|v| v["dedup_key"] == format!("switchboard-{}", t2.call_sid))
            .collect();
    let actions: Vec<_> = pd.iter().map(|v| v["event_action"].clone()).collect();
    assert_eq!(actions, ["trigger", "trigger", "trigger"]);
    assert_eq!(pd[1]["links"][0]["href"], recording);
    assert_eq!(pd[1]["links"][0]["text"], "Voicemail recording");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voicemail_left_while_closed_is_raised_again_at_every_target_when_the_hotline_opens() {
    use switchboard_routing::hours::{ClosedAction, OpeningHours, WhenClosed};
    use switchboard_routing::{Days, Window};
    let h = Harness::start(None).await;
    // Open on Tuesdays only: the harness's Monday 10:00 in New York is closed, and the hotline
    // opens on Tuesday 24 November 09:00 there (14:00 UTC).
    let mut table = (*h.store.table(HOTLINE).await.unwrap().unwrap()).clone();
    table.policy.opening_hours = Some(OpeningHours {
        time_zone: "America/New_York".into(),
        weekly: vec![Window {
            days: Days::of([jiff::civil::Weekday::Tuesday]),
            start: jiff::civil::time(9, 0, 0, 0),
            end: jiff::civil::time(17, 0, 0, 0),
        }],
        holidays: vec![],
        when_closed: WhenClosed {
            message: "We are closed.".into(),
            action: ClosedAction::Voicemail,
            raise_again_when_open: true,
        },
    });
    h.store.put_table(&table.seal()).await.unwrap();
    let _d = h.dispatch().await;
    let mut call = switchboard_sim::Script::call(CALLER, HOTLINE);
    call.message = Some(Message {
        seconds: 15,
        transcript: "the invoice run failed overnight".into(),
    });
    let t = h.simulator().run(call).await.unwrap();
    assert!(t.voicemail_left, "{}", t.render());
    assert!(t.dials.is_empty(), "nobody is rung while closed");
    assert_eq!(t.heard.first().map(String::as_str), Some("We are closed."));

    // Overnight: triggered, voicemail and its transcription; nothing raised again yet.
    let got = h.r.webhook.wait_for(3, WAIT).await;
    assert_eq!(
        events(&got, "event"),
        ["triggered", "voicemail", "transcription"]
    );
    assert_eq!(got[1].json()["alert"]["closed"], "outside opening hours");
    assert_eq!(
        got[1].json()["alert"]["raiseAgainAt"],
        "2026-11-24T14:00:00Z"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.r.webhook.received().len(), 3);

    // The hotline opens: every target hears of the voicemail again, as an alert of its own.
    h.clock.store(
        "2026-11-24T14:00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_millisecond(),
        Ordering::SeqCst,
    );
    let got = h.r.webhook.wait_for(4, WAIT).await;
    assert_eq!(events(&got, "event")[3], "raised-again");
    assert_eq!(
        got[3].json()["summary"],
        format!(
            "Hotline call from {CALLER} to {HOTLINE}: voicemail left while closed (outside opening hours)"
        )
    );
    let pd = h.r.pagerduty.wait_for(4, WAIT).await;
    let last = pd.last().unwrap().json();
    assert_eq!(
        last["dedup_key"],
        format!("switchboard-{}-raised-again", t.call_sid)
    );
    assert_eq!(last["event_action"], "trigger");
    let slack = h.r.slack.wait_for(4, WAIT).await;
    let text = slack.last().unwrap().json()["text"].clone();
    assert!(
        text.as_str()
            .unwrap()
            .contains("The hotline is open: voicemail from"),
        "{text}"
    );
    assert_eq!(h.r.alertmanager.wait_for(4, WAIT).await.len(), 4);
    assert_eq!(h.r.grafana.wait_for(4, WAIT).await.len(), 4);
    h.drained().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.r.webhook.received().len(), 4, "raised again once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_back_request_reaches_every_target_with_the_number_despite_the_trigger_delay() {
    use switchboard_routing::table::CallerChoices;
    let h = Harness::start(None).await;
    let mut table = (*h.store.table(HOTLINE).await.unwrap().unwrap()).clone();
    table.policy.caller_choices = Some(CallerChoices {
        prompt: "To be called back, press 2.".into(),
        prompt_without_callback: None,
        voicemail_digit: None,
        callback_digit: Some("2".into()),
        timeout_seconds: 3,
    });
    // A delay longer than the call: without the request, nothing would be raised.
    table.policy.alerting.trigger_delay_seconds = 600;
    h.store.put_table(&table.seal()).await.unwrap();
    let _d = h.dispatch().await;
    let mut call = database_call().responder(DANA, Behaviour::NoAnswer);
    call.presses.push("2".into());
    let t = h.simulator().run(call).await.unwrap();
    assert!(
        t.heard
            .iter()
            .any(|s| s.starts_with("Thank you. We will call you back")),
        "{}",
        t.render()
    );
    h.drained().await;
    let got = h.r.webhook.wait_for(2, WAIT).await;
    assert_eq!(events(&got, "event"), ["triggered", "callback-requested"]);
    assert_eq!(got[1].json()["alert"]["callback"], CALLER);
    assert_eq!(
        got[1].json()["summary"],
        format!(
            "Hotline call from {CALLER} to {HOTLINE} (2 the database team): call-back requested to {CALLER}"
        )
    );
    let slack = h.r.slack.wait_for(2, WAIT).await;
    assert_eq!(
        slack[1].json()["text"],
        format!(":telephone_receiver: {CALLER} asked to be called back at {CALLER}")
    );
    let pd = h.r.pagerduty.wait_for(2, WAIT).await;
    assert_eq!(
        pd_actions(&pd),
        ["trigger", "trigger"],
        "open, and never resolved"
    );
    assert_eq!(
        pd[1].json()["payload"]["custom_details"]["callback"],
        CALLER
    );
    assert_eq!(h.r.alertmanager.wait_for(2, WAIT).await.len(), 2);
    assert_eq!(h.r.grafana.wait_for(2, WAIT).await.len(), 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        h.r.webhook.received().len(),
        2,
        "resolveUnanswered does not resolve it"
    );
}
