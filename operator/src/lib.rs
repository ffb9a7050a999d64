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

/// An error with its chain of causes (`error sending request: client error (Connect):
/// tcp connect error: Connection refused`): reqwest's own message names only the outermost,
/// which says nothing of why a delivery failed.
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod error_chain_tests {
    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn a_failed_delivery_names_every_cause() {
        let e = Layer(
            "error sending request",
            Some(Box::new(Layer(
                "client error (Connect)",
                Some(Box::new(Layer(
                    "tcp connect error: Connection refused",
                    None,
                ))),
            ))),
        );
        assert_eq!(
            super::with_causes(&e),
            "error sending request: client error (Connect): tcp connect error: Connection refused"
        );
    }
}
