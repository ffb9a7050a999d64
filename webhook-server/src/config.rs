//! The server's configuration: flags, each also read from an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `switchboard-webhook` settings.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "switchboard-webhook",
    version,
    about = "Answers Twilio's voice webhooks for Switchboard hotlines"
)]
pub struct Config {
    /// The public URL, Redis and log settings both binaries share.
    #[command(flatten)]
    pub common: switchboard_process::Common,
    /// Address to listen on.
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Directory of a mounted Secret: one file per Twilio account, named by its AccountSid,
    /// holding the account's auth token.
    #[arg(
        long,
        env = "SWITCHBOARD_TWILIO_CREDENTIALS_DIR",
        default_value = "/var/run/secrets/switchboard/twilio"
    )]
    pub credentials_dir: PathBuf,
    /// What callers hear when their call cannot be served (Redis down, an internal error).
    #[arg(long, env = "SWITCHBOARD_FALLBACK_MESSAGE")]
    pub fallback_message: Option<String>,
    /// A number dialled after the fallback message (E.164), such as a staffed desk.
    #[arg(long, env = "SWITCHBOARD_FALLBACK_NUMBER")]
    pub fallback_number: Option<String>,
    /// Longest wait for Redis before answering with the fallback (milliseconds). Twilio
    /// gives up on a webhook after 15 s.
    #[arg(long, env = "SWITCHBOARD_REDIS_TIMEOUT_MS", default_value_t = 2000)]
    pub redis_timeout_ms: u64,
    /// How long a call's state and events are kept after its last change (hours).
    #[arg(long, env = "SWITCHBOARD_CALL_RETENTION_HOURS", default_value_t = 168)]
    pub call_retention_hours: u64,
    /// How many calls the call log keeps (and how many texts the text log keeps).
    #[arg(long, env = "SWITCHBOARD_CALL_LOG_SIZE", default_value_t = 1000)]
    pub call_log_size: usize,
    /// Threads serving webhooks. 0: one per CPU available to the process (cgroup limits
    /// included). 1, or 0 with one CPU available: a single-threaded runtime, which costs
    /// less per request than one work-stealing worker (no cross-thread wake-ups, and the Redis
    /// commands of the requests that arrived together go out in one write).
    #[arg(long, env = "SWITCHBOARD_WORKER_THREADS", default_value_t = 0)]
    pub worker_threads: usize,
    /// Seconds the server keeps answering after SIGTERM, unready, before it stops accepting
    /// connections and finishes the requests in flight. In Kubernetes the pod is removed from
    /// the Service's endpoints only after it is told to stop, and the ingress follows later:
    /// without this delay a rolling update sends some calls to a server that is gone. The Helm
    /// chart sets 5; leave it at 0 outside a cluster.
    #[arg(long, env = "SWITCHBOARD_DRAIN_SECONDS", default_value_t = 0)]
    pub drain_seconds: u64,
    /// Connections served at once; more wait in the accept backlog (each idle connection
    /// that has served a request costs about 29 KB: `scripts/bench`, "idle").
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Longest wait, in seconds, for a request's head, and so the longest a keep-alive
    /// connection stays idle. Keep it above the idle timeout of the proxy in front (60 s for
    /// ingress-nginx and AWS load balancers).
    #[arg(long, env = "SWITCHBOARD_IDLE_TIMEOUT_SECONDS", default_value_t = 75)]
    pub idle_timeout_seconds: u64,
    /// How long, in seconds, requests in flight get to finish at shutdown (after the drain).
    #[arg(long, env = "SWITCHBOARD_SHUTDOWN_GRACE_SECONDS", default_value_t = 10)]
    pub shutdown_grace_seconds: u64,
}

impl Config {
    /// How many threads serve webhooks: `worker_threads`, or the CPUs available when it is 0.
    pub fn threads(&self) -> usize {
        match self.worker_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// The connection limits.
    pub fn limits(&self) -> crate::listen::Limits {
        crate::listen::Limits {
            max_connections: self.max_connections.max(1),
            header_read_timeout: Duration::from_secs(self.idle_timeout_seconds.max(1)),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_seconds),
        }
    }

    /// How long the server drains after SIGTERM.
    pub fn drain(&self) -> Duration {
        Duration::from_secs(self.drain_seconds)
    }

    /// The Redis timeout.
    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Config;

    fn config(args: &[&str]) -> Config {
        Config::try_parse_from(
            ["switchboard-webhook", "--public-url", "https://x.example"]
                .iter()
                .chain(args),
        )
        .expect("valid flags")
    }

    #[test]
    fn worker_threads_default_to_the_cpus_available() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(config(&[]).threads(), cpus);
        assert_eq!(config(&["--worker-threads", "1"]).threads(), 1);
        assert_eq!(config(&["--worker-threads", "3"]).threads(), 3);
    }

    #[test]
    fn the_shared_settings_read_the_same_flags_and_refuse_an_unknown_log_format() {
        use switchboard_process::LogFormat;
        let c = config(&["--log-format", "text", "--redis-url", "redis://r:6379/1"]);
        assert_eq!(c.common.log_format, LogFormat::Text);
        assert_eq!(c.common.redis_url, "redis://r:6379/1");
        assert_eq!(c.common.public_url, "https://x.example");
        assert_eq!(config(&[]).common.log_format, LogFormat::Json);
        let err = Config::try_parse_from([
            "switchboard-webhook",
            "--public-url",
            "https://x.example",
            "--log-format",
            "xml",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("json") && err.contains("text"), "{err}");
    }
}
