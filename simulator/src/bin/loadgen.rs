#![forbid(unsafe_code)]
//! `switchboard-loadgen`: drives signed incoming-call webhooks (or plain POSTs) at an `http://`
//! URL from N concurrent keep-alive connections for a fixed time, and prints requests/s and
//! latency percentiles. Used by `scripts/bench` against the webhook server and against nginx
//! serving a static TwiML file, so both are measured by the same tool.
//!
//! Every request is a distinct call (its own CallSid, which also carries the run's ID, by
//! default a clock reading), signed as Twilio signs it; each body and signature is made before
//! that request's timer starts, so signing is not measured.
//!
//! The tool is meant to cost the machine little, since it shares the cores with what it
//! measures: each connection is one hyper HTTP/1.1 connection with no pool in front, and the
//! runtime is single-threaded unless `--threads` asks for more.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use switchboard_routing::signature;
use tokio::net::TcpStream;

struct Args {
    target: Target,
    public_url: Option<String>,
    token: String,
    account: String,
    to: String,
    concurrency: usize,
    seconds: u64,
    threads: usize,
    /// Requests per second across all connections; 0 sends each connection's next request as
    /// soon as its last answer is in (a closed loop, the most the server can take).
    rate: f64,
    /// Goes into every CallSid, so that runs against one server never repeat a call (a
    /// repeated CallSid is a retried webhook, which the server answers from its store).
    run: String,
}

/// Where the requests go, from `--url`.
#[derive(Default)]
struct Target {
    /// `host:port`, to connect to.
    address: String,
    /// The `Host` header.
    host: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if host.is_empty() {
            return Err(format!("{url}: no host"));
        }
        let address = if host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        Ok(Target {
            address,
            host: host.to_string(),
            path: path.to_string(),
        })
    }
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        target: Target::default(),
        public_url: None,
        token: "bench-token".into(),
        account: "AC00000000000000000000000000bench".into(),
        to: "+14155550100".into(),
        concurrency: 64,
        seconds: 10,
        threads: 1,
        rate: 0.0,
        run: format!(
            "{:08x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u32)
                .unwrap_or(0)
        ),
    };
    let mut url = String::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => url = value()?,
            "--public-url" => a.public_url = Some(value()?),
            "--token" => a.token = value()?,
            "--account" => a.account = value()?,
            "--to" => a.to = value()?,
            "--concurrency" => a.concurrency = value()?.parse().map_err(|e| format!("{e}"))?,
            "--seconds" => a.seconds = value()?.parse().map_err(|e| format!("{e}"))?,
            "--threads" => a.threads = value()?.parse().map_err(|e| format!("{e}"))?,
            "--rate" => a.rate = value()?.parse().map_err(|e| format!("{e}"))?,
            "--run" => a.run = value()?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if url.is_empty() {
        return Err("usage: switchboard-loadgen --url http://HOST:PORT/PATH [--public-url URL --token T --account AC..] [--concurrency 64] [--seconds 10] [--threads 1] [--rate REQUESTS_PER_SECOND] [--run ID]".into());
    }
    a.target = Target::parse(&url)?;
    Ok(a)
}

/// The signed incoming-call webhook number `i` of `worker`.
fn prepare(a: &Args, worker: usize, i: usize) -> hyper::Request<Full<Bytes>> {
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
    let body = params
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace('+', "%2B")))
        .collect::<Vec<_>>()
        .join("&");
    let mut request = hyper::Request::post(a.target.path.as_str())
        .header(http::header::HOST, a.target.host.as_str())
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        );
    if let Some(p) = &a.public_url {
        let url = format!("{p}{}", a.target.path);
        request = request.header(
            "X-Twilio-Signature",
            signature::sign(&a.token, &url, &params),
        );
    }
    request
        .body(Full::new(Bytes::from(body)))
        .expect("a valid request")
}

