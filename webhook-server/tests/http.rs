//! The HTTP surface, request by request: signatures, malformed input, health, metrics.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use switchboard_routing::signature;
use switchboard_webhook::{AppState, AuthToken, Clock, Credentials, Fallback, Store, app};
use tower::ServiceExt;

fn state(store: Store) -> AppState {
    AppState::new(
        store,
        Credentials::fixed([(ACCOUNT.to_string(), AuthToken::new(TOKEN))]),
        PUBLIC_URL,
        Fallback {
            number: Some(FALLBACK_NUMBER.into()),
            ..Fallback::default()
        },
        Clock::manual(monday_10am()),
    )
}

fn params(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT),
        ("CallSid", "CA0001"),
        ("From", CALLER),
        ("To", HOTLINE),
        ("CallStatus", "ringing"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    p.dedup_by(|a, b| a.0 == b.0);
    p
}

fn post(path: &str, p: &[(String, String)], signature: Option<String>) -> Request<Body> {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(p)
        .finish();
    let mut r = Request::post(path)
        // What the server sees behind an ingress: its own Host, not the public one.
        .header("host", "10.0.0.7:8080")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(s) = signature {
        r = r.header("X-Twilio-Signature", s);
    }
    r.body(Body::from(body)).unwrap()
}

fn signed(path: &str, p: &[(String, String)]) -> Request<Body> {
    let sig = signature::sign(TOKEN, &format!("{PUBLIC_URL}{path}"), p);
    post(path, p, Some(sig))
}

async fn send(st: &AppState, req: Request<Body>) -> (StatusCode, String) {
    let res = app(st.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn memory_with_table() -> Store {
    let store = Store::memory();
    store.put_table(&table()).await.unwrap();
    store
}

#[tokio::test]
async fn a_signature_over_the_public_url_is_accepted_whatever_the_host_header() {
    let st = state(memory_with_table().await);
    let (status, body) = send(&st, signed("/twilio/voice", &params(&[]))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Thank you for calling Acme"), "{body}");
}

#[tokio::test]
async fn an_unknown_path_says_which_paths_exist_instead_of_blaming_the_signature() {
    let st = state(memory_with_table().await);
    for path in ["/voice", "/switchboard/twilio/voice", "/twilio/voicemail"] {
        let (status, body) = send(&st, signed(path, &params(&[]))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            body.contains("Twilio's webhooks are POST /twilio/voice"),
            "{path}: {body}"
        );
        assert!(!body.contains("signature"), "{path}: {body}");
    }
}

#[tokio::test]
async fn behind_a_port_or_basic_auth_every_url_twilio_signs_is_accepted_and_tampering_is_not() {
    for public in [
        "https://hotline.example.com:8443",
        "https://hotline.example.com:443",
        "https://twilio:s3cret@hotline.example.com",
    ] {
        let st = AppState::new(
            memory_with_table().await,
            Credentials::fixed([(ACCOUNT.to_string(), AuthToken::new(TOKEN))]),
            public,
            Fallback::default(),
            Clock::manual(monday_10am()),
        );
        let p = params(&[]);
        // NB: Twilio signs voice webhooks over https without the port, and the helper
        // libraries also sign with the standard port or with the URL as configured.
        for signed_url in [
            format!("{public}/twilio/voice"),
            "https://hotline.example.com/twilio/voice".to_string(),
            "https://hotline.example.com:443/twilio/voice".to_string(),
        ] {
            let sig = signature::sign(TOKEN, &signed_url, &p);
            let (status, body) = send(&st, post("/twilio/voice", &p, Some(sig.clone()))).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{public}: signed over {signed_url}: {body}"
            );
            let mut tampered = p.clone();
            tampered[2].1 = "+15550000000".into();
            let (status, _) = send(&st, post("/twilio/voice", &tampered, Some(sig))).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{public}: tampered, {signed_url}"
            );
        }
        // Another host, or another port, is not a form of the public URL.
        for foreign in [
            "https://evil.example.com/twilio/voice",
            "https://hotline.example.com:9443/twilio/voice",
        ] {
            let sig = signature::sign(TOKEN, foreign, &p);
            let (status, _) = send(&st, post("/twilio/voice", &p, Some(sig))).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{public}: signed over {foreign}"
            );
        }
    }
}

