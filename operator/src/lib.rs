#![forbid(unsafe_code)]
//! The operator: reconciles Switchboard's CRDs into routing tables and Twilio configuration.
//!
//! ```text
//!   manifests (folder or API server)
//!        │  manifests.rs: YAML -> JSON values
//!        ▼
//!   schema.rs: OpenAPI schema + unknown fields + CEL rules   (what the API server checks)
//!        ▼
//!   compile/: schedules -> chains -> policies -> one RoutingTable per PhoneNumber   (pure)
//!        ▼
//!   (issue 4) apply: Redis tables, Twilio number settings; status and events
//! ```
//!
//! Everything in this crate so far is pure; `switchboard validate`, `oncall` and the
//! controllers share it.

pub mod compile;
pub mod controller;
pub mod manifests;
pub mod metrics;
pub mod problem;
pub mod run;
pub mod schema;
pub mod twilio;

pub use compile::{AccountSids, Compiled, compile};
pub use manifests::{Loaded, Objects, load_files, manifest_files};
pub use problem::{ObjectId, Origin, Problem};
pub use schema::SchemaChecker;
