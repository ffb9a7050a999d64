//! The YAML in `examples/` as fixtures: the company setup must validate and compile; each file
//! of `examples/invalid/` must fail with exactly the problem its header announces.

use std::path::{Path, PathBuf};

use switchboard_operator::{
    AccountSids, Compiled, Loaded, SchemaChecker, compile, load_files, manifest_files,
};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn check(paths: &[PathBuf]) -> (Loaded, Compiled) {
    let files = manifest_files(paths, false).expect("read examples");
    let loaded = load_files(&files, &SchemaChecker::new()).expect("load");
    let compiled = compile(&loaded.objects, &AccountSids::new());
    (loaded, compiled)
}

#[test]
fn the_example_company_setup_is_valid_and_compiles() {
    let (loaded, compiled) = check(&[examples()]);
    assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
    assert!(compiled.problems.is_empty(), "{:#?}", compiled.problems);
    let o = &loaded.objects;
    assert_eq!(
        (
            o.phone_numbers.len(),
            o.policies.len(),
            o.chains.len(),
            o.schedules.len()
        ),
        (2, 2, 3, 3)
    );
    // The two Secrets, the Namespace and the kustomization are read but are not Switchboard kinds.
    assert_eq!(o.others.len(), 4);
    // The hotline has a number; the major-incident line waits for its purchase.
    let numbers: Vec<_> = compiled.tables.iter().map(|t| t.number.as_str()).collect();
    assert_eq!(numbers, ["+14155550100"]);
    assert_eq!(compiled.awaiting_number.len(), 1);
    assert_eq!(compiled.awaiting_number[0].name, "major-incident-line");
}

#[test]
fn the_support_hotline_table_holds_its_policy_chains_and_schedules() {
    let (_, compiled) = check(&[examples()]);
    let table = &compiled.tables[0];
    insta::assert_json_snapshot!("support_hotline_table", table);
    // Round trip through the stored form.
    let back = switchboard_routing::RoutingTable::from_json(&table.to_json()).unwrap();
    assert_eq!(&back, table);
}

/// The webhook server's tests read the hotline's compiled table from a fixture (it must not
/// depend on the operator); this keeps the fixture equal to what `examples/` compiles to.
/// Regenerate with `SWITCHBOARD_UPDATE_FIXTURES=1 scripts/test`.
#[test]
fn the_webhook_servers_table_fixture_is_what_the_examples_compile_to() {
    let (_, compiled) = check(&[examples()]);
    let mut json = serde_json::to_string_pretty(&compiled.tables[0]).unwrap();
    json.push('\n');
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../webhook-server/tests/fixtures/support-hotline.json");
    if std::env::var_os("SWITCHBOARD_UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, &json).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == json,
        "{} is stale: run SWITCHBOARD_UPDATE_FIXTURES=1 scripts/test",
        path.display()
    );
}

#[test]
fn an_account_sid_from_the_secret_changes_the_revision() {
    let (loaded, without) = check(&[examples()]);
    let mut sids = AccountSids::new();
    sids.insert(
        ("oncall".into(), "twilio-credentials".into()),
        "AC123".into(),
    );
    let with = compile(&loaded.objects, &sids);
    assert_eq!(with.tables[0].account_sid.as_deref(), Some("AC123"));
    assert_ne!(with.tables[0].revision, without.tables[0].revision);
    // Compiling again gives the same revision: it depends on content only.
    assert_eq!(
        compile(&loaded.objects, &sids).tables[0].revision,
        with.tables[0].revision
    );
}

fn header(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
        .unwrap_or_else(|| panic!("missing '# {key}:' header"))
        .trim()
        .to_string()
}

