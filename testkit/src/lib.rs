#![forbid(unsafe_code)]
//! Test support shared by the integration tests of several crates (a dev-dependency only).

pub mod cluster;
pub mod fixtures;
pub mod receiver;
pub mod twilio;

pub use cluster::RedisCluster;
pub use receiver::{Received, Receiver};

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
        // A port that was free a moment ago can be taken before redis-server binds it (by
        // another test's server, say); then ours exits and we try another port.
        for _ in 0..5 {
            let port = free_port();
            if let Some(child) = spawn_redis(port) {
                return RedisServer {
                    child: Arc::new(Mutex::new(Some(child))),
                    url: format!("redis://127.0.0.1:{port}/0"),
                };
            }
        }
        panic!("redis-server did not start on any of five free ports");
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
            let port = self.port();
            *child = Some(spawn_redis(port).unwrap_or_else(|| {
                panic!("redis-server could not listen on port {port} again: it is taken")
            }));
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

/// Starts redis-server on `port` and waits until it answers there. `None` when it exited
/// instead (the port was taken). The server answering must be this child, which `INFO`'s
/// `process_id` proves: a bare connect could reach another test's server on the same port.
fn spawn_redis(port: u16) -> Option<Child> {
    // A directory of its own: a redis-server loads any dump.rdb in its directory at start,
    // and one left in the working directory (by a replica's full sync, say) would hand every
    // test's server someone else's data.
    let dir = std::env::temp_dir().join(format!("switchboard-redis-{port}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory for redis-server");
    let mut child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "redis-server is needed by the integration tests: run scripts/test, which \
             installs it when missing, or install Debian's redis-server",
        );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return None;
        }
        match redis_process_id(port) {
            Some(pid) if pid == child.id() => return Some(child),
            Some(_) => {
                // Someone else's server holds the port; ours is about to exit.
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            None => {}
        }
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `process_id` the Redis server on `port` reports, if one answers.
fn redis_process_id(port: u16) -> Option<u32> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
        .ok()?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !reply.windows(11).any(|w| w == b"process_id:") || !reply.ends_with(b"\r\n") {
        if reply.starts_with(b"-") && reply.ends_with(b"\r\n") {
            return None; // an error, such as LOADING while it starts
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&reply);
    text.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Stoplight Prism serving Twilio's REST API from its OpenAPI description
/// (`twilio_api_v2010.json`): it answers 422 for a request that breaks the contract. Killed on
/// drop.
///
/// Prism and the spec come from npm: `scripts/test` installs Prism under `.cache/prism` and
/// unpacks the spec Twilio ships in `@twilio-alpha/mcp` into `.cache/twilio`. Elsewhere, set
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
            .unwrap_or_else(|| workspace_root().join(".cache/twilio/twilio_api_v2010.json"));
        assert!(
            bin.exists(),
            "Prism not found at {}: run scripts/test (it installs Prism from npm), or set SWITCHBOARD_PRISM",
            bin.display()
        );
        assert!(
            spec.exists(),
            "Twilio's OpenAPI spec not found at {}: run scripts/test (it unpacks the spec from the npm package @twilio-alpha/mcp), or set SWITCHBOARD_TWILIO_SPEC",
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

/// A binary of this workspace, built beside the running test executable
/// (`target/<profile>/deps/<test>` → `target/<profile>/<name>`); panics with the fix when it
/// is not built.
pub fn workspace_bin(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>/deps/<test>");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --bins` first (scripts/test does)",
        path.display()
    );
    path
}

/// A free loopback port, never one this process was handed before: tests running in
/// parallel each get their own, even after an earlier holder let its port go.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}
