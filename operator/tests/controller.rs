//! The PhoneNumber reconcile against an "API server verifier" (a tower-test mock pair that
//! asserts each request and answers as the API server would), a real Redis server and the
//! stateful Twilio fake, on the objects in `examples/`. In the style of kube-rs's
//! controller-rs.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use http::{Request, Response};
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use switchboard_crds::PhoneNumber;
use switchboard_operator::SchemaChecker;
use switchboard_operator::controller::{Context, Stores, deps, live, phone_number, reporter};
use switchboard_operator::manifests::{load_files, manifest_files};
use switchboard_operator::metrics::Metrics;
use switchboard_testkit::twilio::{self as fake_twilio, ACCOUNT, TOKEN};

const PUBLIC: &str = "https://sb.example.com";

use switchboard_testkit::RedisServer as Redis;

/// What the verifier saw.
#[derive(Default, Debug)]
struct Seen {
    /// `METHOD path` and body of every non-event request, in order.
    requests: Vec<(String, Value)>,
    /// Reasons of the events published.
    events: Vec<String>,
}

type ApiHandle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// Answers the reconcile's requests like the API server: Secret reads, status and finalizer
/// patches (echoing the object), event creation.
fn api_server(
    mut handle: ApiHandle,
    object: PhoneNumber,
    secret: Option<Value>,
) -> Arc<Mutex<Seen>> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            let method = req.method().to_string();
            let path = req.uri().path().to_string();
            let body = req.into_body().collect_bytes().await.unwrap();
            let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let (status, answer) = if path.contains("/events") {
                s.lock()
                    .unwrap()
                    .events
                    .push(json["reason"].as_str().unwrap_or("").to_string());
                (201, json.clone())
            } else {
                s.lock()
                    .unwrap()
                    .requests
                    .push((format!("{method} {path}"), json.clone()));
                if path.ends_with("/secrets/twilio-credentials") {
                    match &secret {
                        Some(sec) => (200, sec.clone()),
                        None => (
                            404,
                            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "secrets \"twilio-credentials\" not found"}),
                        ),
                    }
                } else {
                    // Patches: answer with the object (finalizer or status applied is enough).
                    let mut o = serde_json::to_value(&object).unwrap();
                    if let Some(st) = json.get("status") {
                        o["status"] = st.clone();
                    }
                    (200, o)
                }
            };
            send.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                    .unwrap(),
            );
        }
    });
    seen
}

fn secret() -> Value {
    use base64::Engine;
    let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "twilio-credentials", "namespace": "oncall"},
        "data": {"accountSid": b(ACCOUNT), "authToken": b(TOKEN)}
    })
}

struct Setup {
    ctx: Arc<Context>,
    seen: Arc<Mutex<Seen>>,
    redis: Redis,
    twilio: fake_twilio::Shared,
}

fn fill<K>(writer: &mut Writer<K>, items: impl IntoIterator<Item = K>)
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    for i in items {
        writer.apply_watcher_event(&watcher::Event::Apply(i));
    }
}

/// The examples' hotline, with its finalizer, reconciled once: configured and published.
async fn published_hotline() -> (PhoneNumber, Setup) {
    let mut pn = examples_hotline().await;
    pn.metadata.finalizers = Some(vec![phone_number::FINALIZER.into()]);
    let s = setup(&pn, Some(secret()), false).await;
    phone_number::reconcile(Arc::new(pn.clone()), s.ctx.clone())
        .await
        .unwrap();
    (pn, s)
}

/// `pn` being deleted, its number recorded in status.
fn deleting(pn: &PhoneNumber) -> PhoneNumber {
    let mut deleting = pn.clone();
    deleting.metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
    );
    deleting.status = Some(switchboard_crds::PhoneNumberStatus {
        number: Some("+14155550100".into()),
        ..Default::default()
    });
    deleting
}

async fn setup(object: &PhoneNumber, secret: Option<Value>, drop_policy: bool) -> Setup {
    let object = object.clone();
    setup_with(drop_policy, move |handle| {
        api_server(handle, object, secret)
    })
    .await
}

