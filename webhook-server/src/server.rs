//! The HTTP server: Twilio's webhooks in, TwiML out.
//!
//! ```text
//!   POST /twilio/voice/*  ─► signature.rs check (403 when wrong) ─► handle():
//!        load call + stored answer ─► retry? answer again
//!                                  └► flow.rs (pure) ─► commit (CAS on version) ─► TwiML
//!        store down / call unknown / panic ─► fallback TwiML (message, fallback number)
//!   POST /twilio/voice/fallback ─► fallback TwiML, no Redis (Twilio's fallback URL)
//!   POST /twilio/sms ─► sms.rs (pure) ─► recorded once per MessageSid ─► <Message> reply
//!   GET  /healthz /readyz (ready unless draining) /storez (Redis answers) /metrics
//! ```
//!
//! Every webhook answers 200 with valid TwiML except a request whose signature is wrong (403:
//! it did not come from Twilio). A caller never hears Twilio's "application error".

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{MethodRouter, get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use switchboard_routing::{RoutingTable, signature};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tracing::{Instrument, error, info, info_span, warn};

use crate::clock::Clock;
use crate::credentials::Credentials;
use crate::flow::{self, DialResult, Incoming, Urls};
use crate::metrics::{Metrics, OutcomeLabels, ReasonLabels};
use crate::state::CallState;
use crate::store::{Commit, Store, StoreError};
use crate::twiml::{Dial, Noun, Response, Say, Verb};

/// Twilio's webhook bodies are a few kilobytes; anything far larger is not Twilio.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest time a request's body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Compare-and-set attempts before giving up on a call that keeps changing under us.
const MAX_ATTEMPTS: usize = 8;
/// Behind Sentinels or in a Cluster, how long a webhook waits for a master that could not be
/// reached to be replaced before the caller gets the fallback (well inside Twilio's 15 s).
const FAILOVER_WAIT: std::time::Duration = std::time::Duration::from_secs(8);
/// How often it tries again meanwhile.
const FAILOVER_RETRY: std::time::Duration = std::time::Duration::from_millis(250);

/// What a caller hears when their call cannot be served.
#[derive(Clone, Debug)]
pub struct Fallback {
    /// Said first.
    pub message: String,
    /// Dialled after the message, when set.
    pub number: Option<String>,
}

impl Default for Fallback {
    fn default() -> Self {
        Fallback {
            message: "We are sorry, our call routing is having trouble right now. Please try again in a few minutes.".into(),
            number: None,
        }
    }
}

impl Fallback {
    /// The fallback TwiML: the message, then the fallback number if there is one.
    pub fn twiml(&self) -> Response {
        let r = Response::new().push(Verb::Say(Say {
            text: self.message.clone(),
            voice: None,
            language: None,
        }));
        match &self.number {
            Some(n) => r
                .push(Verb::Dial(Dial {
                    action: None,
                    timeout: 30,
                    caller_id: None,
                    answer_on_bridge: true,
                    time_limit: None,
                    recording_status_callback: None,
                    nouns: vec![Noun::Number {
                        number: n.clone(),
                        url: None,
                    }],
                }))
                .hangup(),
            None => r.hangup(),
        }
    }
}

/// Everything the handlers share.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    store: Store,
    credentials: Credentials,
    /// The forms of the public URL Twilio may sign ([`signature::base_variants`]).
    signed_bases: Vec<String>,
    urls: Urls,
    fallback: Fallback,
    clock: Clock,
    metrics: Metrics,
    /// Set on SIGTERM: `/readyz` answers 503 so that Kubernetes takes the pod out of the
    /// Service while it still serves every request that reaches it ([`AppState::drain`]).
    draining: std::sync::atomic::AtomicBool,
    /// Rejected requests are logged at most once a second (each is counted in the metrics).
    rejections: RateLimitedLog,
}

/// Lets one line through per second and counts the ones held back, so that a flood of
/// unsigned requests (a scanner, a wrong auth token on a busy number) costs a line a second,
/// not a line a request.
#[derive(Debug, Default)]
struct RateLimitedLog {
    /// The Unix second of the last line let through.
    second: std::sync::atomic::AtomicU64,
    /// Lines held back since.
    held: std::sync::atomic::AtomicU64,
}

