//! Prometheus metrics (`/metrics`, OpenMetrics text).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::state::Outcome;

/// Labels of a webhook request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// The webhook (`incoming`, `dial`, ...).
    pub endpoint: String,
}

/// Labels of a finished call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `answered`, `voicemail`, ...
    pub outcome: String,
}

/// Labels of a caller's choice between rings.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChoiceLabels {
    /// `voicemail`, `callback` or `stayed` (no key: rung on).
    pub choice: String,
}

/// Labels of a PIN check.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PinLabels {
    /// `right`, `wrong` (asked again) or `locked` (the call ended).
    pub result: String,
}

/// Labels of a signature rejection.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// `missing`, `mismatch`, `unknown-account`.
    pub reason: String,
}

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Calls ended, by outcome.
    pub calls: Family<OutcomeLabels, Counter>,
    /// Seconds from the call coming in to a responder accepting.
    pub time_to_answer: Histogram,
    /// Webhook handling time, by endpoint.
    pub webhook_seconds: Family<EndpointLabels, Histogram>,
    /// Requests refused for their signature.
    pub signature_rejections: Family<ReasonLabels, Counter>,
    /// Webhooks answered with the fallback TwiML (the store failed or the call was unknown).
    pub fallbacks: Family<EndpointLabels, Counter>,
    /// Webhooks answered again from the stored response (Twilio retried them).
    pub replays: Family<EndpointLabels, Counter>,
    /// Texts received, by what became of them (`routed`, `ignored`).
    pub texts: Family<OutcomeLabels, Counter>,
    /// 1 when the store (Redis) answered the last probe, 0 when it did not.
    pub store_up: Gauge,
    /// Responders who pressed the decline key (passed the call on).
    pub declines: Counter,
    /// What callers chose when offered their choices between rings.
    pub caller_choices: Family<ChoiceLabels, Counter>,
    /// PINs keyed, by result.
    pub pin_checks: Family<PinLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("switchboard_webhook");
        let calls = Family::<OutcomeLabels, Counter>::default();
        registry.register("calls", "Calls ended, by outcome", calls.clone());
        let time_to_answer =
            Histogram::new([5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0]);
        registry.register(
            "time_to_answer_seconds",
            "Seconds from the call coming in to a responder accepting it",
            time_to_answer.clone(),
        );
        let webhook_seconds = Family::<EndpointLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0,
            ])
        });
        registry.register(
            "webhook_duration_seconds",
            "Time to answer a Twilio webhook, by endpoint",
            webhook_seconds.clone(),
        );
        let signature_rejections = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "signature_rejections",
            "Webhooks refused with 403 for a missing or wrong X-Twilio-Signature",
            signature_rejections.clone(),
        );
        let fallbacks = Family::<EndpointLabels, Counter>::default();
        registry.register(
            "fallbacks",
            "Webhooks answered with the fallback message because the call could not be served",
            fallbacks.clone(),
        );
        let replays = Family::<EndpointLabels, Counter>::default();
        registry.register(
            "replays",
            "Retried webhooks answered again with the stored response",
            replays.clone(),
        );
        let texts = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "texts",
            "Texts received, by outcome: routed (alert raised, forwarded, replied) or ignored",
            texts.clone(),
        );
        for outcome in ["routed", "ignored"] {
            let _ = texts.get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            });
        }
        // Every outcome and rejection reason is exported from the start, at zero, so that
        // dashboards and alerts see the series before the first such call.
        for outcome in Outcome::ALL {
            let _ = calls.get_or_create(&OutcomeLabels {
                outcome: outcome.as_str().to_string(),
            });
        }
        for reason in ["missing", "mismatch", "unknown-account", "unreadable-body"] {
            let _ = signature_rejections.get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            });
        }
        let declines = Counter::default();
        registry.register(
            "declines",
            "Responders who pressed the decline key, passing the call on",
            declines.clone(),
        );
        let caller_choices = Family::<ChoiceLabels, Counter>::default();
        registry.register(
            "caller_choices",
            "Callers offered their choices between rings, by what they chose: voicemail (a message now), callback (a call-back requested) or stayed (rung on)",
            caller_choices.clone(),
        );
        for choice in ["voicemail", "callback", "stayed"] {
            let _ = caller_choices.get_or_create(&ChoiceLabels {
                choice: choice.to_string(),
            });
        }
        let pin_checks = Family::<PinLabels, Counter>::default();
        registry.register(
            "pin_checks",
            "PINs keyed at hotlines that ask one, by result: right, wrong (asked again) or locked (too many wrong: the call ended). A rise in locked is someone guessing",
            pin_checks.clone(),
        );
        for result in ["right", "wrong", "locked"] {
            let _ = pin_checks.get_or_create(&PinLabels {
                result: result.to_string(),
            });
        }
        let store_up = Gauge::default();
        registry.register(
            "store_up",
            "1 when Redis answered the last probe (/readyz, /storez), 0 when it did not: the server then answers calls with the fallback",
            store_up.clone(),
        );
        Metrics {
            store_up,
            declines,
            caller_choices,
            pin_checks,
            registry,
            calls,
            time_to_answer,
            webhook_seconds,
            signature_rejections,
            fallbacks,
            replays,
            texts,
        }
    }
}

impl Metrics {
    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Records how long a webhook of `endpoint` that began at `started` took.
    pub fn observe_latency(&self, endpoint: &str, started: std::time::Instant) {
        self.webhook_seconds
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.to_string(),
            })
            .observe(started.elapsed().as_secs_f64());
    }

    /// One more of `endpoint` in `family`.
    pub fn inc(family: &Family<EndpointLabels, Counter>, endpoint: &str) {
        family
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.to_string(),
            })
            .inc();
    }
}
