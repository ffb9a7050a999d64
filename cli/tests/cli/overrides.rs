//! `switchboard override`: in a folder that a running `switchboard dev` reloads (the next call
//! rings the overriding person; removing it restores the table), and in a cluster, against an
//! API-server verifier over real HTTP that answers as the API server does and records each
//! request in order.

use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::*;

fn revision(dev: &call::Dev) -> String {
    let mut conn = redis::Client::open(dev.redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    redis::cmd("GET")
        .arg(switchboard_routing::keys::route_revision("+14155550100"))
        .query(&mut conn)
        .unwrap()
}

fn wait_for_revision(dev: &call::Dev, until: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = revision(dev);
        if until(&r) {
            return r;
        }
        assert!(std::time::Instant::now() < deadline, "dev kept {r}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn an_override_written_for_a_running_dev_rings_its_person_at_the_next_call_and_is_removed() {
    let dir = copy_of_examples();
    let path = dir.path().to_str().unwrap();
    let dev = call::dev_on(path);
    let before = revision(&dev);

    // Hana Ito (dba-manager) takes the database shift for the next two hours.
    let (code, out, err) = switchboard(&[
        "override",
        "database",
        "--person",
        "dba-manager",
        "--for",
        "2h",
        "--reason",
        "covering",
        "--dir",
        path,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("dba-manager is on call in oncall/database from "),
        "{out}"
    );
    let name = out
        .lines()
        .find_map(|l| l.strip_prefix("remove it with: switchboard override --remove "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    wait_for_revision(&dev, |r| r != before);

    // The next call: the database team's first ring is the override's person.
    let (code, called, err) = switchboard(&[
        "call",
        path,
        "--url",
        &dev.url,
        "--redis-url",
        &dev.redis.url,
        "--to",
        "+14155550100",
        "--press",
        "2",
        "--hang-up-after",
        "30",
    ]);
    assert_eq!(code, 0, "{called}\n{err}");
    assert!(
        called.contains("ringing Hana Ito (+12125550299) for 25s, step 1 (on-call), pass 1: on call in schedule database via override"),
        "{called}"
    );

    let (code, out, err) = switchboard(&["override", "--remove", &name, "--dir", path]);
    assert_eq!(code, 0, "{out}{err}");
    // The table is the one before, to the byte (its revision is a hash of its content).
    wait_for_revision(&dev, |r| r == before);
}

/// What the verifier saw: `METHOD path?query` and the body, in order.
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// The verifier's state: what it saw, and the names of the objects it created.
#[derive(Clone, Default)]
struct Server {
    seen: Seen,
    created: Arc<Mutex<Vec<String>>>,
}

fn schedule_json(name: &str) -> Value {
    let text = std::fs::read_to_string(examples().join("schedules.yaml")).unwrap();
    for doc in serde_norway::Deserializer::from_str(&text) {
        let v: Value = serde::Deserialize::deserialize(doc).unwrap();
        if v["metadata"]["name"] == name {
            return v;
        }
    }
    panic!("no Schedule {name} in the examples")
}

fn not_found(what: &str) -> axum::response::Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "NotFound", "code": 404, "message": format!("{what} not found")})),
    )
        .into_response()
}

fn list(kind: &str, items: Vec<Value>) -> axum::response::Response {
    axum::Json(json!({"apiVersion": "switchboard.dev/v1alpha1", "kind": kind, "metadata": {"resourceVersion": "7"}, "items": items})).into_response()
}

/// The API server's answers for namespace `oncall`: the examples' database Schedule, no
/// Person objects, ScheduleOverride creation (a `generateName` gets five characters, as the
/// API server adds) and deletion of what was created.
async fn api(
    State(server): State<Server>,
    method: Method,
    uri: Uri,
    UrlPath(rest): UrlPath<String>,
    body: String,
) -> axum::response::Response {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let line = format!(
        "{method} {}{}",
        uri.path(),
        uri.query().map(|q| format!("?{q}")).unwrap_or_default()
    );
    server.seen.lock().unwrap().push((line, body.clone()));
    let parts: Vec<&str> = rest.split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["schedules", "database"]) => axum::Json(schedule_json("database")).into_response(),
        ("GET", ["schedules", other]) => {
            not_found(&format!("schedules.switchboard.dev \"{other}\""))
        }
        ("GET", ["schedules"]) => list("ScheduleList", vec![schedule_json("database")]),
        ("GET", ["people"]) => list("PersonList", vec![]),
        ("GET", ["scheduleoverrides"]) => list("ScheduleOverrideList", vec![]),
        ("POST", ["scheduleoverrides"]) => {
            let mut o = body;
            let name = format!("{}x7k2p", o["metadata"]["generateName"].as_str().unwrap());
            o["metadata"]["name"] = json!(name);
            server.created.lock().unwrap().push(name);
            o["metadata"]["uid"] = json!("0e0f7c8a-1111-2222-3333-444455556666");
            o["metadata"]["creationTimestamp"] = json!("2026-12-03T10:00:00Z");
            (StatusCode::CREATED, axum::Json(o)).into_response()
        }
        ("DELETE", ["scheduleoverrides", name]) => {
            let mut created = server.created.lock().unwrap();
            if let Some(i) = created.iter().position(|c| c == name) {
                created.remove(i);
                axum::Json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})).into_response()
            } else {
                not_found(&format!("scheduleoverrides.switchboard.dev \"{name}\""))
            }
        }
        _ => not_found(&rest),
    }
}