impl RateLimitedLog {
    /// `Some(held back since the last line)` when a line may be logged now.
    fn admit(&self) -> Option<u64> {
        use std::sync::atomic::Ordering::Relaxed;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.second.load(Relaxed);
        if last != now
            && self
                .second
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
        {
            return Some(self.held.swap(0, Relaxed));
        }
        self.held.fetch_add(1, Relaxed);
        None
    }
}

impl AppState {
    /// The state of a server reachable by Twilio at `public_url`.
    pub fn new(
        store: Store,
        credentials: Credentials,
        public_url: &str,
        fallback: Fallback,
        clock: Clock,
    ) -> AppState {
        let public_url = public_url.trim_end_matches('/').to_string();
        AppState(Arc::new(Inner {
            store,
            credentials,
            urls: Urls::new(&public_url),
            signed_bases: signature::base_variants(&public_url),
            fallback,
            clock,
            metrics: Metrics::default(),
            draining: std::sync::atomic::AtomicBool::new(false),
            rejections: RateLimitedLog::default(),
        }))
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// Starts draining: from now on `/readyz` answers 503 `draining`, while webhooks are
    /// still answered as before. A stopping pod stays in its Service's endpoints until the
    /// kubelet sees it unready or the endpoints controller removes the terminating pod, and
    /// the ingress or kube-proxy follows a moment later; requests routed to it meanwhile must
    /// still be served, so the server drains for a while before it stops accepting.
    pub fn drain(&self) {
        self.0
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The router: Twilio's webhooks (signature checked), health and metrics.
pub fn app(state: AppState) -> Router {
    let twilio = Router::new()
        .route("/twilio/voice", caller(Hook::Incoming))
        .route("/twilio/voice/menu", post(menu))
        .route("/twilio/voice/describe", caller(Hook::Describe))
        .route("/twilio/voice/dial", post(dial))
        .route(
            "/twilio/voice/whisper",
            responder(|seq, ring| Hook::Whisper { seq, ring }, "whisper"),
        )
        .route(
            "/twilio/voice/accept",
            responder(|seq, ring| Hook::Accept { seq, ring }, "accept"),
        )
        .route("/twilio/voice/voicemail", caller(Hook::Voicemail))
        .route("/twilio/voice/transcription", caller(Hook::Transcription))
        .route("/twilio/voice/recording", caller(Hook::Recording))
        .route("/twilio/voice/status", caller(Hook::Status))
        .route("/twilio/voice/fallback", post(fallback))
        .route("/twilio/sms", post(sms))
        // The body limit of webhooks is `check_signature`'s, which answers TwiML.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            check_signature,
        ));
    let ops = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/storez", get(storez))
        .route("/metrics", get(metrics))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES));
    Router::new()
        .merge(twilio)
        .merge(ops)
        // A body sent slower than this is cut (`check_signature` then answers TwiML): a
        // half-sent request cannot hold a connection, or a shutdown, for ever.
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(CatchPanicLayer::custom(|_| {
            // The panic itself is logged by the panic hook; the caller still gets TwiML.
            twiml_response(&Fallback::default().twiml())
        }))
        .with_state(state)
}

fn twiml_response(r: &Response) -> HttpResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"))],
        r.to_xml(),
    )
        .into_response()
}

fn xml(body: String) -> HttpResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"))],
        body,
    )
        .into_response()
}

/// A webhook's POST parameters, in the order Twilio sent them.
#[derive(Clone, Debug, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// Checks `X-Twilio-Signature` against the public URL (from configuration, not the Host
/// header) and the auth token of the request's `AccountSid`. Passes the parsed parameters on.
async fn check_signature(State(st): State<AppState>, req: Request, next: Next) -> HttpResponse {
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        // NB: a body over the limit cannot be checked against its signature, so it is not
        // served; but the answer is still TwiML (the generic apology, nothing configured),
        // never a bare 413, so that whatever sent it, a caller would not hear Twilio's
        // application error.
        Err(_) => {
            if let Some(held_back) = refused(&st, "unreadable-body") {
                warn!(
                    held_back,
                    "webhook refused: body unreadable or over {MAX_BODY_BYTES} bytes"
                );
            }
            return twiml_response(&Fallback::default().twiml());
        }
    };
    let params = Params(form_urlencoded::parse(&bytes).into_owned().collect());
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let Some(signature) = parts
        .headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return reject(&st, "missing", Some(&params));
    };
    let account = params.get("AccountSid");
    let Some(token) = st.0.credentials.token(account) else {
        return reject(&st, "unknown-account", Some(&params));
    };
    if !signature::verify_any(
        token.expose(),
        &st.0.signed_bases,
        path,
        &params.0,
        signature,
    ) {
        return reject(&st, "mismatch", Some(&params));
    }
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(params);
    next.run(req).await
}

