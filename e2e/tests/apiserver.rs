//! The operator binary against a real Kubernetes API server: no kubelet is needed, only
//! `kube-apiserver` (and `kube-controller-manager` for the namespace deletion), so it runs
//! where no cluster can run pods. Ignored unless asked for:
//!
//! ```sh
//! KUBECONFIG=<an API server you may fill> cargo test -p switchboard-e2e --test apiserver -- --ignored
//! ```
//!
//! It installs the CRDs, applies `examples/` with kustomize (`kubectl apply -k`), runs the
//! operator as a local process (Twilio is the stateful fake on loopback, Redis a throwaway
//! server), and then checks what only a real API server shows:
//!
//! - every object of the examples converges to Ready, and a second apply changes nothing;
//! - with 600 more IncomingCallPolicies in the cluster, 10 operator restarts and a failover to
//!   a standby (the leader killed) never remove a table (Redis is polled every 20 ms
//!   throughout) and never write to Twilio;
//! - a duplicate PhoneNumber is reported on the copy, and neither it nor its deletion touches
//!   the original's table or Twilio number;
//! - deleting the namespace (Secret and PhoneNumbers together) releases the bought number and
//!   points the owned one back at Twilio's defaults.
//!
//! It uses the namespaces `oncall` and `sb-load` and the Lease `default/switchboard-operator`,
//! and deletes both namespaces at the end: point it at a throwaway API server.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use switchboard_testkit::fixtures::{HOTLINE, workspace};
use switchboard_testkit::twilio::{self as fake_twilio, ACCOUNT, TOKEN};
use switchboard_testkit::{RedisServer, free_port, workspace_bin as bin};

const PUBLIC_URL: &str = "https://switchboard.e2e.test";
const TOLL_FREE_FOR_SALE: &str = "+18885550100";
const WAIT: Duration = Duration::from_secs(60);

