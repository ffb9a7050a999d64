//! The local end-to-end suite: the real `switchboard-operator` (reading a folder of
//! manifests, as `--manifests-dir` does) and `switchboard-webhook` binaries, a real
//! `redis-server`, Twilio's REST API as Prism validating every request against Twilio's
//! OpenAPI contract and forwarding it to the stateful fake, and the call simulator placing
//! calls over real HTTP, signed as Twilio signs them.
//!
//! ```text
//!   examples/*.yaml (copied) ─► switchboard-operator ─► Prism (contract) ─► fake Twilio
//!                                        │ tables
//!                                        ▼
//!   simulator ─signed webhooks─► switchboard-webhook ◄─► redis-server
//! ```
//!
//! The binaries must be built first (`cargo build --bins`; `scripts/test` does). Each test
//! has its own stack; the processes' logs are kept in a temporary folder the failure message
//! names.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use redis::AsyncCommands;
use switchboard_routing::escalation::CallProgress;
use switchboard_routing::{RoutingTable, keys};
use switchboard_sim::{Behaviour, Script, Simulator, Transcript};
use switchboard_testkit::twilio::{self as fake_twilio, ACCOUNT, TOKEN};
use switchboard_testkit::{Prism, Receiver, RedisServer, free_port};

const PUBLIC_URL: &str = "https://switchboard.e2e.test";
const HOTLINE: &str = "+14155550100";
const TOLL_FREE_FOR_SALE: &str = "+18885550100";
const CALLER: &str = "+15105550123";
const DBA_MANAGER: &str = "+12125550299";
/// The database schedule's rotation, by name and number.
const DATABASE_PEOPLE: [(&str, &str); 4] = [
    ("dana", "+12125550201"),
    ("eli", "+12125550202"),
    ("fran", "+12125550203"),
    ("gus", "+12125550204"),
];
const WAIT: Duration = Duration::from_secs(30);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A binary of this workspace, built beside the test executable.
fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --bins` first (scripts/test does)",
        path.display()
    );
    path
}

/// A child process, killed on drop, its output in `log`.
struct Proc {
    child: Child,
}

impl Proc {
    fn spawn(cmd: &mut Command, log: &Path) -> Proc {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let child = cmd
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start the binary");
        Proc { child }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Everything of one test.
struct Stack {
    manifests: tempfile::TempDir,
    logs: PathBuf,
    redis: RedisServer,
    twilio: fake_twilio::Shared,
    prism: Prism,
    operator: Proc,
    webhook: Arc<Mutex<Proc>>,
    webhook_port: u16,
    _creds: tempfile::TempDir,
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Logs are kept when the test failed; the failure message names the folder.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.logs);
        }
    }
}

/// Starts the webhook server binary on `port`.
fn webhook(port: u16, redis_url: &str, creds: &Path, logs: &Path) -> Proc {
    let p = Proc::spawn(
        Command::new(bin("switchboard-webhook"))
            .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
            .env("SWITCHBOARD_REDIS_URL", redis_url)
            .env("SWITCHBOARD_PUBLIC_URL", PUBLIC_URL)
            .env("SWITCHBOARD_TWILIO_CREDENTIALS_DIR", creds),
        &logs.join("webhook.log"),
    );
    wait_for_port(port, "switchboard-webhook");
    p
}

/// Starts the operator binary on the folder `manifests` (alerts it claims are its own for 2 s
/// after it dies, instead of 2 minutes; a lease must outlast a request to a target, so those
/// loopback receivers get 1 s instead of 10).
fn operator(manifests: &Path, redis_url: &str, twilio_api_url: &str, logs: &Path) -> Proc {
    Proc::spawn(
        Command::new(bin("switchboard-operator"))
            .arg("--manifests-dir")
            .arg(manifests)
            .args(["--public-url", PUBLIC_URL, "--redis-url", redis_url])
            .args(["--twilio-api-url", twilio_api_url])
            .args(["--metrics-listen", &format!("127.0.0.1:{}", free_port())])
            .args(["--alert-lease-seconds", "2"])
            .args(["--alert-request-timeout-seconds", "1"]),
        &logs.join("operator.log"),
    )
}

impl Stack {
    async fn start(name: &str) -> Stack {
        let logs =
            std::env::temp_dir().join(format!("switchboard-e2e-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&logs).unwrap();
        let redis = RedisServer::start();
        let (fake_url, twilio) = fake_twilio::start().await;
        {
            let mut w = twilio.lock().unwrap();
            w.own(HOTLINE);
            w.for_sale = vec![TOLL_FREE_FOR_SALE.into()];
        }
        let prism = Prism::proxy(&fake_url);

        // The examples, as a team would apply them, with the test account's credentials.
        let manifests = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(workspace().join("examples")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) == Some("yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                std::fs::write(
                    manifests.path().join(path.file_name().unwrap()),
                    fake_twilio::with_fake_account(&text),
                )
                .unwrap();
            }
        }
        let creds = tempfile::tempdir().unwrap();
        std::fs::write(creds.path().join(ACCOUNT), TOKEN).unwrap();

        let operator = operator(manifests.path(), &redis.url, &prism.url, &logs);
        let webhook_port = free_port();
        let hook = webhook(webhook_port, &redis.url, creds.path(), &logs);
        let stack = Stack {
            manifests,
            logs,
            redis,
            twilio,
            prism,
            operator,
            webhook: Arc::new(Mutex::new(hook)),
            webhook_port,
            _creds: creds,
        };
        stack
            .wait_until("the hotline's table is published", async || {
                stack.table(HOTLINE).await.is_some()
            })
            .await;
        stack
    }

    /// Waits (up to 30 s) for `check`; the failure names the logs.
    async fn wait_until(&self, what: &str, check: impl AsyncFn() -> bool) {
        let deadline = Instant::now() + WAIT;
        while !check().await {
            assert!(
                Instant::now() < deadline,
                "timed out waiting until {what}; logs in {}:\n{}",
                self.logs.display(),
                self.log("operator.log")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.logs.join(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    async fn redis(&self) -> Option<redis::aio::MultiplexedConnection> {
        redis::Client::open(self.redis.url.as_str())
            .ok()?
            .get_multiplexed_async_connection()
            .await
            .ok()
    }

    /// The live routing table of `number`.
    async fn table(&self, number: &str) -> Option<RoutingTable> {
        let mut c = self.redis().await?;
        let json: Option<String> = c.get(keys::route(number)).await.ok()?;
        RoutingTable::from_json(&json?).ok()
    }

    async fn revision(&self, number: &str) -> Option<String> {
        let mut c = self.redis().await?;
        c.get(keys::route_revision(number)).await.ok()?
    }

    fn number_setting(&self, number: &str, field: &str) -> Option<String> {
        let w = self.twilio.lock().unwrap();
        w.by_number(number).and_then(|n| n.get(field).cloned())
    }

    fn simulator(&self) -> Simulator {
        let mut sim = Simulator::new(
            PUBLIC_URL,
            vec![format!("http://127.0.0.1:{}", self.webhook_port)],
            ACCOUNT,
            TOKEN,
            Arc::new(AtomicI64::new(Timestamp::now().as_millisecond())),
        );
        sim.fallback_path = Some("/twilio/voice/fallback".into());
        sim
    }

    async fn call(&self, script: Script) -> Transcript {
        self.call_with(self.simulator(), script).await
    }

    async fn call_with(&self, mut sim: Simulator, script: Script) -> Transcript {
        let t = sim.run(script).await.expect("the call ran");
        assert!(
            t.application_errors.is_empty(),
            "the caller heard Twilio's application error: {:?}\n{}\nwebhook log:\n{}",
            t.application_errors,
            t.render(),
            self.log("webhook.log")
        );
        t
    }

    fn edit(&self, file: &str, edit: impl FnOnce(String) -> String) {
        let path = self.manifests.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, edit(text)).unwrap();
    }
}

/// A call to the support hotline for the database team (menu option 2).
fn database_call() -> Script {
    Script::call(CALLER, HOTLINE).press(&["2"])
}

/// Who the database chain's first step rings now, by the live table.
fn database_on_call_now(table: &RoutingTable) -> Vec<String> {
    let chain = table.chain("database").expect("the database chain");
    table
        .plan_step(
            chain,
            0,
            Timestamp::now(),
            CallProgress {
                call_sid: "CAe2e",
                pass: 0,
                already_rung: &[],
                rung_in_call: 0,
            },
        )
        .expect("a plan")
        .responders
        .iter()
        .map(|r| r.contact.address().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_configure_twilio_publish_tables_and_a_call_is_answered_at_step_two() {
    let s = Stack::start("examples").await;
    // The number the account owns points at the webhook server.
    s.wait_until("the hotline points at the webhook server", async || {
        s.number_setting(HOTLINE, "voice_url").as_deref()
            == Some(&format!("{PUBLIC_URL}/twilio/voice"))
    })
    .await;
    assert_eq!(
        s.number_setting(HOTLINE, "voice_fallback_url").as_deref(),
        Some(&*format!("{PUBLIC_URL}/twilio/voice/fallback"))
    );
    assert_eq!(
        s.number_setting(HOTLINE, "sms_url").as_deref(),
        Some(&*format!("{PUBLIC_URL}/twilio/sms"))
    );
    // The major-incident line is bought (spec.purchase), marked with its intent, and routed.
    s.wait_until("the purchased number's table is published", async || {
        s.table(TOLL_FREE_FOR_SALE).await.is_some()
    })
    .await;
    {
        let w = s.twilio.lock().unwrap();
        assert_eq!(w.purchases, 1, "bought exactly once");
        let bought = w.by_number(TOLL_FREE_FOR_SALE).unwrap();
        assert!(
            bought["friendly_name"].starts_with("switchboard oncall/major-incident-line"),
            "{bought:?}"
        );
    }
    let table = s.table(HOTLINE).await.unwrap();
    assert_eq!(table.owner.name, "support-hotline");
    assert_eq!(table.account_sid.as_deref(), Some(ACCOUNT));

    // Step one (whoever is on call) does not pick up; step two, the DBA manager, accepts.
    let first = database_on_call_now(&table);
    assert!(!first.contains(&DBA_MANAGER.to_string()), "{first:?}");
    let t = s
        .call(database_call().responder(DBA_MANAGER, Behaviour::Accept { after: 5 }))
        .await;
    assert_eq!(t.connected.as_deref(), Some(DBA_MANAGER), "{}", t.render());
    assert_eq!(t.dials.len(), 2, "two steps rung: {}", t.render());
    assert_eq!(t.dials[0], first, "{}", t.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_a_schedule_makes_the_next_call_ring_the_new_person() {
    let s = Stack::start("schedule").await;
    let before = s.table(HOTLINE).await.unwrap();
    let on_call = database_on_call_now(&before);
    // Someone of the rotation who is not on call now takes over with an override.
    let (name, number) = DATABASE_PEOPLE
        .into_iter()
        .find(|(_, n)| !on_call.contains(&n.to_string()))
        .unwrap();
    let ny = TimeZone::get("America/New_York").unwrap();
    let local = |t: Timestamp| {
        t.to_zoned(ny.clone())
            .strftime("%Y-%m-%dT%H:%M")
            .to_string()
    };
    let now = Timestamp::now();
    let start = local(now - jiff::SignedDuration::from_hours(1));
    let end = local(now + jiff::SignedDuration::from_hours(2));
    s.edit("schedules.yaml", |text| {
        text.replacen(
            "  overrides:\n    - person: dba-manager\n",
            &format!(
                "  overrides:\n    - person: {name}\n      start: \"{start}\"\n      end: \"{end}\"\n    - person: dba-manager\n"
            ),
            1,
        )
    });
    let old = before.revision.clone();
    s.wait_until("the edited schedule is published", async || {
        s.revision(HOTLINE).await.is_some_and(|r| r != old)
    })
    .await;
    let t = s
        .call(database_call().responder(number, Behaviour::Accept { after: 3 }))
        .await;
    assert_eq!(t.connected.as_deref(), Some(number), "{}", t.render());
    assert_eq!(t.dials[0], vec![number.to_string()], "{}", t.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_policy_keeps_its_number_answering_until_the_phone_number_is_deleted() {
    let s = Stack::start("delete-policy").await;
    s.wait_until("the hotline points at the webhook server", async || {
        s.number_setting(HOTLINE, "voice_url").as_deref()
            == Some(&format!("{PUBLIC_URL}/twilio/voice"))
    })
    .await;
    let revision = s.revision(HOTLINE).await;
    // Delete the support policy: keep only the other documents of the file. A policy that is
    // missing (deleted, or not created yet) undoes nothing: the hotline keeps answering.
    let without = |name: &'static str| {
        move |text: String| {
            text.split("\n---\n")
                .filter(|doc| !doc.contains(&format!("\n  name: {name}\n")))
                .collect::<Vec<_>>()
                .join("\n---\n")
        }
    };
    s.edit("policies.yaml", without("support"));
    // Several passes of the folder operator (it polls every 0.5 s).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        s.revision(HOTLINE).await,
        revision,
        "the last table stays live"
    );
    assert_eq!(
        s.number_setting(HOTLINE, "voice_url").as_deref(),
        Some(format!("{PUBLIC_URL}/twilio/voice").as_str())
    );
    let t = s.call(database_call()).await;
    assert!(!t.dials.is_empty(), "{}", t.render());
    // Deleting the PhoneNumber is what takes the number out of service.
    s.edit("phone-numbers.yaml", without("support-hotline"));
    s.wait_until("the hotline's table is removed", async || {
        // The revision key keeps the "unpublished" mark, so that webhook servers tell an
        // unpublished number from a Redis that lost its data.
        s.revision(HOTLINE).await.as_deref() == Some(keys::UNPUBLISHED)
            && s.table(HOTLINE).await.is_none()
    })
    .await;
    s.wait_until("the hotline no longer points at Switchboard", async || {
        s.number_setting(HOTLINE, "voice_url")
            .is_some_and(|u| !u.starts_with(PUBLIC_URL))
    })
    .await;
    let t = s.call(database_call()).await;
    assert!(
        t.heard.iter().any(|h| h.contains("not in service")),
        "{}",
        t.render()
    );
    assert!(t.dials.is_empty(), "{}", t.render());
    // The other number is untouched.
    assert!(s.table(TOLL_FREE_FOR_SALE).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_server_killed_and_restarted_mid_call_completes_the_call() {
    let s = Stack::start("restart").await;
    let mut sim = s.simulator();
    let hook = s.webhook.clone();
    let (port, url, creds, logs) = (
        s.webhook_port,
        s.redis.url.clone(),
        s._creds.path().to_path_buf(),
        s.logs.clone(),
    );
    let mut restarted = false;
    sim.before_request = Some(Box::new(move |path: &str| {
        // Once the escalation has started (the first Dial's action comes next), the server
        // dies and a new process takes over on the same port.
        if !restarted && path.starts_with("/twilio/voice/dial") {
            restarted = true;
            let mut h = hook.lock().unwrap();
            h.kill();
            *h = webhook(port, &url, &creds, &logs);
        }
    }));
    let t = s
        .call_with(
            sim,
            database_call().responder(DBA_MANAGER, Behaviour::Accept { after: 5 }),
        )
        .await;
    assert_eq!(t.connected.as_deref(), Some(DBA_MANAGER), "{}", t.render());
    let log = std::fs::read_to_string(s.logs.join("webhook.log")).unwrap();
    assert_eq!(
        log.matches("serving Twilio webhooks").count(),
        2,
        "the server was restarted during the call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_hear_the_fallback_while_redis_is_down_and_are_routed_once_it_is_back() {
    let s = Stack::start("redis-outage").await;
    s.redis.stop();
    let t = s.call(database_call()).await;
    assert!(
        t.heard
            .iter()
            .any(|h| h.contains("call routing is having trouble")),
        "the fallback message: {}",
        t.render()
    );
    assert!(t.dials.is_empty(), "{}", t.render());

    // Redis comes back empty (no persistence); the operator finds its tables missing and
    // publishes them again.
    s.redis.restart();
    s.wait_until("the tables are published again", async || {
        s.table(HOTLINE).await.is_some()
    })
    .await;
    let t = s
        .call(database_call().responder(DBA_MANAGER, Behaviour::Accept { after: 5 }))
        .await;
    assert_eq!(t.connected.as_deref(), Some(DBA_MANAGER), "{}", t.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_queued_when_the_operator_is_killed_are_delivered_once_it_is_restarted() {
    let mut s = Stack::start("alerts-restart").await;
    // The incident bot is a receiver on loopback, refusing everything for now.
    let bot = Receiver::start(200, "ok").await;
    bot.fail_next(100_000, 503);
    let bot_url = format!("{}/switchboard", bot.url);
    s.edit("policies.yaml", |t| {
        t.replace("https://hooks.acme.example/switchboard", &bot_url)
            .replace("triggerDelaySeconds: 20", "triggerDelaySeconds: 0")
    });
    s.wait_until("the policy's new target is published", async || {
        s.table(HOTLINE).await.is_some_and(|t| {
            t.policy
                .notifications
                .iter()
                .any(|n| n.url.as_deref() == Some(bot_url.as_str()))
        })
    })
    .await;
    let t = s
        .call(database_call().responder(DBA_MANAGER, Behaviour::Accept { after: 5 }))
        .await;
    assert_eq!(t.connected.as_deref(), Some(DBA_MANAGER), "{}", t.render());
    s.wait_until("the operator tried to deliver", async || {
        !bot.refused().is_empty()
    })
    .await;
    // SIGKILL, with the call's alert queued and failing.
    s.operator.kill();
    let mut c = s.redis().await.unwrap();
    let queued: Vec<String> = c.zrange(keys::alerts_due(), 0, -1).await.unwrap();
    assert!(
        queued.contains(&format!("call:{}", t.call_sid)),
        "{queued:?}"
    );
    assert!(bot.received().is_empty());

    bot.fail_next(0, 503);
    s.operator = operator(s.manifests.path(), &s.redis.url, &s.prism.url, &s.logs);
    s.wait_until("the restarted operator delivered every stage", async || {
        bot.received().len() >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = bot.received();
    let events: Vec<String> = got
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(events, ["triggered", "acknowledged", "resolved"]);
    assert!(
        got.iter()
            .all(|r| r.json()["alert"]["id"] == t.call_sid.as_str())
    );
}

/// One HTTP/1.1 request over a fresh connection: the status code and the body.
async fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_webhook_server_drains_unready_while_it_still_answers_calls() {
    let logs = std::env::temp_dir().join(format!("switchboard-e2e-drain-{}", std::process::id()));
    std::fs::create_dir_all(&logs).unwrap();
    let redis = RedisServer::start();
    let creds = tempfile::tempdir().unwrap();
    std::fs::write(creds.path().join(ACCOUNT), TOKEN).unwrap();
    let port = free_port();
    let mut proc = Proc::spawn(
        Command::new(bin("switchboard-webhook"))
            .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
            .env("SWITCHBOARD_REDIS_URL", &redis.url)
            .env("SWITCHBOARD_PUBLIC_URL", PUBLIC_URL)
            .env("SWITCHBOARD_TWILIO_CREDENTIALS_DIR", creds.path())
            .env("SWITCHBOARD_DRAIN_SECONDS", "3"),
        &logs.join("webhook.log"),
    );
    wait_for_port(port, "switchboard-webhook");
    assert_eq!(http(port, "GET", "/readyz", &[], "").await.0, 200);
    // What Kubernetes does to a pod in a rolling update.
    Command::new("kill")
        .args(["-TERM", &proc.child.id().to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = http(port, "GET", "/readyz", &[], "").await;
    assert_eq!((status, body.as_str()), (503, "draining\n"));
    // A call the Service still sends here meanwhile is answered as usual.
    let params: Vec<(String, String)> = [
        ("CallSid", "CA00000000000000000000000000000drain"),
        ("AccountSid", ACCOUNT),
        ("From", CALLER),
        ("To", HOTLINE),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let url = format!("{PUBLIC_URL}/twilio/voice");
    let sig = switchboard_routing::signature::sign(TOKEN, &url, &params);
    let form: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let (status, twiml) = http(
        port,
        "POST",
        "/twilio/voice",
        &[
            ("X-Twilio-Signature", &sig),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &form,
    )
    .await;
    assert_eq!(status, 200, "{twiml}");
    assert!(twiml.contains("<Response>"), "{twiml}");
    // Then it stops by itself once the drain is over.
    let deadline = Instant::now() + Duration::from_secs(10);
    while proc.child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_dir_all(&logs);
}