/// Counts a refused request under `reason`; `Some(refusals held back)` when it may be logged
/// (at most once a second).
fn refused(st: &AppState, reason: &str) -> Option<u64> {
    st.0.metrics
        .signature_rejections
        .get_or_create(&ReasonLabels {
            reason: reason.to_string(),
        })
        .inc();
    st.0.rejections.admit()
}

fn reject(st: &AppState, reason: &str, params: Option<&Params>) -> HttpResponse {
    let call_sid = params.map(|p| p.get("CallSid")).unwrap_or("");
    let account_sid = params.map(|p| p.get("AccountSid")).unwrap_or("");
    if let Some(held_back) = refused(st, reason) {
        warn!(
            reason,
            call_sid,
            account_sid,
            held_back,
            "webhook refused: X-Twilio-Signature check failed (at most one such line a second; held_back: refused since the last one, all counted in signature_rejections_total)"
        );
    }
    (StatusCode::FORBIDDEN, "invalid Twilio signature\n").into_response()
}

/// Ready unless draining, whatever Redis does. A replica without Redis still answers every
/// call with the fallback (message, fallback number); were it unready, every replica would go
/// unready at once in a Redis outage, the Service would have no endpoints, and callers would
/// hear Twilio's application error instead, on the voice and the fallback URL alike. Redis's
/// own health is `/storez` and the `store_up` gauge.
async fn readyz(State(st): State<AppState>) -> HttpResponse {
    if st.0.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response();
    }
    match probe_store(&st).await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (
            StatusCode::OK,
            format!("ready, answering with the fallback: store unreachable: {e}\n"),
        )
            .into_response(),
    }
}

/// Whether Redis answers: 200, or 503 with why.
async fn storez(State(st): State<AppState>) -> HttpResponse {
    match probe_store(&st).await {
        Ok(()) => (StatusCode::OK, "store reachable\n").into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unreachable: {e}\n"),
        )
            .into_response(),
    }
}

async fn probe_store(st: &AppState) -> Result<(), StoreError> {
    let result = st.0.store.ping().await;
    st.0.metrics.store_up.set(i64::from(result.is_ok()));
    result
}

async fn metrics(State(st): State<AppState>) -> HttpResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.0.metrics.encode(),
    )
        .into_response()
}

/// Which webhook, with what its URL carries.
#[derive(Clone, Copy, Debug)]
enum Hook {
    Incoming,
    Menu { attempt: u32 },
    Describe,
    Dial { seq: u32 },
    Whisper { seq: u32, ring: usize },
    Accept { seq: u32, ring: usize },
    Voicemail,
    Transcription,
    Recording,
    Status,
}

impl Hook {
    fn name(self) -> &'static str {
        match self {
            Hook::Incoming => "incoming",
            Hook::Menu { .. } => "menu",
            Hook::Describe => "describe",
            Hook::Dial { .. } => "dial",
            Hook::Whisper { .. } => "whisper",
            Hook::Accept { .. } => "accept",
            Hook::Voicemail => "voicemail",
            Hook::Transcription => "transcription",
            Hook::Recording => "recording",
            Hook::Status => "status",
        }
    }

    /// The idempotency key: two deliveries of one webhook share it, two different webhooks
    /// of one call never do.
    fn key(self, p: &Params) -> String {
        match self {
            Hook::Menu { attempt } => format!("menu:{attempt}"),
            Hook::Dial { seq } => format!("dial:{seq}"),
            Hook::Whisper { seq, ring } => format!("whisper:{seq}:{ring}"),
            Hook::Accept { seq, ring } => format!("accept:{seq}:{ring}"),
            Hook::Recording => format!("recording:{}", p.get("RecordingSid")),
            Hook::Status => format!("status:{}", p.get("CallStatus")),
            other => other.name().to_string(),
        }
    }

    /// Whether the answer is TwiML for a responder's leg (a whisper) rather than the caller's.
    fn responder_leg(self) -> bool {
        matches!(self, Hook::Whisper { .. } | Hook::Accept { .. })
    }

    /// Whether Twilio ignores the answer (status-like callbacks).
    fn notification(self) -> bool {
        matches!(self, Hook::Transcription | Hook::Recording | Hook::Status)
    }
}

