//! A loopback HTTP receiver that records every request, as Slack, PagerDuty, Alertmanager,
//! Grafana OnCall or a webhook endpoint would receive them, and can refuse the first ones.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    /// Path and query.
    pub path: String,
    /// Headers, lower-case names.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Debug, Default)]
struct Inner {
    received: Vec<Received>,
    /// Refused requests (answered with `fail_status`), also recorded.
    refused: Vec<Received>,
    fail_next: usize,
    fail_status: u16,
    status: u16,
    answer: String,
}

/// The receiver; clones share it.
#[derive(Clone, Debug)]
pub struct Receiver {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let r = Received {
        path: uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: body.to_vec(),
    };
    let mut i = inner.lock().unwrap();
    if i.fail_next > 0 {
        i.fail_next -= 1;
        i.refused.push(r);
        return (
            StatusCode::from_u16(i.fail_status).unwrap(),
            "injected failure",
        )
            .into_response();
    }
    i.received.push(r);
    (StatusCode::from_u16(i.status).unwrap(), i.answer.clone()).into_response()
}

impl Receiver {
    /// Starts one on a free loopback port; it answers every request with `status` and `answer`.
    pub async fn start(status: u16, answer: &str) -> Receiver {
        Receiver::start_on("127.0.0.1:0", status, answer).await
    }

    /// Starts one on `bind`.
    pub async fn start_on(bind: &str, status: u16, answer: &str) -> Receiver {
        let inner = Arc::new(Mutex::new(Inner {
            status,
            answer: answer.to_string(),
            fail_status: 503,
            ..Inner::default()
        }));
        let app = Router::new().fallback(receive).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, inner }
    }

    /// Refuses the next `n` requests with HTTP `status`.
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut i = self.inner.lock().unwrap();
        i.fail_next = n;
        i.fail_status = status;
    }

    /// The requests accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// The requests refused so far.
    pub fn refused(&self) -> Vec<Received> {
        self.inner.lock().unwrap().refused.clone()
    }

    /// Waits up to `timeout` until at least `n` requests were accepted; returns them.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let end = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() > end {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
