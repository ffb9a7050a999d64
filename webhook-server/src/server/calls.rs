//! The voice webhooks: each call's webhook loaded, decided by the flow (pure), committed with
//! compare-and-set, answered (or answered again when retried), the fallback on failure.

use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response as HttpResponse;
use axum::routing::{MethodRouter, post};
use serde::Deserialize;
use switchboard_routing::RoutingTable;
use tracing::{Instrument, error, info, info_span, warn};

use crate::flow::{self, DialResult, Incoming};
use crate::metrics::Metrics;
use crate::state::{CallState, CallStatus};
use crate::store::Commit;
use crate::twiml::Response;

use super::observe::observe;
use super::*;

/// Which webhook, with what its URL carries.
#[derive(Clone, Copy, Debug)]
pub(super) enum Hook {
    Incoming,
    Menu { attempt: u32 },
    Describe,
    Closed,
    Language,
    Pin { attempt: u32 },
    Choice { seq: u32 },
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
            Hook::Closed => "closed",
            Hook::Language => "language",
            Hook::Pin { .. } => "pin",
            Hook::Choice { .. } => "choice",
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
            Hook::Pin { attempt } => format!("pin:{attempt}"),
            Hook::Dial { seq } => format!("dial:{seq}"),
            Hook::Choice { seq } => format!("choice:{seq}"),
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
pub(super) struct AttemptQuery {
    #[serde(default)]
    attempt: u32,
}

#[derive(Deserialize)]
pub(super) struct SeqQuery {
    seq: u32,
}

#[derive(Deserialize)]
pub(super) struct LegQuery {
    call: String,
    seq: u32,
    ring: usize,
}

/// A webhook about the caller's leg, identified by its `CallSid`.
pub(super) fn caller(hook: Hook) -> MethodRouter<AppState> {
    post(
        move |State(st): State<AppState>, Extension(p): Extension<Params>| async move {
            let sid = p.get("CallSid").to_string();
            handle(st, hook, sid, p).await
        },
    )
}

/// A webhook about a responder's leg (whisper, accept). The leg's own CallSid is the
/// responder's; the caller's call, the dial and the ring are named in the signed URL.
pub(super) fn responder(
    hook: fn(u32, usize) -> Hook,
    name: &'static str,
) -> MethodRouter<AppState> {
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

/// A webhook of the caller's leg whose URL counts its attempts (`?attempt=`): the menu and
/// the PIN, read again after no key or a wrong one.
pub(super) fn with_attempt(hook: fn(u32) -> Hook) -> MethodRouter<AppState> {
    post(
        move |State(st): State<AppState>,
              q: Result<Query<AttemptQuery>, QueryRejection>,
              Extension(p): Extension<Params>| async move {
            let attempt = q.map(|q| q.attempt).unwrap_or(0);
            let sid = p.get("CallSid").to_string();
            handle(st, hook(attempt), sid, p).await
        },
    )
}

/// A webhook of the caller's leg whose URL names the dial it follows (`?seq=`): the `<Dial
/// action>`, and the caller's choice offered after a dial.
pub(super) fn after_dial(hook: fn(u32) -> Hook, name: &'static str) -> MethodRouter<AppState> {
    post(
        move |State(st): State<AppState>,
              q: Result<Query<SeqQuery>, QueryRejection>,
              Extension(p): Extension<Params>| async move {
            let sid = p.get("CallSid").to_string();
            match q {
                Ok(Query(q)) => handle(st, hook(q.seq), sid, p).await,
                Err(_) => malformed(&st, name, &sid),
            }
        },
    )
}

/// Twilio's fallback URL: answers without touching the store.
pub(super) async fn fallback(
    State(st): State<AppState>,
    Extension(p): Extension<Params>,
) -> HttpResponse {
    warn!(
        call_sid = p.get("CallSid"),
        error_code = p.get("ErrorCode"),
        error_url = p.get("ErrorUrl"),
        "Twilio used the fallback URL"
    );
    crate::metrics::Metrics::inc(&st.0.metrics.fallbacks, "fallback-url");
    twiml_response(&st.0.fallback.twiml())
}

pub(super) fn malformed(st: &AppState, endpoint: &str, call_sid: &str) -> HttpResponse {
    warn!(
        endpoint,
        call_sid, "malformed webhook (missing URL parameters); answering with the fallback"
    );
    crate::metrics::Metrics::inc(&st.0.metrics.fallbacks, endpoint);
    twiml_response(&st.0.fallback.twiml())
}

/// Serves one webhook of call `sid`, within a span that puts the CallSid on every log line.
pub(super) async fn handle(st: AppState, hook: Hook, sid: String, p: Params) -> HttpResponse {
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

/// Load, decide (pure), commit; again when another replica changed the call meanwhile.
pub(super) async fn serve(
    st: &AppState,
    hook: Hook,
    sid: &str,
    p: &Params,
) -> Result<String, Failure> {
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
        let version = loaded.version;
        if let Some(answer) = loaded.response {
            info!("retried webhook: answering again with the stored response");
            Metrics::inc(&st.0.metrics.replays, hook.name());
            return Ok(answer);
        }
        let before = loaded.state.clone();
        let (state, twiml) = decide(st, hook, sid, p, loaded.state, loaded.table).await?;
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
                    expected_version: version,
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

/// What the flow (pure) makes of one webhook on the call's state as loaded: the new state and
/// the TwiML to answer. `table` is the hotline's table when the load brought it.
async fn decide(
    st: &AppState,
    hook: Hook,
    sid: &str,
    p: &Params,
    state: Option<CallState>,
    table: Option<Arc<RoutingTable>>,
) -> Result<(CallState, Response), Failure> {
    let now = st.0.clock.now();
    let urls = &st.0.urls;
    let s = match (hook, state) {
        (Hook::Incoming, None) => {
            let table = owned(table, p);
            let req = Incoming {
                call_sid: sid,
                from: p.get("From"),
                to: p.get("To"),
            };
            return Ok(flow::incoming(table.as_deref(), &req, now, urls));
        }
        // A second, different first webhook for a known call: answer what the call needs.
        (Hook::Incoming, Some(_)) => return Err(Failure::Malformed("second incoming webhook")),
        (_, None) => return Err(Failure::UnknownCall),
        (Hook::Transcription, Some(s)) => {
            let status = p.get("TranscriptionStatus");
            let text = p.get("TranscriptionText");
            return Ok((flow::transcription(s, status, text, now), Response::new()));
        }
        (Hook::Recording, Some(s)) => {
            let state = flow::recording(s, p.get("RecordingUrl"), now);
            return Ok((state, Response::new()));
        }
        (Hook::Status, Some(s)) => {
            let duration = number(p, "CallDuration");
            let state = flow::status(s, CallStatus::parse(p.get("CallStatus")), duration, now);
            return Ok((state, Response::new()));
        }
        (_, Some(s)) => s,
    };
    let table = match table {
        Some(t) if t.number == s.to => Some(t),
        _ => st.0.store.table(&s.to).await?,
    };
    let Some(t) = table else {
        return Err(Failure::NoTable(s.to.clone()));
    };
    // A caller who chose another language hears the policy translated; responders hear it in
    // their own language or the policy's (`flow::whisper`).
    let translated = (!hook.responder_leg())
        .then(|| t.in_language(s.language.as_deref()))
        .flatten();
    let t = translated.as_deref().unwrap_or(&t);
    Ok(match hook {
        Hook::Language => flow::language(t, s, p.get("Digits"), now, urls),
        Hook::Pin { attempt } => {
            let token = st.0.credentials.token(p.get("AccountSid"));
            let token = token.as_ref().map(|k| k.expose());
            flow::pin(t, s, attempt, p.get("Digits"), token, now, urls)
        }
        Hook::Menu { attempt } => flow::menu(t, s, attempt, p.get("Digits"), now, urls),
        Hook::Describe => flow::describe(t, s, p.get("SpeechResult"), now, urls),
        Hook::Closed => flow::emergency(t, s, p.get("Digits"), now, urls),
        Hook::Choice { seq } => flow::choice(t, s, seq, p.get("Digits"), now, urls),
        Hook::Dial { seq } => {
            let res = DialResult {
                seq,
                dial_status: CallStatus::parse(p.get("DialCallStatus")),
                duration: number(p, "DialCallDuration"),
                call_status: CallStatus::parse(p.get("CallStatus")),
            };
            flow::dial_result(t, s, &res, now, urls)
        }
        Hook::Whisper { seq, ring } => flow::whisper(t, s, seq, ring, now, urls),
        Hook::Accept { seq, ring } => flow::accept(t, s, seq, ring, p.get("Digits"), now),
        Hook::Voicemail => {
            let duration = number(p, "RecordingDuration");
            flow::voicemail(t, s, p.get("RecordingUrl"), duration, now)
        }
        Hook::Incoming | Hook::Transcription | Hook::Recording | Hook::Status => {
            unreachable!("handled above")
        }
    })
}

/// A call's first webhook in one Redis round trip: decided on the routing table this replica
/// read last, and committed together with a read of that table's current revision. When the
/// table changed meanwhile (the first call after a change, on this replica), the call is
/// decided again on the current table and that decision replaces the first, before Twilio has
/// heard either. `None` when the call exists already (a retried or concurrent first webhook),
/// or no table of the number is cached: then `serve`'s load-decide-commit answers.
pub(super) async fn first_webhook(
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