#[derive(Deserialize)]
struct AttemptQuery {
    #[serde(default)]
    attempt: u32,
}

#[derive(Deserialize)]
struct SeqQuery {
    seq: u32,
}

#[derive(Deserialize)]
struct LegQuery {
    call: String,
    seq: u32,
    ring: usize,
}

/// A webhook about the caller's leg, identified by its `CallSid`.
fn caller(hook: Hook) -> MethodRouter<AppState> {
    post(
        move |State(st): State<AppState>, Extension(p): Extension<Params>| async move {
            let sid = p.get("CallSid").to_string();
            handle(st, hook, sid, p).await
        },
    )
}

/// A webhook about a responder's leg (whisper, accept). The leg's own CallSid is the
/// responder's; the caller's call, the dial and the ring are named in the signed URL.
fn responder(hook: fn(u32, usize) -> Hook, name: &'static str) -> MethodRouter<AppState> {
    post(
        move |State(st): State<AppState>,
              q: Result<Query<LegQuery>, QueryRejection>,
              Extension(p): Extension<Params>| async move {
            match q {
                Ok(Query(q)) => handle(st, hook(q.seq, q.ring), q.call, p).await,
                Err(_) => malformed(&st, name, p.get("CallSid")),
            }
        },
    )
}

async fn menu(
    State(st): State<AppState>,
    q: Result<Query<AttemptQuery>, QueryRejection>,
    Extension(p): Extension<Params>,
) -> HttpResponse {
    let attempt = q.map(|q| q.attempt).unwrap_or(0);
    let sid = p.get("CallSid").to_string();
    handle(st, Hook::Menu { attempt }, sid, p).await
}

async fn dial(
    State(st): State<AppState>,
    q: Result<Query<SeqQuery>, QueryRejection>,
    Extension(p): Extension<Params>,
) -> HttpResponse {
    let sid = p.get("CallSid").to_string();
    match q {
        Ok(Query(q)) => handle(st, Hook::Dial { seq: q.seq }, sid, p).await,
        Err(_) => malformed(&st, "dial", &sid),
    }
}

/// Twilio's fallback URL: answers without touching the store.
async fn fallback(State(st): State<AppState>, Extension(p): Extension<Params>) -> HttpResponse {
    warn!(
        call_sid = p.get("CallSid"),
        error_code = p.get("ErrorCode"),
        error_url = p.get("ErrorUrl"),
        "Twilio used the fallback URL"
    );
    crate::metrics::Metrics::inc(&st.0.metrics.fallbacks, "fallback-url");
    twiml_response(&st.0.fallback.twiml())
}

/// Texts to a hotline (the number's SmsUrl): routed by `sms.rs`, recorded once per MessageSid
/// (a retried text gets the same answer and raises nothing new), answered with the reply. A
/// store failure answers with no reply rather than an error: Twilio does not retry a text, so
/// the failure is logged and counted for the operator to see.
async fn sms(State(st): State<AppState>, Extension(p): Extension<Params>) -> HttpResponse {
    let sid = p.get("MessageSid").to_string();
    let span = info_span!("webhook", message_sid = %sid, endpoint = "sms");
    async {
        let started = Instant::now();
        let answer = match text(&st, &sid, &p).await {
            // As for calls: a broken connection is worth one more try (the text script keeps
            // the first answer, so a text stored the first time is not routed twice).
            Err(Failure::Store(e)) if e.is_connection_dropped() => {
                warn!(error = %e, "the Redis connection broke; routing the text again");
                text(&st, &sid, &p).await
            }
            other => other,
        };
        let response = match answer {
            Ok(body) => xml(body),
            Err(e) => {
                error!(error = %e, "text could not be routed; answering without a reply");
                Metrics::inc(&st.0.metrics.fallbacks, "sms");
                twiml_response(&Response::new())
            }
        };
        st.0.metrics.observe_latency("sms", started);
        response
    }
    .instrument(span)
    .await
}

