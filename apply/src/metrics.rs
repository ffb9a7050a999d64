//! The operator's Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels naming a kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// `PhoneNumber`, `Schedule`.
    pub kind: String,
}

/// Labels of a failure.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// The kind reconciled.
    pub kind: String,
    /// `kube`, `redis`, `twilio-20003`, ...
    pub reason: String,
}

/// Labels of a Twilio API call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TwilioLabels {
    /// `ensure`, `release`.
    pub operation: String,
    /// `ok` or Twilio's error code.
    pub result: String,
}

/// Labels of an alert delivery.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// `Webhook`, `Slack`, `PagerDuty`, `Alertmanager`, `GrafanaOnCall`, `TwilioSms`.
    pub target_type: String,
    /// The target's name in its policy (`sms-forward` for forwarded texts).
    pub target: String,
    /// `delivered`, `failed` (retried), `rejected` (not retried), `expired` (given up).
    pub result: String,
}

/// Every metric.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Reconciles run.
    pub reconciles: Family<KindLabels, Counter>,
    /// Reconciles that failed, by reason.
    pub failures: Family<FailureLabels, Counter>,
    /// Reconcile durations.
    pub duration: Family<KindLabels, Histogram>,
    /// Twilio number operations.
    pub twilio: Family<TwilioLabels, Counter>,
    /// Routing tables written to Redis.
    pub published: Counter,
    /// Routing tables written again because Redis had lost them.
    pub restored: Counter,
    /// Alert deliveries and text forwards, by target and result.
    pub notifications: Family<DeliveryLabels, Counter>,
    /// 1 while this process holds the leader-election Lease and runs the controllers.
    pub leader: Gauge,
    /// Deleted PhoneNumbers whose Twilio number could not be released or pointed away from
    /// Switchboard (each is also logged at error level, naming the number): they need a look
    /// in the Twilio console.
    pub numbers_left_behind: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("switchboard_operator");
        let reconciles = Family::<KindLabels, Counter>::default();
        registry.register("reconciles", "Reconciles run, by kind", reconciles.clone());
        let failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "reconcile_failures",
            "Reconciles that failed and are retried, by kind and reason",
            failures.clone(),
        );
        let duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0])
        });
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile durations, by kind",
            duration.clone(),
        );
        let twilio = Family::<TwilioLabels, Counter>::default();
        registry.register(
            "twilio_operations",
            "Twilio number operations, by result",
            twilio.clone(),
        );
        let published = Counter::default();
        registry.register(
            "published_tables",
            "Routing tables written to Redis",
            published.clone(),
        );
        let restored = Counter::default();
        registry.register(
            "restored_tables",
            "Routing tables written again because Redis had lost them (restarted without persistence, or flushed)",
            restored.clone(),
        );
        let notifications = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "notifications",
            "Alert deliveries to notification targets and texts forwarded to responders, by target and result",
            notifications.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this process holds the leader-election Lease and runs the controllers",
            leader.clone(),
        );
        let numbers_left_behind = Counter::default();
        registry.register(
            "numbers_left_behind",
            "Deleted PhoneNumbers whose Twilio number was neither released nor pointed away from Switchboard (see the error log for which)",
            numbers_left_behind.clone(),
        );
        Metrics {
            leader,
            numbers_left_behind,
            notifications,
            registry,
            reconciles,
            failures,
            duration,
            twilio,
            published,
            restored,
        }
    }
}

impl Metrics {
    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts an alert delivery attempt.
    pub fn notification(&self, target_type: &str, target: &str, result: &str) {
        self.notifications
            .get_or_create(&DeliveryLabels {
                target_type: target_type.into(),
                target: target.into(),
                result: result.into(),
            })
            .inc();
    }

    /// Counts a Twilio operation.
    pub fn twilio(&self, operation: &str, result: &str) {
        self.twilio
            .get_or_create(&TwilioLabels {
                operation: operation.into(),
                result: result.into(),
            })
            .inc();
    }
}
