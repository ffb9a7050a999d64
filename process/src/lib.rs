#![forbid(unsafe_code)]
//! What every Switchboard binary (`switchboard-operator`, `switchboard-webhook`,
//! `switchboard dev`) does the same way at start and stop:
//!
//! ```text
//!   logging(format)        tracing to stdout: JSON lines (with the current span: a webhook's
//!                          CallSid) or text; the filter from RUST_LOG, default info
//!   install_tls_provider() rustls with ring (kube and rediss:// share it), once
//!   http_client()          a reqwest builder whose TLS names ring itself, for libraries
//!   shutdown_signal()      SIGTERM or Ctrl-C, one listener for the whole process
//!   Common                 the flags the operator and the webhook server share (clap)
//! ```

/// Sets up logging in `format`; the filter comes from `RUST_LOG` (default `info`).
pub fn logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if format == LogFormat::Text {
        // Colours only on a terminal: a log redirected to a file stays plain text.
        use std::io::IsTerminal;
        tracing_subscriber::fmt()
            .with_ansi(std::io::stdout().is_terminal())
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .init();
    }
}

/// Installs the process-wide rustls provider (ring) that every TLS client here uses: the
/// Kubernetes client, the Twilio and notification clients, `rediss://`. Done by each binary
/// at start, not by library constructors; a second call is a no-op.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A reqwest client builder whose TLS is rustls with ring and the platform's certificate
/// verifier, chosen here rather than through the process-wide default: library constructors
/// (the Twilio and notification clients, the simulator) build their clients with it and so
/// work whether or not a binary installed a provider, without installing one themselves.
/// reqwest's own rustls set-up would otherwise panic when no default is installed (the
/// `rustls-no-provider` feature that kube's choice of ring makes us use), even for plain
/// HTTP in a build where any crate enables it.
pub fn http_client() -> Result<reqwest::ClientBuilder, rustls::Error> {
    use std::sync::{Arc, OnceLock};
    // Built once: the verifier reads the system's CA roots.
    static TLS: OnceLock<Result<rustls::ClientConfig, rustls::Error>> = OnceLock::new();
    let tls = TLS.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone())?;
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth())
    });
    let config = tls.clone()?;
    Ok(reqwest::Client::builder().tls_backend_preconfigured(config))
}

/// Resolves on SIGTERM or Ctrl-C, or at once when one has already arrived.
///
/// One listener for the whole process, started by the first call: a listener registered per
/// call only hears signals sent after it was first polled, and once any listener exists the
/// process no longer dies of SIGTERM, so a SIGTERM between two registrations (say, while the
/// controllers are being built after the Lease was won) was lost and the process never
/// stopped. Found by restarting the operator against a real API server. Call it once early
/// (and drop the future) to start listening from then on.
pub async fn shutdown_signal() {
    static STOPPING: std::sync::OnceLock<tokio::sync::watch::Receiver<bool>> =
        std::sync::OnceLock::new();
    let mut rx = STOPPING
        .get_or_init(|| {
            let (tx, rx) = tokio::sync::watch::channel(false);
            // Registered now, before the task first runs, so nothing is missed from here on.
            let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
            tokio::spawn(async move {
                let term = async {
                    match term {
                        Ok(mut s) => {
                            s.recv().await;
                        }
                        Err(_) => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    () = term => {},
                }
                let _ = tx.send(true);
                // Kept alive, so that receivers never see the channel closed.
                std::future::pending::<()>().await
            });
            rx
        })
        .clone();
    let _ = rx.wait_for(|stopping| *stopping).await;
}

/// The settings the operator and the webhook server share (flattened into each one's clap
/// `Config`, so both read the same flags and environment variables the same way).
#[derive(clap::Args, Clone, Debug)]
pub struct Common {
    /// The webhook server's public base URL, as Twilio reaches it: the operator points the
    /// numbers at it and the server checks signatures against it (never the Host header).
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: String,
    /// Redis URL (`redis://`, `rediss://` for TLS trusting the system's CA roots or
    /// `SSL_CERT_FILE`, `redis+sentinel://`, `redis+cluster://`). The password comes from
    /// `SWITCHBOARD_REDIS_PASSWORD` (and an ACL user from `SWITCHBOARD_REDIS_USERNAME`), any
    /// characters, never from a URL that would need them percent-encoded.
    #[arg(
        long,
        env = "SWITCHBOARD_REDIS_URL",
        default_value = "redis://127.0.0.1:6379/0"
    )]
    pub redis_url: String,
    /// Log format: `json` (one object per line) or `text`.
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
}

/// How the logs are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_clients_build_without_a_process_wide_tls_provider_and_install_none() {
        assert!(rustls::crypto::CryptoProvider::get_default().is_none());
        let client = super::http_client().expect("the system's CA roots load");
        client.build().expect("a client builds");
        assert!(
            rustls::crypto::CryptoProvider::get_default().is_none(),
            "a library must not install the process-wide provider"
        );
    }
}
