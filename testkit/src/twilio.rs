//! A stateful fake of the parts of Twilio's REST API the operator uses: numbers remember their
//! webhooks, purchases and releases, so flows across several calls (configure, drift, purchase
//! after a crash, release) can be tested. Answers use Twilio's shapes and error documents
//! (`{"code", "message", "more_info", "status"}`); Basic auth is checked.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

pub const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub const TOKEN: &str = "fake-auth-token";

/// A manifest of `examples/` with its placeholder credentials replaced by the fake's account
/// and token.
pub fn with_fake_account(manifest: &str) -> String {
    manifest
        .replace("ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", ACCOUNT)
        .replace("authToken: replace-me", &format!("authToken: {TOKEN}"))
}

#[derive(Debug, Default)]
pub struct World {
    /// Numbers the account owns, by SID.
    pub numbers: BTreeMap<String, BTreeMap<String, String>>,
    /// Numbers for sale.
    pub for_sale: Vec<String>,
    /// How many numbers were bought.
    pub purchases: usize,
    /// SIDs released.
    pub released: Vec<String>,
    /// Every request, `METHOD path`.
    pub requests: Vec<String>,
    /// Answer the next N requests with this HTTP status (429, 500, ...).
    pub fail_next: Vec<u16>,
    /// Texts sent through the Messages API: the form as posted (`To`, `From`, `Body`).
    pub messages: Vec<BTreeMap<String, String>>,
    /// Recipients who texted STOP: sending to them fails with Twilio's error 21610.
    pub opted_out: Vec<String>,
}

impl World {
    pub fn own(&mut self, e164: &str) -> String {
        let sid = format!("PN{:032x}", self.numbers.len() + 1);
        let mut n = BTreeMap::new();
        n.insert("sid".into(), sid.clone());
        n.insert("phone_number".into(), e164.into());
        n.insert("friendly_name".into(), e164.into());
        n.insert(
            "voice_url".into(),
            "https://demo.twilio.com/welcome/voice/".into(),
        );
        self.numbers.insert(sid.clone(), n);
        sid
    }

    pub fn by_number(&self, e164: &str) -> Option<&BTreeMap<String, String>> {
        self.numbers.values().find(|n| n["phone_number"] == e164)
    }
}

pub type Shared = Arc<Mutex<World>>;

fn error(status: u16, code: u32, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        })),
    )
        .into_response()
}

fn check(w: &mut World, h: &HeaderMap, account: &str, what: String) -> Option<Response> {
    w.requests.push(what);
    if !w.fail_next.is_empty() {
        let s = w.fail_next.remove(0);
        return Some(error(
            s,
            if s == 429 { 20429 } else { 20500 },
            "Injected failure",
        ));
    }
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}"))
    );
    if h.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str())
        || account != ACCOUNT
    {
        return Some(error(401, 20003, "Authenticate"));
    }
    None
}

fn render(n: &BTreeMap<String, String>) -> Value {
    let mut v = json!({"account_sid": ACCOUNT});
    for (k, val) in n {
        v[k] = json!(val);
    }
    v
}

const FIELDS: [(&str, &str); 8] = [
    ("VoiceUrl", "voice_url"),
    ("VoiceMethod", "voice_method"),
    ("VoiceFallbackUrl", "voice_fallback_url"),
    ("VoiceFallbackMethod", "voice_fallback_method"),
    ("StatusCallback", "status_callback"),
    ("StatusCallbackMethod", "status_callback_method"),
    ("SmsUrl", "sms_url"),
    ("SmsMethod", "sms_method"),
];

fn apply(n: &mut BTreeMap<String, String>, form: &BTreeMap<String, String>) {
    for (param, field) in FIELDS {
        if let Some(v) = form.get(param) {
            n.insert(field.into(), v.clone());
        }
    }
    if let Some(f) = form.get("FriendlyName") {
        n.insert("friendly_name".into(), f.clone());
    }
}

async fn list(
    State(w): State<Shared>,
    Path(account): Path<String>,
    h: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let mut w = w.lock().unwrap();
    if let Some(r) = check(&mut w, &h, &account, "GET IncomingPhoneNumbers".into()) {
        return r;
    }
    let items: Vec<Value> = w
        .numbers
        .values()
        .filter(|n| q.get("PhoneNumber").is_none_or(|p| &n["phone_number"] == p))
        .filter(|n| {
            q.get("FriendlyName")
                .is_none_or(|f| n.get("friendly_name") == Some(f))
        })
        .map(render)
        .collect();
    axum::Json(json!({"incoming_phone_numbers": items, "page": 0, "page_size": 50})).into_response()
}

