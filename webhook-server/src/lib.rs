#![forbid(unsafe_code)]
//! The webhook server: answers Twilio's voice and SMS webhooks with TwiML, reading only the
//! routing tables in Redis (`switchboard-routing`), never the Kubernetes API.
//!
//! Built so far: the TwiML builder (`twiml.rs`). The HTTP handlers, call state in Redis and
//! the call flow are the rest of the issue "Live call flow: the webhook server answers,
//! escalates and connects calls", still open. The dependency rule (routing only: no kube, no
//! k8s-openapi, no CRDs) is fixed from the start.

pub mod flow;
pub mod state;
pub mod twiml;
