#![forbid(unsafe_code)]
//! The webhook server: answers Twilio's voice webhooks with TwiML, reading only the routing
//! tables in Redis (`switchboard-routing`), never the Kubernetes API.
//!
//! ```text
//!   Twilio ─► server.rs (axum: signature, idempotency, fallback) ─► flow.rs (pure)
//!                 │ load / compare-and-set                              │         │
//!              store.rs (Redis | memory)                  routing::escalation   twiml.rs
//! ```
//!
//! `flow.rs` decides, `server.rs` does the I/O around it, `store.rs` keeps the call state so
//! that any replica can serve any webhook of any call.

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