async fn text(st: &AppState, sid: &str, p: &Params) -> Result<String, Failure> {
    if sid.is_empty() {
        return Err(Failure::Malformed("no MessageSid"));
    }
    let to = p.get("To");
    let table = owned(st.0.store.table(to).await?, p);
    let req = crate::sms::Text {
        message_sid: sid,
        from: p.get("From"),
        to,
        body: p.get("Body"),
        opt_out_type: p.get("OptOutType"),
    };
    let now = st.0.clock.now();
    let answer = crate::sms::text(table.as_deref(), &req, now);
    let body = answer.reply.to_xml();
    let record = crate::sms::TextRecord::of(&req, &answer, now);
    if let Some(earlier) =
        st.0.store
            .text(&record, &body, answer.alert.as_ref())
            .await?
    {
        info!("retried text: answering again with the stored reply");
        Metrics::inc(&st.0.metrics.replays, "sms");
        return Ok(earlier);
    }
    info!(to, from = req.from, outcome = %record.outcome, note = %answer.note, "text received");
    st.0.metrics
        .texts
        .get_or_create(&OutcomeLabels {
            outcome: record.outcome,
        })
        .inc();
    Ok(body)
}

fn malformed(st: &AppState, endpoint: &str, call_sid: &str) -> HttpResponse {
    warn!(
        endpoint,
        call_sid, "malformed webhook (missing URL parameters); answering with the fallback"
    );
    crate::metrics::Metrics::inc(&st.0.metrics.fallbacks, endpoint);
    twiml_response(&st.0.fallback.twiml())
}

/// Serves one webhook of call `sid`, within a span that puts the CallSid on every log line.
async fn handle(st: AppState, hook: Hook, sid: String, p: Params) -> HttpResponse {
    let span = info_span!("webhook", call_sid = %sid, endpoint = hook.name());
    let started = Instant::now();
    let response = async {
        if sid.is_empty() {
            return Err(Failure::Malformed("no CallSid"));
        }
        let mut answer = match serve(&st, hook, &sid, &p).await {
            // A connection that broke under the command (Redis cut its clients, a proxy or a
            // failover): the manager reconnects, and the webhook is served again once. Safe:
            // a commit that did land is found by the retry as this webhook's stored answer.
            Err(Failure::Store(e)) if e.is_connection_dropped() => {
                warn!(error = %e, "the Redis connection broke; serving the webhook again");
                serve(&st, hook, &sid, &p).await
            }
            other => other,
        };
        // Behind Sentinels or in a Cluster a dead master is replaced within seconds (a Cluster
        // within its cluster-node-timeout and an election): the caller waits up to
        // FAILOVER_WAIT (Twilio waits 15 s for an answer) rather than hear the fallback.
        let deadline = started + FAILOVER_WAIT;
        while let Err(Failure::Store(e)) = &answer
            && st.0.store.fails_over()
            && e.is_unreachable()
            && Instant::now() + FAILOVER_RETRY < deadline
        {
            warn!(error = %e, "Redis unreachable (Sentinel or Cluster); waiting for the failover");
            tokio::time::sleep(FAILOVER_RETRY).await;
            answer = serve(&st, hook, &sid, &p).await;
        }
        answer
    }
    .instrument(span.clone())
    .await;
    let response = span.in_scope(|| match response {
        Ok(body) => xml(body),
        Err(failure) => {
            match &failure {
                Failure::Store(e) => {
                    error!(error = %e, "store failed; answering with the fallback")
                }
                other => {
                    warn!(reason = %other, "cannot serve this webhook; answering with the fallback")
                }
            }
            Metrics::inc(&st.0.metrics.fallbacks, hook.name());
            if hook.notification() {
                twiml_response(&Response::new())
            } else if hook.responder_leg() {
                // Not the caller's leg: end this responder's leg; the caller's <Dial> then
                // ends and the caller's next webhook gets the fallback (message, number).
                twiml_response(&Response::new().hangup())
            } else {
                twiml_response(&st.0.fallback.twiml())
            }
        }
    });
    st.0.metrics.observe_latency(hook.name(), started);
    response
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("malformed webhook: {0}")]
    Malformed(&'static str),
    #[error("no state for this call (expired, or never started here)")]
    UnknownCall,
    #[error("the number {0} has no routing table any more")]
    NoTable(String),
    #[error("the call kept changing under us")]
    Contended,
}

