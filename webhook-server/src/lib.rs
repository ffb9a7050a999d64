#![forbid(unsafe_code)]
//! The webhook server: answers Twilio's voice webhooks with TwiML, reading only the routing
//! tables in Redis (`switchboard-routing`), never the Kubernetes API.
//!
//! ```text
//!   Twilio ─► server/ (axum: signature_check, calls, sms) ─► flow/ (pure: menu, ring, ending)
//!                 │ load / compare-and-set                          │            │
//!              store/ (redis_store | memory)            routing::escalation   twiml.rs
//! ```
//!
//! `flow/` decides, `server/` does the I/O around it, `store/` keeps the call state so that
//! any replica can serve any webhook of any call.

pub mod clock;
pub mod config;
pub mod credentials;
pub mod flow;
pub mod listen;
pub mod metrics;
pub mod server;
pub mod sms;
pub mod state;
pub mod store;
pub mod twiml;

pub use clock::Clock;
pub use credentials::{AuthToken, Credentials};
pub use server::{AppState, Fallback, app};
pub use store::Store;