/// The setup, with `verifier` answering the API requests.
async fn setup_with(
    drop_policy: bool,
    verifier: impl FnOnce(ApiHandle) -> Arc<Mutex<Seen>>,
) -> Setup {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let loaded = load_files(
        &manifest_files(&[root], false).unwrap(),
        &SchemaChecker::new(),
    )
    .unwrap();
    let objects = loaded.objects;
    let (numbers, mut nw) = reflector::store();
    let (policies, mut pw) = reflector::store();
    let (chains, mut cw) = reflector::store();
    let (schedules, mut sw) = reflector::store();
    fill(
        &mut nw,
        objects.phone_numbers.iter().map(|s| s.object.clone()),
    );
    if !drop_policy {
        fill(&mut pw, objects.policies.iter().map(|s| s.object.clone()));
    }
    fill(&mut cw, objects.chains.iter().map(|s| s.object.clone()));
    fill(&mut sw, objects.schedules.iter().map(|s| s.object.clone()));
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let seen = verifier(handle);
    let redis = Redis::start();
    let conn = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    let (twilio_url, twilio) = fake_twilio::start().await;
    twilio.lock().unwrap().own("+14155550100");
    let ctx = Arc::new(Context {
        client: client.clone(),
        redis: conn.into(),
        public_url: PUBLIC.into(),
        twilio_api_url: Some(twilio_url),
        recorder: Recorder::new(client, reporter()),
        stores: Stores {
            numbers,
            policies,
            chains,
            schedules,
        },
        metrics: Arc::new(Metrics::default()),
        live: Default::default(),
        resync: phone_number::RESYNC,
        kept: Default::default(),
    });
    Setup {
        ctx,
        seen,
        redis,
        twilio,
    }
}

/// A context like `ctx` (same API server, Redis, Twilio and metrics) reading `stores`, as a
/// freshly started operator: nothing published or kept by it yet.
fn with_stores(ctx: &Context, stores: Stores) -> Arc<Context> {
    Arc::new(Context {
        client: ctx.client.clone(),
        redis: ctx.redis.clone(),
        public_url: PUBLIC.into(),
        twilio_api_url: ctx.twilio_api_url.clone(),
        recorder: Recorder::new(ctx.client.clone(), reporter()),
        stores,
        metrics: ctx.metrics.clone(),
        live: Default::default(),
        resync: ctx.resync,
        kept: Default::default(),
    })
}

fn hotline(numbers: &[PhoneNumber]) -> PhoneNumber {
    let mut pn = numbers
        .iter()
        .find(|n| n.name_any() == "support-hotline")
        .unwrap()
        .clone();
    pn.metadata.uid = Some("0b9e2f4c-1111-2222-3333-444455556666".into());
    pn.metadata.generation = Some(2);
    pn
}

async fn redis_get(url: &str, key: &str) -> Option<String> {
    let mut c = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap()
}

