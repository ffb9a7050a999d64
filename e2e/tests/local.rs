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
use switchboard_testkit::fixtures::{CALLER, HOTLINE, workspace};
use switchboard_testkit::twilio::{self as fake_twilio, ACCOUNT, TOKEN};
use switchboard_testkit::{Prism, Receiver, RedisServer, free_port, workspace_bin as bin};

#[path = "local/failover.rs"]
mod failover;
#[path = "local/routing.rs"]
mod routing;

const PUBLIC_URL: &str = "https://switchboard.e2e.test";
const TOLL_FREE_FOR_SALE: &str = "+18885550100";
const DBA_MANAGER: &str = "+12125550299";
/// The database schedule's rotation, by name and number.
const DATABASE_PEOPLE: [(&str, &str); 4] = [
    ("dana", "+12125550201"),
    ("eli", "+12125550202"),
    ("fran", "+12125550203"),
    ("gus", "+12125550204"),
];
const WAIT: Duration = Duration::from_secs(30);

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
