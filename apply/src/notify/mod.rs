//! The alert dispatcher: sends each hotline call's and text's alert to its policy's
//! notification targets, and forwards texts to whoever is on call, outside the webhook's
//! response path.
//!
//! ```text
//!   webhook server: commit of a call / text ──► HSET alert snapshot ────┐  (atomic with the change)
//!                                            └► ZADD alerts:due LT mark ┘
//!   dispatcher (every operator replica):
//!     claim due members (ZSCORE := now + lease, one Lua script: no two replicas take one)
//!       ─► lock sent:{id}:lock (SET NX PX lease): a newer snapshot can make a leased alert due
//!          again at once (ZADD LT), so another replica may claim it while this one still sends;
//!          the lock makes it wait, and it reads what was sent only once it holds the lock
//!       ─► Alert::plan(now): the stages wanted ─► per target, in order, each stage not yet in
//!          sb:v1:sent:{id} ─► POST ─► HSET sent target:stage
//!       ─► release: done (ZREM) | wake at a delayed trigger | retry with backoff on failure
//!          (unless a newer snapshot arrived meanwhile: then it is due again at once)
//! ```
//!
//! Delivery is at least once: a stage is marked sent after the receiver's 2xx, so a process
//! killed between the two sends that stage again once its lease runs out. Receivers can
//! de-duplicate: webhook deliveries carry `X-Switchboard-Delivery`, PagerDuty has one
//! `dedup_key` per call, Alertmanager merges alerts with equal labels. Repeated webhooks from
//! Twilio never cause a second delivery: the plan is a function of the snapshot.

pub mod payload;
pub mod secrets;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use switchboard_routing::connect::Conn;
use switchboard_routing::keys::{self, field};
use switchboard_routing::queue::{AlertQueue, QueueResult, RedisQueue};
use switchboard_routing::table::NotificationTarget;
use switchboard_routing::{Alert, AlertKind, Stage};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::metrics::Metrics;
use crate::twilio::client::TwilioError;
use payload::Resolved;
pub use secrets::{FolderSecrets, Secrets, Snapshot};

/// How the dispatcher paces itself.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How often Redis is asked for due alerts when there were none.
    pub poll: Duration,
    /// How long a claimed alert is this dispatcher's before another may take it.
    pub lease: Duration,
    /// Alerts claimed at once.
    pub batch: usize,
    /// First retry delay; doubled after each failed attempt.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// After this long failing, the stages still unsent are given up (counted as `expired`).
    pub give_up_after: Duration,
    /// Timeout of one HTTP request to a target.
    pub request_timeout: Duration,
    /// How long delivery records live (as long as calls do).
    pub retention: Duration,
    /// Forward texts to responders through Twilio's Messages API. Off in
    /// `switchboard dev --no-twilio`, where nothing may reach Twilio.
    pub forward_texts: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            poll: Duration::from_millis(500),
            lease: Duration::from_secs(120),
            batch: 32,
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(300),
            give_up_after: Duration::from_secs(24 * 3600),
            request_timeout: Duration::from_secs(10),
            retention: Duration::from_secs(7 * 24 * 3600),
            forward_texts: true,
        }
    }
}

impl Settings {
    /// The delay before attempt `attempts + 1`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
        self.retry_base.saturating_mul(factor).min(self.retry_max)
    }
}

/// How soon an alert another dispatcher is sending is looked at again.
const LOCKED_RETRY: Duration = Duration::from_millis(500);

/// A delivery failure.
#[derive(Debug)]
struct Failed {
    error: String,
    /// Retrying cannot help (Twilio error 21610: the recipient texted STOP).
    permanent: bool,
}

/// The dispatcher, on the alert queue `Q` (Redis, or memory for `switchboard dev` without it).
#[derive(Clone)]
pub struct Dispatcher<S, Q = RedisQueue> {
    queue: Q,
    secrets: Arc<S>,
    settings: Settings,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    /// This dispatcher's name in the locks it takes.
    token: String,
    clock: Arc<dyn Fn() -> Timestamp + Send + Sync>,
}

