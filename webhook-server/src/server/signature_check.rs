//! Twilio's signature on every webhook (403 when wrong), the body limit, rate-limited refusals.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response as HttpResponse};
use switchboard_routing::signature;
use tracing::warn;

use crate::metrics::ReasonLabels;

use super::*;

/// Checks `X-Twilio-Signature` against the public URL (from configuration, not the Host
/// header) and the auth token of the request's `AccountSid`. Passes the parsed parameters on.
pub(super) async fn check_signature(
    State(st): State<AppState>,
    req: Request,
    next: Next,
) -> HttpResponse {
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
pub(super) fn refused(st: &AppState, reason: &str) -> Option<u64> {
    st.0.metrics
        .signature_rejections
        .get_or_create(&ReasonLabels {
            reason: reason.to_string(),
        })
        .inc();
    st.0.rejections.admit()
}

pub(super) fn reject(st: &AppState, reason: &str, params: Option<&Params>) -> HttpResponse {
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
