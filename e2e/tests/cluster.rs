//! The cluster end-to-end suite: `#[ignore]`d, run with `--ignored` and `KUBECONFIG` set. It installs the Helm chart into the cluster, applies the examples, waits
//! for `Ready`, drives a simulated call at the webhook Service (through `kubectl
//! port-forward`), flushes the embedded Redis and waits for the operator to write the table
//! again, then deletes everything and checks that the finalizers cleaned up: the
//! tables are gone and the Twilio number is pointed away from Switchboard.
//!
//! Twilio is the stateful fake, served on this machine at an address the cluster reaches
//! (`SWITCHBOARD_E2E_HOST`, default `host.k3d.internal`; `host.docker.internal` or the bridge
//! gateway for kind). The images must be in the cluster already, as `e2e/README.md` shows
//! (`k3d image import` or `kind load docker-image`). Needs `helm` and `kubectl` on the PATH.
//!
//! Settings: `SWITCHBOARD_E2E_IMAGE_REPOSITORY` (default `ghcr.io/switchboard-dev`),
//! `SWITCHBOARD_E2E_IMAGE_TAG` (default `e2e`), `SWITCHBOARD_E2E_HOST`.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use switchboard_sim::{Behaviour, Script, Simulator};
use switchboard_testkit::fixtures::{HOTLINE, workspace};
use switchboard_testkit::free_port;
use switchboard_testkit::twilio::{self as fake_twilio, ACCOUNT, TOKEN};

const NAMESPACE: &str = "switchboard-e2e";
const TEAM: &str = "oncall";
const DBA_MANAGER: &str = "+12125550299";
const PUBLIC_URL: &str = "https://switchboard.e2e.test";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// Runs a command; panics with its output when it fails.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn kubectl(args: &[&str]) -> String {
    run(Command::new("kubectl").args(args))
}