impl<S, Q> std::fmt::Debug for Dispatcher<S, Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What processing one alert came to.
#[derive(Debug, Default)]
struct Outcome {
    failed: bool,
    wake_at: Option<Timestamp>,
}

impl<S: Secrets> Dispatcher<S, RedisQueue> {
    /// A dispatcher reading Redis through `conn` and credentials from `secrets`.
    pub fn new(
        conn: impl Into<Conn>,
        secrets: S,
        settings: Settings,
        metrics: Arc<Metrics>,
    ) -> Dispatcher<S, RedisQueue> {
        Dispatcher::on(RedisQueue::new(conn.into()), secrets, settings, metrics)
    }
}

impl<S: Secrets, Q: AlertQueue> Dispatcher<S, Q> {
    /// A dispatcher taking alerts from `queue`.
    pub fn on(queue: Q, secrets: S, settings: Settings, metrics: Arc<Metrics>) -> Dispatcher<S, Q> {
        let http = switchboard_process::http_client()
            .expect("TLS set-up (the system's CA roots)")
            .timeout(settings.request_timeout)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a reqwest client with rustls builds");
        Dispatcher {
            queue,
            secrets: Arc::new(secrets),
            settings,
            http,
            metrics,
            token: format!("{:016x}", fastrand::u64(..)),
            clock: Arc::new(Timestamp::now),
        }
    }

    /// Plans alerts (the trigger delay) on `clock` instead of the system clock: tests run
    /// calls on the webhook server's virtual clock. Queue times stay on the system clock.
    pub fn with_clock(
        mut self,
        clock: impl Fn() -> Timestamp + Send + Sync + 'static,
    ) -> Dispatcher<S, Q> {
        self.clock = Arc::new(clock);
        self
    }

