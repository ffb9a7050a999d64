//! `switchboard call`: a scripted call placed at a running `switchboard dev`, in real time.

use super::*;

/// `switchboard dev` on `examples/` without Twilio, on a throwaway Redis; killed on drop.
pub(super) struct Dev {
    child: std::process::Child,
    pub(super) url: String,
    pub(super) redis: switchboard_testkit::RedisServer,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `dev` on `examples/` and waits until the support hotline's table is published.
fn dev() -> Dev {
    dev_on("examples/")
}

/// Starts `dev` on the folder `dir` (relative to the workspace, or absolute).
pub(super) fn dev_on(dir: &str) -> Dev {
    let redis = switchboard_testkit::RedisServer::start();
    let port = switchboard_testkit::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["dev", dir, "--no-twilio", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["--redis-url", &redis.url])
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start switchboard dev");
    let dev = Dev {
        child,
        url: format!("http://127.0.0.1:{port}"),
        redis,
    };
    let mut conn = redis::Client::open(dev.redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let key = switchboard_routing::keys::route("+14155550100");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let published: bool = redis::cmd("EXISTS").arg(&key).query(&mut conn).unwrap();
        let listening = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        if published && listening {
            return dev;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "dev did not publish the hotline"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The summary lines that say what happened: outcome, choice, who was rung and how.
fn outcome(out: &str) -> Vec<String> {
    out.lines()
        .skip_while(|l| !l.starts_with("Call CA"))
        .skip(1)
        .filter(|l| !l.contains("answered by:") && !l.contains("talk time:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn call_plays_a_signed_call_at_a_running_dev_server_with_the_outcome_simulate_gives() {
    let dev = dev();
    let script = [
        "--to",
        "+14155550100",
        "--press",
        "2",
        "--hang-up-after",
        "32",
    ];
    let now = jiff::Timestamp::now().to_string();
    let mut simulate = vec!["simulate", "examples/", "--at", &now];
    simulate.extend(script);
    let (code, simulated, err) = switchboard(&simulate);
    assert_eq!(code, 0, "{err}");

    let mut call = vec![
        "call",
        "examples/",
        "--url",
        &dev.url,
        "--redis-url",
        &dev.redis.url,
    ];
    call.extend(script);
    let (code, called, err) = switchboard(&call);
    assert_eq!(code, 0, "{called}\n{err}");
    // Signed with the auth token of the Secret among the manifests, as dev checks it: no
    // application error, and the server's own call log (read from its Redis) is printed.
    assert!(!called.contains("APPLICATION ERROR"), "{called}");
    assert!(
        called.contains("  switchboard: menu: chose 2 (the database team)"),
        "{called}"
    );
    let summary = outcome(&called);
    assert!(
        summary
            .iter()
            .any(|l| l.contains("outcome:        abandoned")),
        "{called}"
    );
    assert!(
        summary.iter().any(|l| l.contains("pass 1 step 1:")),
        "{called}"
    );
    assert_eq!(
        summary,
        outcome(&simulated),
        "call:\n{called}\nsimulate:\n{simulated}"
    );
}

#[test]
fn call_without_credentials_for_the_account_says_how_to_give_them() {
    let (code, _, err) = switchboard(&[
        "call",
        "examples/",
        "--account-sid",
        "AC00000000000000000000000000000099",
        "--to",
        "+14155550100",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no Secret among the manifests has an accountSid and authToken for AC00000000000000000000000000000099: give --account-sid and --auth-token"),
        "{err}"
    );
}

#[test]
fn validate_prints_the_revision_dev_publishes() {
    let dev = dev();
    let mut conn = redis::Client::open(dev.redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let published: String = redis::cmd("GET")
        .arg(switchboard_routing::keys::route_revision("+14155550100"))
        .query(&mut conn)
        .unwrap();
    let (code, out, err) = switchboard(&["validate", "examples/"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "+14155550100 -> policy oncall/support: 3 chain(s), 3 schedule(s), revision {published}"
        )),
        "dev published {published}; validate said\n{out}"
    );
}
