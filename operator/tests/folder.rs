//! The folder operator's passes, on copies of `examples/` with Twilio off and an in-memory
//! route sink: what is published, kept and removed as files change.

use std::collections::BTreeMap;
use std::path::Path;

use switchboard_operator::SchemaChecker;
use switchboard_operator::folder::{Folder, RouteStore, Settings, load};
use switchboard_operator::metrics::Metrics;
use switchboard_routing::RoutingTable;

#[derive(Default)]
struct Sink(BTreeMap<String, String>);

impl RouteStore for Sink {
    async fn publish(&mut self, t: &RoutingTable) -> Result<bool, String> {
        let old = self.0.insert(t.number.clone(), t.revision.clone());
        Ok(old.as_deref() != Some(t.revision.as_str()))
    }
    async fn unpublish(&mut self, number: &str) -> Result<(), String> {
        self.0.remove(number);
        Ok(())
    }
}

fn copy_examples(to: &Path) {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for e in std::fs::read_dir(examples).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) == Some("yaml") {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

/// The folder operator on `dir`, with Twilio off.
fn settings_of(dir: &Path) -> Settings {
    Settings {
        paths: vec![dir.to_path_buf()],
        recursive: false,
        public_url: "https://switchboard.test".into(),
        twilio_api_url: None,
        twilio: false,
    }
}

async fn pass(folder: &mut Folder, settings: &Settings, sink: &mut Sink) -> Vec<String> {
    let loaded = load(settings, &SchemaChecker::new()).unwrap();
    let report = folder
        .pass(settings, loaded, sink, &Metrics::default())
        .await;
    report
        .numbers
        .iter()
        .map(|n| format!("{} {} {}", n.name, n.ready, n.message))
        .chain(report.removed.iter().map(|r| format!("removed {r}")))
        .collect()
}

#[tokio::test]
async fn publishes_keeps_the_last_valid_table_and_cleans_up_what_leaves_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    copy_examples(dir.path());
    let settings = settings_of(dir.path());
    let mut folder = Folder::default();
    let mut sink = Sink::default();

    let report = pass(&mut folder, &settings, &mut sink).await;
    assert_eq!(
        sink.0.keys().collect::<Vec<_>>(),
        ["+14155550100"],
        "{report:?}"
    );
    let first = sink.0["+14155550100"].clone();
    // The purchased line has no number without Twilio, and says so.
    assert!(
        report
            .iter()
            .any(|r| r.starts_with("oncall/major-incident-line false")
                && r.contains("no number yet")),
        "{report:?}"
    );

    // A half-saved file (broken YAML) removes nothing.
    let numbers = dir.path().join("phone-numbers.yaml");
    let good = std::fs::read_to_string(&numbers).unwrap();
    std::fs::write(&numbers, "apiVersion: [unclosed\n").unwrap();
    let report = pass(&mut folder, &settings, &mut sink).await;
    assert_eq!(sink.0["+14155550100"], first, "{report:?}");
    std::fs::write(&numbers, &good).unwrap();

    // An invalid edit keeps the last valid table live and names the problem.
    let chains = dir.path().join("chains.yaml");
    let chains_text = std::fs::read_to_string(&chains).unwrap();
    std::fs::write(
        &chains,
        chains_text.replace("- onCall: database", "- onCall: no-such-schedule"),
    )
    .unwrap();
    let report = pass(&mut folder, &settings, &mut sink).await;
    assert_eq!(sink.0["+14155550100"], first);
    let hotline = report
        .iter()
        .find(|r| r.starts_with("oncall/support-hotline "))
        .unwrap();
    assert!(
        hotline.contains("false") && hotline.contains("stays live"),
        "{hotline}"
    );
    std::fs::write(&chains, &chains_text).unwrap();

    // A table Redis lost is written again.
    pass(&mut folder, &settings, &mut sink).await;
    sink.0.clear();
    assert_eq!(folder.republish(&mut sink).await.unwrap(), 1);
    assert_eq!(sink.0["+14155550100"], first);

    // The PhoneNumber leaves the folder: its table goes.
    std::fs::write(
        &numbers,
        good.split("\n---\n")
            .filter(|d| !d.contains("name: support-hotline"))
            .collect::<Vec<_>>()
            .join("\n---\n"),
    )
    .unwrap();
    let report = pass(&mut folder, &settings, &mut sink).await;
    assert!(sink.0.is_empty(), "{report:?}");
    assert!(
        report.contains(&"removed oncall/support-hotline".to_string()),
        "{report:?}"
    );
}

#[tokio::test]
async fn a_notification_key_missing_from_its_secret_is_reported_by_the_pass() {
    let dir = tempfile::tempdir().unwrap();
    copy_examples(dir.path());
    let policies = dir.path().join("policies.yaml");
    let text = std::fs::read_to_string(&policies).unwrap();
    std::fs::write(
        &policies,
        text.replace("key: webhook-hmac", "key: webhook-hmak"),
    )
    .unwrap();
    let settings = settings_of(dir.path());
    let loaded = load(&settings, &SchemaChecker::new()).unwrap();
    let report = Folder::default()
        .pass(&settings, loaded, &mut Sink::default(), &Metrics::default())
        .await;
    assert!(
        report.problems.iter().any(|p| p.contains(
            "IncomingCallPolicy oncall/support: spec.notifications[0].secretRef: Secret oncall/notification-keys has no key \"webhook-hmak\", but has \"webhook-hmac\""
        )),
        "{:?}",
        report.problems
    );
}