    /// Runs until `stop` resolves.
    pub async fn run(self, stop: impl Future<Output = ()> + Send) {
        info!("alert dispatcher started");
        tokio::pin!(stop);
        loop {
            let busy = match self.pass().await {
                Ok(n) => n > 0,
                Err(e) => {
                    warn!(error = %e, "alert dispatcher: the queue failed; trying again");
                    false
                }
            };
            if busy {
                // More may be due: look again at once, but let `stop` in.
                tokio::select! {
                    () = &mut stop => return,
                    () = tokio::task::yield_now() => {}
                }
                continue;
            }
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(self.settings.poll) => {}
            }
        }
    }

    /// Claims the alerts due now and processes them; returns how many there were.
    pub async fn pass(&self) -> QueueResult<usize> {
        let now = Timestamp::now().as_millisecond();
        let lease_end = now + self.settings.lease.as_millis() as i64;
        let members = self
            .queue
            .claim(now, lease_end, self.settings.batch)
            .await?;
        let n = members.len();
        let work = members.into_iter().map(|m| async move {
            let id = keys::parse_alert_member(&m).map_or(m.as_str(), |(_, id)| id);
            let span = info_span!("alert", id = %id);
            self.process(&m, lease_end).instrument(span).await
        });
        for r in futures::future::join_all(work).await {
            r?;
        }
        Ok(n)
    }

    async fn process(&self, member: &str, lease_end: i64) -> QueueResult<()> {
        let (kind, id) = match keys::parse_alert_member(member) {
            Some(parsed) => parsed,
            None => {
                warn!(member, "unknown member of the alert queue; dropping it");
                return self.finish(member, lease_end, None).await;
            }
        };
        let token = format!("{}:{lease_end}", self.token);
        let lease_ms = self.settings.lease.as_millis().max(1) as u64;
        if !self.queue.lock(id, &token, lease_ms).await? {
            // Another dispatcher is sending this alert (a newer snapshot made it due while it
            // was leased): look again shortly, once that one is done.
            debug!("another dispatcher is sending this alert; looking again shortly");
            let again = Timestamp::now().as_millisecond() + LOCKED_RETRY.as_millis() as i64;
            self.queue.due_again(member, again).await?;
            return Ok(());
        }
        let result = self.process_locked(member, kind, id, lease_end).await;
        self.queue.unlock(id, &token).await?;
        result
    }

    async fn process_locked(
        &self,
        member: &str,
        kind: AlertKind,
        id: &str,
        lease_end: i64,
    ) -> QueueResult<()> {
        let (snapshot, sent) = self.queue.load(kind, id).await?;
        let Some(snapshot) = snapshot else {
            warn!("the alert's call or text expired before it was sent; dropping it");
            return self.finish(member, lease_end, None).await;
        };
        let alert: Alert = match serde_json::from_str(&snapshot) {
            Ok(a) => a,
            Err(e) => {
                warn!(error = %e, "unreadable alert snapshot; dropping it");
                return self.finish(member, lease_end, None).await;
            }
        };
        let outcome = self.deliver(&alert, &sent).await?;
        let next = if outcome.failed {
            let (attempts, since) = self
                .queue
                .failed(id, Timestamp::now().as_millisecond(), self.retention_secs())
                .await?;
            let failing_for = Timestamp::now().as_millisecond() - since.unwrap_or(i64::MAX);
            if failing_for > self.settings.give_up_after.as_millis() as i64 {
                self.give_up(&alert, id).await?;
                None
            } else {
                let delay = self.settings.backoff(attempts);
                info!(attempts, retry_in = ?delay, "delivery failed; retrying later");
                Some(Timestamp::now().as_millisecond() + delay.as_millis() as i64)
            }
        } else {
            if sent.contains_key(field::ATTEMPTS) {
                self.queue.clear_failures(id).await?;
            }
            outcome.wake_at.map(|t| t.as_millisecond())
        };
        self.finish(member, lease_end, next).await
    }

    fn retention_secs(&self) -> i64 {
        self.settings.retention.as_secs().max(1) as i64
    }

    async fn finish(&self, member: &str, lease_end: i64, next: Option<i64>) -> QueueResult<()> {
        self.queue.release(member, lease_end, next).await
    }

    /// Sends what `alert` still needs; records each stage sent.
    async fn deliver(&self, alert: &Alert, sent: &HashMap<String, String>) -> QueueResult<Outcome> {
        let plan = alert.plan((self.clock)());
        if let Some(why) = plan.suppressed {
            debug!(why, "no alert");
        }
        let mut outcome = Outcome {
            failed: false,
            wake_at: plan.wake_at,
        };
        for target in &alert.route.targets {
            let pending: Vec<Stage> = plan
                .stages
                .iter()
                .copied()
                .filter(|s| !sent.contains_key(&sent_field(&target.name, *s)))
                .collect();
            if pending.is_empty() {
                continue;
            }
            let resolved = match self.resolve(target, alert).await {
                Ok(r) => r,
                Err(e) => {
                    warn!(target = %target.name, error = %e, "cannot resolve the target's URL or secret");
                    self.count(target, "failed");
                    outcome.failed = true;
                    continue;
                }
            };
            for stage in pending {
                match self.send(&resolved, stage, alert).await {
                    Ok(()) => {
                        self.mark(&alert.id, &sent_field(&target.name, stage))
                            .await?;
                        self.count(target, "delivered");
                        info!(target = %target.name, stage = stage.as_str(), "alert delivered");
                    }
                    Err(e) => {
                        warn!(target = %target.name, stage = stage.as_str(), error = %e.error, "alert delivery failed");
                        self.count(target, "failed");
                        outcome.failed = true;
                        // Later stages wait: a target never hears "resolved" before "triggered".
                        break;
                    }
                }
            }
        }
        for f in &alert.forwards {
            let key = field::forwarded(&f.to);
            if sent.contains_key(&key) {
                continue;
            }
            if !self.settings.forward_texts {
                self.mark(&alert.id, &key).await?;
                self.count_forward("skipped");
                info!(to = %f.to, responder = %f.name, "text not forwarded: Twilio is off (--no-twilio)");
                continue;
            }
            match self.forward(alert, &f.to).await {
                Ok(sid) => {
                    self.mark(&alert.id, &key).await?;
                    self.count_forward("delivered");
                    info!(to = %f.to, responder = %f.name, message_sid = %sid, "text forwarded");
                }
                Err(e) if e.permanent => {
                    self.mark(&alert.id, &key).await?;
                    self.count_forward("rejected");
                    warn!(to = %f.to, responder = %f.name, error = %e.error, "Twilio refused to forward the text; not retrying");
                }
                Err(e) => {
                    self.count_forward("failed");
                    warn!(to = %f.to, responder = %f.name, error = %e.error, "forwarding the text failed");
                    outcome.failed = true;
                }
            }
        }
        Ok(outcome)
    }

    async fn mark(&self, id: &str, field: &str) -> QueueResult<()> {
        let now = Timestamp::now().to_string();
        self.queue.mark(id, field, now, self.retention_secs()).await
    }

    /// Gives up the stages still unsent after failing for [`Settings::give_up_after`].
    async fn give_up(&self, alert: &Alert, id: &str) -> QueueResult<()> {
        warn!(
            failing_for = ?self.settings.give_up_after,
            "alert deliveries failed for too long; giving up the stages still unsent"
        );
        let sent = self.queue.sent(id).await?;
        let plan = alert.plan((self.clock)());
        for target in &alert.route.targets {
            for s in &plan.stages {
                let f = sent_field(&target.name, *s);
                if !sent.contains_key(&f) {
                    self.mark(id, &f).await?;
                    self.count(target, "expired");
                }
            }
        }
        for f in &alert.forwards {
            let key = field::forwarded(&f.to);
            if !sent.contains_key(&key) {
                self.mark(id, &key).await?;
                self.count_forward("expired");
            }
        }
        self.queue.clear_failures(id).await
    }

    async fn resolve(
        &self,
        target: &NotificationTarget,
        alert: &Alert,
    ) -> Result<Resolved, String> {
        let ns = &alert.route.owner.namespace;
        let url = match (&target.url, &target.url_secret) {
            (Some(u), _) => Some(u.clone()),
            (None, Some(s)) => Some(self.secrets.value(ns, &s.name, &s.key).await?),
            (None, None) => None,
        };
        let secret = match &target.secret {
            Some(s) => Some(self.secrets.value(ns, &s.name, &s.key).await?),
            None => None,
        };
        Ok(Resolved {
            kind: target.kind,
            url,
            secret,
        })
    }

    async fn send(&self, target: &Resolved, stage: Stage, alert: &Alert) -> Result<(), Failed> {
        let requests = payload::requests(target, stage, alert, Timestamp::now().as_second())
            .map_err(|error| Failed {
                error,
                permanent: false,
            })?;
        for r in requests {
            let mut req = self
                .http
                .post(&r.url)
                .header("Content-Type", "application/json")
                .body(r.body);
            for (k, v) in &r.headers {
                req = req.header(k, v);
            }
            let res = req.send().await.map_err(|e| Failed {
                // Without the URL: a Slack or Grafana OnCall URL is a credential.
                error: crate::with_causes(&e.without_url()),
                permanent: false,
            })?;
            let status = res.status();
            if !status.is_success() {
                let body = res.text().await.unwrap_or_default();
                return Err(Failed {
                    error: format!(
                        "HTTP {status}: {}",
                        body.chars().take(200).collect::<String>()
                    ),
                    permanent: false,
                });
            }
        }
        Ok(())
    }

    async fn forward(&self, alert: &Alert, to: &str) -> Result<String, Failed> {
        let client = self
            .secrets
            .twilio(&alert.route.owner)
            .await
            .map_err(|error| Failed {
                error,
                permanent: false,
            })?;
        client
            .send_message(&alert.hotline, to, &alert.forward_body())
            .await
            .map_err(|e| Failed {
                permanent: matches!(e, TwilioError::Api { code: 21610, .. }),
                error: e.to_string(),
            })
    }

    fn count(&self, target: &NotificationTarget, result: &str) {
        self.metrics
            .notification(target.kind.as_str(), &target.name, result);
    }

    fn count_forward(&self, result: &str) {
        self.metrics
            .notification("TwilioSms", "sms-forward", result);
    }
}

fn sent_field(target: &str, stage: Stage) -> String {
    field::sent(target, stage.as_str())
}
