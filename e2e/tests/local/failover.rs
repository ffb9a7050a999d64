//! Processes killed, Redis down and a server draining: calls and alerts still go through.

use super::*;

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

/// The chart's memory limit of a webhook server container (`webhook.resources`).
const CHART_WEBHOOK_MEMORY_KIB: u64 = 128 * 1024;

/// A line of /proc/PID/status, in KiB (`VmRSS:`, `VmHWM:`).
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server runs");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_idle_connections_stay_under_the_charts_memory_limit_and_calls_resume() {
    let s = Stack::start("idle").await;
    // The server again, with a 3 s idle timeout instead of 75 s so the test need not wait.
    let port = s.webhook_port;
    let pid = {
        let mut h = s.webhook.lock().unwrap();
        h.kill();
        *h = Proc::spawn(
            Command::new(bin("switchboard-webhook"))
                .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
                .env("SWITCHBOARD_REDIS_URL", &s.redis.url)
                .env("SWITCHBOARD_PUBLIC_URL", PUBLIC_URL)
                .env("SWITCHBOARD_TWILIO_CREDENTIALS_DIR", s._creds.path())
                .env("SWITCHBOARD_IDLE_TIMEOUT_SECONDS", "3"),
            &s.logs.join("webhook.log"),
        );
        h.child.id()
    };
    wait_for_port(port, "switchboard-webhook");
    let before = memory_kib(pid, "VmRSS:");

    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..3000 {
        opening.spawn(tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(("127.0.0.1", port)),
        ));
    }
    let mut idle = Vec::new();
    while let Some(r) = opening.join_next().await {
        if let Ok(Ok(stream)) = r.unwrap() {
            idle.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let with_idle = memory_kib(pid, "VmRSS:");
    let peak = memory_kib(pid, "VmHWM:");
    println!(
        "3,000 idle connections opened, {} connected: server RSS {before} KiB -> {with_idle} KiB \
         (peak {peak} KiB, chart limit {CHART_WEBHOOK_MEMORY_KIB} KiB)",
        idle.len()
    );
    assert!(
        peak < CHART_WEBHOOK_MEMORY_KIB,
        "peak RSS {peak} KiB is over the chart's limit"
    );

    // Past the idle timeout the server has closed the idle connections it served, and a call
    // is answered while every client socket is still open.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let connected = idle.len();
    let mut reading = tokio::task::JoinSet::new();
    for mut c in idle {
        reading.spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 1];
            let read = tokio::time::timeout(Duration::from_secs(1), c.read(&mut buf)).await;
            // A read of 0 bytes: the server closed it. The socket stays open on this side.
            (matches!(read, Ok(Ok(0))), c)
        });
    }
    let mut closed = 0;
    let mut idle = Vec::new();
    while let Some(r) = reading.join_next().await {
        let (was_closed, c) = r.unwrap();
        closed += usize::from(was_closed);
        idle.push(c);
    }
    println!("after the 3 s idle timeout: {closed} of {connected} closed by the server");
    // At least every connection the server took (its limit is 1,024) was closed by it.
    assert!(
        closed >= connected.min(1024),
        "{closed} of {connected} idle connections were closed"
    );
    let t = s
        .call(database_call().responder(DBA_MANAGER, Behaviour::Accept { after: 5 }))
        .await;
    assert_eq!(t.connected.as_deref(), Some(DBA_MANAGER), "{}", t.render());
    drop(idle);
}