async fn buy(
    State(w): State<Shared>,
    Path(account): Path<String>,
    h: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let mut w = w.lock().unwrap();
    if let Some(r) = check(&mut w, &h, &account, "POST IncomingPhoneNumbers".into()) {
        return r;
    }
    let Some(e164) = form.get("PhoneNumber").cloned() else {
        return error(400, 21450, "PhoneNumber or AreaCode is required");
    };
    let Some(i) = w.for_sale.iter().position(|n| *n == e164) else {
        return error(400, 21452, "Number is not available");
    };
    w.for_sale.remove(i);
    w.purchases += 1;
    let sid = w.own(&e164);
    let n = w.numbers.get_mut(&sid).unwrap();
    n.remove("voice_url");
    apply(n, &form);
    let n = render(n);
    (StatusCode::CREATED, axum::Json(n)).into_response()
}

async fn one(
    State(w): State<Shared>,
    Path((account, sid)): Path<(String, String)>,
    h: HeaderMap,
) -> Response {
    let mut w = w.lock().unwrap();
    if let Some(r) = check(&mut w, &h, &account, format!("GET {sid}")) {
        return r;
    }
    let sid = sid.trim_end_matches(".json");
    match w.numbers.get(sid) {
        Some(n) => axum::Json(render(n)).into_response(),
        None => error(404, 20404, "The requested resource was not found"),
    }
}

async fn update(
    State(w): State<Shared>,
    Path((account, sid)): Path<(String, String)>,
    h: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let mut w = w.lock().unwrap();
    if let Some(r) = check(&mut w, &h, &account, format!("POST {sid}")) {
        return r;
    }
    let sid = sid.trim_end_matches(".json");
    match w.numbers.get_mut(sid) {
        Some(n) => {
            apply(n, &form);
            axum::Json(render(n)).into_response()
        }
        None => error(404, 20404, "The requested resource was not found"),
    }
}

async fn release(
    State(w): State<Shared>,
    Path((account, sid)): Path<(String, String)>,
    h: HeaderMap,
) -> Response {
    let mut w = w.lock().unwrap();
    if let Some(r) = check(&mut w, &h, &account, format!("DELETE {sid}")) {
        return r;
    }
    let sid = sid.trim_end_matches(".json").to_string();
    match w.numbers.remove(&sid) {
        Some(_) => {
            w.released.push(sid);
            StatusCode::NO_CONTENT.into_response()
        }
        None => error(404, 20404, "The requested resource was not found"),
    }
}

async fn message(
    State(w): State<Shared>,
    Path(account): Path<String>,
    h: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let mut w = w.lock().unwrap();
    if let Some(r) = check(&mut w, &h, &account, "POST Messages".into()) {
        return r;
    }
    let (Some(to), Some(from)) = (form.get("To"), form.get("From")) else {
        return error(400, 21604, "A 'To' and a 'From' phone number are required");
    };
    if w.opted_out.contains(to) {
        return error(400, 21610, "Attempt to send to unsubscribed recipient");
    }
    if !w.numbers.values().any(|n| n["phone_number"] == *from) {
        return error(
            400,
            21606,
            "The From phone number is not a valid, SMS-capable number for this account",
        );
    }
    let sid = format!("SM{:032x}", w.messages.len() + 1);
    let item = json!({
        "sid": sid,
        "account_sid": account,
        "to": to,
        "from": from,
        "body": form.get("Body").cloned().unwrap_or_default(),
        "status": "queued",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "num_segments": "1",
        "uri": format!("/2010-04-01/Accounts/{account}/Messages/{sid}.json"),
    });
    w.messages.push(form);
    (StatusCode::CREATED, axum::Json(item)).into_response()
}

async fn available(
    State(w): State<Shared>,
    Path((account, _country, _kind)): Path<(String, String, String)>,
    h: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let mut w = w.lock().unwrap();
    if let Some(r) = check(&mut w, &h, &account, "GET AvailablePhoneNumbers".into()) {
        return r;
    }
    let items: Vec<Value> = w
        .for_sale
        .iter()
        .filter(|n| q.get("Contains").is_none_or(|c| n.contains(c.as_str())))
        .filter(|n| {
            q.get("AreaCode")
                .is_none_or(|a| n.starts_with(&format!("+1{a}")))
        })
        .map(|n| json!({"phone_number": n, "friendly_name": n}))
        .collect();
    axum::Json(json!({"available_phone_numbers": items})).into_response()
}

/// Serves the fake on a free loopback port; returns its base URL and its state.
pub async fn start() -> (String, Shared) {
    start_on("127.0.0.1:0").await
}

/// Serves the fake on `bind` (`0.0.0.0:0` to be reachable from a local cluster); returns its
/// base URL (with the bound port) and its state.
pub async fn start_on(bind: &str) -> (String, Shared) {
    let world: Shared = Arc::default();
    let app = Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json",
            get(list).post(buy),
        )
        .route(
            "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{sid}",
            get(one).post(update).delete(release),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            axum::routing::post(message),
        )
        .route(
            "/2010-04-01/Accounts/{account}/AvailablePhoneNumbers/{country}/{kind}",
            get(available),
        )
        .with_state(world.clone());
    let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, world)
}
