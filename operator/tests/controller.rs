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

#[path = "controller/edges.rs"]
mod edges;
#[path = "controller/lists.rs"]
mod lists;
#[path = "controller/overrides.rs"]
mod overrides;
#[path = "controller/people.rs"]
mod people;
#[path = "controller/pin.rs"]
mod pin;
#[path = "controller/reconcile.rs"]
mod reconcile;

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
                } else if path.ends_with("/secrets/partner-pin") {
                    (200, pin_secret())
                } else if path.contains("/secrets/") {
                    (
                        404,
                        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "secrets not found"}),
                    )
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

/// The setup's policies, each changed by `edit`.
fn edited_policies(
    s: &Setup,
    edit: impl Fn(&mut switchboard_crds::IncomingCallPolicy),
) -> Vec<switchboard_crds::IncomingCallPolicy> {
    let policies = s.ctx.stores.policies.state();
    policies
        .iter()
        .map(|p| {
            let mut p = (**p).clone();
            edit(&mut p);
            p
        })
        .collect()
}

/// The PIN Secret every scenario's API server holds (`controller/pin.rs`).
const PARTNER_PIN: &str = "482916";

fn pin_secret() -> Value {
    use base64::Engine;
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "partner-pin", "namespace": "oncall"},
        "data": {"pin": base64::engine::general_purpose::STANDARD.encode(PARTNER_PIN)}
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
            overrides: reflector::store().0,
            people: reflector::store().0,
            calendars: reflector::store().0,
            caller_lists: reflector::store().0,
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

/// The hotline's published table in the Redis at `url`.
async fn hotline_table(url: &str) -> Option<String> {
    redis_get(url, &switchboard_routing::keys::route("+14155550100")).await
}

/// The revision of the hotline's published table in the Redis at `url`.
async fn hotline_revision(url: &str) -> Option<String> {
    redis_get(
        url,
        &switchboard_routing::keys::route_revision("+14155550100"),
    )
    .await
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
