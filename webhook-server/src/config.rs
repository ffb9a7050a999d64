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
    /// Address to listen on.
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Redis URL (`redis://host:6379/0`; `rediss://` for TLS).
    #[arg(
        long,
        env = "SWITCHBOARD_REDIS_URL",
        default_value = "redis://127.0.0.1:6379/0"
    )]
    pub redis_url: String,
    /// The public base URL Twilio reaches this server at (as configured on the numbers).
    /// Signatures are checked against it, never against the Host header.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: String,
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
    /// How many calls the call log keeps.
    #[arg(long, env = "SWITCHBOARD_CALL_LOG_SIZE", default_value_t = 1000)]
    pub call_log_size: usize,
    /// Log format: `json` (one object per line) or `text`.
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", default_value = "json")]
    pub log_format: String,
}

impl Config {
    /// The Redis timeout.
    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }
}
