//! The HTTP server: Twilio's webhooks in, TwiML out.
//!
//! ```text
//!   POST /twilio/voice/*  ─► signature_check.rs (403 when wrong) ─► calls.rs handle():
//!        load call + stored answer ─► retry? answer again
//!                                  └► flow/ (pure) ─► commit (CAS on version) ─► TwiML
//!        store down / call unknown / panic ─► fallback TwiML (message, fallback number)
//!   POST /twilio/voice/fallback ─► fallback TwiML, no Redis (Twilio's fallback URL)
//!   POST /twilio/sms ─► sms.rs: crate::sms (pure), recorded once per MessageSid, <Message>
//!   GET  /healthz /readyz (ready unless draining) /storez (Redis answers) /metrics
//! ```
//!
//! Every webhook answers 200 with valid TwiML except a request whose signature is wrong (403:
//! it did not come from Twilio). A caller never hears Twilio's "application error".

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post};
use switchboard_routing::{RoutingTable, signature};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tracing::warn;

use crate::clock::Clock;
use crate::credentials::Credentials;
use crate::flow::Urls;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
use crate::twiml::{Dial, Noun, Response, Say, Verb};

mod calls;
mod observe;
mod signature_check;
mod sms;

use calls::{Hook, after_dial, caller, fallback, responder, with_attempt};
use signature_check::check_signature;
use sms::sms;

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
        .route(
            "/twilio/voice/menu",
            with_attempt(|attempt| Hook::Menu { attempt }),
        )
        .route("/twilio/voice/describe", caller(Hook::Describe))
        .route("/twilio/voice/closed", caller(Hook::Closed))
        .route("/twilio/voice/language", caller(Hook::Language))
        .route(
            "/twilio/voice/pin",
            with_attempt(|attempt| Hook::Pin { attempt }),
        )
        .route(
            "/twilio/voice/choice",
            after_dial(|seq| Hook::Choice { seq }, "choice"),
        )
        .route(
            "/twilio/voice/dial",
            after_dial(|seq| Hook::Dial { seq }, "dial"),
        )
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
        // Said in words, so that a wrong path in an ingress or in the number's webhook URL is
        // not mistaken for a signature problem.
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "no such path here: Twilio's webhooks are POST /twilio/voice (the number's voice URL), \
                 /twilio/voice/fallback and /twilio/sms; health at /healthz, /readyz, metrics at /metrics\n",
            )
        })
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

#[derive(Debug, thiserror::Error)]
pub(super) enum Failure {
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
pub(super) fn owned(table: Option<Arc<RoutingTable>>, p: &Params) -> Option<Arc<RoutingTable>> {
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

pub(super) fn number<T: std::str::FromStr>(p: &Params, name: &str) -> Option<T> {
    p.get(name).parse().ok()
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
