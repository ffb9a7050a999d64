//! Alerts and texts end to end: the real webhook server on a real Redis, calls played by the
//! simulator, the operator's alert dispatcher, and a real HTTP receiver on loopback for each
//! kind of notification target. Texts are forwarded through Prism validating Twilio's
//! Messages API contract in front of the fake Twilio.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};
use switchboard_operator::metrics::Metrics;
use switchboard_operator::notify::payload::webhook_signature;
use switchboard_operator::notify::{self, Dispatcher, FolderSecrets, Snapshot};
use switchboard_operator::{SchemaChecker, load_files};
use switchboard_routing::connect::Conn;
use switchboard_routing::table::{Alerting, NotificationTarget, SecretKey, TargetKind};
use switchboard_routing::{RoutingTable, keys, signature};
use switchboard_sim::{Behaviour, Message, Script, Simulator};
use switchboard_testkit::twilio::{self, ACCOUNT, TOKEN, with_fake_account};
use switchboard_testkit::{Prism, Received, Receiver, RedisCluster, RedisServer};
use switchboard_webhook::store::{RedisStore, Retention};
use switchboard_webhook::{AppState, AuthToken, Clock, Credentials, Fallback, Store, app};

const PUBLIC_URL: &str = "https://switchboard.example.com";
const HOTLINE: &str = "+14155550100";
const CALLER: &str = "+15105550123";
const DANA: &str = "+12125550201";
const DBA_MANAGER: &str = "+12125550299";
const NOC: &str = "+12125550999";
const HMAC_KEY: &str = "test-hmac-key";
const PD_KEY: &str = "R0UTINGKEY0000000000000000000000";
const WAIT: Duration = Duration::from_secs(20);

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One receiver per kind of target.
struct Receivers {
    webhook: Receiver,
    slack: Receiver,
    pagerduty: Receiver,
    alertmanager: Receiver,
    grafana: Receiver,
}

/// Where the harness keeps its calls and alert queue: one Redis server, a cluster, or no
/// Redis at all (the webhook server's memory store, as `switchboard dev` without
/// `--redis-url`).
enum Redis {
    Server(RedisServer),
    Cluster(RedisCluster),
    None,
}

impl Redis {
    fn url(&self) -> Option<String> {
        match self {
            Redis::Server(r) => Some(r.url.clone()),
            Redis::Cluster(c) => Some(c.url()),
            Redis::None => None,
        }
    }
}

struct Harness {
    redis: Redis,
    store: Store,
    clock: Arc<AtomicI64>,
    server: String,
    r: Receivers,
    secrets: FolderSecrets,
    metrics: Arc<Metrics>,
    _manifests: tempfile::TempDir,
}

fn target(name: &str, kind: TargetKind) -> NotificationTarget {
    NotificationTarget {
        name: name.into(),
        kind,
        url: None,
        url_secret: None,
        secret: None,
    }
}

fn key(k: &str) -> Option<SecretKey> {
    Some(SecretKey {
        name: "test-keys".into(),
        key: k.into(),
    })
}

impl Harness {
    /// Redis, the webhook server on the hotline's table (its notifications pointed at the
    /// receivers), and the dispatcher's credentials; the dispatcher itself is started by
    /// [`Harness::dispatch`].
    async fn start(twilio_api_url: Option<String>) -> Harness {
        Self::start_on(twilio_api_url, Redis::Server(RedisServer::start())).await
    }

