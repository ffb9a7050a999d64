#![forbid(unsafe_code)]
//! The operator: reconciles Switchboard's CRDs into routing tables and Twilio configuration.
//!
//! ```text
//!   manifests (folder or API server)
//!        ▼
//!   switchboard-compile: read, check (schema, CEL), compile   (pure, no Kubernetes client)
//!        ▼
//!   apply: Twilio number settings, Redis tables; status and events (controller/), or logs
//!   when the manifests come from a folder (folder.rs)
//!        ▼
//!   notify/: the alert dispatcher, from the due set in Redis to the notification targets
//! ```
//!
//! The compile step's modules are re-exported here under their old paths.

pub mod controller;
pub mod kube_secrets;
pub mod run;

pub use switchboard_apply::{folder, metrics, notify, pipeline, twilio};

pub use switchboard_compile::{
    AccountSids, Compiled, Loaded, ObjectId, Objects, Origin, Problem, SchemaChecker, compile,
    load_files, manifest_files, manifests, problem, schema,
};