/// The table, unless it names another Twilio account than the webhook's: a number answers only
/// for the account that owns it.
fn owned(table: Option<Arc<RoutingTable>>, p: &Params) -> Option<Arc<RoutingTable>> {
    let table = table?;
    if table
        .account_sid
        .as_deref()
        .is_some_and(|a| a != p.get("AccountSid"))
    {
        warn!(
            to = p.get("To"),
            "the webhook's AccountSid does not own this number; treating it as unknown"
        );
        return None;
    }
    Some(table)
}

fn number<T: std::str::FromStr>(p: &Params, name: &str) -> Option<T> {
    p.get(name).parse().ok()
}

/// Load, decide (pure), commit; again when another replica changed the call meanwhile.
async fn serve(st: &AppState, hook: Hook, sid: &str, p: &Params) -> Result<String, Failure> {
    let key = hook.key(p);
    if let Hook::Incoming = hook
        && let Some(answer) = first_webhook(st, sid, &key, p).await?
    {
        return Ok(answer);
    }
    for _ in 0..MAX_ATTEMPTS {
        // The caller's leg names the hotline in `To`: its table comes in the same round trip.
        let hotline = (!hook.responder_leg())
            .then(|| p.get("To"))
            .filter(|n| !n.is_empty());
        let loaded = st.0.store.load(sid, &key, hotline).await?;
        if let Some(answer) = loaded.response {
            info!("retried webhook: answering again with the stored response");
            Metrics::inc(&st.0.metrics.replays, hook.name());
            return Ok(answer);
        }
        let now = st.0.clock.now();
        let urls = &st.0.urls;
        let before = loaded.state.clone();
        let (state, twiml): (CallState, Response) = match (hook, loaded.state) {
            (Hook::Incoming, None) => {
                let to = p.get("To");
                let table = owned(loaded.table.clone(), p);
                let req = Incoming {
                    call_sid: sid,
                    from: p.get("From"),
                    to,
                };
                flow::incoming(table.as_deref(), &req, now, urls)
            }
            // A second, different first webhook for a known call: answer what the call needs.
            (Hook::Incoming, Some(_)) => return Err(Failure::Malformed("second incoming webhook")),
            (_, None) => return Err(Failure::UnknownCall),
            (Hook::Transcription, Some(s)) => (
                flow::transcription(
                    s,
                    p.get("TranscriptionStatus"),
                    p.get("TranscriptionText"),
                    now,
                ),
                Response::new(),
            ),
            (Hook::Recording, Some(s)) => (
                flow::recording(s, p.get("RecordingUrl"), now),
                Response::new(),
            ),
            (Hook::Status, Some(s)) => (
                flow::status(s, p.get("CallStatus"), number(p, "CallDuration"), now),
                Response::new(),
            ),
            (hook, Some(s)) => {
                let table = match &loaded.table {
                    Some(t) if t.number == s.to => Some(t.clone()),
                    _ => st.0.store.table(&s.to).await?,
                };
                let Some(t) = table else {
                    return Err(Failure::NoTable(s.to.clone()));
                };
                let t = &t;
                match hook {
                    Hook::Menu { attempt } => flow::menu(t, s, attempt, p.get("Digits"), now, urls),
                    Hook::Describe => flow::describe(t, s, p.get("SpeechResult"), now, urls),
                    Hook::Dial { seq } => {
                        let res = DialResult {
                            seq,
                            dial_status: p.get("DialCallStatus"),
                            duration: number(p, "DialCallDuration"),
                            call_status: p.get("CallStatus"),
                        };
                        flow::dial_result(t, s, &res, now, urls)
                    }
                    Hook::Whisper { seq, ring } => flow::whisper(t, s, seq, ring, now, urls),
                    Hook::Accept { seq, ring } => {
                        flow::accept(t, s, seq, ring, p.get("Digits"), now)
                    }
                    Hook::Voicemail => flow::voicemail(
                        t,
                        s,
                        p.get("RecordingUrl"),
                        number(p, "RecordingDuration"),
                        now,
                    ),
                    Hook::Incoming | Hook::Transcription | Hook::Recording | Hook::Status => {
                        unreachable!("handled above")
                    }
                }
            }
        };
        let body = twiml.to_xml();
        // Most webhooks (a dial moving to the next step, a status callback) leave the alert as
        // it was: then neither its snapshot is written again nor the dispatcher woken for it.
        let alert = state
            .alert()
            .filter(|a| before.as_ref().and_then(CallState::alert).as_ref() != Some(a));
        let applied =
            st.0.store
                .commit(Commit {
                    state: &state,
                    expected_version: loaded.version,
                    key: &key,
                    response: &body,
                    alert: alert.as_ref(),
                    replace: false,
                })
                .await?;
        if applied {
            observe(st, before.as_ref(), &state);
            return Ok(body);
        }
        info!("the call changed meanwhile (another replica); trying again");
    }
    Err(Failure::Contended)
}

