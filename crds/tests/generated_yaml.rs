//! The committed CRD YAML must be what the Rust types generate, so that `kubectl apply -f crds/`
//! and the Helm chart never drift from the code. Regenerate with
//! `SWITCHBOARD_UPDATE_CRDS=1 cargo test -p switchboard-crds --test generated_yaml`.

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("switchboard.dev.yaml")
}

#[test]
fn committed_crd_yaml_is_what_the_types_generate() {
    let generated = switchboard_crds::crds_yaml();
    let path = committed_path();
    if std::env::var_os("SWITCHBOARD_UPDATE_CRDS").is_some() {
        std::fs::write(&path, &generated).expect("write crds/switchboard.dev.yaml");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "crds/switchboard.dev.yaml is stale: run \
         `SWITCHBOARD_UPDATE_CRDS=1 cargo test -p switchboard-crds --test generated_yaml` and commit it"
    );
}
