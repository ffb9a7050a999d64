//! Serving connections with limits: how many at once, how long a request's head may take
//! (which also bounds how long a keep-alive connection may sit idle), and how long the
//! requests in flight get at shutdown.
//!
//! ```text
//!   accept (a permit of max_connections, else the kernel's backlog waits)
//!     └─► hyper connection (HTTP/1.1 or h2c), header read timeout on a tokio timer
//!           └─► the axum router (its own request body timeout, `server::app`)
//!   shutdown: stop accepting ─► every connection told to finish (GOAWAY / close after the
//!             response) ─► whatever is still open after `shutdown_grace` is dropped
//! ```
//!
//! NB: the header read timeout starts whenever a connection waits for a request's head, so
//! it is also the idle keep-alive timeout. It is longer than the idle timeouts of the proxies
//! that sit in front (ingress-nginx upstream keep-alive 60 s, AWS load balancers 60 s): a
//! server that closes an idle connection before its proxy does races the proxy's next request
//! on it, and a POST lost that way is a caller who hears an error.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

/// The limits of [`serve`].
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once; more wait in the kernel's accept backlog.
    pub max_connections: usize,
    /// Longest wait for a request's head, also between requests of a keep-alive connection.
    pub header_read_timeout: Duration,
    /// How long requests in flight get to finish at shutdown before their connections close.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(75),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then lets requests
/// in flight finish for up to `limits.shutdown_grace`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    // Tells the connections that have sent nothing yet that the server is stopping.
    let (stopping, stop) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let first_byte_timeout = limits.header_read_timeout;
        let mut stop = stop.clone();
        tokio::spawn(async move {
            // The auto builder reads a connection's first bytes to tell HTTP/1.1 from h2c
            // before its header read timeout applies: a connection that sends nothing at all
            // would hold its permit forever. It gets the same timeout here.
            let mut byte = [0u8; 1];
            let first = tokio::time::timeout(first_byte_timeout, stream.peek(&mut byte));
            let sent = tokio::select! {
                r = first => matches!(r, Ok(Ok(n)) if n > 0),
                _ = stop.wait_for(|s| *s) => false,
            };
            if !sent {
                debug!(%peer, "closing a connection that sent nothing");
                drop(permit);
                return;
            }
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            if let Err(e) = watcher.watch(conn).await {
                debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        info!(
            grace_seconds = limits.shutdown_grace.as_secs(),
            "connections still open after the shutdown grace are closed"
        );
    }
    Ok(())
}
