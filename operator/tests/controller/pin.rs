//! A policy's PIN against the API server verifier: the reconcile reads the PIN's Secret right
//! after the credentials, and publishes a digest keyed by the auth token, never the PIN; a PIN
//! Secret that does not exist keeps the last good table and says which field to fix.

use super::*;
use switchboard_crds::common::SecretKeyRef;
use switchboard_crds::policy::Pin;

fn with_pin(s: &Setup, secret: &str) -> Arc<Context> {
    let policies = edited_policies(s, |p| {
        p.spec.pin = Some(Pin {
            secret_ref: SecretKeyRef {
                name: secret.into(),
                key: "pin".into(),
            },
            attempts: 3,
            ask_known_callers: false,
            timeout_seconds: 10,
        });
    });
    let (store, mut w) = reflector::store();
    fill(&mut w, policies);
    with_stores(
        &s.ctx,
        Stores {
            policies: store,
            ..s.ctx.stores.clone()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pin_is_read_from_its_secret_and_published_only_as_a_keyed_digest() {
    let (pn, s) = published_hotline().await;
    let before = hotline_revision(&s.redis.url).await.unwrap();
    s.seen.lock().unwrap().requests.clear();
    phone_number::reconcile(Arc::new(pn.clone()), with_pin(&s, "partner-pin"))
        .await
        .unwrap();
    let requests: Vec<String> = s
        .seen
        .lock()
        .unwrap()
        .requests
        .iter()
        .map(|r| r.0.clone())
        .collect();
    assert_eq!(
        requests[..2],
        [
            "GET /api/v1/namespaces/oncall/secrets/twilio-credentials",
            "GET /api/v1/namespaces/oncall/secrets/partner-pin",
        ],
        "{requests:?}"
    );
    assert_ne!(hotline_revision(&s.redis.url).await.unwrap(), before);
    let json = hotline_table(&s.redis.url).await.unwrap();
    assert!(
        !json.contains(PARTNER_PIN),
        "the PIN itself is never in Redis"
    );
    let table: switchboard_routing::RoutingTable = serde_json::from_str(&json).unwrap();
    let pin = table.policy.pin.expect("the table asks the PIN");
    assert!(pin.matches(TOKEN, "oncall/support", PARTNER_PIN));
    assert!(!pin.matches(TOKEN, "oncall/support", "000000"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_secret_that_does_not_exist_keeps_the_last_table_and_names_the_field() {
    let (pn, s) = published_hotline().await;
    let before = hotline_revision(&s.redis.url).await.unwrap();
    phone_number::reconcile(Arc::new(pn.clone()), with_pin(&s, "no-such-pin"))
        .await
        .unwrap();
    assert_eq!(hotline_revision(&s.redis.url).await.unwrap(), before);
    let seen = s.seen.lock().unwrap();
    let status = seen
        .requests
        .iter()
        .rev()
        .find(|(r, _)| r.starts_with("PATCH") && r.ends_with("/status"))
        .map(|(_, body)| body.to_string())
        .expect("a status patch");
    assert!(
        status.contains("IncomingCallPolicy oncall/support: spec.pin.secretRef: Secret oncall/no-such-pin does not exist"),
        "{status}"
    );
}
