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
use switchboard_sim::{Behaviour, Message, Simulator};
use switchboard_testkit::fixtures::{CALLER, HOTLINE, database_call, workspace};
use switchboard_testkit::twilio::{self, ACCOUNT, TOKEN, with_fake_account};
use switchboard_testkit::{Prism, Received, Receiver, RedisCluster, RedisServer};
use switchboard_webhook::store::{RedisStore, Retention};
use switchboard_webhook::{AppState, AuthToken, Clock, Credentials, Fallback, Store, app};

#[path = "alerts/delivery.rs"]
mod delivery;
#[path = "alerts/stages.rs"]
mod stages;

const PUBLIC_URL: &str = "https://switchboard.example.com";
const DANA: &str = "+12125550201";
const DBA_MANAGER: &str = "+12125550299";
const NOC: &str = "+12125550999";
const HMAC_KEY: &str = "test-hmac-key";
const PD_KEY: &str = "R0UTINGKEY0000000000000000000000";
const WAIT: Duration = Duration::from_secs(20);

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
                workspace().join("webhook-server/tests/fixtures/support-hotline.json"),
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
            severity: None,
        };

        // The dispatcher's credentials come from manifests, as the folder operator reads them.
        let dir = tempfile::tempdir().unwrap();
        let keys_yaml = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: test-keys, namespace: oncall, labels: {{switchboard.dev/notifications: \"true\"}}}}\nstringData:\n  hmac: {HMAC_KEY}\n  slack-url: {}/services/T0/B0/x\n  pd-key: {PD_KEY}\n  grafana-url: {}/integrations/v1/webhook/abc/\n",
            r.slack.url, r.grafana.url
        );
        std::fs::write(dir.path().join("keys.yaml"), keys_yaml).unwrap();
        for f in ["01-twilio-credentials.yaml", "phone-numbers.yaml"] {
            let text = std::fs::read_to_string(workspace().join("examples").join(f)).unwrap();
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
        let sid = self.play_answered_call().await;
        self.drained().await;
        sid
    }

    /// Plays the database call the DBA manager accepts and returns its CallSid.
    async fn play_answered_call(&self) -> String {
        let t = self
            .simulator()
            .run(database_call().responder(DBA_MANAGER, Behaviour::Accept { after: 6 }))
            .await
            .unwrap();
        assert_eq!(t.connected.as_deref(), Some(DBA_MANAGER), "{}", t.render());
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
    let res = switchboard_process::http_client()
        .unwrap()
        .build()
        .unwrap()
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
