#![forbid(unsafe_code)]
//! The webhook server: answers Twilio's voice and SMS webhooks with TwiML, reading only the
//! routing tables in Redis (`switchboard-routing`), never the Kubernetes API.
//!
//! ```text
//!   Twilio webhook ─► (HTTP handler, not yet) ─► flow.rs: (table, state, request) -> (state, TwiML)
//!                                                    │            │
//!                                       routing::escalation    twiml.rs
//! ```
//!
//! Built so far: the pure call flow (`flow.rs`, `state.rs`) and the TwiML builder (`twiml.rs`).
//! The HTTP handlers, call state in Redis, the fallback endpoint and metrics are the rest of the
//! issue "Live call flow: the webhook server answers, escalates and connects calls", still open.

pub mod flow;
pub mod state;
pub mod twiml;
