#![forbid(unsafe_code)]
//! The webhook server: answers Twilio's voice and SMS webhooks with TwiML, reading only the
//! routing tables in Redis (`switchboard-routing`), never the Kubernetes API.
//!
//! Not built yet: the live call flow is the issue "Live call flow: the webhook server answers,
//! escalates and connects calls". This crate exists so the workspace shows the architecture
//! and so its dependency rule (routing only: no kube, no k8s-openapi, no CRDs) is fixed from
//! the start.
