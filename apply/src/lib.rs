#![forbid(unsafe_code)]
//! What applies compiled routing tables, without the Kubernetes client: the Twilio REST client
//! and the number step (`twilio/`), the folder operator (`folder.rs`), the alert dispatcher
//! (`notify/`, its own module tree), and the operator's metrics. The in-cluster controllers
//! (`switchboard-operator`) and `switchboard dev` both build on it.
//!
//! ```text
//!   switchboard-compile ──▶ RoutingTable per PhoneNumber
//!        ▼
//!   twilio/: the number's Twilio settings       folder.rs: a folder's objects, one pass each
//!        ▼                                       (the controllers: switchboard-operator)
//!   Redis (switchboard_routing::publish)
//!        ▼
//!   notify/: due alerts ──▶ Webhook, Slack, PagerDuty, Alertmanager, Grafana OnCall, texts
//! ```

pub mod folder;
pub mod metrics;
pub mod notify;
pub mod pipeline;
pub mod twilio;

pub(crate) use switchboard_compile::{Loaded, compile, manifests, problem, schema};

/// An error with its chain of causes (`error sending request: client error (Connect):
/// tcp connect error: Connection refused`): reqwest's own message names only the outermost,
/// which says nothing of why a delivery failed.
pub fn with_causes(e: &dyn std::error::Error) -> String {
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