/// Applies YAML given on stdin.
fn kubectl_apply(yaml: &str) {
    use std::io::Write;
    let mut child = Command::new("kubectl")
        .args(["apply", "--server-side", "-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("kubectl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "kubectl apply failed");
}

struct PortForward(Child);

impl Drop for PortForward {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a cluster that runs pods, with the images loaded: set KUBECONFIG and pass --ignored (e2e/README.md)"]
async fn chart_examples_call_and_cleanup_on_a_real_cluster() {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "KUBECONFIG is not set: point it at the cluster (e2e/README.md)"
    );
    let host = env_or("SWITCHBOARD_E2E_HOST", "host.k3d.internal");
    let (fake_url, twilio) = fake_twilio::start_on("0.0.0.0:0").await;
    twilio.lock().unwrap().own(HOTLINE);
    let fake_port = fake_url.rsplit(':').next().unwrap().to_string();

    // Switchboard, from the chart.
    kubectl_apply(&format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{ name: {NAMESPACE} }}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{ name: twilio-auth, namespace: {NAMESPACE} }}\nstringData: {{ {ACCOUNT}: {TOKEN} }}\n"
    ));
    run(Command::new("helm")
        .args(["upgrade", "--install", "switchboard"])
        .arg(workspace().join("charts/switchboard"))
        .args(["--namespace", NAMESPACE, "--wait", "--timeout", "5m"])
        .args(["--set", &format!("publicUrl={PUBLIC_URL}")])
        .args(["--set", "redis.embedded.enabled=true"])
        .args(["--set", "webhook.twilioAuthSecret=twilio-auth"])
        .args(["--set", "networkPolicy.enabled=false"])
        // The team's Secrets are read through a Role there, not cluster-wide.
        .args(["--set", &format!("operator.secretNamespaces={{{TEAM}}}")])
        .args([
            "--set",
            &format!("operator.twilioApiUrl=http://{host}:{fake_port}"),
        ])
        .args([
            "--set",
            &format!(
                "image.repository={}",
                env_or(
                    "SWITCHBOARD_E2E_IMAGE_REPOSITORY",
                    "ghcr.io/switchboard-dev"
                )
            ),
        ])
        .args([
            "--set",
            &format!("image.tag={}", env_or("SWITCHBOARD_E2E_IMAGE_TAG", "e2e")),
        ]));

    // The team's routing: the examples with the test account (the purchased line is left
    // out: the fake has nothing for sale here).
    let mut manifests = String::new();
    for file in [
        "00-namespace.yaml",
        "01-twilio-credentials.yaml",
        "schedules.yaml",
        "chains.yaml",
        "policies.yaml",
        "phone-numbers.yaml",
    ] {
        let text = std::fs::read_to_string(workspace().join("examples").join(file)).unwrap();
        manifests.push_str(&fake_twilio::with_fake_account(&text));
        manifests.push_str("\n---\n");
    }
    let manifests: String = manifests
        .split("\n---\n")
        .filter(|d| !d.contains("name: major-incident-line"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    kubectl_apply(&manifests);
    kubectl(&[
        "wait",
        "--for=condition=Ready",
        "phonenumber/support-hotline",
        "-n",
        TEAM,
        "--timeout=180s",
    ]);
    assert_eq!(
        twilio.lock().unwrap().by_number(HOTLINE).unwrap()["voice_url"],
        format!("{PUBLIC_URL}/twilio/voice")
    );

    // A call at the webhook Service.
    let local = free_port();
    let _pf = PortForward(
        Command::new("kubectl")
            .args(["port-forward", "-n", NAMESPACE, "svc/switchboard-webhook"])
            .arg(format!("{local}:8080"))
            .stdout(Stdio::null())
            .spawn()
            .expect("kubectl port-forward"),
    );
    eventually("the port-forward listens", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", local)).is_ok()
    });
    let mut sim = Simulator::new(
        PUBLIC_URL,
        vec![format!("http://127.0.0.1:{local}")],
        ACCOUNT,
        TOKEN,
        Arc::new(AtomicI64::new(Timestamp::now().as_millisecond())),
    );
    let t = sim
        .run(
            Script::call("+15105550123", HOTLINE)
                .press(&["2"])
                .responder(DBA_MANAGER, Behaviour::Accept { after: 5 }),
        )
        .await
        .expect("the call ran");
    assert!(t.application_errors.is_empty(), "{}", t.render());
    assert_eq!(t.connected.as_deref(), Some(DBA_MANAGER), "{}", t.render());

    // The embedded Redis keeps nothing on disk: flushed, as by a restart, it gets the table
    // back from the operator within seconds (it checks every 5 s), and calls route again.
    kubectl(&[
        "exec",
        "-n",
        NAMESPACE,
        "deploy/switchboard-redis",
        "--",
        "redis-cli",
        "FLUSHALL",
    ]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let t = sim
            .run(Script::call("+15105550124", HOTLINE))
            .await
            .expect("the call ran");
        assert!(t.application_errors.is_empty(), "{}", t.render());
        if !t.heard.iter().any(|h| h.contains("not in service")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the table was not restored after Redis lost it: {}",
            t.render()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // Delete the PhoneNumbers first (their finalizers need the credentials Secret to let the
    // numbers go), then everything else.
    kubectl(&[
        "delete",
        "phonenumbers",
        "--all",
        "-n",
        TEAM,
        "--wait=true",
        "--timeout=180s",
    ]);
    assert!(
        twilio
            .lock()
            .unwrap()
            .by_number(HOTLINE)
            .is_some_and(|n| !n["voice_url"].starts_with(PUBLIC_URL)),
        "the finalizer pointed the number away from Switchboard"
    );
    let t = sim
        .run(Script::call("+15105550123", HOTLINE))
        .await
        .expect("the call ran");
    assert!(
        t.heard.iter().any(|h| h.contains("not in service")),
        "the finalizer removed the table: {}",
        t.render()
    );
    kubectl(&["delete", "namespace", TEAM, "--wait=true", "--timeout=180s"]);
    run(Command::new("helm").args([
        "uninstall",
        "switchboard",
        "--namespace",
        NAMESPACE,
        "--wait",
    ]));
    kubectl(&["delete", "namespace", NAMESPACE, "--wait=false"]);
}
