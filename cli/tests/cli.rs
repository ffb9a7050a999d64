//! The `switchboard` binary as a user runs it.

use std::path::PathBuf;
use std::process::Command;

#[path = "cli/call.rs"]
mod call;
#[path = "cli/diff_and_rota.rs"]
mod diff_and_rota;
#[path = "cli/mistakes.rs"]
mod mistakes;
#[path = "cli/overrides.rs"]
mod overrides;
#[path = "cli/people.rs"]
mod people;
#[path = "cli/routing_tests.rs"]
mod routing_tests;
#[path = "cli/simulate_and_calls.rs"]
mod simulate_and_calls;
#[path = "cli/validate_and_oncall.rs"]
mod validate_and_oncall;

/// `switchboard simulate DIR` playing the README's call (the database team, chosen with 2,
/// on Monday 2026-11-23 at 10:00 in New York), with `extra` arguments.
fn readme_call(dir: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "simulate",
        dir,
        "--to",
        "+14155550100",
        "--at",
        "2026-11-23T10:00[America/New_York]",
        "--press",
        "2",
    ];
    args.extend(extra);
    switchboard(&args)
}

/// A copy of the YAML files of `examples/` (not its subfolders) in a temporary folder.
fn copy_of_examples() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn switchboard(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .expect("run switchboard");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A redis-server on loopback speaking only TLS, with `password`, its certificate signed by a
/// CA of the test's; the CA's PEM file, for `SSL_CERT_FILE`.
struct TlsRedis {
    child: std::process::Child,
    port: u16,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_redis(password: &str) -> TlsRedis {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let path = |n: &str| dir.path().join(n);
    std::fs::write(path("ca.crt"), ca.pem()).unwrap();
    std::fs::write(path("server.crt"), cert.pem()).unwrap();
    std::fs::write(path("server.key"), key.serialize_pem()).unwrap();
    let port = switchboard_testkit::free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--tls-port", &port.to_string(), "--tls-auth-clients", "no"])
        .arg("--tls-cert-file")
        .arg(path("server.crt"))
        .arg("--tls-key-file")
        .arg(path("server.key"))
        .arg("--tls-ca-cert-file")
        .arg(path("ca.crt"))
        .args(["--requirepass", password])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    TlsRedis {
        child,
        port,
        ca: path("ca.crt"),
        _dir: dir,
    }
}

/// The webhook server's fixture table (the examples' support hotline).
fn support_hotline() -> switchboard_routing::RoutingTable {
    switchboard_routing::RoutingTable::from_json(include_str!(
        "../../webhook-server/tests/fixtures/support-hotline.json"
    ))
    .unwrap()
}