fn main() {
    let a = match args() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut runtime = if a.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(a.threads);
        b
    };
    let runtime = runtime.enable_all().build().expect("tokio runtime");
    let (total, errors, elapsed) = runtime.block_on(run(a));
    println!(
        "requests={} errors={} seconds={:.1} rps={:.0} p50_ms={:.3} p99_ms={:.3} max_ms={:.3}",
        total.len(),
        errors,
        elapsed,
        total.len() as f64 / elapsed,
        total.value_at_quantile(0.5) as f64 / 1000.0,
        total.value_at_quantile(0.99) as f64 / 1000.0,
        total.max() as f64 / 1000.0,
    );
}

/// Runs the load: (latencies in microseconds, failed requests, seconds).
async fn run(a: Arc<Args>) -> (Histogram<u64>, usize, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..a.concurrency)
        .map(|worker| tokio::spawn(connection(a.clone(), worker, stop.clone(), errors.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = histogram();
    for t in tasks {
        if let Ok(h) = t.await {
            let _ = total.add(h);
        }
    }
    (
        total,
        errors.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
    )
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

/// One keep-alive connection sending request after request until `stop`; a failed
/// connection is counted and opened again.
async fn connection(
    a: Arc<Args>,
    worker: usize,
    stop: Arc<AtomicBool>,
    errors: Arc<AtomicUsize>,
) -> Histogram<u64> {
    let mut h = histogram();
    let mut i = 0;
    let mut pace = Pace::new(&a, worker);
    'connect: while !stop.load(Ordering::Relaxed) {
        let mut sender = match open(&a.target).await {
            Ok(s) => s,
            Err(_) => {
                errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        while !stop.load(Ordering::Relaxed) {
            // A server may close a keep-alive connection after an answer (nginx does after
            // `keepalive_requests`): that is not an error, open another one.
            if sender.ready().await.is_err() {
                continue 'connect;
            }
            let request = prepare(&a, worker, i);
            i += 1;
            let t = pace.wait().await;
            let ok = match sender.send_request(request).await {
                Ok(res) => {
                    let success = res.status().is_success();
                    res.into_body().collect().await.is_ok() && success
                }
                Err(_) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    continue 'connect;
                }
            };
            let done = Instant::now();
            pace.answered(done);
            if ok {
                let _ = h.record((done - t).as_micros().max(1) as u64);
            } else {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    h
}

/// When a connection sends its requests, under `--rate`: each connection sends every
/// `concurrency / rate` seconds, the connections spread over that interval.
///
/// A request's latency counts from when it was due, not from when it went out, if it went
/// out late because the answer before it was late: an open-loop load does not wait for a slow
/// server, so the time a request would have queued is the server's (the "coordinated
/// omission" of closed-loop tools). When the connection was idle and only this tool's timer
/// woke late, the latency counts from the actual send: that delay is the tool's.
struct Pace {
    interval: Option<Duration>,
    due: Instant,
    last_answer: Instant,
}

impl Pace {
    fn new(a: &Args, worker: usize) -> Pace {
        let now = Instant::now();
        if a.rate <= 0.0 {
            return Pace {
                interval: None,
                due: now,
                last_answer: now,
            };
        }
        let interval = Duration::from_secs_f64(a.concurrency as f64 / a.rate);
        let offset = interval.mul_f64(worker as f64 / a.concurrency as f64);
        Pace {
            interval: Some(interval),
            due: now + offset,
            last_answer: now,
        }
    }

    /// Waits until the next request is due; returns when its latency counts from.
    async fn wait(&mut self) -> Instant {
        let Some(interval) = self.interval else {
            return Instant::now();
        };
        let due = self.due;
        self.due += interval;
        tokio::time::sleep_until(due.into()).await;
        if self.last_answer > due {
            due
        } else {
            Instant::now()
        }
    }

    fn answered(&mut self, at: Instant) {
        self.last_answer = at;
    }
}

/// An HTTP/1.1 connection to the target; its I/O runs in a task of its own.
async fn open(
    target: &Target,
) -> Result<SendRequest<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(&target.address).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}
