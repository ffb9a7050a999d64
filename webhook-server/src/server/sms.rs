//! Texts to a hotline: routed by `sms.rs` (pure), recorded once per MessageSid.

use std::time::Instant;

use axum::Extension;
use axum::extract::State;
use axum::response::Response as HttpResponse;
use tracing::{Instrument, error, info, info_span, warn};

use crate::metrics::{Metrics, OutcomeLabels};
use crate::twiml::Response;

use super::*;

/// Texts to a hotline (the number's SmsUrl): routed by `sms.rs`, recorded once per MessageSid
/// (a retried text gets the same answer and raises nothing new), answered with the reply. A
/// store failure answers with no reply rather than an error: Twilio does not retry a text, so
/// the failure is logged and counted for the operator to see.
pub(super) async fn sms(
    State(st): State<AppState>,
    Extension(p): Extension<Params>,
) -> HttpResponse {
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

pub(super) async fn text(st: &AppState, sid: &str, p: &Params) -> Result<String, Failure> {
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
