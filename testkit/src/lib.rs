#![forbid(unsafe_code)]
//! Test support shared by the integration tests of several crates (a dev-dependency only).

pub mod twilio;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `redis-server` of one test's own, on a free loopback port, that keeps nothing on disk;
/// killed on drop. Never touches a Redis already running on the machine.
#[derive(Debug)]
pub struct RedisServer {
    child: Arc<Mutex<Option<Child>>>,
    /// `redis://127.0.0.1:<port>/0`.
    pub url: String,
}

impl RedisServer {
    /// Starts one and waits until it accepts connections.
    pub fn start() -> RedisServer {
        let port = free_port();
        RedisServer {
            child: Arc::new(Mutex::new(Some(spawn_redis(port)))),
            url: format!("redis://127.0.0.1:{port}/0"),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url
            .trim_start_matches("redis://127.0.0.1:")
            .trim_end_matches("/0")
            .parse()
            .expect("a port in the URL")
    }

    /// Starts it again on the same port after [`RedisServer::stop`], empty (as a Redis
    /// without persistence comes back from an outage).
    pub fn restart(&self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        if child.is_none() {
            *child = Some(spawn_redis(self.port()));
        }
    }

    /// Stops the server (as an outage would).
    pub fn stop(&self) {
        (self.stopper())();
    }

    /// A function that stops the server, for hooks that run mid-test.
    pub fn stopper(&self) -> impl Fn() + Send + 'static {
        let child = self.child.clone();
        move || {
            if let Some(mut c) = child.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn spawn_redis(port: u16) -> Child {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "redis-server is needed by the integration tests: run scripts/test, which \
             installs it when missing, or install Debian's redis-server",
        );
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Stoplight Prism serving Twilio's REST API from its OpenAPI description
/// (`../shared/twilio/twilio_api_v2010.json`): it answers 422 for a request that breaks the
/// contract. Killed on drop.
///
/// Prism comes from npm; `scripts/test` installs it under `.cache/prism`. Elsewhere, set
/// `SWITCHBOARD_PRISM` to the `prism` binary and `SWITCHBOARD_TWILIO_SPEC` to the spec.
#[derive(Debug)]
pub struct Prism {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl Prism {
    /// A mock: valid requests get the spec's examples.
    pub fn mock() -> Prism {
        Prism::start(&["mock"], None)
    }

    /// A validating proxy in front of `upstream` (a stateful fake): requests that break the
    /// contract get 422 and never reach it; valid ones are forwarded.
    pub fn proxy(upstream: &str) -> Prism {
        Prism::start(&["proxy", "--errors"], Some(upstream))
    }

    fn start(mode: &[&str], upstream: Option<&str>) -> Prism {
        let bin = std::env::var_os("SWITCHBOARD_PRISM")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(".cache/prism/node_modules/.bin/prism"));
        let spec = std::env::var_os("SWITCHBOARD_TWILIO_SPEC")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("../shared/twilio/twilio_api_v2010.json"));
        assert!(
            bin.exists(),
            "Prism not found at {}: run scripts/test (it installs Prism from npm), or set SWITCHBOARD_PRISM",
            bin.display()
        );
        assert!(
            spec.exists(),
            "Twilio's OpenAPI spec not found at {}: set SWITCHBOARD_TWILIO_SPEC",
            spec.display()
        );
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.args(mode)
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .arg(spec);
        if let Some(u) = upstream {
            cmd.arg(u);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Prism");
        // Listening is not enough: Prism reads the (large) spec before it answers, and a first
        // request on a busy machine can take a while. Wait for a first HTTP answer.
        let deadline = Instant::now() + Duration::from_secs(90);
        while !answers_http(port) {
            assert!(
                Instant::now() < deadline,
                "Prism did not answer within 90 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Prism {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

/// Whether something on `port` answers an HTTP request (any status).
fn answers_http(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let request =
        "GET /2010-04-01/Accounts.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 ")
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}
