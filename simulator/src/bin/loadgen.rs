#![forbid(unsafe_code)]
//! `switchboard-loadgen`: drives signed incoming-call webhooks (or plain POSTs) at a URL from
//! N concurrent keep-alive connections for a fixed time, and prints requests/s and latency
//! percentiles. Used by `scripts/bench` against the webhook server and against nginx serving
//! a static TwiML file, so both are measured by the same tool.
//!
//! Every request is a distinct call (its own CallSid, which also carries the run's ID, by
//! default a clock reading), signed as Twilio signs it; each body and signature is made before
//! that request's timer starts, so signing is not measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use switchboard_routing::signature;

struct Args {
    url: String,
    public_url: Option<String>,
    token: String,
    account: String,
    to: String,
    concurrency: usize,
    seconds: u64,
    /// Goes into every CallSid, so that runs against one server never repeat a call (a
    /// repeated CallSid is a retried webhook, which the server answers from its store).
    run: String,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        url: String::new(),
        public_url: None,
        token: "bench-token".into(),
        account: "AC00000000000000000000000000bench".into(),
        to: "+14155550100".into(),
        concurrency: 64,
        seconds: 10,
        run: format!(
            "{:08x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u32)
                .unwrap_or(0)
        ),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = value()?,
            "--public-url" => a.public_url = Some(value()?),
            "--token" => a.token = value()?,
            "--account" => a.account = value()?,
            "--to" => a.to = value()?,
            "--concurrency" => a.concurrency = value()?.parse().map_err(|e| format!("{e}"))?,
            "--seconds" => a.seconds = value()?.parse().map_err(|e| format!("{e}"))?,
            "--run" => a.run = value()?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.url.is_empty() {
        return Err("usage: switchboard-loadgen --url URL [--public-url URL --token T --account AC..] [--concurrency 64] [--seconds 10] [--run ID]".into());
    }
    Ok(a)
}

/// A prepared request: form body and signature.
struct Prepared {
    body: String,
    signature: String,
}

/// The signed incoming-call webhook number `i` of `worker`.
fn prepare(a: &Args, path: &str, worker: usize, i: usize) -> Prepared {
    let params: Vec<(String, String)> = [
        ("AccountSid", a.account.clone()),
        ("CallSid", format!("CA{}{worker:04}{i:08}", a.run)),
        ("From", format!("+1510555{:04}", i % 10_000)),
        ("To", a.to.clone()),
        ("CallStatus", "ringing".into()),
        ("Direction", "inbound".into()),
        ("ApiVersion", "2010-04-01".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let signature = match &a.public_url {
        Some(p) => signature::sign(&a.token, &format!("{p}{path}"), &params),
        None => String::new(),
    };
    let body = params
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace('+', "%2B")))
        .collect::<Vec<_>>()
        .join("&");
    Prepared { body, signature }
}

#[tokio::main]
async fn main() {
    let a = match args() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency)
        .build()
        .expect("HTTP client");
    let path = a
        .url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
        .unwrap_or_else(|| "/".into());
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let started = Instant::now();
    for worker in 0..a.concurrency {
        let (client, a, stop, errors) = (client.clone(), a.clone(), stop.clone(), errors.clone());
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let r = prepare(&a, &path, worker, i);
                let t = Instant::now();
                let res = client
                    .post(&a.url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("X-Twilio-Signature", &r.signature)
                    .body(r.body)
                    .send()
                    .await;
                let ok = match res {
                    Ok(res) => res.status().is_success() && res.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    let _ = h.record(t.elapsed().as_micros().max(1) as u64);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            h
        }));
    }
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    for t in tasks {
        if let Ok(h) = t.await {
            let _ = total.add(h);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "requests={} errors={} seconds={:.1} rps={:.0} p50_ms={:.3} p99_ms={:.3} max_ms={:.3}",
        total.len(),
        errors.load(Ordering::Relaxed),
        elapsed,
        total.len() as f64 / elapsed,
        total.value_at_quantile(0.5) as f64 / 1000.0,
        total.value_at_quantile(0.99) as f64 / 1000.0,
        total.max() as f64 / 1000.0,
    );
}
