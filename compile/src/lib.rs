#![forbid(unsafe_code)]
//! The compile step, pure and without a Kubernetes client: what `switchboard validate`,
//! `oncall` and `simulate` need, and what the operator runs on every reconcile.
//!
//! ```text
//!   manifests (files, or objects the operator's watches hold)
//!        │  manifests.rs: YAML -> JSON values -> typed objects
//!        ▼
//!   schema.rs: OpenAPI schema + unknown fields + CEL rules   (what the API server checks)
//!        ▼
//!   compile/: schedules -> chains -> policies -> one RoutingTable per PhoneNumber
//!        │  secrets.rs: which Secrets notification targets may read
//!        ▼
//!   the operator (switchboard-operator) applies the tables: Redis, Twilio, status
//! ```

pub mod compile;
pub mod manifests;
pub mod pins;
pub mod problem;
pub mod schema;
pub mod secrets;

pub use compile::{AccountSids, Compiled, compile};
pub use manifests::{Loaded, Objects, load_files, manifest_files};
pub use problem::{ObjectId, Origin, Problem};
pub use schema::SchemaChecker;
