//! `simulate` playing whole calls, and `calls` reading the call and text logs.

use super::*;

#[test]
fn crds_prints_the_committed_yaml() {
    let (code, out, _) = switchboard(&["crds"]);
    assert_eq!(code, 0);
    let committed = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crds/switchboard.dev.yaml"),
    )
    .unwrap();
    assert_eq!(out, committed);
}

#[test]
fn simulate_plays_a_whole_call_and_says_who_was_rung_and_why() {
    let (code, out, err) = switchboard(&[
        "simulate",
        "examples/",
        "--to",
        "+14155550100",
        "--at",
        "2026-11-23T10:00[America/New_York]",
        "--press",
        "2",
        "--say",
        "the primary database is down",
        "--responder",
        "dana=voicemail",
        "--responder",
        "dba-manager=accept",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    for expected in [
        "caller hears: \"Thank you for calling Acme's incident hotline.\"",
        "Dana Scully (+12125550201)'s voicemail picks up",
        "ringing Dana Scully (+12125550201) for 25s, step 1 (on-call), pass 1: on call in schedule database via layer/business-hours",
        "Hana Ito (+12125550299) presses 1",
        "outcome:        answered",
        "answered by:    Hana Ito after 88s",
        "pass 1 step 1: Dana Scully (+12125550201) -> not-accepted",
        // The policy's 20 s trigger delay ran out before anyone accepted.
        "[  20s]   alert: triggered, to incident-bot (Webhook), oncall-slack (Slack), pagerduty (PagerDuty)",
        "[  88s]   alert: acknowledged (Hana Ito accepted)",
        "alerts:         triggered, acknowledged, resolved -> incident-bot (Webhook)",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
}

#[test]
fn simulate_with_nobody_answering_ends_in_voicemail() {
    let (code, out, err) = switchboard(&[
        "simulate",
        "examples/",
        "--to",
        "+14155550100",
        "--at",
        "2026-11-23T15:00:00Z",
        "--press",
        "2",
        "--leave-message",
        "30",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("caller leaves a 30s message"), "{out}");
    assert!(out.contains("outcome:        voicemail"), "{out}");
    // A voicemail's alert stays open: somebody has to listen to it.
    assert!(
        out.contains("alerts:         triggered, voicemail, transcription -> "),
        "{out}"
    );
    assert!(!out.contains("alert: resolved"), "{out}");
    // Two passes of the database chain: dana, the manager, the NOC desk, twice.
    assert_eq!(out.matches("Twilio rings").count(), 6, "{out}");
}

#[test]
fn simulate_names_an_unknown_responder() {
    let (code, _, err) = switchboard(&[
        "simulate",
        "examples/",
        "--to",
        "+14155550100",
        "--responder",
        "zelda=accept",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("nobody called \"zelda\""), "{err}");
    assert!(err.contains("dana"), "{err}");
}

#[test]
fn calls_lists_the_call_log_in_redis_and_shows_one_call() {
    use switchboard_webhook::flow::{self, Incoming, Urls};
    use switchboard_webhook::store::{Commit, RedisStore, Retention};
    let redis = switchboard_testkit::RedisServer::start();
    let url = redis.url.clone();
    // A blocked call, written as the webhook server writes it.
    let table = support_hotline();
    let (state, twiml) = flow::incoming(
        Some(&table),
        &Incoming {
            call_sid: "CAlog1",
            from: "+19005550100",
            to: "+14155550100",
        },
        "2026-11-23T15:00:00Z".parse().unwrap(),
        &Urls::new("https://sb.example.com"),
    );
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = switchboard_webhook::Store::redis(
            RedisStore::connect(&url, std::time::Duration::from_secs(2)).unwrap(),
            Retention::default(),
        );
        let xml = twiml.to_xml();
        let commit = Commit {
            state: &state,
            expected_version: 0,
            key: "incoming",
            response: &xml,
            alert: None,
            replace: false,
        };
        assert!(store.commit(commit).await.unwrap());
    });
    let (code, out, err) = switchboard(&["calls", "--redis-url", &url]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("OUTCOME"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("CAlog1") && l.contains("+19005550100") && l.contains("blocked")),
        "{out}"
    );
    let (code, out, err) = switchboard(&["calls", "--redis-url", &url, "CAlog1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("outcome:        blocked"), "{out}");
    assert!(
        out.contains("caller +19005550100 is on the blocklist"),
        "{out}"
    );
    let (code, _, err) = switchboard(&["calls", "--redis-url", &url, "CAnope"]);
    assert_eq!(code, 2);
    assert!(err.contains("no call CAnope in the call log"), "{err}");
}

#[test]
fn calls_texts_lists_the_text_log_in_redis() {
    use switchboard_webhook::sms::{self, Text, TextRecord};
    use switchboard_webhook::store::{RedisStore, Retention};
    let redis = switchboard_testkit::RedisServer::start();
    let url = redis.url.clone();
    let table = support_hotline();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = switchboard_webhook::Store::redis(
            RedisStore::connect(&url, std::time::Duration::from_secs(2)).unwrap(),
            Retention::default(),
        );
        // Two texts, recorded as the webhook server records them; the first one twice.
        for (sid, body) in [
            (
                "SMlog1",
                "2 the primary database is down and writes are failing",
            ),
            (
                "SMlog1",
                "2 the primary database is down and writes are failing",
            ),
            ("SMlog2", "STOP"),
        ] {
            let text = Text {
                message_sid: sid,
                from: "+15105550123",
                to: "+14155550100",
                body,
                opt_out_type: "",
            };
            let now = "2026-11-23T15:00:00Z".parse().unwrap();
            let answer = sms::text(Some(&table), &text, now);
            let record = TextRecord::of(&text, &answer, now);
            store
                .text(&record, &answer.reply.to_xml(), answer.alert.as_ref())
                .await
                .unwrap();
        }
    });
    let (code, out, err) = switchboard(&["calls", "--redis-url", &url, "--texts"]);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two texts:\n{out}");
    assert!(lines[0].contains("FORWARDED TO"), "{out}");
    assert!(
        lines[1].contains("SMlog2") && lines[1].contains("ignored"),
        "{out}"
    );
    assert!(
        lines[2].contains("SMlog1")
            && lines[2].contains("routed")
            && lines[2].contains("Dana Scully")
            && lines[2].contains("\"2 the primary database is down and write...\""),
        "{out}"
    );
}

#[test]
fn calls_reads_a_tls_redis_with_a_password_that_a_url_could_not_hold() {
    let password = "p@ss/w:rd#%?";
    let redis = tls_redis(password);
    let url = format!("rediss://localhost:{}/0", redis.port);
    let run = |pw: &str| {
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["calls", "--redis-url", &url])
            .env("SSL_CERT_FILE", &redis.ca)
            .env("SWITCHBOARD_REDIS_PASSWORD", pw)
            .output()
            .unwrap()
    };
    let ok = run(password);
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(out.starts_with("STARTED (UTC)"), "{out}");
    let wrong = run("not-it");
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(!wrong.status.success());
    assert!(err.contains("authentication failed"), "{err}");
    assert!(!err.contains("not-it") && !err.contains(password), "{err}");
}

#[test]
fn validate_names_a_notification_secret_that_is_unlabelled_or_holds_twilio_credentials() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.yaml"),
        r#"apiVersion: switchboard.dev/v1alpha1
kind: IncomingCallPolicy
metadata: { name: support, namespace: oncall }
spec:
  chainRef: { name: platform }
  notifications:
    - name: bot
      type: Webhook
      url: https://hooks.example.com/x
      secretRef: { name: db-password, key: password }
    - name: pd
      type: PagerDuty
      url: https://attacker.example.com/
      secretRef: { name: twilio-credentials, key: authToken }
---
apiVersion: switchboard.dev/v1alpha1
kind: PhoneNumber
metadata: { name: hotline, namespace: oncall }
spec:
  number: "+14155550100"
  policyRef: { name: support }
  credentialsSecretRef: { name: twilio-credentials }
---
apiVersion: v1
kind: Secret
metadata: { name: db-password, namespace: oncall }
stringData: { password: x }
---
apiVersion: v1
kind: Secret
metadata:
  name: twilio-credentials
  namespace: oncall
  labels: { switchboard.dev/notifications: "true" }
stringData: { accountSid: AC00000000000000000000000000000000, authToken: y }
"#,
    )
    .unwrap();
    let (code, out, err) = switchboard(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("spec.notifications[0].secretRef: Secret oncall/db-password is not labelled switchboard.dev/notifications=true"),
        "{out}"
    );
    assert!(
        out.contains("spec.notifications[1].secretRef: Secret oncall/twilio-credentials holds a PhoneNumber's Twilio credentials"),
        "{out}"
    );
    assert!(
        !out.contains("hunter") && !out.contains("authToken: y"),
        "{out}"
    );
}