#[test]
fn an_override_is_created_and_removed_in_a_cluster_with_one_command_each() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = Server::default();
    let seen = server.seen.clone();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new()
        .route(
            "/apis/switchboard.dev/v1alpha1/namespaces/oncall/{*rest}",
            axum::routing::any(api),
        )
        .with_state(server);
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let kube = tempfile::tempdir().unwrap();
    let kubeconfig = kube.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{ server: \"http://127.0.0.1:{port}\" }}\nusers:\n- name: engineer\n  user: {{ token: on-call-engineer }}\ncontexts:\n- name: oncall\n  context: {{ cluster: fake, user: engineer, namespace: oncall }}\ncurrent-context: oncall\n"
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // A misspelt person: refused before anything is created.
    let (code, _, err) = run(&["override", "database", "--person", "elli", "--for", "8h"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("\"elli\" is neither a person of Schedule oncall/database nor a Person in oncall (did you mean \"eli\"?)"),
        "{err}"
    );
    // A misspelt Schedule: named, with the ones there are.
    let (code, _, err) = run(&["override", "databse", "--person", "eli", "--for", "8h"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no Schedule \"databse\" in namespace oncall (did you mean \"database\"?)"),
        "{err}"
    );
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|(l, _)| !l.starts_with("POST"))
    );
    seen.lock().unwrap().clear();

    let (code, out, err) = run(&[
        "override",
        "database",
        "--person",
        "eli",
        "--from",
        "2099-01-05T18:00",
        "--until",
        "09:00",
        "--reason",
        "covering Dana",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("scheduleoverride oncall/database-eli-x7k2p: eli is on call in oncall/database from Mon 2099-01-05 18:00 EST until Tue 2099-01-06 09:00 EST"),
        "{out}"
    );
    let requests = seen.lock().unwrap().clone();
    let lines: Vec<&str> = requests.iter().map(|(l, _)| l.as_str()).collect();
    let base = "/apis/switchboard.dev/v1alpha1/namespaces/oncall";
    assert_eq!(
        lines,
        [
            format!("GET {base}/schedules/database"),
            format!("GET {base}/people?"),
            format!("POST {base}/scheduleoverrides?"),
        ]
    );
    let posted = &requests[2].1;
    assert_eq!(posted["kind"], "ScheduleOverride");
    assert_eq!(posted["metadata"]["generateName"], "database-eli-");
    assert_eq!(
        posted["metadata"]["labels"]["switchboard.dev/delete-after-end"],
        "true"
    );
    // Local times are resolved in the Schedule's zone (America/New_York) and sent as UTC.
    assert_eq!(
        posted["spec"],
        json!({"scheduleRef": {"name": "database"}, "person": "eli", "start": "2099-01-05T23:00:00Z", "end": "2099-01-06T14:00:00Z", "reason": "covering Dana"})
    );
    // No label or annotation of Argo CD's or Flux's: neither tool tracks the object.
    let meta = posted["metadata"].to_string();
    assert!(
        !meta.contains("argocd")
            && !meta.contains("app.kubernetes.io/instance")
            && !meta.contains("fluxcd"),
        "{meta}"
    );

    seen.lock().unwrap().clear();
    let (code, out, err) = run(&["override", "--remove", "database-eli-x7k2p"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.trim(),
        "scheduleoverride oncall/database-eli-x7k2p removed"
    );
    let (code, _, err) = run(&["override", "--remove", "database-eli-x7k2q"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no ScheduleOverride \"database-eli-x7k2q\" in namespace oncall"),
        "{err}"
    );
    let lines: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(l, _)| l.clone())
        .collect();
    assert_eq!(
        lines[..2],
        [
            format!("DELETE {base}/scheduleoverrides/database-eli-x7k2p?"),
            format!("DELETE {base}/scheduleoverrides/database-eli-x7k2q?"),
        ]
    );
}