    async fn start_on(twilio_api_url: Option<String>, redis: Redis) -> Harness {
        let r = Receivers {
            webhook: Receiver::start(200, "ok").await,
            slack: Receiver::start(200, "ok").await,
            pagerduty: Receiver::start(202, r#"{"status":"success","message":"Event processed"}"#)
                .await,
            alertmanager: Receiver::start(200, "").await,
            grafana: Receiver::start(200, "ok").await,
        };
        let mut table = RoutingTable::from_json(
            &std::fs::read_to_string(
                root().join("webhook-server/tests/fixtures/support-hotline.json"),
            )
            .unwrap(),
        )
        .unwrap();
        table.account_sid = Some(ACCOUNT.into());
        let mut webhook = target("incident-bot", TargetKind::Webhook);
        webhook.url = Some(format!("{}/hooks/switchboard", r.webhook.url));
        webhook.secret = key("hmac");
        let mut slack = target("oncall-slack", TargetKind::Slack);
        slack.url_secret = key("slack-url");
        let mut pagerduty = target("pagerduty", TargetKind::PagerDuty);
        pagerduty.url = Some(format!("{}/v2/enqueue", r.pagerduty.url));
        pagerduty.secret = key("pd-key");
        let mut alertmanager = target("alertmanager", TargetKind::Alertmanager);
        alertmanager.url = Some(r.alertmanager.url.clone());
        let mut grafana = target("grafana", TargetKind::GrafanaOnCall);
        grafana.url_secret = key("grafana-url");
        table.policy.notifications = vec![webhook, slack, pagerduty, alertmanager, grafana];
        table.policy.alerting = Alerting {
            trigger_delay_seconds: 0,
            resolve_unanswered: true,
        };

        // The dispatcher's credentials come from manifests, as the folder operator reads them.
        let dir = tempfile::tempdir().unwrap();
        let keys_yaml = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: test-keys, namespace: oncall, labels: {{switchboard.dev/notifications: \"true\"}}}}\nstringData:\n  hmac: {HMAC_KEY}\n  slack-url: {}/services/T0/B0/x\n  pd-key: {PD_KEY}\n  grafana-url: {}/integrations/v1/webhook/abc/\n",
            r.slack.url, r.grafana.url
        );
        std::fs::write(dir.path().join("keys.yaml"), keys_yaml).unwrap();
        for f in ["01-twilio-credentials.yaml", "phone-numbers.yaml"] {
            let text = std::fs::read_to_string(root().join("examples").join(f)).unwrap();
            std::fs::write(dir.path().join(f), with_fake_account(&text)).unwrap();
        }
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        let loaded = load_files(&files, &SchemaChecker::new()).unwrap();
        let secrets = FolderSecrets::new(twilio_api_url);
        secrets.set(Snapshot::of(&loaded));

        let store = match redis.url() {
            Some(url) => store_on(&url),
            None => Store::memory(),
        };
        store.put_table(&table).await.unwrap();
        let clock = Clock::manual("2026-11-23T15:00:00Z".parse().unwrap());
        let Clock::Manual(ms) = &clock else {
            unreachable!()
        };
        let ms = ms.clone();
        let state = AppState::new(
            store.clone(),
            Credentials::fixed([(ACCOUNT.to_string(), AuthToken::new(TOKEN))]),
            PUBLIC_URL,
            Fallback::default(),
            clock,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app(state)).await });
        Harness {
            redis,
            store,
            clock: ms,
            server,
            r,
            secrets,
            metrics: Arc::new(Metrics::default()),
            _manifests: dir,
        }
    }

    /// Starts a dispatcher with quick retries; aborting the handle kills it.
    async fn dispatch(&self) -> tokio::task::JoinHandle<()> {
        self.dispatch_with(true).await
    }

    /// Starts a dispatcher that forwards texts through Twilio or, like
    /// `switchboard dev --no-twilio`, does not.
    async fn dispatch_with(&self, forward_texts: bool) -> tokio::task::JoinHandle<()> {
        let settings = notify::Settings {
            poll: Duration::from_millis(50),
            retry_base: Duration::from_millis(200),
            retry_max: Duration::from_millis(800),
            lease: Duration::from_secs(5),
            forward_texts,
            ..notify::Settings::default()
        };
        let clock = self.clock.clone();
        let clock = move || Timestamp::from_millisecond(clock.load(Ordering::SeqCst)).unwrap();
        let (secrets, metrics) = (self.secrets.clone(), self.metrics.clone());
        match (self.redis.url(), self.store.alert_queue()) {
            (Some(url), _) => {
                let conn = Conn::connect(&url, redis::aio::ConnectionManagerConfig::new())
                    .await
                    .unwrap();
                let d = Dispatcher::new(conn, secrets, settings, metrics).with_clock(clock);
                tokio::spawn(d.run(std::future::pending()))
            }
            (None, Some(queue)) => {
                let d = Dispatcher::on(queue, secrets, settings, metrics).with_clock(clock);
                tokio::spawn(d.run(std::future::pending()))
            }
            (None, None) => unreachable!("no Redis is the memory store"),
        }
    }