async fn examples_hotline() -> PhoneNumber {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let loaded = load_files(
        &manifest_files(&[root], false).unwrap(),
        &SchemaChecker::new(),
    )
    .unwrap();
    hotline(
        &loaded
            .objects
            .phone_numbers
            .iter()
            .map(|s| s.object.clone())
            .collect::<Vec<_>>(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_phone_number_gets_the_finalizer_first() {
    let pn = examples_hotline().await;
    let s = setup(&pn, Some(secret()), false).await;
    let action = phone_number::reconcile(Arc::new(pn), s.ctx.clone())
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
    let (what, body) = {
        let seen = s.seen.lock().unwrap();
        assert_eq!(seen.requests.len(), 1, "{seen:?}");
        seen.requests[0].clone()
    };
    assert_eq!(
        what.as_str(),
        "PATCH /apis/switchboard.dev/v1alpha1/namespaces/oncall/phonenumbers/support-hotline"
    );
    assert!(
        body.to_string().contains("switchboard.dev/cleanup"),
        "{body}"
    );
    // Nothing published before the finalizer is in place.
    assert_eq!(
        redis_get(
            &s.redis.url,
            &switchboard_routing::keys::route("+14155550100")
        )
        .await,
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_phone_number_is_configured_published_and_reported_ready() {
    let mut pn = examples_hotline().await;
    pn.metadata.finalizers = Some(vec![phone_number::FINALIZER.into()]);
    let s = setup(&pn, Some(secret()), false).await;
    let action = phone_number::reconcile(Arc::new(pn), s.ctx.clone())
        .await
        .unwrap();
    assert_eq!(action, Action::requeue(phone_number::RESYNC));
    // Twilio: the number points at the webhook server.
    let n = hotline_in_twilio(&s.twilio);
    assert_eq!(n["voice_url"], "https://sb.example.com/twilio/voice");
    // Redis: the table and its revision are current.
    let table = redis_get(
        &s.redis.url,
        &switchboard_routing::keys::route("+14155550100"),
    )
    .await
    .expect("table published");
    let table: Value = serde_json::from_str(&table).unwrap();
    assert_eq!(table["accountSid"], ACCOUNT);
    let rev = redis_get(
        &s.redis.url,
        &switchboard_routing::keys::route_revision("+14155550100"),
    )
    .await
    .unwrap();
    assert_eq!(table["revision"], rev);
    // The API server saw: the Secret read, then one status patch (server-side apply).
    let seen = s.seen.lock().unwrap();
    let whats: Vec<&str> = seen.requests.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(
        whats,
        [
            "GET /api/v1/namespaces/oncall/secrets/twilio-credentials",
            "PATCH /apis/switchboard.dev/v1alpha1/namespaces/oncall/phonenumbers/support-hotline/status"
        ]
    );
    let status = &seen.requests[1].1["status"];
    assert_eq!(status["number"], "+14155550100");
    assert_eq!(status["observedGeneration"], 2);
    assert_eq!(status["publishedRevision"], rev);
    let conds = status["conditions"].as_array().unwrap();
    let ready = conds.iter().find(|c| c["type"] == "Ready").unwrap();
    assert_eq!(ready["status"], "True", "{conds:?}");
    for t in ["ReferencesResolved", "TwilioConfigured", "RoutesPublished"] {
        assert!(
            conds
                .iter()
                .any(|c| c["type"] == t && c["status"] == "True"),
            "{t}: {conds:?}"
        );
    }
    assert!(
        seen.events.contains(&"TwilioConfigured".to_string()),
        "{:?}",
        seen.events
    );
    assert!(
        seen.events.contains(&"RoutesPublished".to_string()),
        "{:?}",
        seen.events
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_chain_keeps_the_last_valid_table_live() {
    let (pn, s) = published_hotline().await;
    let before = redis_get(
        &s.redis.url,
        &switchboard_routing::keys::route_revision("+14155550100"),
    )
    .await
    .unwrap();
    // The database chain is edited to ring a schedule that does not exist.
    let mut chains: Vec<_> = s
        .ctx
        .stores
        .chains
        .state()
        .iter()
        .map(|c| (**c).clone())
        .collect();
    let db = chains
        .iter_mut()
        .find(|c| c.name_any() == "database")
        .unwrap();
    db.spec.steps[0].targets[0].on_call = Some("nonexistent".into());
    let (store, mut writer) = reflector::store();
    fill(&mut writer, chains);
    // A restarted operator (it did not publish the table itself) whose store has the edit.
    let ctx = with_stores(
        &s.ctx,
        Stores {
            chains: store,
            ..s.ctx.stores.clone()
        },
    );
    let mut published = pn.clone();
    published.status = Some(switchboard_crds::PhoneNumberStatus {
        published_revision: Some(before.clone()),
        ..Default::default()
    });
    let action = phone_number::reconcile(Arc::new(published), ctx.clone())
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
    assert_eq!(
        redis_get(
            &s.redis.url,
            &switchboard_routing::keys::route_revision("+14155550100")
        )
        .await
        .unwrap(),
        before,
        "the last valid table stays live"
    );
    {
        let seen = s.seen.lock().unwrap();
        let conds = seen.requests.last().unwrap().1["status"]["conditions"].clone();
        let conds = conds.as_array().unwrap();
        let refs = conds
            .iter()
            .find(|c| c["type"] == "ReferencesResolved")
            .unwrap();
        assert!(
            refs["message"]
                .as_str()
                .unwrap()
                .contains("EscalationChain oncall/database: spec.steps[0].targets[0].onCall"),
            "{refs}"
        );
        let routes = conds
            .iter()
            .find(|c| c["type"] == "RoutesPublished")
            .unwrap();
        assert!(
            routes["message"].as_str().unwrap().contains("stays live"),
            "{routes}"
        );
    }
    // That live table comes back if Redis loses it, though this operator only adopted it.
    assert_eq!(ctx.live.numbers().await, ["+14155550100"]);
    let mut conn = ctx.redis.clone();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    assert_eq!(live::check(&ctx, &mut conn).await.unwrap(), 1);
    assert_eq!(
        redis_get(
            &s.redis.url,
            &switchboard_routing::keys::route_revision("+14155550100")
        )
        .await
        .unwrap(),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_name_the_secret_and_the_fix() {
    let mut pn = examples_hotline().await;
    pn.metadata.finalizers = Some(vec![phone_number::FINALIZER.into()]);
    let s = setup(&pn, None, false).await;
    phone_number::reconcile(Arc::new(pn), s.ctx.clone())
        .await
        .unwrap();
    let seen = s.seen.lock().unwrap();
    let conds = seen.requests.last().unwrap().1["status"]["conditions"].clone();
    let refs = conds
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "ReferencesResolved")
        .unwrap()
        .clone();
    assert_eq!(refs["reason"], "CredentialsMissing");
    assert!(
        refs["message"]
            .as_str()
            .unwrap()
            .contains("Secret twilio-credentials does not exist"),
        "{refs}"
    );
    // Never a token in status.
    assert!(!conds.to_string().contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_unpublishes_detaches_and_removes_the_finalizer() {
    let (pn, s) = published_hotline().await;
    assert!(
        redis_get(
            &s.redis.url,
            &switchboard_routing::keys::route("+14155550100")
        )
        .await
        .is_some()
    );
    let deleting = deleting(&pn);
    s.seen.lock().unwrap().requests.clear();
    phone_number::reconcile(Arc::new(deleting), s.ctx.clone())
        .await
        .unwrap();
    assert_eq!(
        redis_get(
            &s.redis.url,
            &switchboard_routing::keys::route("+14155550100")
        )
        .await,
        None
    );
    // The revision key is left with the "unpublished" mark (webhook servers then tell an
    // unpublished number from a Redis that lost its data).
    assert_eq!(
        redis_get(
            &s.redis.url,
            &switchboard_routing::keys::route_revision("+14155550100")
        )
        .await
        .as_deref(),
        Some(switchboard_routing::keys::UNPUBLISHED)
    );
    let n = hotline_in_twilio(&s.twilio);
    assert_eq!(
        n["voice_url"], "https://demo.twilio.com/welcome/voice/",
        "detached, not released"
    );
    let seen = s.seen.lock().unwrap();
    let (last, body) = seen.requests.last().unwrap();
    assert_eq!(
        last,
        "PATCH /apis/switchboard.dev/v1alpha1/namespaces/oncall/phonenumbers/support-hotline"
    );
    assert!(body.to_string().contains("finalizers"), "{body}");
    assert!(seen.events.contains(&"Cleanup".to_string()));
}

#[tokio::test]
async fn a_schedule_change_maps_to_the_numbers_that_ring_it() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let o = load_files(
        &manifest_files(&[root], false).unwrap(),
        &SchemaChecker::new(),
    )
    .unwrap()
    .objects;
    let numbers: Vec<_> = o
        .phone_numbers
        .iter()
        .map(|s| Arc::new(s.object.clone()))
        .collect();
    let policies: Vec<_> = o
        .policies
        .iter()
        .map(|s| Arc::new(s.object.clone()))
        .collect();
    let chains: Vec<_> = o
        .chains
        .iter()
        .map(|s| Arc::new(s.object.clone()))
        .collect();
    let names = |refs: Vec<kube::runtime::reflector::ObjectRef<PhoneNumber>>| {
        let mut n: Vec<String> = refs.into_iter().map(|r| r.name).collect();
        n.sort();
        n
    };
    // The database schedule is rung only through the support hotline's menu.
    assert_eq!(
        names(deps::schedule_users(
            "oncall", "database", &numbers, &policies, &chains
        )),
        ["support-hotline"]
    );
    // The platform chain serves both numbers (menu option 1, and the major-incident line).
    assert_eq!(
        names(deps::chain_users("oncall", "platform", &numbers, &policies)),
        ["major-incident-line", "support-hotline"]
    );
    assert_eq!(
        names(deps::secret_users("oncall", "twilio-credentials", &numbers)),
        ["major-incident-line", "support-hotline"]
    );
    assert!(
        deps::schedule_users("other-namespace", "database", &numbers, &policies, &chains)
            .is_empty()
    );
}

#[tokio::test]
async fn start_up_refuses_with_the_fix_when_the_crds_are_missing() {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        let (req, send) = handle.next_request().await.unwrap();
        assert_eq!(
            req.uri().path(),
            "/apis/switchboard.dev/v1alpha1/phonenumbers"
        );
        send.send_response(
            Response::builder()
                .status(404)
                .body(Body::from(
                    serde_json::to_vec(&json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "the server could not find the requested resource"}))
                        .unwrap(),
                ))
                .unwrap(),
        );
    });
    let err = switchboard_operator::run::check_crds(&Client::new(service, "default"), None)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("kubectl apply --server-side -f crds/switchboard.dev.yaml"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_redis_lost_is_written_again_and_told_on_the_phone_number() {
    let (pn, s) = published_hotline().await;
    let table_key = &switchboard_routing::keys::route("+14155550100");
    let rev_key = &switchboard_routing::keys::route_revision("+14155550100");
    let table = redis_get(&s.redis.url, table_key).await.unwrap();
    let rev = redis_get(&s.redis.url, rev_key).await.unwrap();
    assert_eq!(s.ctx.live.numbers().await, ["+14155550100"]);
    let mut conn = s.ctx.redis.clone();
    // Nothing lost: nothing written, nothing told.
    assert_eq!(live::check(&s.ctx, &mut conn).await.unwrap(), 0);

    // Redis restarted without persistence: the table and its revision are back at the next
    // check, and the PhoneNumber gets a Warning event.
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    assert_eq!(live::check(&s.ctx, &mut conn).await.unwrap(), 1);
    assert_eq!(redis_get(&s.redis.url, table_key).await, Some(table));
    assert_eq!(redis_get(&s.redis.url, rev_key).await, Some(rev));
    assert_eq!(
        switchboard_routing::publish::published(&mut conn)
            .await
            .unwrap(),
        ["+14155550100"]
    );
    assert_eq!(s.ctx.metrics.restored.get(), 1);
    assert!(
        s.seen
            .lock()
            .unwrap()
            .events
            .contains(&"RoutesRestored".to_string())
    );
    assert_eq!(live::check(&s.ctx, &mut conn).await.unwrap(), 0);

    // A revision someone else wrote (a newer reconcile) is never replaced by the copy kept here.
    let _: () = redis::cmd("SET")
        .arg(rev_key)
        .arg("newer")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(live::check(&s.ctx, &mut conn).await.unwrap(), 0);
    assert_eq!(
        redis_get(&s.redis.url, rev_key).await.as_deref(),
        Some("newer")
    );

    // Deleted: the table is forgotten with it, and a lost Redis does not bring it back.
    let deleting = deleting(&pn);
    phone_number::reconcile(Arc::new(deleting), s.ctx.clone())
        .await
        .unwrap();
    assert!(s.ctx.live.numbers().await.is_empty());
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    assert_eq!(live::check(&s.ctx, &mut conn).await.unwrap(), 0);
    assert_eq!(redis_get(&s.redis.url, table_key).await, None);
}

// Scenarios in the style of controller-rs's `ApiServerVerifier`: each request the reconcile
// makes is expected in order (method, path, and what the body must say), answered as the API
// server would, and a request that is missing, extra or different fails the test.

/// One request the API server expects next.
struct Expect {
    /// `METHOD path`.
    what: String,
    /// Substrings the request body must contain.
    body_has: Vec<&'static str>,
    /// Substrings it must not contain.
    body_lacks: Vec<&'static str>,
    /// The answer: status and JSON.
    answer: (u16, Value),
}

const PN_PATH: &str = "/apis/switchboard.dev/v1alpha1/namespaces/oncall/phonenumbers";

fn expect(what: String, answer: (u16, Value)) -> Expect {
    Expect {
        what,
        body_has: Vec::new(),
        body_lacks: Vec::new(),
        answer,
    }
}

impl Expect {
    fn has(mut self, s: &'static str) -> Expect {
        self.body_has.push(s);
        self
    }

    fn lacks(mut self, s: &'static str) -> Expect {
        self.body_lacks.push(s);
        self
    }
}

fn get_secret(secret: Option<Value>) -> Expect {
    let answer = match secret {
        Some(s) => (200, s),
        None => (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "secrets \"twilio-credentials\" not found"}),
        ),
    };
    expect(
        "GET /api/v1/namespaces/oncall/secrets/twilio-credentials".into(),
        answer,
    )
}

fn patch_status(pn: &PhoneNumber) -> Expect {
    expect(
        format!("PATCH {PN_PATH}/{}/status", pn.name_any()),
        (200, serde_json::to_value(pn).unwrap()),
    )
}

fn event(reason: &'static str) -> Expect {
    expect(
        "POST /apis/events.k8s.io/v1/namespaces/oncall/events".into(),
        (201, json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e", "namespace": "oncall"}, "eventTime": null, "reportingController": "switchboard-operator", "reportingInstance": "x", "action": "Reconcile", "reason": reason})),
    )
    .has(reason)
}

fn remove_finalizer(pn: &PhoneNumber) -> Expect {
    let mut gone = pn.clone();
    gone.metadata.finalizers = None;
    expect(
        format!("PATCH {PN_PATH}/{}", pn.name_any()),
        (200, serde_json::to_value(&gone).unwrap()),
    )
    .has("finalizers")
}

/// A verifier that expects exactly `scenario`, in order, each within a second; the bodies of
/// the requests it saw are kept for the test to read.
fn scenario(scenario: Vec<Expect>) -> impl FnOnce(ApiHandle) -> Arc<Mutex<Seen>> {
    move |mut handle| {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let s = seen.clone();
        tokio::spawn(async move {
            for (i, e) in scenario.into_iter().enumerate() {
                let next =
                    tokio::time::timeout(std::time::Duration::from_secs(1), handle.next_request())
                        .await
                        .unwrap_or_else(|_| {
                            panic!("step {i}: expected {} within 1 s, got no request", e.what)
                        });
                let (req, send) = next
                    .unwrap_or_else(|| panic!("step {i}: the client went away before {}", e.what));
                let what = format!("{} {}", req.method(), req.uri().path());
                let body = req.into_body().collect_bytes().await.unwrap();
                let text = String::from_utf8_lossy(&body).into_owned();
                let ok = what == e.what
                    && e.body_has.iter().all(|h| text.contains(h))
                    && !e.body_lacks.iter().any(|l| text.contains(l));
                s.lock().unwrap().requests.push((
                    what.clone(),
                    serde_json::from_str(&text).unwrap_or(Value::Null),
                ));
                if !ok {
                    s.lock().unwrap().events.push(format!(
                        "step {i}: expected {} with {:?} and without {:?}, got {what}: {text}",
                        e.what, e.body_has, e.body_lacks
                    ));
                }
                send.send_response(
                    Response::builder()
                        .status(e.answer.0)
                        .body(Body::from(serde_json::to_vec(&e.answer.1).unwrap()))
                        .unwrap(),
                );
            }
            // Anything after the scenario is a surprise: the handle goes, so such a request
            // fails and so does the reconcile.
        });
        seen
    }
}

/// The scenario's mismatches (kept in `events` by [`scenario`]), none expected.
fn assert_followed(seen: &Arc<Mutex<Seen>>, steps: usize) {
    let seen = seen.lock().unwrap();
    assert!(seen.events.is_empty(), "{:#?}", seen.events);
    assert_eq!(seen.requests.len(), steps, "{:#?}", seen.requests);
}

fn with_finalizer(mut pn: PhoneNumber) -> PhoneNumber {
    pn.metadata.finalizers = Some(vec![phone_number::FINALIZER.into()]);
    pn
}

/// The hotline's number as the fake Twilio holds it.
fn hotline_in_twilio(t: &fake_twilio::Shared) -> std::collections::BTreeMap<String, String> {
    t.lock().unwrap().by_number("+14155550100").unwrap().clone()
}

/// Twilio requests that change something (everything but reads).
fn twilio_writes(t: &fake_twilio::Shared) -> Vec<String> {
    t.lock()
        .unwrap()
        .requests
        .iter()
        .filter(|r| !r.starts_with("GET "))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_not_in_the_store_removes_nothing_and_leaves_twilio_alone() {
    // Published with its policy, as before an operator restart...
    let (pn, first) = published_hotline().await;
    let table = redis_get(
        &first.redis.url,
        &switchboard_routing::keys::route("+14155550100"),
    )
    .await
    .unwrap();
    let rev = redis_get(
        &first.redis.url,
        &switchboard_routing::keys::route_revision("+14155550100"),
    )
    .await
    .unwrap();
    let mut published = pn.clone();
    published.status = Some(switchboard_crds::PhoneNumberStatus {
        number: Some("+14155550100".into()),
        published_revision: Some(rev.clone()),
        ..Default::default()
    });
    // ...then reconciled where the policy is not in the store (not listed yet, created after
    // the PhoneNumber, or deleted): the Secret is read, the status says why, one event.
    let s = setup_with(
        true,
        scenario(vec![
            get_secret(Some(secret())),
            event("PolicyNotFound"),
            patch_status(&published)
                .has("PolicyNotFound")
                .has("stays live"),
        ]),
    )
    .await;
    let mut conn = s.ctx.redis.clone();
    let t = switchboard_routing::RoutingTable::from_json(&table).unwrap();
    switchboard_routing::publish::publish(&mut conn, &t)
        .await
        .unwrap();
    s.twilio.lock().unwrap().requests.clear();
    let action = phone_number::reconcile(Arc::new(published), s.ctx.clone())
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
    assert_followed(&s.seen, 3);
    // The table is still the one published, and it comes back if Redis loses it.
    assert_eq!(
        redis_get(
            &s.redis.url,
            &switchboard_routing::keys::route("+14155550100")
        )
        .await,
        Some(table)
    );
    assert_eq!(s.ctx.live.numbers().await, ["+14155550100"]);
    // Twilio was not asked to change anything.
    assert_eq!(twilio_writes(&s.twilio), Vec::<String>::new());
    assert!(
        s.twilio.lock().unwrap().requests.is_empty(),
        "{:?}",
        s.twilio.lock().unwrap().requests
    );
}

#[tokio::test]
async fn the_operator_starts_no_controller_before_the_stores_have_listed() {
    let (policies, mut pw) = reflector::store::<switchboard_crds::IncomingCallPolicy>();
    let (chains, mut cw) = reflector::store::<switchboard_crds::EscalationChain>();
    let (schedules, mut sw) = reflector::store::<switchboard_crds::Schedule>();
    let waiting = tokio::spawn(async move {
        switchboard_operator::run::wait_until_listed(&policies, &chains, &schedules).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "started before anything was listed");
    pw.apply_watcher_event(&watcher::Event::Init);
    pw.apply_watcher_event(&watcher::Event::InitDone);
    cw.apply_watcher_event(&watcher::Event::Init);
    cw.apply_watcher_event(&watcher::Event::InitDone);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(
        !waiting.is_finished(),
        "started before the Schedules were listed"
    );
    sw.apply_watcher_event(&watcher::Event::Init);
    sw.apply_watcher_event(&watcher::Event::InitDone);
    tokio::time::timeout(std::time::Duration::from_secs(1), waiting)
        .await
        .expect("started once all three had listed")
        .unwrap()
        .unwrap();
}

/// A second PhoneNumber for the hotline's number, created after the examples' one.
fn copy_of(pn: &PhoneNumber, name: &str) -> PhoneNumber {
    let mut copy = pn.clone();
    copy.metadata.name = Some(name.into());
    copy.metadata.uid = Some("99999999-1111-2222-3333-444455556666".into());
    copy.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-11-02T00:00:00Z".parse().unwrap(),
    ));
    copy
}

/// The examples' hotline, created first, with its finalizer.
fn original(pn: &PhoneNumber) -> PhoneNumber {
    let mut o = with_finalizer(pn.clone());
    o.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-11-01T00:00:00Z".parse().unwrap(),
    ));
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_number_is_reported_on_the_copy_and_its_deletion_leaves_the_original_alone() {
    let pn = original(&examples_hotline().await);
    let copy = with_finalizer(copy_of(&pn, "support-hotline-copy"));
    // The original is published first.
    let s = setup_with(false, {
        let (pn, copy) = (pn.clone(), copy.clone());
        scenario(vec![
            // The original: configured and published, Ready.
            get_secret(Some(secret())),
            event("TwilioConfigured"),
            event("RoutesPublished"),
            patch_status(&pn).has("\"Ready\"").lacks("DuplicateNumber"),
            // The copy: the Secret, then one warning and a status naming the owner; nothing else.
            get_secret(Some(secret())),
            event("DuplicateNumber"),
            patch_status(&copy)
                .has("DuplicateNumber")
                .has("oncall/support-hotline"),
            // The copy deleted: only its finalizer goes.
            remove_finalizer(&copy),
        ])
    })
    .await;
    {
        // Both are in the cluster's store of PhoneNumbers.
        let (store, mut writer) = reflector::store();
        fill(&mut writer, [pn.clone(), copy.clone()]);
        let ctx = with_stores(
            &s.ctx,
            Stores {
                numbers: store,
                ..s.ctx.stores.clone()
            },
        );
        phone_number::reconcile(Arc::new(pn.clone()), ctx.clone())
            .await
            .unwrap();
        let rev = redis_get(
            &s.redis.url,
            &switchboard_routing::keys::route_revision("+14155550100"),
        )
        .await
        .unwrap();
        let twilio_before = twilio_writes(&s.twilio);
        assert_eq!(
            phone_number::reconcile(Arc::new(copy.clone()), ctx.clone())
                .await
                .unwrap(),
            Action::await_change()
        );
        let mut deleting = copy.clone();
        deleting.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
        );
        phone_number::reconcile(Arc::new(deleting), ctx.clone())
            .await
            .unwrap();
        assert_followed(&s.seen, 8);
        // The original's table and Twilio configuration are untouched by the copy.
        assert_eq!(
            redis_get(
                &s.redis.url,
                &switchboard_routing::keys::route_revision("+14155550100")
            )
            .await,
            Some(rev)
        );
        assert_eq!(twilio_writes(&s.twilio), twilio_before);
        let n = hotline_in_twilio(&s.twilio);
        assert_eq!(n["voice_url"], "https://sb.example.com/twilio/voice");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_deleted_secret_first_still_detaches_its_number() {
    // Reconciled once with its Secret...
    let pn = with_finalizer(examples_hotline().await);
    let deleting = deleting(&pn);
    let s = setup_with(
        false,
        scenario(vec![
            get_secret(Some(secret())),
            event("TwilioConfigured"),
            event("RoutesPublished"),
            patch_status(&pn).has("\"Ready\""),
            // ...then the namespace goes: the Secret is already gone when the cleanup runs.
            get_secret(None),
            event("Cleanup").has("pointed the number back"),
            remove_finalizer(&pn),
        ]),
    )
    .await;
    phone_number::reconcile(Arc::new(pn.clone()), s.ctx.clone())
        .await
        .unwrap();
    phone_number::reconcile(Arc::new(deleting), s.ctx.clone())
        .await
        .unwrap();
    assert_followed(&s.seen, 7);
    let n = hotline_in_twilio(&s.twilio);
    assert_eq!(
        n["voice_url"], "https://demo.twilio.com/welcome/voice/",
        "detached"
    );
    assert_eq!(
        redis_get(
            &s.redis.url,
            &switchboard_routing::keys::route("+14155550100")
        )
        .await,
        None
    );
    assert_eq!(s.ctx.metrics.numbers_left_behind.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_that_cannot_be_cleaned_up_is_counted_and_named() {
    // An operator that never saw the Secret (it went before this process started).
    let pn = with_finalizer(examples_hotline().await);
    let deleting = deleting(&pn);
    let s = setup_with(
        false,
        scenario(vec![
            get_secret(None),
            event("CleanupIncomplete").has("check it in the Twilio console"),
            remove_finalizer(&pn),
        ]),
    )
    .await;
    phone_number::reconcile(Arc::new(deleting), s.ctx.clone())
        .await
        .unwrap();
    assert_followed(&s.seen, 3);
    assert_eq!(s.ctx.metrics.numbers_left_behind.get(), 1);
    assert!(
        s.ctx
            .metrics
            .encode()
            .contains("switchboard_operator_numbers_left_behind_total 1"),
        "{}",
        s.ctx.metrics.encode()
    );
}

#[tokio::test]
async fn with_a_watched_namespace_the_crd_check_lists_only_that_namespace() {
    // The chart's watchNamespace mode grants a namespaced Role: a cluster-wide list would be
    // forbidden and the operator would crash-loop.
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let verifier = tokio::spawn(async move {
        let (req, send) = handle.next_request().await.unwrap();
        let path = req.uri().path().to_string();
        send.send_response(
            Response::builder()
                .status(200)
                .body(Body::from(
                    serde_json::to_vec(&json!({"apiVersion": "switchboard.dev/v1alpha1", "kind": "PhoneNumberList", "metadata": {}, "items": []}))
                        .unwrap(),
                ))
                .unwrap(),
        );
        path
    });
    switchboard_operator::run::check_crds(&Client::new(service, "default"), Some("oncall"))
        .await
        .unwrap();
    assert_eq!(
        verifier.await.unwrap(),
        "/apis/switchboard.dev/v1alpha1/namespaces/oncall/phonenumbers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_the_operator_may_not_read_names_the_value_that_grants_it() {
    // Installed with operator.secretNamespaces not listing this namespace: the API server
    // answers the Secret's GET with 403, and the PhoneNumber says what to set.
    let mut pn = examples_hotline().await;
    pn.metadata.finalizers = Some(vec![phone_number::FINALIZER.into()]);
    let forbidden = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
        "message": "secrets \"twilio-credentials\" is forbidden: User \"system:serviceaccount:switchboard:switchboard-operator\" cannot get resource \"secrets\" in API group \"\" in the namespace \"oncall\""});
    let s = setup_with(
        false,
        scenario(vec![
            expect(
                "GET /api/v1/namespaces/oncall/secrets/twilio-credentials".into(),
                (403, forbidden),
            ),
            // The table is still published (what the manifests say does not need the Secret);
            // Twilio, which does, is left alone.
            event("RoutesPublished"),
            patch_status(&pn)
                .has("CredentialsMissing")
                .has("may not read Secrets in namespace oncall")
                .has("operator.secretNamespaces"),
        ]),
    )
    .await;
    phone_number::reconcile(Arc::new(pn), s.ctx.clone())
        .await
        .unwrap();
    assert_followed(&s.seen, 3);
    assert_eq!(twilio_writes(&s.twilio), Vec::<String>::new());
}
