#![forbid(unsafe_code)]
//! Test support shared by the integration tests of several crates (a dev-dependency only).

use std::net::{TcpListener, TcpStream};
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
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "redis-server is needed by the integration tests: run scripts/test, which \\
                 installs it when missing, or install Debian's redis-server",
            );
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer {
            child: Arc::new(Mutex::new(Some(child))),
            url: format!("redis://127.0.0.1:{port}/0"),
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

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