#[tokio::test]
async fn bad_or_missing_signatures_are_refused_and_counted() {
    let st = state(memory_with_table().await);
    let p = params(&[]);
    // Missing.
    let (status, _) = send(&st, post("/twilio/voice", &p, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Signed over the Host the server sees instead of the public URL.
    let wrong_url = signature::sign(TOKEN, "http://10.0.0.7:8080/twilio/voice", &p);
    let (status, _) = send(&st, post("/twilio/voice", &p, Some(wrong_url))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A parameter changed after signing.
    let sig = signature::sign(TOKEN, &format!("{PUBLIC_URL}/twilio/voice"), &p);
    let tampered = params(&[("From", "+15550000000")]);
    let mut tampered = tampered;
    tampered[2].1 = "+15550000000".into();
    let (status, _) = send(&st, post("/twilio/voice", &tampered, Some(sig))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An account the server has no token for.
    let mut other = p.clone();
    other[0].1 = "AC9999".into();
    let sig = signature::sign(TOKEN, &format!("{PUBLIC_URL}/twilio/voice"), &other);
    let (status, _) = send(&st, post("/twilio/voice", &other, Some(sig))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let m = st.metrics().encode();
    assert!(
        m.contains("signature_rejections_total{reason=\"missing\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("signature_rejections_total{reason=\"mismatch\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("signature_rejections_total{reason=\"unknown-account\"} 1"),
        "{m}"
    );
    // Nothing was stored for the refused requests.
    assert!(st.store().recent_calls(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn twilio_documented_signature_example_checks_out() {
    // ../shared/twilio/README.md: token 12345, this URL and these parameters.
    let p: Vec<(String, String)> = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    assert!(signature::verify(
        "12345",
        url,
        &p,
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    ));
}

#[tokio::test]
async fn malformed_but_signed_webhooks_still_get_valid_twiml() {
    let st = state(memory_with_table().await);
    // No CallSid at all.
    let p: Vec<(String, String)> = vec![("AccountSid".into(), ACCOUNT.into())];
    let (status, body) = send(&st, signed("/twilio/voice", &p)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("having trouble") && body.contains(FALLBACK_NUMBER),
        "{body}"
    );
    // A dial callback without its sequence number.
    let (status, body) = send(&st, signed("/twilio/voice/dial", &params(&[]))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<Say>"), "{body}");
    // A callback for a call nobody knows.
    let (status, body) = send(&st, signed("/twilio/voice/menu?attempt=0", &params(&[]))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(FALLBACK_NUMBER), "{body}");
    // A whisper for an unknown call hangs up the responder's leg, not dial the fallback.
    let (status, body) = send(
        &st,
        signed(
            "/twilio/voice/whisper?call=CAnope&seq=1&ring=0",
            &params(&[]),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("<Hangup/>") && !body.contains("<Dial"),
        "{body}"
    );
}

#[tokio::test]
async fn the_fallback_endpoint_needs_no_store() {
    let redis = Redis::start();
    let st = state(store_on(&redis));
    redis.stop();
    let (status, body) = send(
        &st,
        signed("/twilio/voice/fallback", &params(&[("ErrorCode", "11200")])),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("having trouble") && body.contains(FALLBACK_NUMBER),
        "{body}"
    );
    // And an ordinary webhook with Redis down gets the same, not an error.
    let (status, body) = send(&st, signed("/twilio/voice", &params(&[]))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(FALLBACK_NUMBER), "{body}");
}

#[tokio::test]
async fn a_draining_server_is_unready_but_still_answers_every_webhook() {
    let redis = Redis::start();
    let st = state(store_on(&redis));
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    st.drain();
    let (status, body) = send(&st, get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "draining\n");
    // A call routed here before the endpoints caught up is served as usual, not refused.
    let (status, body) = send(&st, signed("/twilio/voice", &params(&[]))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.starts_with("<?xml") && body.contains("<Response>"),
        "{body}"
    );
    assert_eq!(send(&st, get("/healthz")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let redis = Redis::start();
    let st = state(store_on(&redis));
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    assert_eq!(send(&st, get("/healthz")).await.0, StatusCode::OK);
    assert_eq!(send(&st, get("/readyz")).await.0, StatusCode::OK);
    assert_eq!(send(&st, get("/storez")).await.0, StatusCode::OK);
    assert!(
        st.metrics()
            .encode()
            .contains("switchboard_webhook_store_up 1")
    );
    redis.stop();
    // Redis gone: still ready (it answers with the fallback, so it must stay in the Service),
    // and Redis's own probe and gauge say what is wrong.
    let (status, body) = send(&st, get("/readyz")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("answering with the fallback"), "{body}");
    let (status, body) = send(&st, get("/storez")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        st.metrics()
            .encode()
            .contains("switchboard_webhook_store_up 0")
    );
    let (status, twiml) = send(&st, signed("/twilio/voice", &params(&[]))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(twiml.contains(FALLBACK_NUMBER), "{twiml}");
    assert_eq!(send(&st, get("/healthz")).await.0, StatusCode::OK);
    let (status, body) = send(&st, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    for name in [
        "switchboard_webhook_calls counter",
        "switchboard_webhook_time_to_answer_seconds histogram",
        "switchboard_webhook_signature_rejections counter",
    ] {
        assert!(
            body.contains(&format!("# TYPE {name}")),
            "{name} missing from {body}"
        );
    }
    assert!(
        body.contains("switchboard_webhook_calls_total{outcome=\"answered\"} 0"),
        "{body}"
    );
}

#[tokio::test]
async fn a_number_owned_by_another_account_is_not_served() {
    let store = Store::memory();
    let mut t = table();
    t.account_sid = Some("AC_other_account".into());
    store.put_table(&t.seal()).await.unwrap();
    let st = state(store);
    let (status, body) = send(&st, signed("/twilio/voice", &params(&[]))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("not in service"), "{body}");
}

#[tokio::test]
async fn texts_are_answered_with_the_policys_reply_and_signatures_checked() {
    let st = state(memory_with_table().await);
    let p = params(&[("MessageSid", "SM1"), ("Body", "db down")]);
    let (status, body) = send(&st, signed("/twilio/sms", &p)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("<Message>Thanks, the on-call engineer has been notified.</Message>"),
        "{body}"
    );
    let stop = params(&[("MessageSid", "SM2"), ("Body", "STOP")]);
    let (_, body) = send(&st, signed("/twilio/sms", &stop)).await;
    assert!(!body.contains("<Message>"), "{body}");
    let (status, _) = send(&st, post("/twilio/sms", &p, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Both are in the text log, newest first, once each though SM1 came twice.
    let (_, again) = send(&st, signed("/twilio/sms", &p)).await;
    assert!(again.contains("<Message>"), "{again}");
    let texts = st.store().recent_texts(10).await.unwrap();
    let sids: Vec<&str> = texts.iter().map(|t| t.message_sid.as_str()).collect();
    assert_eq!(sids, ["SM2", "SM1"]);
    assert_eq!(texts[1].outcome, "routed");
    assert_eq!(texts[1].body, "db down");
    assert!(!texts[1].forwarded_to.is_empty(), "{:?}", texts[1]);
    assert_eq!(texts[0].outcome, "ignored");
}

#[tokio::test]
async fn a_body_over_64_kib_gets_twiml_not_a_bare_413_and_is_not_served() {
    let st = state(memory_with_table().await);
    let huge = "x".repeat(70 * 1024);
    let p = params(&[("SpeechResult", huge.as_str())]);
    let (status, body) = send(&st, signed("/twilio/voice", &p)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.starts_with("<?xml") && body.contains("<Response>"),
        "{body}"
    );
    assert!(
        body.contains("having trouble") && body.contains("<Hangup/>"),
        "{body}"
    );
    // Not checked against its signature, so nothing configured is given away.
    assert!(!body.contains(FALLBACK_NUMBER), "{body}");
    let (_, metrics) = send(&st, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("unreadable-body") && l.ends_with(" 1")),
        "{metrics}"
    );
    // Health endpoints keep their own limit.
    let (status, _) = send(
        &st,
        Request::post("/healthz").body(Body::from(huge)).unwrap(),
    )
    .await;
    assert_ne!(status, StatusCode::OK);
}