/// `kubectl ARGS` with `stdin`; its stdout, or None when it failed. Client-side validation is
/// off (`--validate=false` where it applies) only because it needs the OpenAPI document; the
/// API server still validates every object against the CRD's schema and CEL rules.
fn kubectl(args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new("kubectl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or("").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

fn must(args: &[&str], stdin: Option<&str>) -> String {
    kubectl(args, stdin).unwrap_or_else(|e| panic!("kubectl {args:?}: {e}"))
}

async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The operator process, stopped with SIGTERM (a graceful stop that releases the Lease).
struct Operator {
    child: Child,
    metrics: u16,
}

impl Operator {
    fn start(redis: &str, twilio: &str, log: &Path, n: usize) -> Operator {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let metrics = free_port();
        let child = Command::new(bin("switchboard-operator"))
            .env("SWITCHBOARD_PUBLIC_URL", PUBLIC_URL)
            .env("SWITCHBOARD_REDIS_URL", redis)
            .env("SWITCHBOARD_TWILIO_API_URL", twilio)
            .env("SWITCHBOARD_LEASE_NAMESPACE", "default")
            .env("SWITCHBOARD_METRICS_LISTEN", format!("127.0.0.1:{metrics}"))
            .env("SWITCHBOARD_LOG_FORMAT", "text")
            .env("POD_NAME", format!("operator-{n}"))
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("start the operator");
        Operator { child, metrics }
    }

    /// `switchboard_operator_reconciles_total{kind="PhoneNumber"}`, once it answers.
    async fn phone_number_reconciles(&self) -> Option<u64> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", self.metrics))
            .await
            .ok()?;
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: operator\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut text = String::new();
        conn.read_to_string(&mut text).await.ok()?;
        text.lines()
            .find(|l| l.starts_with("switchboard_operator_reconciles_total{kind=\"PhoneNumber\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// SIGTERM, then waits (without blocking the runtime, which serves the fake Twilio that a
    /// reconcile still in flight may be waiting for) for the graceful stop.
    async fn stop(mut self, log: &Path) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(40);
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "the operator did not stop on SIGTERM; log: {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ready_reasons(ns: &str) -> String {
    must(
        &[
            "get",
            "phonenumbers,incomingcallpolicies,escalationchains,schedules",
            "-n",
            ns,
            "-o",
            r#"jsonpath={range .items[*]}{.kind}/{.metadata.name}={.status.conditions[?(@.type=="Ready")].reason}{"\n"}{end}"#,
        ],
        None,
    )
}

/// Twilio requests that change something.
fn twilio_writes(t: &fake_twilio::Shared) -> Vec<String> {
    let w = t.lock().unwrap();
    w.requests
        .iter()
        .filter(|r| !r.starts_with("GET "))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real kube-apiserver (and kube-controller-manager): set KUBECONFIG and pass --ignored"]
async fn the_operator_on_a_real_api_server_keeps_every_hotline_live_and_cleans_up() {
    let logs = std::env::temp_dir().join(format!("switchboard-apiserver-{}", std::process::id()));
    std::fs::create_dir_all(&logs).unwrap();
    let log = logs.join("operator.log");
    let redis = RedisServer::start();
    let (twilio_url, twilio) = fake_twilio::start().await;
    {
        let mut w = twilio.lock().unwrap();
        w.own(HOTLINE);
        w.for_sale = vec![TOLL_FREE_FOR_SALE.into()];
    }

    // What an earlier run may have left (its PhoneNumbers' finalizers would keep the
    // namespace terminating for ever, with no operator to run them).
    for pn in kubectl(&["-n", "oncall", "get", "phonenumbers", "-o", "name"], None)
        .unwrap_or_default()
        .lines()
    {
        let patch = r#"{"metadata":{"finalizers":null}}"#;
        let _ = kubectl(
            &["-n", "oncall", "patch", pn, "--type=merge", "-p", patch],
            None,
        );
    }
    let _ = kubectl(
        &[
            "delete",
            "namespace",
            "oncall",
            "sb-load",
            "--ignore-not-found",
            "--timeout=120s",
        ],
        None,
    );

    // The CRDs, then the examples with kustomize and the test account's Secret.
    let crds = workspace().join("crds/switchboard.dev.yaml");
    let out = must(
        &[
            "apply",
            "--server-side",
            "--validate=false",
            "-f",
            crds.to_str().unwrap(),
        ],
        None,
    );
    assert!(!out.contains("Warning"), "{out}");
    must(
        &[
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=60s",
        ],
        None,
    );
    must(&["create", "namespace", "oncall"], None);
    must(
        &[
            "-n",
            "oncall",
            "create",
            "secret",
            "generic",
            "twilio-credentials",
            &format!("--from-literal=accountSid={ACCOUNT}"),
            &format!("--from-literal=authToken={TOKEN}"),
        ],
        None,
    );
    let examples = workspace().join("examples");
    must(
        &[
            "apply",
            "--validate=false",
            "-k",
            examples.to_str().unwrap(),
        ],
        None,
    );

    let mut operator = Operator::start(&redis.url, &twilio_url, &log, 0);
    wait_until("every example object is Ready", || {
        let r = ready_reasons("oncall");
        r.lines().count() == 10 && r.lines().all(|l| l.ends_with("=Ready"))
    })
    .await;
    let again = must(
        &[
            "apply",
            "--validate=false",
            "-k",
            examples.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        again.lines().all(|l| l.ends_with(" unchanged")),
        "a second apply changed something:\n{again}"
    );

    // 600 more policies in another namespace, for the reflectors to list at each start.
    must(&["create", "namespace", "sb-load"], None);
    let policies: String = (0..600)
        .map(|i| format!("---\napiVersion: switchboard.dev/v1alpha1\nkind: IncomingCallPolicy\nmetadata: {{name: p{i}, namespace: sb-load}}\nspec: {{chainRef: {{name: none}}}}\n"))
        .collect();
    must(
        &["apply", "--server-side", "--validate=false", "-f", "-"],
        Some(&policies),
    );

    // Redis watched throughout: both tables must be there at every look.
    let key = |n: &str| switchboard_routing::keys::route(n);
    let bought = twilio
        .lock()
        .unwrap()
        .by_number(TOLL_FREE_FOR_SALE)
        .map(|_| TOLL_FREE_FOR_SALE);
    let watched: Vec<String> = [Some(HOTLINE), bought]
        .into_iter()
        .flatten()
        .map(key)
        .collect();
    assert_eq!(watched.len(), 2, "the toll-free number was bought");
    let stop = Arc::new(AtomicBool::new(false));
    let missing = Arc::new(AtomicUsize::new(0));
    let looks = Arc::new(AtomicUsize::new(0));
    let watcher = tokio::spawn({
        let (stop, missing, looks, url) = (
            stop.clone(),
            missing.clone(),
            looks.clone(),
            redis.url.clone(),
        );
        async move {
            let mut conn = redis::Client::open(url)
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap();
            while !stop.load(Ordering::Relaxed) {
                for k in &watched {
                    let exists: bool = redis::cmd("EXISTS")
                        .arg(k)
                        .query_async(&mut conn)
                        .await
                        .unwrap();
                    if !exists {
                        missing.fetch_add(1, Ordering::Relaxed);
                    }
                }
                looks.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let writes_before = twilio_writes(&twilio);
    for n in 1..=10 {
        operator.stop(&log).await;
        operator = Operator::start(&redis.url, &twilio_url, &log, n);
        // Both PhoneNumbers reconciled by the new leader.
        let started = Instant::now();
        while operator.phone_number_reconciles().await.unwrap_or(0) < 2 {
            assert!(
                started.elapsed() < WAIT,
                "restart {n}: no reconcile; see {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // And a failover: a standby waits, the leader is killed (no graceful stop, no release),
    // the standby takes the Lease when it expires and reconciles.
    let standby = Operator::start(&redis.url, &twilio_url, &log, 11);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        standby.phone_number_reconciles().await.unwrap_or(0),
        0,
        "the standby waits"
    );
    drop(operator); // SIGKILL
    let started = Instant::now();
    while standby.phone_number_reconciles().await.unwrap_or(0) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no failover; see {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "failover after SIGKILL: the standby reconciled after {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let operator = standby;
    stop.store(true, Ordering::Relaxed);
    watcher.await.unwrap();
    println!(
        "10 restarts and a failover with 600 more policies: {} looks at both tables, {} missing; Twilio writes {} -> {}",
        looks.load(Ordering::Relaxed),
        missing.load(Ordering::Relaxed),
        writes_before.len(),
        twilio_writes(&twilio).len()
    );
    assert_eq!(
        missing.load(Ordering::Relaxed),
        0,
        "a table went missing during a restart"
    );
    assert_eq!(
        twilio_writes(&twilio),
        writes_before,
        "a restart wrote to Twilio"
    );
    let lease = must(
        &[
            "-n",
            "default",
            "get",
            "lease",
            "switchboard-operator",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
        None,
    );
    assert_eq!(lease, "operator-11", "the Lease names the leading pod");

    // A duplicate of the hotline's number.
    let rev = |conn_url: &str| {
        let mut c = redis::Client::open(conn_url)
            .unwrap()
            .get_connection()
            .unwrap();
        redis::cmd("GET")
            .arg(format!("{}:rev", key(HOTLINE)))
            .query::<Option<String>>(&mut c)
            .unwrap()
    };
    let rev_before = rev(&redis.url);
    let duplicate = workspace().join("examples/invalid/duplicate-number.yaml");
    must(
        &[
            "apply",
            "--validate=false",
            "-f",
            duplicate.to_str().unwrap(),
        ],
        None,
    );
    wait_until("the copy says DuplicateNumber", || {
        ready_reasons("oncall").contains("PhoneNumber/support-hotline-copy=DuplicateNumber")
    })
    .await;
    must(
        &[
            "-n",
            "oncall",
            "delete",
            "phonenumber",
            "support-hotline-copy",
            "--timeout=60s",
        ],
        None,
    );
    assert_eq!(
        rev(&redis.url),
        rev_before,
        "the copy changed the original's table"
    );
    assert_eq!(
        twilio_writes(&twilio),
        writes_before,
        "the copy wrote to Twilio"
    );
    assert!(ready_reasons("oncall").contains("PhoneNumber/support-hotline=Ready"));

    // The namespace deleted: its Secret goes with the PhoneNumbers.
    must(&["delete", "namespace", "oncall", "--wait=false"], None);
    wait_until("the namespace is gone", || {
        kubectl(&["get", "namespace", "oncall"], None).is_err()
    })
    .await;
    {
        let w = twilio.lock().unwrap();
        let hotline = w
            .by_number(HOTLINE)
            .expect("an owned number stays in the account");
        assert_eq!(
            hotline["voice_url"], "https://demo.twilio.com/welcome/voice/",
            "detached"
        );
        assert!(
            w.by_number(TOLL_FREE_FOR_SALE).is_none(),
            "the bought number was released"
        );
        assert_eq!(w.released.len(), 1);
    }
    operator.stop(&log).await;
    let _ = kubectl(&["delete", "namespace", "sb-load", "--wait=false"], None);
    let _ = std::fs::remove_dir_all(&logs);
}