#[test]
fn a_plain_number_target_is_named_once_in_the_transcript_and_the_call_log() {
    let (code, out, err) = switchboard(&[
        "simulate",
        "examples/",
        "--to",
        "+14155550100",
        "--at",
        "2026-11-23T10:00[America/New_York]",
        "--press",
        "2",
        "--hang-up-after",
        "75",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("  switchboard: ringing +12125550999 for 20s, step 2 (manager-then-noc)"),
        "{out}"
    );
    assert!(
        out.contains(
            "    pass 1 step 2: +12125550999 -> caller-hung-up  [number named in the chain]"
        ),
        "{out}"
    );
    assert!(!out.contains("+12125550999 (+12125550999)"), "{out}");
}

#[test]
fn a_responder_who_declines_passes_the_call_on_at_once() {
    let (code, out, err) = readme_call(
        "examples/",
        &[
            "--responder",
            "dana=decline",
            "--responder",
            "dba-manager=accept",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    for expected in [
        "Dana Scully (+12125550201) hears: \"Press 1 to take this call, or 2 to pass it on.\"",
        "[  48s] Dana Scully (+12125550201) presses 2",
        "switchboard: Dana Scully declined the call (pressed 2): passing it on",
        // Two seconds later (Twilio ending her leg), not when her 25 s ring timeout runs out.
        "[  50s] Twilio rings Hana Ito (+12125550299) for up to 20s",
        "pass 1 step 1: Dana Scully (+12125550201) -> not-accepted",
        "answered by:    Hana Ito after 71s",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
}
