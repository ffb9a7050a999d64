//! `switchboard dev`: the whole product on one machine, without Kubernetes.
//!
//! ```text
//!   folder of manifests ─(reloaded on change)─► folder operator ─► Twilio (optional)
//!                                                      │ tables
//!                                                      ▼
//!   Twilio (through a tunnel) ─webhooks─► webhook server ◄─► Redis (--redis-url) or memory
//! ```
//!
//! The auth tokens the webhook server checks signatures with come from the Secrets among the
//! manifests, and follow them when they change. With `--redis-url`, the alert dispatcher runs
//! too, with the notification credentials of those Secrets.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use switchboard_apply::folder::{self, Settings};
use switchboard_apply::metrics::Metrics;
use switchboard_apply::notify::{self, Dispatcher, FolderSecrets};
use switchboard_webhook::store::{RedisStore, Retention};
use switchboard_webhook::{AppState, AuthToken, Clock, Credentials, Fallback, Store, app};

/// What to run.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub manifests: crate::validate::Manifests,
    /// Where the webhook server listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The URL Twilio reaches the webhook server at (your tunnel's, e.g.
    /// `https://abc123.ngrok.app`). Numbers are pointed at it and signatures are checked
    /// against it. Default: `http://<--listen>`.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Redis to keep routing tables and call state in. Default: an in-memory store, which
    /// forgets everything when `dev` stops.
    #[arg(long)]
    pub redis_url: Option<String>,
    /// Do not touch Twilio: only publish the routing tables, and forward no text to responders
    /// (try it offline, and place calls at it with `switchboard call`). Numbers to be bought
    /// (`spec.purchase`) then stay unpublished.
    #[arg(long)]
    pub no_twilio: bool,
    /// Twilio's REST API base URL, when not Twilio's own (a proxy or a mock).
    #[arg(long)]
    pub twilio_api_url: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    switchboard_process::logging(switchboard_process::LogFormat::Text);
    switchboard_process::install_tls_provider();
    for p in &args.manifests.paths {
        anyhow::ensure!(p.exists(), "{}: no such file or folder", p.display());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.listen));
    let store = match &args.redis_url {
        Some(url) => Store::redis(
            RedisStore::connect(url, Duration::from_secs(2))
                .context("the Redis URL is not valid")?,
            Retention::default(),
        ),
        None => Store::memory(),
    };
    let credentials = Credentials::fixed([]);
    // Alerts and text forwards are sent from the store's queue: Redis, or the memory store's.
    let secrets = FolderSecrets::new(args.twilio_api_url.clone());
    let settings = notify::Settings {
        // --no-twilio: nothing reaches Twilio, so no real text reaches on-call staff.
        forward_texts: !args.no_twilio,
        ..notify::Settings::default()
    };
    let metrics = Arc::new(Metrics::default());
    match (&args.redis_url, store.alert_queue()) {
        (Some(url), _) => {
            let conn = switchboard_routing::connect::Conn::lazy(
                url,
                redis::aio::ConnectionManagerConfig::new(),
            )
            .context("the Redis URL is not valid")?;
            let dispatcher = Dispatcher::new(conn, secrets.clone(), settings, metrics);
            tokio::spawn(dispatcher.run(switchboard_process::shutdown_signal()));
        }
        (None, Some(queue)) => {
            let dispatcher = Dispatcher::on(queue, secrets.clone(), settings, metrics);
            tokio::spawn(dispatcher.run(switchboard_process::shutdown_signal()));
        }
        (None, None) => unreachable!("a store without Redis is the memory store"),
    }
    let state = AppState::new(
        store.clone(),
        credentials.clone(),
        &public_url,
        Fallback::default(),
        Clock::System,
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let settings = Settings {
        paths: args.manifests.paths.clone(),
        recursive: args.manifests.recursive,
        public_url: public_url.clone(),
        twilio_api_url: args.twilio_api_url.clone(),
        twilio: !args.no_twilio,
    };
    tracing::info!(
        listen = %args.listen,
        public_url = %public_url,
        store = if args.redis_url.is_some() { "redis" } else { "memory" },
        twilio = !args.no_twilio,
        "switchboard dev: webhook server at {public_url}/twilio/voice; editing the manifests reloads them; Ctrl-C stops"
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let operator = tokio::spawn(folder::watch(
        settings,
        store,
        Arc::new(Metrics::default()),
        move |snapshot, _report| {
            credentials.replace(
                snapshot
                    .auth_tokens()
                    .into_iter()
                    .map(|(sid, token)| (sid, AuthToken::new(token))),
            );
            secrets.set(snapshot);
        },
        stopped(stop_rx.clone()),
    ));
    let server = axum::serve(listener, app(state)).with_graceful_shutdown(stopped(stop_rx));
    let signal = async move {
        switchboard_process::shutdown_signal().await;
        tracing::info!("stopping");
        let _ = stop_tx.send(true);
    };
    let (served, _, _) = tokio::join!(server, operator, signal);
    served?;
    Ok(())
}
