//! The PhoneNumber pipeline's steps, written once for both modes: the controller
//! (`switchboard-operator`, objects from the API server, status and events as the sink) and
//! the folder operator (`folder.rs`, objects from files, a report in the log as the sink).
//!
//! ```text
//!   dereference   the credentials Secret and the objects the number uses: the mode's source
//!   build         build(compiled, owner, problem) ─► Built { table, problem }        (pure)
//!   twilio        twilio(...) ─► Ensured (RecordIntent | Ready) or TwilioFailed
//!   publish       publish(routes, built, number) ─► PublishStep: Live | Unavailable |
//!                                                   Invalid | AwaitingNumber
//!   let go        let_go(...) ─► release or detach the number when the object is deleted
//!   status        the mode's sink: conditions and events, or the folder's report
//! ```
//!
//! Each step decides; the modes only say what it decided, each in its own words.

use switchboard_crds::PhoneNumber;
use switchboard_routing::RoutingTable;
use switchboard_routing::publish::RouteStore;

use crate::compile::Compiled;
use crate::metrics::Metrics;
use crate::twilio::TwilioError;
use crate::twilio::client::Client;
use crate::twilio::number::{
    Ensured, Known, LetGo, NumberError, ensure, release_or_detach, settings_for,
};

/// What the build step made of one PhoneNumber.
#[derive(Debug)]
pub struct Built<'a> {
    /// Its table, when it compiled.
    pub table: Option<&'a RoutingTable>,
    /// What keeps it from publishing (the first problem, readable), when anything does.
    pub problem: Option<String>,
}

/// The build step: the table of PhoneNumber `owner` (namespace, name) among `compiled`'s,
/// and the problem that keeps it from being published, `problem`, as the mode words it (the
/// controller compiles only what one PhoneNumber uses, the folder operator everything).
pub fn build<'a>(
    compiled: &'a Compiled,
    owner: (&str, &str),
    problem: Option<String>,
) -> Built<'a> {
    let table = compiled
        .tables
        .iter()
        .find(|t| t.owner.namespace == owner.0 && t.owner.name == owner.1);
    Built { table, problem }
}

/// Why the Twilio step could not make the number ready.
#[derive(Debug)]
pub struct TwilioFailed {
    /// The condition reason: `TwilioError`, `NumberNotInAccount`, `NoNumberAvailable`.
    pub reason: &'static str,
    /// Why.
    pub error: NumberError,
}

/// The Twilio step: makes `pn`'s number exist and point at `public_url` (see
/// `twilio::number::ensure`: first a purchase intent to record, then the number ready), and
/// counts the outcome.
pub async fn twilio(
    client: &Client,
    pn: &PhoneNumber,
    known: &Known,
    marker: &str,
    public_url: &str,
    metrics: &Metrics,
) -> Result<Ensured, TwilioFailed> {
    let settings = settings_for(public_url);
    let ensured = ensure(
        client,
        pn.spec.number.as_deref(),
        pn.spec.purchase.as_ref(),
        known,
        marker,
        &settings,
    )
    .await;
    match ensured {
        Ok(ensured) => {
            if matches!(ensured, Ensured::Ready { .. }) {
                metrics.twilio("ensure", "ok");
            }
            Ok(ensured)
        }
        Err(error) => {
            let (reason, label) = match &error {
                NumberError::Twilio(t) => ("TwilioError", t.metric_label()),
                NumberError::NotInAccount(_) => ("NumberNotInAccount", "not-in-account".into()),
                NumberError::NoneAvailable { .. } => ("NoNumberAvailable", "none-available".into()),
            };
            metrics.twilio("ensure", &label);
            Err(TwilioFailed { reason, error })
        }
    }
}

/// What the publish step did.
#[derive(Debug, PartialEq, Eq)]
pub enum PublishStep {
    /// The table is live; `written` when the store changed (else it already was).
    Live {
        /// Its revision.
        revision: String,
        /// Its number.
        number: String,
        /// Whether it was written now.
        written: bool,
    },
    /// The store refused; worth retrying soon.
    Unavailable(String),
    /// The objects are invalid (the problem): nothing is written, and the last valid table
    /// stays live.
    Invalid(String),
    /// The number is not known yet (a purchase not made).
    AwaitingNumber,
}

/// The publish step: writes `built`'s table into `routes` when it is valid and its number is
/// known, and counts what was written.
pub async fn publish<R: RouteStore>(
    routes: &mut R,
    built: &Built<'_>,
    number_known: bool,
    metrics: &Metrics,
) -> PublishStep {
    if let Some(p) = &built.problem {
        return PublishStep::Invalid(p.clone());
    }
    let Some(table) = built.table.filter(|_| number_known) else {
        return PublishStep::AwaitingNumber;
    };
    match routes.publish(table).await {
        Ok(written) => {
            if written {
                metrics.published.inc();
            }
            PublishStep::Live {
                revision: table.revision.clone(),
                number: table.number.clone(),
                written,
            }
        }
        Err(e) => PublishStep::Unavailable(e),
    }
}

/// The let-go step, for a deleted PhoneNumber: releases its number (`release`, and only one
/// Switchboard bought) or points it back at Twilio's defaults, and counts the outcome.
pub async fn let_go(
    client: &Client,
    number: Option<&str>,
    known: &Known,
    release: bool,
    public_url: &str,
    metrics: &Metrics,
) -> Result<LetGo, TwilioError> {
    let done = release_or_detach(client, number, known, release, &settings_for(public_url)).await;
    match &done {
        Ok(_) => metrics.twilio("release", "ok"),
        Err(e) => metrics.twilio("release", &e.metric_label()),
    }
    done
}

/// What the let-go step did, in words (events, logs).
pub fn let_go_note(done: LetGo) -> &'static str {
    match done {
        LetGo::Released => "released the number back to Twilio",
        LetGo::Detached => "pointed the number back at Twilio's defaults; it stays in the account",
        LetGo::Untouched => "the number no longer pointed at Switchboard; left as it is",
    }
}
