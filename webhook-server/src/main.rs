#![forbid(unsafe_code)]
//! `switchboard-webhook`: binds, serves, and stops gracefully on SIGTERM or Ctrl-C.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use switchboard_webhook::config::Config;
use switchboard_webhook::store::{RedisStore, Retention};
use switchboard_webhook::{AppState, Clock, Credentials, Fallback, Store, app, listen};

/// mimalloc rather than the system allocator: a webhook allocates many short-lived strings
/// (form fields, state JSON, TwiML) on several threads, where glibc's malloc spent a third of
/// the server's time and contended on its arena locks (`scripts/bench`, docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let threads = config.threads();
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(config, threads))
}

async fn serve(config: Config, threads: usize) -> anyhow::Result<()> {
    // TLS to Redis (`rediss://`) uses rustls with ring, as the operator does.
    switchboard_process::install_tls_provider();
    switchboard_process::logging(config.common.log_format);
    let credentials = Credentials::from_dir(&config.credentials_dir).with_context(|| {
        format!(
            "reading Twilio credentials from {}",
            config.credentials_dir.display()
        )
    })?;
    if credentials.is_empty() {
        tracing::warn!(dir = %config.credentials_dir.display(), "no Twilio auth tokens found: every webhook will be refused");
    }
    let redis = RedisStore::connect(&config.common.redis_url, config.redis_timeout())
        .context("the Redis URL is not valid")?;
    let store = Store::redis(
        redis,
        Retention {
            call_ttl: Duration::from_secs(config.call_retention_hours * 3600),
            log_size: config.call_log_size,
        },
    );
    let mut fallback = Fallback::default();
    if let Some(m) = &config.fallback_message {
        fallback.message = m.clone();
    }
    fallback.number = config.fallback_number.clone();
    let state = AppState::new(
        store,
        credentials,
        &config.common.public_url,
        fallback,
        Clock::System,
    );
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(listen = %config.listen, public_url = %config.common.public_url, threads, "serving Twilio webhooks");
    let drain = config.drain();
    let draining = state.clone();
    let limits = config.limits();
    listen::serve(listener, app(state), limits, async move {
        switchboard_process::shutdown_signal().await;
        if !drain.is_zero() {
            draining.drain();
            tracing::info!(
                seconds = drain.as_secs(),
                "draining: unready, still answering until the pod is out of the Service"
            );
            tokio::time::sleep(drain).await;
        }
        tracing::info!(
            grace_seconds = limits.shutdown_grace.as_secs(),
            "shutting down: finishing requests in flight"
        );
    })
    .await?;
    tracing::info!("stopped");
    Ok(())
}