    fn simulator(&self) -> Simulator {
        Simulator::new(
            PUBLIC_URL,
            vec![self.server.clone()],
            ACCOUNT,
            TOKEN,
            self.clock.clone(),
        )
    }

    /// Plays the database call the DBA manager accepts, waits until its alert is drained, and
    /// returns its CallSid.
    async fn answered_call(&self) -> String {
        let t = self
            .simulator()
            .run(database_call().responder(DBA_MANAGER, Behaviour::Accept { after: 6 }))
            .await
            .unwrap();
        assert_eq!(t.connected.as_deref(), Some(DBA_MANAGER), "{}", t.render());
        self.drained().await;
        t.call_sid
    }

    /// Waits until no alert is due or leased any more.
    async fn drained(&self) {
        let queued = match self.redis.url() {
            Some(url) => Some(
                Conn::connect(&url, redis::aio::ConnectionManagerConfig::new())
                    .await
                    .unwrap(),
            ),
            None => None,
        };
        for _ in 0..400 {
            let n: usize = match (&queued, self.store.alert_queue()) {
                (Some(conn), _) => redis::cmd("ZCARD")
                    .arg(keys::alerts_due())
                    .query_async(&mut conn.clone())
                    .await
                    .unwrap(),
                (None, Some(queue)) => queue.len(),
                (None, None) => 0,
            };
            if n == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("alerts still queued after 20 s");
    }
}

fn store_on(url: &str) -> Store {
    Store::redis(
        RedisStore::connect(url, Duration::from_millis(500)).unwrap(),
        Retention::default(),
    )
}

fn database_call() -> Script {
    let mut s = Script::call(CALLER, HOTLINE).press(&["2"]);
    s.speech = Some("the primary database is down".into());
    s
}

fn events(got: &[Received], field: &str) -> Vec<String> {
    got.iter()
        .map(|r| r.json()[field].as_str().unwrap_or("").to_string())
        .collect()
}

/// Asserts the dispatcher's delivery counter in the metrics text `m`.
fn assert_counted(m: &str, target_type: &str, target: &str, result: &str, n: u32) {
    let line = format!(
        "switchboard_operator_notifications_total{{target_type=\"{target_type}\",target=\"{target}\",result=\"{result}\"}} {n}"
    );
    assert!(m.contains(&line), "no {line:?} in\n{m}");
}

fn pd_actions(got: &[Received]) -> Vec<String> {
    events(got, "event_action")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_call_is_triggered_acknowledged_and_resolved_at_every_target() {
    let h = Harness::start(None).await;
    let _d = h.dispatch().await;
    let sid = h.answered_call().await;

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

/// Plays the answered call and asserts every target got each of its stages once, in order.
async fn each_stage_once_at_every_target(h: &Harness) {
    let sid = h.answered_call().await;
    let got = h.r.webhook.wait_for(3, WAIT).await;
    assert_eq!(
        events(&got, "event"),
        ["triggered", "acknowledged", "resolved"]
    );
    assert_eq!(got[0].json()["alert"]["id"], sid.as_str());
    let got = h.r.pagerduty.wait_for(4, WAIT).await;
    assert_eq!(
        pd_actions(&got),
        ["trigger", "trigger", "acknowledge", "resolve"]
    );
    for (name, receiver) in [
        ("slack", &h.r.slack),
        ("alertmanager", &h.r.alertmanager),
        ("grafana", &h.r.grafana),
    ] {
        let got = receiver.wait_for(3, WAIT).await;
        assert_eq!(got.len(), 3, "{name}: {got:?}");
    }
    // Nothing more arrives: each stage once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.r.webhook.received().len(), 3);
    assert_eq!(h.r.pagerduty.received().len(), 4);
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

/// Posts a text to the server as Twilio does (form-encoded, signed).
async fn text(h: &Harness, sid: &str, from: &str, body: &str) -> String {
    let params: Vec<(String, String)> = [
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT),
        ("From", from),
        ("To", HOTLINE),
        ("Body", body),
        ("NumMedia", "0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let url = format!("{PUBLIC_URL}/twilio/sms");
    let sig = signature::sign(TOKEN, &url, &params);
    let form: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let res = reqwest::Client::new()
        .post(format!("{}/twilio/sms", h.server))
        .header("X-Twilio-Signature", sig)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
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
    let store = h.store.clone();
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