/// A call's first webhook in one Redis round trip: decided on the routing table this replica
/// read last, and committed together with a read of that table's current revision. When the
/// table changed meanwhile (the first call after a change, on this replica), the call is
/// decided again on the current table and that decision replaces the first, before Twilio has
/// heard either. `None` when the call exists already (a retried or concurrent first webhook),
/// or no table of the number is cached: then `serve`'s load-decide-commit answers.
async fn first_webhook(
    st: &AppState,
    sid: &str,
    key: &str,
    p: &Params,
) -> Result<Option<String>, Failure> {
    let to = p.get("To");
    let Some(cached) = st.0.store.cached_table(to) else {
        return Ok(None);
    };
    let now = st.0.clock.now();
    let decide = |table: Option<Arc<RoutingTable>>| {
        let req = Incoming {
            call_sid: sid,
            from: p.get("From"),
            to,
        };
        let (state, twiml) = flow::incoming(owned(table, p).as_deref(), &req, now, &st.0.urls);
        let body = twiml.to_xml();
        (state, body)
    };
    let revision = cached.revision.clone();
    let (state, body) = decide(Some(cached));
    let alert = state.alert();
    let committed =
        st.0.store
            .commit_first(
                Commit {
                    state: &state,
                    expected_version: 0,
                    key,
                    response: &body,
                    alert: alert.as_ref(),
                    replace: false,
                },
                to,
            )
            .await?;
    let Some(current) = committed else {
        return Ok(None);
    };
    if current.as_deref() == Some(revision.as_str()) {
        observe(st, None, &state);
        return Ok(Some(body));
    }
    info!(
        revision = current.as_deref().unwrap_or("none"),
        "the routing table changed since this replica last read it; deciding the call again"
    );
    let table = st.0.store.table_at(to, current).await?;
    let (fresh, fresh_body) = decide(table);
    let alert = fresh.alert();
    let replaced =
        st.0.store
            .commit(Commit {
                state: &fresh,
                expected_version: 1,
                key,
                response: &fresh_body,
                alert: alert.as_ref(),
                replace: true,
            })
            .await?;
    if replaced {
        observe(st, None, &fresh);
        Ok(Some(fresh_body))
    } else {
        // Another webhook of the call (the caller hung up already) moved it on from the first
        // decision, which then stands: it is what the stored state and answer say.
        observe(st, None, &state);
        Ok(Some(body))
    }
}

/// Logs a committed change's events and counts what it finished: a call's outcome, its time
/// to answer.
fn observe(st: &AppState, before: Option<&CallState>, after: &CallState) {
    for (_, e) in &after.events {
        info!(event = %e, "call event");
    }
    let m = &st.0.metrics;
    if before.and_then(|b| b.accepted.as_ref()).is_none()
        && let Some((_, at)) = &after.accepted
    {
        let secs = at.duration_since(after.started_at).as_secs_f64();
        m.time_to_answer.observe(secs);
    }
    if before.and_then(|b| b.outcome).is_none()
        && let Some(outcome) = after.outcome
    {
        m.calls
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str().to_string(),
            })
            .inc();
        info!(
            outcome = outcome.as_str(),
            to = %after.to,
            policy = %after.policy,
            answered_by = after.accepted.as_ref().map(|(r, _)| r.display_name.as_str()).unwrap_or(""),
            "call ended"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimitedLog;

    #[test]
    fn a_flood_of_rejections_logs_one_line_and_counts_the_rest() {
        let log = RateLimitedLog::default();
        let admitted = (0..10_000).filter(|_| log.admit().is_some()).count();
        // The loop may straddle a second boundary: one line per second it ran in.
        assert!((1..=2).contains(&admitted), "{admitted}");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let held = log.admit().expect("a new second lets a line through");
        assert!(held >= 9_998, "{held}");
    }
}
