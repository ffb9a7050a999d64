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
//!   apply: Twilio number settings, Redis tables; status and events (controller/), or logs
//!   when the manifests come from a folder (folder.rs)
//! ```
//!
//! Reading, checking and compiling are pure; `switchboard validate`, `oncall`, `simulate`,
//! `dev`, the controllers and the folder operator share them.

pub mod compile;
pub mod controller;
pub mod folder;
pub mod manifests;
pub mod metrics;
pub mod notify;
pub mod problem;
pub mod run;
pub mod schema;
pub mod twilio;

pub use compile::{AccountSids, Compiled, compile};
pub use manifests::{Loaded, Objects, load_files, manifest_files};
pub use problem::{ObjectId, Origin, Problem};
pub use schema::SchemaChecker;