#[test]
fn each_invalid_example_fails_with_exactly_the_announced_problem() {
    let dir = examples().join("invalid");
    let files = manifest_files(&[dir], false).unwrap();
    assert!(
        files.len() >= 15,
        "expected the invalid examples, found {}",
        files.len()
    );
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let (loaded, compiled) = check(&[examples(), file.clone()]);
        let problems: Vec<_> = loaded.problems.iter().chain(&compiled.problems).collect();
        assert_eq!(problems.len(), 1, "{}: {problems:#?}", file.display());
        let p = problems[0];
        assert_eq!(
            p.origin.as_ref().map(|o| o.file.clone()),
            Some(file.clone()),
            "{}: the problem names its file",
            file.display()
        );
        assert_eq!(
            p.object.as_ref().map(ToString::to_string),
            Some(header(&text, "expect-object")),
            "{}",
            file.display()
        );
        assert_eq!(
            p.field,
            header(&text, "expect-field"),
            "{}: {p}",
            file.display()
        );
        assert!(
            p.message.len() > 20,
            "{}: the message explains: {p}",
            file.display()
        );
    }
}

#[test]
fn an_object_with_a_problem_does_not_stop_the_others_from_compiling() {
    // A broken schedule that nothing uses leaves the hotline's table intact.
    let bad = examples().join("invalid/unknown-time-zone.yaml");
    let (_, compiled) = check(&[examples(), bad]);
    assert_eq!(compiled.problems.len(), 1);
    assert_eq!(compiled.tables.len(), 1);
}

#[test]
fn a_policy_using_a_broken_chain_says_so_and_publishes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("broken-chain.yaml"),
        "apiVersion: switchboard.dev/v1alpha1\nkind: EscalationChain\nmetadata: { name: database, namespace: oncall }\n\
         spec:\n  steps:\n    - targets:\n        - onCall: nobody-schedule\n",
    )
    .unwrap();
    // Replace the database chain by a broken one: the support policy (menu option 2) and with
    // it the hotline's table must fail, each saying why.
    let mut files: Vec<PathBuf> = manifest_files(&[examples()], false)
        .unwrap()
        .into_iter()
        .filter(|f| !f.ends_with("chains.yaml"))
        .collect();
    let chains = std::fs::read_to_string(examples().join("chains.yaml")).unwrap();
    let without_database: Vec<&str> = chains
        .split("\n---\n")
        .filter(|d| !d.contains("name: database\n"))
        .collect();
    std::fs::write(
        dir.join("other-chains.yaml"),
        without_database.join("\n---\n"),
    )
    .unwrap();
    files.push(dir.join("other-chains.yaml"));
    files.push(dir.join("broken-chain.yaml"));
    let loaded = load_files(&files, &SchemaChecker::new()).unwrap();
    let compiled = compile(&loaded.objects, &AccountSids::new());
    let messages: Vec<String> = compiled.problems.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(messages.iter().any(|m| m.contains("EscalationChain oncall/database: spec.steps[0].targets[0].onCall: no Schedule named \"nobody-schedule\"")));
    assert!(messages.iter().any(|m| m.contains("IncomingCallPolicy oncall/support: spec.menu.options[1].chainRef.name: EscalationChain \"database\" has problems of its own")));
    assert!(messages.iter().any(|m| m.contains("PhoneNumber oncall/support-hotline: spec.policyRef.name: IncomingCallPolicy \"support\" has problems of its own")));
    assert!(compiled.tables.is_empty());
}

/// What a reconcile compiles for one PhoneNumber is its closure: for a voicemail-only policy
/// that is no chain and no schedule at all. Found on a real API server, where the operator
/// panicked compiling the feedback line of `examples/office-hours/`.
#[test]
fn a_voicemail_only_number_compiles_alone_without_any_chain_in_its_namespace() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(examples().join("office-hours/front-desk.yaml")).unwrap();
    let alone: Vec<&str> = text
        .split("\n---\n")
        .filter(|d| d.contains("name: feedback"))
        .collect();
    assert_eq!(alone.len(), 2, "the feedback policy and its PhoneNumber");
    std::fs::write(tmp.path().join("feedback.yaml"), alone.join("\n---\n")).unwrap();
    let (loaded, compiled) = check(&[tmp.path().to_path_buf()]);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    assert!(compiled.problems.is_empty(), "{:?}", compiled.problems);
    assert_eq!(compiled.tables.len(), 1);
    let t = &compiled.tables[0];
    assert!(t.chains.is_empty() && t.policy.voicemail_only.is_some());
}
